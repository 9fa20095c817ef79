"""A trained slice detector ready to run: its weights, the preprocessing it was trained with, batched prediction.

Shared by heart cropping (``heart_crop``) and calcium detection (``detect``). The HU window comes from the weights
(``preprocess_info``: the dataset's convert.json, embedded at training); weights without one fall back to the
converter's default window (``paper``) and say so in ``notes``. The image size is the one the weights were trained
at. Slices go through the model in batches: one ultralytics call per batch of slices, never one per slice.
The model runs on PyTorch, or on an exported copy (ONNX Runtime, OpenVINO: ``tqgd.engine.backends``) that replaces only
``model``; the preprocessing stays the one recorded in the weights. A cached ONNX export runs without torch
(``cached_onnx_detector``, ``tqgd.engine.onnx_predictor``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tqgd.data.model_input import InputSpec
from tqgd.data.windowing import DEFAULT_WINDOW, MAX_PIXEL_VALUE, Windowing, apply_window, parse_window
from tqgd.errors import CheckpointError, ScanReadError, TQGDError

#: Image size used when the weights do not record the one they were trained at (ultralytics' default).
FALLBACK_IMGSZ = 640
#: Checkpoint key naming the data weights were trained on, set for weights trained on the synthetic phantom (the demo),
#: so every later output can say they are phantom weights.
TRAINING_DATA_KEY = "tqgd_training_data"
#: Checkpoint key of the confidence ``tqgd detect`` uses when no --conf is given (``tqgd.engine.operating_point``).
OPERATING_CONF_KEY = "tqgd_operating_conf"
#: Checkpoint key of the operating confidence chosen with ``DetectOptions.roi_crop`` (the model on the heart ROI itself
#: sees less context and scores higher); weights that record it run on the ROI crop by default.
OPERATING_CONF_ROI_KEY = "tqgd_operating_conf_roi_crop"
#: Columns of one prediction row: box edges in input-image pixels, confidence, class id.
PREDICTION_COLUMNS = ("x0", "y0", "x1", "y1", "confidence", "class_id")


@dataclass
class SliceDetector:
    """A loaded detector: ultralytics ``model``, the window and image size it expects, its class names."""

    weights: Path
    model: Any
    windowing: Windowing
    window_source: str  # "weights" (recorded at training) or "default" (fallback)
    imgsz: int
    names: dict[int, str]
    preprocess: dict[str, Any]
    device: str | None = None
    training_data: str | None = None
    operating_conf: float | None = None  # chosen on validation patients (tqgd.engine.operating_point), if recorded
    operating_conf_roi: float | None = None  # the same for the ROI crop (OPERATING_CONF_ROI_KEY), if recorded
    notes: list[str] = field(default_factory=list)
    input_spec: InputSpec | None = None
    backend: str = "torch"  # "onnx" / "openvino": ``model`` is the exported copy (tqgd.engine.backends)
    export_path: Path | None = None
    predictor: Any = None  # predictor class for ``model.predict`` (tqgd.engine.predictor; None: ultralytics' own)

    def __post_init__(self) -> None:
        if self.input_spec is None:
            self.input_spec = InputSpec(self.windowing)

    @property
    def phantom_trained(self) -> bool:
        """True for weights marked as trained on the synthetic phantom (not clinically trained)."""
        return bool(self.training_data and "phantom" in self.training_data)

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary for output records (weights path, window, image size, classes)."""
        return {"weights": str(self.weights), "training_data": self.training_data,
                "window": self.windowing.to_json(), "window_source": self.window_source, "imgsz": self.imgsz,
                "input": self.input_spec.to_json() if self.input_spec else None,
                "names": {int(k): v for k, v in self.names.items()}, "backend": self.backend,
                **({"export": str(self.export_path)} if self.export_path else {})}


