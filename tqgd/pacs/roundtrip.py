"""``tqgd pacs run``: pull a study's CT series from a PACS, analyse each, push SEG, SR and SC back.

Per series: fetch into ``WORK/series/<SeriesInstanceUID>/``, analyse into ``WORK/results/<SeriesInstanceUID>/``
(score.json, report.png, dicom/), store the DICOM results, and record the timings in ``WORK/pacs_run.json``
(UIDs and numbers only, no patient identifiers).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from tqgd.errors import PacsError
from tqgd.io import write_json
from tqgd.pacs.analysis import Analyser


class Pacs(Protocol):
    """What the round trip needs of a PACS (``DicomWebPacs``, ``DimsePacs``)."""

    def describe(self) -> str: ...
    def find_ct_series(self, study_uid: str) -> list[str]: ...
    def fetch_series(self, study_uid: str, series_uid: str, folder: Path) -> list[Path]: ...
    def store(self, paths: list[Path]) -> None: ...


@dataclass
class SeriesTrip:
    """One series' round trip: instances fetched, results stored, seconds per step."""

    series_uid: str
    instances: int = 0
    stored: list[str] = field(default_factory=list)
    agatston: float | None = None
    risk_category: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return dict(vars(self))


def run_round_trip(pacs: Pacs, study_uid: str, analyser: Analyser, work: Path,
                   series_uids: list[str] | None = None, on_series=None) -> list[SeriesTrip]:
    """Fetch, analyse and store back every CT series of ``study_uid`` (or only ``series_uids``).

    Raises:
        PacsError: the study has no CT series on the PACS, or a fetch or store fails.
    """
    chosen = series_uids or pacs.find_ct_series(study_uid)
    if not chosen:
        raise PacsError(f"{pacs.describe()} has no CT series in study {study_uid}; check the StudyInstanceUID")
    trips = []
    for series_uid in chosen:
        trip = SeriesTrip(series_uid)
        start = time.perf_counter()
        paths = pacs.fetch_series(study_uid, series_uid, work / "series" / series_uid)
        trip.instances = len(paths)
        fetched = time.perf_counter()
        result = analyser.analyse(work / "series" / series_uid, work / "results" / series_uid)
        analysed = time.perf_counter()
        pacs.store(result.dicom)
        stored = time.perf_counter()
        trip.stored = [p.name for p in result.dicom]
        trip.agatston, trip.risk_category, trip.notes = result.agatston, result.risk_category, result.notes
        trip.seconds = {"fetch": fetched - start, "analyse": analysed - fetched, "store": stored - analysed,
                        "total": stored - start}
        trips.append(trip)
        if on_series is not None:
            on_series(trip)
    write_json(work / "pacs_run.json", {"server": pacs.describe(), "study_uid": study_uid, "method": analyser.method,
                                        "series": [t.to_dict() for t in trips]})
    return trips
