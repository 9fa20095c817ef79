"""Ground truth next to an XA file (``RUN.npz`` + ``RUN.json``, as ``tqgd xa phantom`` writes them).

The ``.npz`` holds ``calcium`` (F, H, W) integer labels (0 = none) and, for phantom runs, ``phase`` (F,) and
``beat`` (F,); real data can follow the same format with only ``calcium`` (annotated frames non-zero, the rest 0).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tqgd.errors import LabelError


@dataclass(frozen=True)
class RunTruth:
    """Calcium labels (F, H, W); true phase (F,) and beat (F,) when known; the JSON record (may be empty)."""

    calcium: np.ndarray
    phase: np.ndarray | None
    beat: np.ndarray | None
    vessel: np.ndarray | None
    record: dict

    def cycles(self) -> np.ndarray:
        """Beats elapsed per frame (beat + phase), (F,)."""
        if self.phase is None or self.beat is None:
            raise LabelError("this ground truth has no cardiac phase (phase/beat arrays)")
        return self.beat + self.phase

    def mean_period_frames(self) -> float:
        """True mean beat length in frames over the run."""
        cycles = self.cycles()
        return float((len(cycles) - 1) / (cycles[-1] - cycles[0]))


def truth_paths(dicom_path: str | Path) -> tuple[Path, Path]:
    """(``RUN.npz``, ``RUN.json``) next to ``RUN.dcm``."""
    path = Path(dicom_path)
    return path.with_suffix(".npz"), path.with_suffix(".json")


def load_truth(dicom_path: str | Path, n_frames: int | None = None, shape: tuple[int, int] | None = None,
               need_calcium: bool = True) -> RunTruth:
    """Read the truth of ``dicom_path``; check it matches ``n_frames`` and the frame ``shape`` when given."""
    npz_path, json_path = truth_paths(dicom_path)
    if not npz_path.is_file():
        raise LabelError(f"no ground truth next to the run (expected {npz_path.name} with a 'calcium' array "
                         "(F, H, W)); generate runs with 'tqgd xa phantom' or write masks in that format", npz_path)
    try:
        with np.load(npz_path) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise LabelError(f"cannot read the ground truth ({exc})", npz_path) from exc
    calcium = arrays.get("calcium")
    if need_calcium and (calcium is None or calcium.ndim != 3):
        raise LabelError("expected a 'calcium' array of shape (F, H, W)", npz_path)
    if calcium is not None and n_frames is not None and calcium.shape[0] != n_frames:
        raise LabelError(f"calcium masks have {calcium.shape[0]} frames but the run has {n_frames}", npz_path)
    if calcium is not None and shape is not None and tuple(calcium.shape[1:]) != tuple(shape):
        raise LabelError(f"calcium masks are {calcium.shape[1:]} but the frames are {tuple(shape)}", npz_path)
    record = {}
    if json_path.is_file():
        try:
            record = json.loads(json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise LabelError(f"cannot read the ground-truth record ({exc})", json_path) from exc
    return RunTruth(calcium=calcium, phase=arrays.get("phase"), beat=arrays.get("beat"), vessel=arrays.get("vessel"),
                    record=record)
