"""The paired-frame patches of a ``tqgd xa dataset`` folder as arrays for the ResUNet-18 baseline, with their masks.

The dataset's ``manifest.csv`` names, for every image, its run, patient, non-contrast frame, patch corner and
validation fold; ``xa_dataset.json`` names the runs folder, whose ``RUN.npz`` holds the calcium masks and whose
``RUN.dcm`` the pixel spacing. A patch's classification target is "calcium in the patch" (its label file has a box);
its ROI target is the frame's ROI (``tqgd.xa.roi.roi_target``, dilated on the whole frame, so calcium just outside a
patch still reaches into it) cut to the patch.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from tqgd.errors import DatasetError, LabelError
from tqgd.xa.dataset import DATASET_JSON, MANIFEST
from tqgd.xa.roi import RoiOptions, roi_target


@dataclass(frozen=True)
class Patch:
    """One image of the dataset: where it comes from (run, frame, corner, size in px) and its validation fold."""

    image: Path
    run: str
    patient: str
    frame: int
    x0: int
    y0: int
    width: int
    height: int
    fold: int
    n_boxes: int

    @property
    def label(self) -> Path:
        """Its YOLO label file."""
        return self.image.parent.parent / "labels" / f"{self.image.stem}.txt"


@dataclass(frozen=True)
class PatchSet:
    """The patches of a dataset folder and the runs folder holding their masks; ``folds`` = number of folds."""

    root: Path
    runs_dir: Path
    patches: tuple[Patch, ...]
    folds: int

    def split(self, fold: int) -> tuple[list[Patch], list[Patch]]:
        """(training, validation) patches of ``fold``: the validation patients' patches and all the others."""
        if not 0 <= fold < self.folds:
            raise DatasetError(f"fold {fold} does not exist; this dataset has folds 0..{self.folds - 1}", self.root)
        return [p for p in self.patches if p.fold != fold], [p for p in self.patches if p.fold == fold]


def load_patch_set(root: str | Path) -> PatchSet:
    """Read ``manifest.csv`` and ``xa_dataset.json`` of a ``tqgd xa dataset`` folder."""
    root = Path(root).expanduser().resolve()
    manifest, record_path = root / MANIFEST, root / DATASET_JSON
    for path in (manifest, record_path):
        if not path.is_file():
            raise DatasetError(f"not a 'tqgd xa dataset' folder (no {path.name}); make one with 'tqgd xa dataset'",
                               root)
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        with open(manifest, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        patches = tuple(Patch(image=root / r["image"], run=r["run"], patient=r["patient"],
                              frame=int(r["noncontrast_frame"]), x0=int(r["x0"]), y0=int(r["y0"]),
                              width=int(r["size"].split("x")[0]), height=int(r["size"].split("x")[1]),
                              fold=int(r["val_fold"]), n_boxes=int(r["n_boxes"])) for r in rows)
    except (OSError, ValueError, KeyError, IndexError) as exc:
        raise DatasetError(f"cannot read the dataset's manifest or record ({exc}); rebuild it with 'tqgd xa "
                           "dataset'", root) from exc
    if not patches:
        raise DatasetError("the manifest lists no images", manifest)
    return PatchSet(root=root, runs_dir=Path(record["runs_dir"]), patches=patches,
                    folds=len(record.get("folds") or []) or 1 + max(p.fold for p in patches))


class RunMasks:
    """Calcium masks and pixel spacing of the runs, read once per run and kept for the frames asked for."""

    def __init__(self, runs_dir: Path) -> None:
        self.runs_dir = Path(runs_dir)
        self._frames: dict[tuple[str, int], np.ndarray] = {}
        self._spacing: dict[str, tuple[float, float]] = {}

    def preload(self, patches: list[Patch]) -> None:
        """Read the frames ``patches`` need, one ``RUN.npz`` at a time."""
        wanted: dict[str, set[int]] = {}
        for p in patches:
            if (p.run, p.frame) not in self._frames:
                wanted.setdefault(p.run, set()).add(p.frame)
        for run, frames in wanted.items():
            path = self.runs_dir / f"{run}.npz"
            try:
                with np.load(path) as data:
                    calcium = data["calcium"]
                    for f in frames:
                        self._frames[(run, f)] = np.asarray(calcium[f]) > 0
            except (OSError, KeyError, IndexError, ValueError) as exc:
                raise LabelError(f"cannot read calcium masks of frames {sorted(frames)} ({exc}); the dataset's "
                                 "runs folder must still hold RUN.npz as 'tqgd xa phantom' wrote it", path) from exc

    def calcium(self, run: str, frame: int) -> np.ndarray:
        """Calcium mask (H, W) bool of one frame."""
        if (run, frame) not in self._frames:
            self.preload([Patch(Path(), run, "", frame, 0, 0, 0, 0, 0, 0)])
        return self._frames[(run, frame)]

    def spacing_mm(self, run: str) -> tuple[float, float]:
        """Isocentre pixel spacing (row, column) in mm of a run, from its DICOM header."""
        if run not in self._spacing:
            import pydicom

            from tqgd.xa.reader import isocentre_spacing

            path = self.runs_dir / f"{run}.dcm"
            try:
                ds = pydicom.dcmread(path, stop_before_pixels=True)
            except (OSError, pydicom.errors.InvalidDicomError) as exc:
                raise DatasetError(f"cannot read the run's DICOM header for its pixel spacing ({exc})", path) from exc
            spacing = isocentre_spacing(ds, path)[0]
            if spacing is None:
                raise DatasetError("the run gives no pixel spacing, so distances cannot be in mm", path)
            self._spacing[run] = (float(spacing[0]), float(spacing[1]))
        return self._spacing[run]


def read_rgb(path: Path) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a dataset image."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError("cannot read the image (missing or not an image file)", path)
    return image[..., ::-1]


def patch_arrays(patches: list[Patch], masks: RunMasks, options: RoiOptions = RoiOptions()
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Images (N, S, S, 3) uint8, classification targets (N,) float32 and ROI targets (N, S, S) bool."""
    masks.preload(patches)
    rois: dict[tuple[str, int], np.ndarray] = {}
    images, labels, targets = [], [], []
    for p in patches:
        key = (p.run, p.frame)
        if key not in rois:
            rois[key] = roi_target(masks.calcium(*key), options)
        images.append(read_rgb(p.image))
        labels.append(float(p.n_boxes > 0))
        targets.append(rois[key][p.y0:p.y0 + p.height, p.x0:p.x0 + p.width])
    shapes = {im.shape for im in images} | {t.shape + (3,) for t in targets}
    if len(shapes) != 1:
        raise DatasetError(f"the patches differ in size or do not match their masks ({sorted(shapes)}); the "
                           "baseline needs one patch size (tqgd xa dataset --patches)")
    return np.stack(images), np.asarray(labels, np.float32), np.stack(targets)
