"""A small trained TQGDNet-n with a 2.5D, native-pixel-crop input spec recorded in its weights, for the backend tests.

Three 128 px phantom patients converted with the ``calcium`` window, ``context`` 3 and a 64 px crop, one epoch at
64 px (about half a minute on two cores), and a held-out phantom patient as a DICOM series.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class TrainedDetector:
    """The weights (best.pt) and a held-out DICOM series folder."""

    weights: Path
    dicom: Path


def train_small_detector(root: Path) -> TrainedDetector:
    """Convert, train and write the held-out series under ``root``."""
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.data.phantom.layout import write_phantom_set
    from tqgd.engine.train import train

    write_phantom_set(root / "phantom", 3, seed=7, image_size=128)
    write_phantom_set(root / "test", 1, seed=99, image_size=128, formats=("orcascore", "dicom"))
    options = OrcaConvertOptions(window="calcium", context=3, crop_size=64, folds=2, negatives="0.5")
    data = convert_orcascore(root / "phantom", root / "ds", options).out / "orcascore.yaml"
    run = train(data, "tqgdnet-n", epochs=1, imgsz=64, batch=4, device="cpu", project=root / "runs", name="calcium",
                options={"workers": 0, "plots": False, "val": False, "seed": 0})
    return TrainedDetector(weights=run.best if run.best.is_file() else run.last,
                           dicom=root / "test" / "DICOM" / "TRV1P1")
