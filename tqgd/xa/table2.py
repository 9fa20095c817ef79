"""Score any method on a fold's patches the same way, and lay the fold results out as paper 004's Table 2.

A method gives, per patch, a ``PatchOutput``: whether it calls the patch positive, its final ROI (patch pixels) and
scored boxes for mAP. The ResUNet-18 baseline's ROI is the post-processed decoder output
(``baseline_outputs``) and its boxes the ROI's connected components (``tqgd.data.boxes.mask_to_boxes``) scored by
classifier probability x mean ROI probability; a detector's ROI is its boxes at the operating confidence filled in
(``detector_outputs``). Frames are rebuilt from their five patches (union of the patch ROIs) and scored against the
calcium mask by IoM and Hausdorff distance (``tqgd.xa.roi_metrics``); boxes are scored against the dataset's labels
by the same pycocotools mAP as the detectors (``tqgd.engine.coco_eval``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from tqgd.data.boxes import mask_to_boxes
from tqgd.data.formats.yolo import read_yolo_labels
from tqgd.engine.coco_eval import evaluate_boxes
from tqgd.errors import ConfigError
from tqgd.xa.baseline_data import Patch, RunMasks
from tqgd.xa.roi import RoiOptions, postprocess_roi
from tqgd.xa.roi_metrics import ClassCounts, FrameScores, boxes_to_mask, fold_record, median_quartiles


@dataclass(frozen=True)
class PatchOutput:
    """One patch: positive call, final ROI (h, w) bool, boxes (M, 5) ``x0 y0 x1 y1 score`` in patch pixels."""

    positive: bool
    roi: np.ndarray
    boxes: np.ndarray


def baseline_outputs(cls_prob: np.ndarray, roi_prob: np.ndarray, options: RoiOptions = RoiOptions()
                     ) -> list[PatchOutput]:
    """Outputs of the baseline from classifier probabilities (N,) and ROI probabilities (N, S, S)."""
    outputs = []
    for p, prob in zip(cls_prob, roi_prob, strict=True):
        roi = postprocess_roi(prob, float(p), options)
        boxes = [(*b.xyxy, b.score * float(p)) for b in mask_to_boxes(roi, prob=np.clip(prob, 0, 1))]
        outputs.append(PatchOutput(positive=bool(p >= options.cls_threshold), roi=roi,
                                   boxes=np.asarray(boxes, np.float64).reshape(-1, 5)))
    return outputs


def detector_outputs(boxes: Sequence[np.ndarray], shapes: Sequence[tuple[int, int]], conf: float
                     ) -> list[PatchOutput]:
    """Outputs of a detector from its boxes (M, 5) per patch; positive and ROI from the boxes scoring >= ``conf``."""
    if not 0.0 <= conf <= 1.0:
        raise ConfigError(f"the detectors' operating confidence must lie in 0..1, got {conf}")
    outputs = []
    for rows, shape in zip(boxes, shapes, strict=True):
        rows = np.asarray(rows, np.float64).reshape(-1, 5)
        kept = rows[rows[:, 4] >= conf]
        outputs.append(PatchOutput(positive=len(kept) > 0, roi=boxes_to_mask(kept, shape), boxes=rows))
    return outputs


def score_fold(patches: Sequence[Patch], outputs: Sequence[PatchOutput], masks: RunMasks) -> dict:
    """Table 2 values of one fold (``roi_metrics.fold_record``) plus mAP50 and mAP50-95 of the boxes."""
    if len(patches) != len(outputs):
        raise ConfigError(f"{len(patches)} patches but {len(outputs)} outputs")
    counts, frames = ClassCounts(), FrameScores([], [])
    rois: dict[tuple[str, int], np.ndarray] = {}
    gt, preds = {}, {}
    masks.preload(list(patches))
    for i, (patch, out) in enumerate(zip(patches, outputs, strict=True)):
        counts.add(patch.n_boxes > 0, out.positive)
        key = (patch.run, patch.frame)
        if key not in rois:
            rois[key] = np.zeros_like(masks.calcium(*key))
        rois[key][patch.y0:patch.y0 + patch.height, patch.x0:patch.x0 + patch.width] |= out.roi
        gt[i] = np.asarray([label.to_xyxy(patch.width, patch.height) for label in read_yolo_labels(patch.label, 1)],
                           np.float64).reshape(-1, 4)
        preds[i] = out.boxes
    for (run, frame), roi in rois.items():
        frames.add(roi, masks.calcium(run, frame), masks.spacing_mm(run))
    boxes = evaluate_boxes(gt, preds)
    return {**fold_record(counts, frames), "map50": boxes.map50, "map50_95": boxes.map50_95,
            "frames": len(rois)}


#: Table rows: (section, label, key, digits).
TABLE_ROWS = (("Classification", "Precision", "precision", 2), ("Classification", "Recall", "recall", 2),
              ("Classification", "F1-score", "f1", 2), ("Identification", "IoM", "iom", 2),
              ("Identification", "HD (mm)", "hd_mm", 1), ("Boxes", "mAP50", "map50", 3),
              ("Boxes", "mAP50-95", "map50_95", 3))


def summarise(folds: Sequence[Mapping]) -> dict:
    """Per key: (median, q1, q3, folds defining it) over the fold records, or None."""
    return {key: median_quartiles(f.get(key) for f in folds) for _, _, key, _ in TABLE_ROWS}


def cell(summary: tuple[float, float, float, int] | None, digits: int, n_folds: int) -> str:
    """``median (q1-q3)``, with the number of folds when some fold left the value undefined."""
    if summary is None:
        return "undefined"
    median, q1, q3, n = summary
    text = f"{median:.{digits}f} ({q1:.{digits}f}-{q3:.{digits}f})"
    return text if n == n_folds else f"{text} [{n}/{n_folds} folds]"


def markdown_table(results: Mapping[str, Sequence[Mapping]], paper: Mapping[str, str] | None = None) -> str:
    """Table 2 layout: one column per method (median (quartiles) over its folds), the paper's column if given."""
    methods = list(results)
    summaries = {m: summarise(results[m]) for m in methods}
    header = ["", "Metric"] + methods + (["Paper 004 (ResUNet-18)"] if paper else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for section, label, key, digits in TABLE_ROWS:
        row = [section, label] + [cell(summaries[m][key], digits, len(results[m])) for m in methods]
        if paper:
            row.append(paper.get(key, "-"))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)
