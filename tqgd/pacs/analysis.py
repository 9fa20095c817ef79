"""What the PACS paths run on a received series: detect + score (the default), or a whole-scan HU threshold.

Both write, into one output folder, ``score.json``, ``report.png`` and ``dicom/{seg,sr,sc}.dcm`` and return the
DICOM paths to send back. ``threshold`` scores every voxel at or above 130 HU anywhere in the scan (bone included):
it checks the DICOM/PACS plumbing without trained weights and is **not a calcium score**; every output says so.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.errors import ConfigError

METHODS = ("detect", "threshold")
#: The threshold method's name in the SEG/SR: it must never be mistaken for a calcium detector.
THRESHOLD_NAME = "tqgd whole-scan 130 HU threshold (not a calcium score)"


@dataclass
class AnalysisResult:
    """One series analysed: its output folder, the DICOM objects to send, the totals, notes."""

    out: Path
    dicom: list[Path]
    agatston: float
    risk_category: str
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready summary (no identifiers)."""
        return {"out": str(self.out), "dicom": [str(p) for p in self.dicom], "agatston": self.agatston,
                "risk_category": self.risk_category, "notes": list(self.notes)}


class Analyser(ABC):
    """Turns a folder holding one CT series into DICOM results (``analyse``); loads its model once."""

    method = "base"

    @abstractmethod
    def analyse(self, series_dir: Path, out: Path) -> AnalysisResult:
        """Score the series in ``series_dir`` and write its results into ``out``."""


class ThresholdAnalyser(Analyser):
    """Every voxel >= ``threshold_hu`` is scored (see the module docstring: not a calcium score)."""

    method = "threshold"

    def __init__(self, threshold_hu: float = 130.0):
        self.threshold_hu = threshold_hu

    def analyse(self, series_dir: Path, out: Path) -> AnalysisResult:
        from tqgd.data.readers import read_ct
        from tqgd.dicom_out import mask_identity, write_dicom_results
        from tqgd.io import write_json
        from tqgd.scoring import ScoringOptions, score_mask
        from tqgd.scoring.report import write_report_png

        volume = read_ct(series_dir)
        mask = (volume.hu >= self.threshold_hu).astype(np.uint8)
        options = ScoringOptions(threshold_hu=self.threshold_hu, mask_labels="binary")
        report = score_mask(volume, mask, options)
        report.notes.append(f"{THRESHOLD_NAME}: every voxel >= {self.threshold_hu:g} HU in the scan was scored")
        write_json(out / "score.json", report.to_dict())
        write_report_png(report, volume, out / "report.png")
        algorithm = mask_identity(mask, options.to_dict(), name=THRESHOLD_NAME)
        written = write_dicom_results(report, series_dir, out, algorithm, report_png=out / "report.png",
                                      automatic=True)
        return AnalysisResult(out=out, dicom=written.paths(), agatston=report.agatston,
                              risk_category=report.risk.label, notes=list(report.notes))


class DetectAnalyser(Analyser):
    """``tqgd detect --dicom`` on the series: heart crop, TQGDNet, box-rule score, SEG/SR/SC."""

    method = "detect"

    def __init__(self, weights: Path | None = None, heart_weights: Path | None = None, device: str | None = None):
        from tqgd.dicom_out import detector_identity
        from tqgd.engine.detect import DetectOptions
        from tqgd.engine.detect_run import default_weights, make_setup

        if weights is None:
            weights, shipped_heart = default_weights()
            heart_weights = heart_weights or shipped_heart
        self.options = DetectOptions()
        self.setup = make_setup(weights, heart_weights, self.options, device)
        self.options = self.setup.options  # with the confidence resolved (the weights' operating point)
        self.algorithm = detector_identity(weights, {"conf": self.options.conf, "snap_boxes": self.options.snap_boxes,
                                                     "physics_filter": self.options.physics_filter})

    def analyse(self, series_dir: Path, out: Path) -> AnalysisResult:
        from tqgd.dicom_out import write_dicom_results
        from tqgd.engine.detect_run import run_detect

        outcome = run_detect(series_dir, out, self.setup)[0]
        if outcome.score is None:
            raise ConfigError(f"series {series_dir.name} holds no Hounsfield units; no score to send", series_dir)
        written = write_dicom_results(outcome.score, series_dir, out, self.algorithm, report_png=out / "report.png",
                                      automatic=True)
        return AnalysisResult(out=out, dicom=written.paths(), agatston=outcome.score.agatston,
                              risk_category=outcome.score.risk.label, notes=[*self.setup.notes, *outcome.notes])


def make_analyser(method: str, weights: Path | None = None, heart_weights: Path | None = None,
                  device: str | None = None) -> Analyser:
    """The analyser for ``method`` (``detect`` or ``threshold``).

    Raises:
        ConfigError: unknown method, or weights given to the threshold method.
    """
    if method == "detect":
        return DetectAnalyser(weights, heart_weights, device)
    if method == "threshold":
        if weights is not None or heart_weights is not None:
            raise ConfigError("--method threshold uses no weights; leave out --weights/--heart-weights")
        return ThresholdAnalyser()
    raise ConfigError(f"unknown --method {method!r}; expected one of {', '.join(METHODS)}")
