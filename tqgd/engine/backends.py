"""Inference backends of the slice detectors: PyTorch (the weights as loaded), ONNX Runtime and OpenVINO on the CPU.

``tqgd detect --backend onnx|openvino`` runs the same weights through ultralytics' own exporter and runtime: the
loaded weights are exported once (``tqgd.engine.export_cache``: cached outside the package, keyed by the weights'
sha256 and the export settings), opened with ``ultralytics.YOLO`` (its ``AutoBackend`` picks ONNX Runtime or OpenVINO
from the file) and called through the same ``tqgd.engine.detect_model.predict`` as the PyTorch model. Only the model
is swapped (``with_backend``): the input spec recorded in the weights (window, 2.5D context, crop), the class names,
and the physics filter and box snapping after the model stay the loaded detector's, so every backend sees the same
pixels and its boxes go through the same steps.

Agreement with PyTorch:

- Exports have dynamic batch, height and width, so one export runs at any crop side, and ultralytics letterboxes
  images for it exactly as for the PyTorch model (minimal padding to the stride).
- OpenVINO is compiled for fp32 (``INFERENCE_PRECISION_HINT``): on CPUs with bf16 instructions its default runs in
  bf16, which moved a trained TQGDNet-n's boxes by up to 2.5 px from PyTorch's (fp32: 2e-4 px). The compiled model is
  kept beside the export (OpenVINO's ``CACHE_DIR``), so only the first run pays for compiling.

Each export also leaves the weights' detector record in the cache (``tqgd.engine.detector_record``); from then on an
ONNX run needs neither the checkpoint nor torch (``tqgd.engine.onnx_predictor``, chosen by
``tqgd.engine.detect_model.load_slice_detector``). Importing this module imports neither.
"""

from __future__ import annotations

import importlib.util
from dataclasses import replace
from typing import TYPE_CHECKING

from tqgd.engine.export_cache import ExportSettings, cached_export, file_sha256
from tqgd.errors import ConfigError

if TYPE_CHECKING:
    from tqgd.engine.detect_model import SliceDetector

#: The backends ``tqgd detect --backend`` accepts; "torch" runs the weights as loaded.
BACKENDS = ("torch", "onnx", "openvino")
#: Python packages (import names) each exported backend needs to export and to run.
BACKEND_PACKAGES = {"onnx": ("onnx", "onnxslim", "onnxruntime"), "openvino": ("openvino",)}
#: pip names for the install hint (import name -> distribution).
_PIP_NAMES = {"onnx": "onnx", "onnxslim": "onnxslim", "onnxruntime": "onnxruntime", "openvino": "openvino"}


def check_backend(backend: str, device: str | None = None) -> None:
    """Fail early, before any weights load, when ``backend`` cannot run here.

    Raises:
        ConfigError: an unknown backend, a missing package (with the pip command), or a GPU device for a CPU backend.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend == "torch":
        return
    missing = [name for name in BACKEND_PACKAGES[backend] if importlib.util.find_spec(name) is None]
    if missing:
        pip = " ".join(_PIP_NAMES[name] for name in missing)
        raise ConfigError(f"--backend {backend} needs the Python package(s) {', '.join(missing)}, which are not "
                          f"installed: pip install {pip} (or pip install 'tqgd[export]'), or use --backend torch")
    if device not in (None, "", "cpu"):
        raise ConfigError(f"--backend {backend} runs on the CPU, but --device {device} was given; use --backend torch "
                          "for a GPU, or --device cpu")


def with_backend(detector: SliceDetector, backend: str) -> tuple[SliceDetector, str | None]:
    """``detector`` running on ``backend`` (the same detector for "torch") and a note saying which export it uses.

    The export is made on first use and reused afterwards (``tqgd.engine.export_cache``).

    Raises:
        ConfigError: see ``check_backend``. CheckpointError: the export failed. OutputError: the cache is not writable.
    """
    check_backend(backend, detector.device)
    if backend == "torch":
        return detector, None
    from ultralytics import YOLO

    from tqgd.engine.detector_record import save_record
    from tqgd.engine.predictor import BackendPredictor

    path, made = cached_export(detector.model, detector.weights, ExportSettings(format=backend, imgsz=detector.imgsz))
    save_record(file_sha256(detector.weights), detector.preprocess, detector.imgsz, detector.names,
                detector.training_data, detector.operating_conf, detector.operating_conf_roi)
    model = YOLO(str(path), task="detect")
    note = f"{backend} backend for {detector.weights.name}: {'exported to' if made else 'cached export'} {path}"
    return replace(detector, model=model, device="cpu", backend=backend, export_path=path,
                   predictor=BackendPredictor), note
