"""Labelled candidates for training the verifier: every >= 130 HU component near the heart of a scan with a
reference mask, labelled coronary calcium (it overlaps the reference) or not (bone, aortic wall, valves, metal...).

Near the heart: inside the phantom's truth heart boxes (its sidecar, ``<set>/phantom/<case>.json``) grown by
``ROI_MARGIN_PX``; for other data, inside the reference lesions' in-plane extent grown by ``ROI_MARGIN_MM``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from tqgd.data.lesion_patches import candidate_patch, find_candidates

ROI_MARGIN_PX = 10
ROI_MARGIN_MM = 40.0


@dataclass
class CandidateSet:
    """Patches (N, 2, Z, H, W) float16, scalars (N, 4) float32, labels (N,) uint8 and a kind per candidate."""

    patches: list[np.ndarray] = field(default_factory=list)
    scalars: list[np.ndarray] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if not self.labels:
            return np.zeros((0, 2, 1, 1, 1), np.float16), np.zeros((0, 4), np.float32), np.zeros(0, np.uint8)
        return np.stack(self.patches), np.stack(self.scalars), np.array(self.labels, dtype=np.uint8)


def _roi(sidecar: dict | None, reference: np.ndarray, spacing_mm: tuple[float, float, float]
         ) -> tuple[float, float, float, float] | None:
    """In-plane region (x0, y0, x1, y1) whose components are kept; None when neither source gives one."""
    boxes = [b for b in (sidecar or {}).get("heart_boxes_xyxy", []) if b]
    if boxes:
        array = np.array(boxes, dtype=float)
        return (array[:, 0].min() - ROI_MARGIN_PX, array[:, 1].min() - ROI_MARGIN_PX,
                array[:, 2].max() + ROI_MARGIN_PX, array[:, 3].max() + ROI_MARGIN_PX)
    _, ys, xs = np.nonzero(reference)
    if not len(ys):
        return None
    my, mx = ROI_MARGIN_MM / spacing_mm[1], ROI_MARGIN_MM / spacing_mm[2]
    return xs.min() - mx, ys.min() - my, xs.max() + mx, ys.max() + my


def _kind(sidecar: dict | None, bbox: tuple[slice, slice, slice]) -> str:
    """The phantom truth's name for a non-calcium component (its distractor kind), else 'other'."""
    z = (bbox[0].start + bbox[0].stop - 1) / 2
    y, x = (bbox[1].start + bbox[1].stop - 1) / 2, (bbox[2].start + bbox[2].stop - 1) / 2
    for item in (sidecar or {}).get("distractors", []):
        b = item.get("bbox_zyx")
        if b and b[0] - 1 <= z <= b[3] + 1 and b[1] - 2 <= y <= b[4] + 2 and b[2] - 2 <= x <= b[5] + 2:
            return str(item.get("kind", "other"))
    return "other"


def add_case(out: CandidateSet, hu: np.ndarray, reference: np.ndarray, spacing_mm: tuple[float, float, float],
             sidecar: dict | None = None) -> int:
    """Append one scan's candidates to ``out``; returns how many were added."""
    roi = _roi(sidecar, reference, spacing_mm)
    if roi is None:
        return 0
    labels, candidates = find_candidates(hu)
    added = 0
    for candidate in candidates:
        _, by, bx = candidate.bbox
        y, x = (by.start + by.stop - 1) / 2, (bx.start + bx.stop - 1) / 2
        if not (roi[0] <= x <= roi[2] and roi[1] <= y <= roi[3]):
            continue
        patch, scalars = candidate_patch(hu, labels, candidate, spacing_mm)
        calcium = bool((reference[candidate.bbox][labels[candidate.bbox] == candidate.label] > 0).any())
        out.patches.append(patch.astype(np.float16))
        out.scalars.append(scalars)
        out.labels.append(int(calcium))
        out.kinds.append("calcium" if calcium else _kind(sidecar, candidate.bbox))
        added += 1
    return added


def collect_candidates(roots: Iterable[str | Path], progress=None) -> CandidateSet:
    """Candidates of every case (image + reference) in OrCaScore-layout folders ``roots``."""
    from tqgd.data.orcascore import discover_cases
    from tqgd.data.readers import read_ct
    from tqgd.scoring.masks import read_mask

    out = CandidateSet()
    cases = [(Path(root), case) for root in roots for case in discover_cases(Path(root))]
    for done, (root, case) in enumerate(cases, start=1):
        sidecar_path = root / "phantom" / f"{case.case_id}.json"
        sidecar = json.loads(sidecar_path.read_text(encoding="utf-8")) if sidecar_path.is_file() else None
        volume = read_ct(case.image)
        reference, _ = read_mask(case.reference)
        add_case(out, volume.hu, reference, volume.spacing_mm, sidecar)
        if progress is not None:
            progress(done, len(cases))
    return out
