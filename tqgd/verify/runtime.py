"""Run the exported lesion verifier (ONNX Runtime, no torch) and drop the boxes of components it rejects.

``verify_rows`` is called by ``tqgd.engine.detect.detect_volume`` after the physics filter: each kept box is tied to
the >= threshold component holding its brightest pixel; every such component of ``MIN_VOXELS`` or more is scored once,
and the boxes of components scoring under the threshold are dropped. The decision depends on the component only,
never on a box's confidence, so keeping boxes at a confidence ``c`` afterwards equals verifying the boxes kept at ``c``.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np

from tqgd.data.lesion_patches import PATCH_MM, PATCH_PIXELS, PATCH_SLICES, candidate_patch, find_candidates
from tqgd.errors import CheckpointError
from tqgd.weights import VERIFIER, weights_dir

#: The verifier shipped with tqgd (trained on phantom patients only).
SHIPPED_VERIFIER = weights_dir() / VERIFIER
#: Used when the file records no threshold of its own.
DEFAULT_THRESHOLD = 0.05
#: How far beyond the model's crop components are labelled (mm): more than half a patch (48 x 0.7 mm).
REGION_MARGIN_MM = 20.0
#: Components scored per ONNX Runtime call.
BATCH = 64


class LesionVerifier:
    """An exported verifier: ``probabilities(patches (N, 2, Z, H, W), scalars (N, 4)) -> (N,)`` P(coronary calcium)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if not self.path.is_file():
            raise CheckpointError("lesion verifier not found; pass --verifier with a file from tools/train_verifier.py "
                                  "or use --no-verify", self.path)
        try:
            import onnxruntime
        except ImportError as exc:
            raise CheckpointError("the lesion verifier needs onnxruntime (pip install onnxruntime) or --no-verify",
                                  self.path) from exc
        data = self.path.read_bytes()
        self.digest = hashlib.sha256(data).hexdigest()[:16]
        try:
            self.session = onnxruntime.InferenceSession(data, providers=["CPUExecutionProvider"])
        except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types for a damaged file
            raise CheckpointError(f"not a readable ONNX lesion verifier ({exc}); re-export it with "
                                  "tools/train_verifier.py", self.path) from exc
        meta = self.session.get_modelmeta().custom_metadata_map
        self.record = json.loads(meta.get("tqgd_verifier", "{}"))
        expected = [PATCH_SLICES, PATCH_PIXELS, PATCH_PIXELS, PATCH_MM]
        if self.record.get("patch") != expected:
            raise CheckpointError(f"this verifier was made for patches {self.record.get('patch')}, tqgd builds "
                                  f"{expected}; re-train it with tools/train_verifier.py", self.path)
        self.threshold = float(self.record.get("threshold", DEFAULT_THRESHOLD))

    def probabilities(self, patches: np.ndarray, scalars: np.ndarray) -> np.ndarray:
        """P(coronary calcium) per component: (N,) float64."""
        out = []
        for start in range(0, len(patches), BATCH):
            logits = self.session.run(None, {"patch": patches[start:start + BATCH].astype(np.float32),
                                             "scalars": scalars[start:start + BATCH].astype(np.float32)})[0]
            out.append(1.0 / (1.0 + np.exp(-logits.astype(np.float64))))
        return np.concatenate(out) if out else np.zeros(0)

    def describe(self, threshold: float) -> dict:
        """What detections.json records about this verifier (``seeds``: its training seed, or each merged member's)."""
        members = self.record.get("members") or [self.record.get("recipe", {})]
        return {"file": self.path.name, "sha256_16": self.digest, "threshold": threshold,
                "training_data": self.record.get("training_data"), "seeds": [m.get("seed") for m in members]}


@functools.lru_cache(maxsize=4)
def _cached(path: str) -> LesionVerifier:
    return LesionVerifier(path)


def load_verifier(path: str | Path | None = None) -> LesionVerifier:
    """The verifier at ``path`` (default: the shipped one), loaded once per process."""
    return _cached(str(Path(path or SHIPPED_VERIFIER).resolve()))


