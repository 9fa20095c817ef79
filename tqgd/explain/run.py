"""``tqgd explain`` and ``tqgd detect --explain``: maps of one model on scans or dataset images, the Fig. 9 comparison
of several models, and the randomisation check, written as files.

Per scan (or image) in its output folder:

- ``maps/slice_<z>.png``: the slice in the model's window with the sum of its detections' maps and the model's boxes;
- ``maps/slice_<z>_det<k>.png``: one detection's map and box (``per_detection``);
- ``explain.json``: settings and one row per detection (model box and reported box in full-slice pixels, confidence,
  anchor, energy share inside the model's box, the box's area fraction);
- with the check: ``maps_randomised/slice_<z>.png`` (the randomised model's maps for the same detections) and
  ``sanity.json`` / ``sanity.csv`` (``tqgd.explain.sanity``).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.data.convert.writer import encode_png
from tqgd.data.volume import CTVolume
from tqgd.detections import DetectionResult
from tqgd.engine.detect import DetectOptions
from tqgd.engine.detect_model import SliceDetector
from tqgd.engine.heart_crop import HeartROI
from tqgd.explain.cam import DEFAULT_METHOD, Explained, Explainer
from tqgd.explain.measures import energy_share
from tqgd.explain.randomise import randomised_copy
from tqgd.explain.render import PanelCell, overlay, panel
from tqgd.explain.sanity import SanityReport, compare_maps
from tqgd.explain.scan import SliceMaps, explain_image, explain_volume, model_image
from tqgd.io import write_bytes, write_json, write_text

MAPS_DIR = "maps"
RANDOMISED_MAPS_DIR = "maps_randomised"


@dataclass(frozen=True)
class ExplainSettings:
    """``method`` and ``layers`` (None: neck outputs) of the maps; ``per_detection`` also writes one picture per
    detection; ``sanity`` runs the randomisation check with ``seed``, re-initialising ``randomise`` ("neck-head" or
    "all", ``tqgd.explain.randomise``)."""

    method: str = DEFAULT_METHOD
    layers: str | None = None
    per_detection: bool = True
    sanity: bool = False
    seed: int = 0
    randomise: str = "neck-head"


def native_size(detector: SliceDetector) -> int | None:
    """The ``Explainer`` image size for ``detector``: None (each image at its own side) for native-pixel crops, as
    ``detect_volume`` predicts them, else the trained size."""
    return None if detector.input_spec and detector.input_spec.crop_size else detector.imgsz


def make_explainers(detector: SliceDetector, settings: ExplainSettings, device: str | None = None
                    ) -> tuple[Explainer, Explainer | None]:
    """The explainer of ``detector`` and, for the check, the one of its randomised copy."""
    size = native_size(detector)
    explainer = Explainer(detector.model, size, settings.method, settings.layers, device)
    randomised = None
    if settings.sanity:
        copy = randomised_copy(explainer.module, settings.seed, settings.randomise)
        randomised = Explainer(copy, size, settings.method, explainer.layers, device)
    return explainer, randomised


def _slice_name(index: int, num_slices: int) -> str:
    from tqgd.engine.overlay import overlay_name

    return overlay_name(index, num_slices)[:-len(".png")]


def _context(detector: SliceDetector) -> int:
    return detector.input_spec.context if detector.input_spec else 1


def write_maps(slices: Sequence[SliceMaps], folder: Path, context: int, num_slices: int, per_detection: bool
               ) -> list[Path]:
    """Summed and (``per_detection``) per-detection map pictures of ``slices`` into ``folder``."""
    written = []
    for item in slices:
        name = _slice_name(item.slice_index, num_slices)
        boxes = [i.box_xyxy for i in item.items]
        label = f"z={item.slice_index}  {len(item.items)} detection(s)"
        written.append(write_bytes(folder / f"{name}.png",
                                   encode_png(overlay(item.image, item.summed(), boxes, context, label))))
        if per_detection:
            for k, det in enumerate(item.items):
                share = energy_share(det.cam, det.box_xyxy) if det.cam is not None else float("nan")
                label = f"z={item.slice_index} det {k}: conf {det.confidence:.2f}, share in box {share:.2f}"
                written.append(write_bytes(folder / f"{name}_det{k}.png",
                                           encode_png(overlay(item.image, det.cam, [det.box_xyxy], context, label))))
    return written


def _sanity(slices: Sequence[SliceMaps], randomised: Explainer, source: str) -> tuple[list, list[SliceMaps]]:
    rows, other = [], []
    for item in slices:
        part, copies = compare_maps(source, item.slice_index, item.image, item.items, randomised)
        rows += part
        other.append(SliceMaps(item.slice_index, item.image, item.offset_xy, copies, item.reported))
    return rows, other


def sanity_csv(report: SanityReport) -> str:
    """CSV text, one row per checked detection."""
    buffer = io.StringIO()
    rows = [asdict(r) for r in report.rows]
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["source"], lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def write_outputs(out: Path, slices: Sequence[SliceMaps], explainer: Explainer, settings: ExplainSettings,
                  context: int, num_slices: int, source: str, extra: dict[str, Any],
                  randomised: Explainer | None = None) -> SanityReport | None:
    """Maps, explain.json and (with ``randomised``) the check's files of one scan or image into ``out``."""
    write_maps(slices, out / MAPS_DIR, context, num_slices, settings.per_detection)
    rows = [row for item in slices for row in item.rows()]
    record = {"source": source, "settings": {**asdict(settings), **explainer.describe()}, **extra, "detections": rows}
    report = None
    if randomised is not None:
        sanity_rows, other = _sanity(slices, randomised, source)
        write_maps(other, out / RANDOMISED_MAPS_DIR, context, num_slices, False)
        report = SanityReport(sanity_rows, settings={**explainer.describe(), "seed": settings.seed,
                                                     "randomised": settings.randomise})
        write_json(out / "sanity.json", report.to_dict())
        write_text(out / "sanity.csv", sanity_csv(report))
        record["sanity"] = report.summary()
    write_json(out / "explain.json", record)
    return report


