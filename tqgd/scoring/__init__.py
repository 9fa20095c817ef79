"""Calcium scoring (Agatston, volume, mass, risk category) and orCaScore-style evaluation.

Library calls used by ``tqgd score``, ``tqgd evaluate`` and ``tqgd detect``:

    report = score_mask(volume, labels, ScoringOptions())        # reference or any model's segmentation
    report = score_detections(volume, detection_result)          # tqgd boxes, via the box rule
    report.to_dict(); summary_text(report)                       # score.json content; terminal summary

Modules: ``options`` (every convention, with defaults), ``density`` (weights), ``risk`` (categories),
``lesions`` / ``boxes`` / ``masks`` (what counts as a lesion), ``score`` (the report), ``report`` (table, PNG),
``evaluate`` (lesion matching), ``agreement`` (ICC, kappa, Bland-Altman), ``cohort`` (sets), ``plots``.
"""

from tqgd.scoring.options import ScoringOptions
from tqgd.scoring.report import summary_table, summary_text
from tqgd.scoring.risk import risk_category
from tqgd.scoring.score import ScoreReport, score_detections, score_mask

__all__ = ["ScoreReport", "ScoringOptions", "risk_category", "score_detections", "score_mask", "summary_table",
           "summary_text"]
