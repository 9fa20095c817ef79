"""One cross-validation fold of the ResUNet-18 baseline: train on the other patients' patches, score the held-out ones.

The fold split is the dataset's own (``val_fold`` in its manifest, patient-grouped; with as many folds as patients it
is leave-one-patient-out, and with one run per patient leave-one-sequence-out as in the paper).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from tqgd.errors import DatasetError
from tqgd.xa.baseline_data import PatchSet, RunMasks, patch_arrays
from tqgd.xa.baseline_model import ResUNet18
from tqgd.xa.baseline_train import ProgressFn, TrainOptions, predict, train_baseline
from tqgd.xa.roi import RoiOptions
from tqgd.xa.table2 import PatchOutput, baseline_outputs, score_fold


@dataclass
class BaselineFold:
    """A trained fold: the model, its loss history, the held-out patches' outputs and the fold's Table 2 record."""

    model: ResUNet18
    history: list[dict]
    outputs: list[PatchOutput]
    record: dict


def run_baseline_fold(patch_set: PatchSet, fold: int, train_options: TrainOptions = TrainOptions(),
                      roi_options: RoiOptions = RoiOptions(), masks: RunMasks | None = None,
                      progress: ProgressFn | None = None) -> BaselineFold:
    """Train on fold ``fold``'s training patches, predict and score its validation patches."""
    masks = masks or RunMasks(patch_set.runs_dir)
    train, val = patch_set.split(fold)
    if not train or not val:
        raise DatasetError(f"fold {fold} has {len(train)} training and {len(val)} validation patches; both must be "
                           "non-empty", patch_set.root)
    images, labels, targets = patch_arrays(train, masks, roi_options)
    model, history = train_baseline(images, labels, targets, train_options, progress)
    val_images, _, _ = patch_arrays(val, masks, roi_options)
    cls_prob, roi_prob = predict(model, val_images, batch=train_options.batch, device=train_options.device)
    outputs = baseline_outputs(cls_prob, roi_prob, roi_options)
    record = {"fold": fold, "train_patches": len(train), "val_patches": len(val),
              "val_patients": sorted({p.patient for p in val}), **score_fold(val, outputs, masks),
              "train": asdict(train_options), "roi": asdict(roi_options), "final_loss": history[-1]["loss"]}
    return BaselineFold(model=model, history=history, outputs=outputs, record=record)
