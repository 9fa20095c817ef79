"""Small converted datasets for the train / val / cv tests, written with tqgd's own dataset writer.

``write_big_box_dataset``: a converter-style folder (images, YOLO labels, manifest.csv, patient-grouped fold YAMLs,
convert.json) whose boxes cover most of each 64 px image, so even a barely trained detector has overlapping boxes
and the metrics are not all zero. ``write_phantom_dataset``: a real phantom conversion (128 px, small lesions).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tqgd.data.boxes import Box
from tqgd.data.convert.dataset_yaml import write_convert_json, write_dataset_yaml, write_fold_list
from tqgd.data.convert.manifest import write_manifest
from tqgd.data.convert.writer import DatasetWriter
from tqgd.data.folds import make_patient_folds, validation_fold_of

BIG_BOX_SIZE_PX = 64
NAMES = {0: "calcium"}


def write_big_box_dataset(out: Path, patients: int = 4, images_per_patient: int = 3, folds: int = 2,
                          seed: int = 0) -> Path:
    """Write the dataset into ``out`` and return ``out`` (``out/orcascore.yaml`` is fold 0)."""
    rng = np.random.default_rng(seed)
    writer = DatasetWriter(out, NAMES, formats=("yolo", "coco"), description="big-box test set")
    for p in range(patients):
        patient = f"P{p}"
        for i in range(images_per_patient):
            pixels = rng.integers(0, 50, (BIG_BOX_SIZE_PX, BIG_BOX_SIZE_PX), dtype=np.uint8)
            side = int(rng.integers(40, 60))
            x0, y0 = (int(v) for v in rng.integers(0, BIG_BOX_SIZE_PX - side + 1, 2))
            pixels[y0:y0 + side, x0:x0 + side] = 220
            writer.add_pixels(f"{patient}_z{i:03d}", pixels, [Box(x0, y0, x0 + side, y0 + side, slice_index=i)],
                              patient=patient, slice_index=i)
    split = make_patient_folds([f"P{p}" for p in range(patients)], folds, seed)
    for row in writer.rows:
        row.val_fold = validation_fold_of(split)[row.patient]
    for fold in split:
        for part, members in (("train", fold.train), ("val", fold.val)):
            write_fold_list(out, f"fold{fold.index}_{part}", [r.image for r in writer.rows if r.patient in members])
        for target in [out / f"fold{fold.index}.yaml"] + ([out / "orcascore.yaml"] if fold.index == 0 else []):
            comment = f"Big-box test set, fold {fold.index}.\nValidation patients: {', '.join(fold.val)}"
            write_dataset_yaml(target, out, f"folds/fold{fold.index}_train.txt", f"folds/fold{fold.index}_val.txt",
                               NAMES, comment)
    write_manifest(out / "manifest.csv", writer.rows)
    write_convert_json(out, {"command": "test", "window": {"name": "paper", "channels_hu": [[-1200.0, 1800.0]]},
                             "classes": "single", "names": NAMES, "folds": folds, "seed": seed})
    return out


def write_phantom_dataset(root: Path, patients: int = 3, image_size: int = 128, folds: int = 2) -> Path:
    """Convert a phantom set (OrCaScore layout) and return the dataset folder (``orcascore.yaml`` inside)."""
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.data.phantom.layout import write_phantom_set

    write_phantom_set(root / "phantom", patients, seed=7, image_size=image_size)
    return convert_orcascore(root / "phantom", root / "ds", OrcaConvertOptions(folds=folds)).out