def _peak_label(labels: np.ndarray, hu_slice: np.ndarray, z: int, row: np.ndarray) -> int:
    """Component label of the brightest >= threshold pixel inside a box (0 when none)."""
    x0, y0 = max(int(np.floor(row[0])), 0), max(int(np.floor(row[1])), 0)
    x1, y1 = max(int(np.ceil(row[2])), x0 + 1), max(int(np.ceil(row[3])), y0 + 1)
    inside = labels[z, y0:y1, x0:x1]
    if not inside.any():
        return 0
    values = np.where(inside > 0, hu_slice[y0:y1, x0:x1], -np.inf)
    return int(inside.flat[int(np.argmax(values))])


def search_region(crop_xyxy: tuple[int, int, int, int] | None, spacing_mm: tuple[float, float, float],
                  slice_hw: tuple[int, int]) -> tuple[int, int, int, int]:
    """The in-plane region (x0, y0, x1, y1) whose components are labelled: the model's crop grown by
    ``REGION_MARGIN_MM``, so every patch centred in the crop lies inside it (labelling whole slices took ~0.5-1 s)."""
    height, width = slice_hw
    if crop_xyxy is None:
        return 0, 0, width, height
    gy, gx = int(np.ceil(REGION_MARGIN_MM / spacing_mm[1])), int(np.ceil(REGION_MARGIN_MM / spacing_mm[2]))
    x0, y0, x1, y1 = crop_xyxy
    return max(x0 - gx, 0), max(y0 - gy, 0), min(x1 + gx, width), min(y1 + gy, height)


def _component_scores(hu: np.ndarray, spacing_mm: tuple[float, float, float], rows_by_slice: dict[int, np.ndarray],
                      verifier: LesionVerifier, threshold_hu: float, crop_xyxy: tuple[int, int, int, int] | None
                      ) -> tuple[dict[int, list[int]], dict[int, float]]:
    """Each row's component label (per slice; 0: none) and the verifier's score of every component of
    ``MIN_VOXELS`` or more that a row sits on."""
    x0, y0, x1, y1 = search_region(crop_xyxy, spacing_mm, hu.shape[1:])
    hu = hu[:, y0:y1, x0:x1]
    labels, candidates = find_candidates(hu, threshold_hu)
    by_label = {candidate.label: candidate for candidate in candidates}
    shift = np.array([x0, y0, x0, y0, 0, 0], dtype=np.float64)
    owner = {z: [_peak_label(labels, hu[z], z, row - shift) for row in rows] for z, rows in rows_by_slice.items()}
    asked = sorted({label for labels_ in owner.values() for label in labels_ if label in by_label})
    if not asked:
        return owner, {}
    built = [candidate_patch(hu, labels, by_label[label], spacing_mm) for label in asked]
    probabilities = verifier.probabilities(np.stack([p for p, _ in built]), np.stack([s for _, s in built]))
    return owner, dict(zip(asked, probabilities.tolist(), strict=True))


def verify_rows(hu: np.ndarray, spacing_mm: tuple[float, float, float], rows_by_slice: dict[int, np.ndarray],
                verifier: LesionVerifier, threshold: float, threshold_hu: float = 130.0,
                crop_xyxy: tuple[int, int, int, int] | None = None
                ) -> tuple[dict[int, np.ndarray], dict[str, int], dict[int, np.ndarray]]:
    """``rows_by_slice`` (slice -> (N, 6) full-slice rows) without the boxes on rejected components; the counts
    ``checked_components``, ``rejected_components`` and ``dropped_boxes``; and per slice the kept rows' component
    scores ((N,) float64, NaN for a box on no component of ``MIN_VOXELS`` or more: not scored, kept). Components are
    searched in ``search_region(crop_xyxy)`` (whole slices when None)."""
    owner, score = _component_scores(hu, spacing_mm, rows_by_slice, verifier, threshold_hu, crop_xyxy)
    rejected = {label for label, value in score.items() if value < threshold}
    counts = {"checked_components": len(score), "rejected_components": len(rejected), "dropped_boxes": 0}
    out, kept_scores = {}, {}
    for z, rows in rows_by_slice.items():
        keep = np.array([label not in rejected for label in owner[z]], dtype=bool)
        counts["dropped_boxes"] += int((~keep).sum())
        if keep.any():
            out[z] = rows[keep]
            kept_scores[z] = np.array([score.get(label, np.nan) for label in owner[z]], dtype=np.float64)[keep]
    return out, counts, kept_scores
