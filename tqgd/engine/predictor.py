"""The predictor tqgd's slice detectors run through: ultralytics' ``DetectionPredictor`` without a CPU warm-up that
only imports.

On the CPU, ultralytics' ``AutoBackend.warmup`` runs no forward pass (PyTorch, ONNX Runtime and OpenVINO alike); all
it does there is import torchvision, so that NMS uses torchvision's kernel rather than ultralytics' own
``TorchNMS.nms`` (the same greedy NMS in plain PyTorch). Importing torchvision imports ``torch._dynamo``, more than a
second of a ``tqgd detect`` run on two cores (``benchmarks/pipeline_speed.py``). On a GPU the warm-up runs a forward
pass and is kept.
"""

from __future__ import annotations

from typing import Any

from ultralytics.models.yolo.detect import DetectionPredictor


class SlicePredictor(DetectionPredictor):
    """ultralytics' detection predictor; on the CPU its warm-up (an import of torchvision, nothing else) is skipped."""

    def setup_model(self, model: Any, verbose: bool = True) -> None:
        """ultralytics' model set-up; on the CPU the model counts as warmed up (module docstring)."""
        super().setup_model(model, verbose)
        if self.device.type == "cpu":
            self.done_warmup = True
