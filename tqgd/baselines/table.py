"""Markdown tables of baseline results: box metrics (every method) and mask metrics (segmenters with reference masks).

Numbers are printed with three decimals; a metric that is undefined (no reference or no prediction) shows as ``-``.
The operating confidence is the one at which P, R and F1 were read (``evaluate_boxes``: the score maximising F1).
"""

from __future__ import annotations

from collections.abc import Sequence

from tqgd.baselines.mask_eval import BaselineResult

BOX_COLUMNS = (("P", "precision"), ("R", "recall"), ("F1", "f1"), ("mAP50", "map50"), ("mAP50-95", "map50_95"))
MASK_COLUMNS = (("IF1", "instance_f1"), ("IS", "instance_sensitivity"), ("IP", "instance_precision"),
                ("Dice", "dice"), ("surface Dice", "surface_dice"), ("IoM (median)", "iom_median"))


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def box_table(results: Sequence[BaselineResult], kinds: Sequence[str] | None = None) -> str:
    """Method, kind (optional), P, R, F1, mAP50, mAP50-95, boxes predicted / ground truth, operating confidence."""
    header = ["method", *(["kind"] if kinds else []), *(name for name, _ in BOX_COLUMNS), "predicted / GT boxes",
              "conf"]
    rows = []
    for index, result in enumerate(results):
        metrics = result.boxes
        rows.append([result.method, *([kinds[index]] if kinds else []),
                     *(_number(getattr(metrics, key)) for _, key in BOX_COLUMNS),
                     f"{metrics.n_pred} / {metrics.n_gt}", _number(metrics.conf)])
    return _table(header, rows)


def mask_table(results: Sequence[BaselineResult]) -> str:
    """Instance F1 / sensitivity / precision, Dice, surface Dice and IoM of the results that have mask metrics."""
    with_masks = [r for r in results if r.masks]
    tolerance = with_masks[0].masks["surface_dice_tolerance_mm"] if with_masks else None
    header = ["method", *(f"{name} @ {tolerance:g} mm" if key == "surface_dice" and tolerance is not None else name
                          for name, key in MASK_COLUMNS), "predicted / reference instances"]
    rows = [[r.method, *(_number(r.masks[key]) for _, key in MASK_COLUMNS),
             f"{r.masks['predicted_instances']} / {r.masks['reference_instances']}"] for r in with_masks]
    return _table(header, rows)
