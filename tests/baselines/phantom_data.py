"""A tiny gated phantom set (4 patients, 128 px) converted with masks, whole and heart-cropped, for baseline tests.

``phantom_case`` regenerates a patient in memory (the generator is deterministic), which gives the truth the files do
not hold: tissue classes and the voxels of every distractor.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from tqgd.data.phantom import PhantomCase, PhantomConfig, generate_patient

SEED = 7
PATIENTS = 4
IMAGE_SIZE = 128


def write_phantom_datasets(root: Path) -> dict[str, Path]:
    """Phantom set under ``root/phantom``; datasets ``root/plain`` (whole slices) and ``root/cropped`` (heart crop)."""
    from tqgd.baselines.roi import phantom_heart_crop
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.data.phantom.layout import write_phantom_set

    write_phantom_set(root / "phantom", PATIENTS, seed=SEED, image_size=IMAGE_SIZE)
    options = OrcaConvertOptions(folds=2, masks=True)
    plain = convert_orcascore(root / "phantom", root / "plain", options).out
    cropped = convert_orcascore(root / "phantom", root / "cropped", options, crop=phantom_heart_crop()).out
    return {"phantom": root / "phantom", "plain": plain, "cropped": cropped}


def phantom_case(patient: str) -> PhantomCase:
    """The in-memory twin of ``patient`` (e.g. ``TRV2P1``) of the set written by ``write_phantom_datasets``."""
    from tqgd.data.phantom.layout import patient_case_id, patient_seed

    index = next(i for i in range(PATIENTS) if patient_case_id(i) == patient)
    config = replace(PhantomConfig(), gated=True, image_size=IMAGE_SIZE)
    return generate_patient(patient_seed(SEED, index), config, patient)