def load_slice_detector(weights: str | Path, device: str | None = None, imgsz: int | None = None,
                        trust: bool | None = None, backend: str = "torch") -> SliceDetector:
    """Load ``weights`` (tqgd or stock ultralytics detector) with the preprocessing recorded in them.

    Loading is restricted unless ``trust`` (``tqgd.engine.weights``). ``backend`` "onnx" / "openvino" runs the model
    through a cached export of the weights (``tqgd.engine.backends``; its note is added to ``notes``). For "onnx",
    weights exported before are run from the cache alone, without unpickling them or importing torch
    (``cached_onnx_detector``).

    Raises:
        CheckpointError: missing, unreadable or refused weights, or a recorded window tqgd cannot read.
        ConfigError: an unknown backend, or one whose packages are missing.
    """
    if backend != "torch":
        from tqgd.engine.backends import check_backend, with_backend

        check_backend(backend, device)
        cached = cached_onnx_detector(weights, imgsz) if backend == "onnx" else None
        if cached is not None:
            return cached
        detector, note = with_backend(load_slice_detector(weights, device, imgsz, trust), backend)
        detector.notes.append(note)
        return detector
    from tqgd.engine.predictor import SlicePredictor
    from tqgd.engine.weights import load_weights

    weights = Path(weights).expanduser().resolve()
    model = load_weights(weights, trust)
    names = {int(k): str(v) for k, v in dict(getattr(model, "names", None) or {0: "object"}).items()}
    checkpoint = getattr(model, "ckpt", None) or {}
    checkpoint = checkpoint if isinstance(checkpoint, dict) else {}
    return build_detector(weights, model, _recorded_preprocess(model, weights, trust),
                          imgsz or _trained_imgsz(model) or FALLBACK_IMGSZ, names, checkpoint.get(TRAINING_DATA_KEY),
                          checkpoint.get(OPERATING_CONF_KEY), checkpoint.get(OPERATING_CONF_ROI_KEY), device=device,
                          predictor=SlicePredictor)


def cached_onnx_detector(weights: str | Path, imgsz: int | None = None) -> SliceDetector | None:
    """The ONNX Runtime detector of ``weights`` from the export cache alone, with no torch imported; None unless
    their ONNX export and detector record are cached (``tqgd.engine.detector_record``) and the export is one
    ``tqgd.engine.onnx_predictor`` runs (not an end-to-end head)."""
    from tqgd.engine.detector_record import load_record
    from tqgd.engine.export_cache import ExportSettings, file_sha256, find_export

    weights = Path(weights).expanduser().resolve()
    try:
        digest = file_sha256(weights)
    except OSError:
        return None  # the full path reports what is wrong with the file
    record = load_record(digest)
    size = int(imgsz or (record or {}).get("imgsz") or 0)
    path = find_export(digest, ExportSettings(format="onnx", imgsz=size)) if record and size else None
    if path is None:
        return None
    try:
        from tqgd.engine.onnx_predictor import OnnxSliceModel

        model = OnnxSliceModel(path)
    except (ImportError, ValueError):
        return None
    detector = build_detector(weights, model, record["preprocess"], size, record["names"], record["training_data"],
                              record["operating_conf"], record["operating_conf_roi"], device="cpu")
    detector.backend, detector.export_path = "onnx", path
    detector.notes.append(f"onnx backend for {weights.name}: cached export {path} (ONNX Runtime without torch)")
    return detector


def build_detector(weights: Path, model: Any, preprocess: dict[str, Any], imgsz: int, names: dict[int, str],
                   training_data: Any, operating_conf: Any, operating_conf_roi: Any = None,
                   device: str | None = None, predictor: Any = None) -> SliceDetector:
    """A ``SliceDetector`` for ``model`` from what its weights record: the input spec (window, 2.5D context, crop)
    from ``preprocess`` (the converter's default window, with a note, when it records none).

    Raises:
        CheckpointError: a recorded window tqgd cannot read.
    """
    notes = []
    spec = None
    if preprocess.get("window") or preprocess.get("input"):
        try:
            spec, source = InputSpec.from_record(preprocess), "weights"
            windowing = spec.windowing
        except TQGDError as exc:
            raise CheckpointError(f"the window recorded in these weights is unreadable ({exc})", weights) from exc
    else:
        windowing, source = parse_window(DEFAULT_WINDOW), "default"
        notes.append(f"{weights.name} records no preprocessing; using the converter's default window "
                     f"'{DEFAULT_WINDOW}' {windowing.channels_hu[0]} HU. If the model was trained on other images, "
                     "results will be poor")
    return SliceDetector(weights=weights, model=model, windowing=windowing, window_source=source, imgsz=int(imgsz),
                         names=names, preprocess=preprocess, device=device,
                         training_data=str(training_data) if training_data else None, notes=notes, input_spec=spec,
                         operating_conf=float(operating_conf) if operating_conf is not None else None,
                         operating_conf_roi=float(operating_conf_roi) if operating_conf_roi is not None else None,
                         predictor=predictor)


