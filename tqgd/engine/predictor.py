"""The predictors tqgd's slice detectors run through: ultralytics' ``DetectionPredictor`` without a CPU warm-up that
only imports, and for OpenVINO exports one that compiles in fp32.

On the CPU, ultralytics' ``AutoBackend.warmup`` runs no forward pass (PyTorch, ONNX Runtime and OpenVINO alike); all
it does there is import torchvision, so that NMS uses torchvision's kernel rather than ultralytics' own
``TorchNMS.nms`` (the same greedy NMS in plain PyTorch). Importing torchvision imports ``torch._dynamo``, more than a
second of a ``tqgd detect`` run on two cores (``benchmarks/pipeline_speed.py``). On a GPU the warm-up runs a forward
pass and is kept.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ultralytics.models.yolo.detect import DetectionPredictor


class SlicePredictor(DetectionPredictor):
    """ultralytics' detection predictor; on the CPU its warm-up (an import of torchvision, nothing else) is skipped."""

    def setup_model(self, model: Any, verbose: bool = True) -> None:
        """ultralytics' model set-up; on the CPU the model counts as warmed up (module docstring)."""
        super().setup_model(model, verbose)
        if self.device.type == "cpu":
            self.done_warmup = True


#: OpenVINO compile setting that keeps fp32 arithmetic (``BackendPredictor``).
OPENVINO_FP32 = {"INFERENCE_PRECISION_HINT": "f32"}
#: Folder beside an OpenVINO export where OpenVINO keeps the compiled model for later runs.
OPENVINO_CACHE = "openvino_cache"


class BackendPredictor(SlicePredictor):
    """tqgd's slice predictor; an OpenVINO model is compiled in fp32 with a compiled-model cache."""

    def setup_model(self, model: Any, verbose: bool = True) -> None:
        """Set up ultralytics' ``AutoBackend`` for ``model``; for an OpenVINO folder, its ``openvino.Core`` is one
        that compiles in fp32 and keeps compiled blobs in ``openvino_cache/`` beside the export (compiling this
        model took longer than running it on a scan; from the cache, about a quarter of that)."""
        if not (isinstance(model, (str, Path)) and Path(model).name.endswith("_openvino_model")):
            super().setup_model(model, verbose)
            return
        import openvino

        stock = openvino.Core
        cache_dir = str(Path(model).parent / OPENVINO_CACHE)

        class FP32Core(stock):
            def __init__(self, *args: Any, **kwargs: Any) -> None:
                super().__init__(*args, **kwargs)
                self.set_property("CPU", OPENVINO_FP32)
                self.set_property({"CACHE_DIR": cache_dir})

        openvino.Core = FP32Core  # ultralytics' OpenVINO backend makes its Core inside this call
        try:
            super().setup_model(model, verbose)
        finally:
            openvino.Core = stock
