"""Read tqgd's DICOM results back with highdicom alone: the SEG as a label volume, the SR as plain numbers.

Used by the tests and the PACS round trip to check what a receiving system will see, independently of the tqgd
structures the objects were built from.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset

from tqgd.dicom_out.codes import MEASUREMENTS, RISK_CATEGORY, RISK_SCHEME
from tqgd.dicom_out.sr import TOTAL_GROUP

_KEYS = {(code.value, code.scheme_designator): key for key, (code, _, _) in MEASUREMENTS.items()}


def _load(obj: str | Path | Dataset, reader):
    return reader(obj) if isinstance(obj, (str, Path)) else obj


def seg_labels(seg: str | Path | Dataset, source_sop_uids: list[str]) -> tuple[np.ndarray, dict[int, str]]:
    """(Z, Y, X) uint8 segment numbers, slice k on source instance ``source_sop_uids[k]``; and number -> label."""
    seg = _load(seg, hd.seg.segread)
    if not isinstance(seg, hd.seg.Segmentation):
        seg = hd.seg.Segmentation.from_dataset(seg)
    numbers = list(seg.get_segment_numbers())
    labels = seg.get_pixels_by_source_instance(source_sop_instance_uids=list(source_sop_uids),
                                               segment_numbers=numbers, combine_segments=True,
                                               relabel=False, assert_missing_frames_are_empty=True)
    names = {n: seg.get_segment_description(n).segment_label for n in numbers}
    return np.asarray(labels, dtype=np.uint8), names


def _values(group) -> dict[str, float]:
    out = {}
    for measurement in group.get_measurements():
        key = _KEYS.get((measurement.name.value, measurement.name.scheme_designator))
        if key is not None:
            out[key] = float(measurement.value)
    return out


#: TID 4019 concept codes (DCM): algorithm name, version, parameters.
_ALGORITHM_CODES = {"111001": "name", "111003": "version", "111002": "parameters"}


def _algorithm(items) -> dict[str, Any]:
    """Algorithm name, version and parameters (TID 4019) found anywhere under ``items``."""
    found: dict[str, Any] = {"parameters": []}
    stack = list(items)
    while stack:
        item = stack.pop(0)
        concept = item.get("ConceptNameCodeSequence")
        key = _ALGORITHM_CODES.get(concept[0].CodeValue) if concept else None
        if key == "parameters":
            found["parameters"].append(str(item.TextValue))
        elif key is not None and key not in found:
            found[key] = str(item.TextValue)
        stack.extend(item.get("ContentSequence", []))
    return found


def sr_numbers(sr: str | Path | Dataset) -> dict[str, Any]:
    """The SR's numbers: totals, risk category and scheme, per artery, per lesion, algorithm, referenced segments."""
    sr = _load(sr, hd.sr.srread)
    if not isinstance(sr, hd.sr.Comprehensive3DSR):
        sr = hd.sr.Comprehensive3DSR.from_dataset(sr)
    report = sr.content
    out: dict[str, Any] = {"per_artery": {}, "lesions": {}, "segments": {}}
    for group in [*report.get_image_measurement_groups(), *report.get_volumetric_roi_measurement_groups()]:
        label = str(group.tracking_identifier)
        values = _values(group)
        site = group.finding_sites[0].value.meaning if group.finding_sites else None
        segment = getattr(group, "referenced_segment", None)
        if segment is not None:
            out["segments"][label] = [int(n) for n in segment.referenced_segment_numbers or []]
            out.setdefault("referenced_seg", str(segment.referenced_sop_instance_uid))
        if label == TOTAL_GROUP:
            out.update(values)
            for evaluation in group.get_qualitative_evaluations():
                if evaluation.name.value == RISK_CATEGORY.value:
                    out["risk_category"] = evaluation.value.meaning
                    out["risk_category_code"] = evaluation.value.value
                elif evaluation.name.value == RISK_SCHEME.value:
                    out["risk_scheme"] = evaluation.value.value
            out["algorithm"] = _algorithm(group)
        elif label.startswith("calcium "):
            out["per_artery"][label.removeprefix("calcium ")] = values | {"finding_site": site}
        elif label.startswith("lesion "):
            out["lesions"][int(label.removeprefix("lesion "))] = values | {"finding_site": site}
    return out