def _recorded_preprocess(model: Any, weights: Path, trust: bool | None) -> dict[str, Any]:
    """The preprocessing record of loaded weights: read off the loaded model (the object ``preprocess_info`` would
    unpickle again, which cost ~0.5 s per detector), else ``preprocess_info``'s other sources (convert.json beside)."""
    from tqgd.engine.run_record import PREPROCESS_ATTRIBUTE, preprocess_info

    info = getattr(getattr(model, "model", None), PREPROCESS_ATTRIBUTE, None)
    return dict(info) if isinstance(info, Mapping) else preprocess_info(weights, trust)


def _trained_imgsz(model: Any) -> int | None:
    value = (getattr(model, "overrides", None) or {}).get("imgsz")
    if isinstance(value, (list, tuple)):
        value = max(value)
    return int(value) if value else None


def window_pixels(values: np.ndarray, windowing: Windowing, has_hu: bool, source: str | Path) -> np.ndarray:
    """HU (or grey) values (..., H, W) -> uint8 (..., H, W) for one window, (..., H, W, 3) RGB for three.

    HU go through ``windowing``; a grey 2D export (no HU) is used as exported, which needs 8-bit values.

    Raises:
        ScanReadError: grey values outside 0..255 (e.g. a 16-bit export without HU), which cannot be windowed.
    """
    if has_hu:
        return apply_window(values, windowing)
    if values.size and (values.min() < 0 or values.max() > MAX_PIXEL_VALUE):
        raise ScanReadError(f"grey values span {values.min():g}..{values.max():g}; an image without HU must be an "
                            "8-bit export (0..255) to be used as exported. Give the CT itself (DICOM, MetaImage, "
                            "NIfTI) or an 8-bit export", source)
    pixels = np.asarray(values).astype(np.uint8)
    return pixels if windowing.num_channels == 1 else np.repeat(pixels[..., None], 3, axis=-1)


def model_pixels(values: np.ndarray, windowing: Windowing, has_hu: bool, source: str | Path) -> list[np.ndarray]:
    """Slices (B, H, W) -> B images (H, W, 3) uint8 in ultralytics' BGR order, windowed as at training.

    A one-window spec gives grey images repeated in 3 channels (as ultralytics reads a grey PNG); three windows
    give RGB images, reversed to BGR (as OpenCV reads the training PNGs).
    """
    return to_bgr(window_pixels(values, windowing, has_hu, source))


def to_bgr(pixels: np.ndarray) -> list[np.ndarray]:
    """Model images uint8 (B, H, W) grey or (B, H, W, 3) RGB -> B images (H, W, 3) in ultralytics' BGR order."""
    if pixels.ndim == 3:
        return [np.repeat(p[..., None], 3, axis=2) for p in pixels]
    return [np.ascontiguousarray(p[..., ::-1]) for p in pixels]


def predict(detector: SliceDetector, images: Sequence[np.ndarray], conf: float, imgsz: int | None = None
            ) -> list[np.ndarray]:
    """Run one batch: images (H, W, 3) BGR uint8 -> per image an (N, 6) array of ``PREDICTION_COLUMNS``.

    ``imgsz`` overrides the trained size (native-pixel crops are predicted at their own size).
    """
    if not images:
        return []
    if detector.backend == "onnx" and hasattr(detector.model, "predict_rows"):  # tqgd.engine.onnx_predictor
        return [rows.astype(np.float64) for rows in detector.model.predict_rows(images, imgsz or detector.imgsz, conf)]
    extra = {"predictor": detector.predictor} if detector.predictor is not None else {}
    results = detector.model.predict(list(images), imgsz=imgsz or detector.imgsz, conf=conf, device=detector.device,
                                     verbose=False, batch=len(images), **extra)
    out = []
    for result in results:
        boxes = result.boxes
        rows = np.concatenate([boxes.xyxy.cpu().numpy().reshape(-1, 4), boxes.conf.cpu().numpy().reshape(-1, 1),
                               boxes.cls.cpu().numpy().reshape(-1, 1)], axis=1) if len(boxes) else np.zeros((0, 6))
        out.append(rows.astype(np.float64))
    return out