def explain_scan(volume: CTVolume, detector: SliceDetector, roi: HeartROI | None, options: DetectOptions,
                 out: Path, settings: ExplainSettings, explainer: Explainer, randomised: Explainer | None = None,
                 result: DetectionResult | None = None, progress: Callable[[int, int], None] | None = None
                 ) -> tuple[DetectionResult, list[SliceMaps], SanityReport | None]:
    """Detect (unless ``result`` is given), explain every detection, write everything into ``out``."""
    result, slices = explain_volume(volume, detector, explainer, roi, options, result, progress)
    extra = {"scan_id": volume.meta.scan_id, "series_uid": volume.meta.series_uid,
             "window": detector.windowing.to_json(),
             "input": detector.input_spec.to_json() if detector.input_spec else None,
             "model_crop_xyxy": result.model.get("model_crop_xyxy"), "conf": result.model.get("conf"),
             "unmatched_detections": result.model.get("explain_unmatched", 0),
             "completion_detections_without_map": result.model.get("explain_completion", 0)}
    report = write_outputs(out, slices, explainer, settings, _context(detector), volume.shape[0],
                           volume.meta.scan_id or "scan", extra, randomised)
    return result, slices, report


def explain_dataset_image(image: np.ndarray, name: str, detector: SliceDetector, conf: float, out: Path,
                          settings: ExplainSettings, explainer: Explainer, randomised: Explainer | None = None
                          ) -> tuple[SliceMaps, SanityReport | None]:
    """Explain one dataset image (already a model image) and write its files into ``out``."""
    item = explain_image(image, explainer, conf)
    report = write_outputs(out, [item] if item.items else [], explainer, settings, _context(detector), 1, name,
                           {"conf": conf, "image": name}, randomised)
    return item, report


# --- the Fig. 9 comparison ------------------------------------------------------------------------------------------

@dataclass
class CompareModel:
    """One column of the panel: its title, detector and explainer."""

    title: str
    detector: SliceDetector
    explainer: Explainer


def choose_slices(results: Sequence[DetectionResult], rows: int) -> list[int]:
    """The ``rows`` slices (sorted) where the most models detect something, ties broken by the summed best
    confidence of the models."""
    score: dict[int, tuple[int, float]] = {}
    for result in results:
        for item in result.slices:
            if item.detections:
                models, conf = score.get(item.slice_index, (0, 0.0))
                score[item.slice_index] = (models + 1, conf + max(d.confidence for d in item.detections))
    ranked = sorted(score, key=lambda z: (score[z][0], score[z][1]), reverse=True)
    return sorted(ranked[:rows])


def compare_cell(volume: CTVolume, model: CompareModel, result: DetectionResult, z: int,
                 options: DetectOptions) -> PanelCell:
    """One model's summed map on slice ``z``; a model that reports no box there (none >= conf, or dropped by the
    physics filter) shows the map of its single best-scoring anchor, unboxed."""
    box = tuple(int(v) for v in result.model["model_crop_xyxy"])
    image = model_image(volume, model.detector, z, box)  # type: ignore[arg-type]
    reported = next((s.detections for s in result.slices if s.slice_index == z and s.detections), [])
    maps = explain_volume(volume, model.detector, model.explainer, None, options, _only_slice(result, z))[1] \
        if reported else []
    if maps and maps[0].items:
        item = maps[0]
        caption = f"{len(item.items)} box(es), best {max(i.confidence for i in item.items):.2f}"
        cam, boxes = item.summed(), [i.box_xyxy for i in item.items]
    else:
        best: list[Explained] = model.explainer.detect(image, 0.0)[:1]
        model.explainer.maps(image, best)
        cam = best[0].cam if best else None
        boxes = []
        caption = f"no box kept; best anchor {best[0].confidence:.2f}" if best else "no score"
    return PanelCell(overlay(image, cam, boxes, _context(model.detector)), caption)


def _only_slice(result: DetectionResult, z: int) -> DetectionResult:
    """A shallow copy of ``result`` holding slice ``z`` only."""
    import copy

    part = copy.copy(result)
    part.model = dict(result.model)
    part.slices = [s for s in result.slices if s.slice_index == z]
    return part
