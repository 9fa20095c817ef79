"""TQGDNet-n exports to ONNX through ultralytics' exporter and onnxruntime reproduces PyTorch's outputs."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from tqgd.engine.model import TQGD


@pytest.mark.slow
def test_onnx_export_matches_pytorch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import onnxruntime

    monkeypatch.chdir(tmp_path)  # the exporter writes <model name>.onnx into the working directory
    torch.manual_seed(0)
    model = TQGD("tqgdnet-n")
    exported = Path(model.export(format="onnx", imgsz=64, dynamic=True, device="cpu"))
    assert exported.is_file() and exported.resolve().parent == tmp_path.resolve()
    session = onnxruntime.InferenceSession(str(exported), providers=["CPUExecutionProvider"])
    reference_model = model.model.eval()
    for height, width in ((64, 64), (96, 64)):  # the export size and another size divisible by 32
        x = torch.rand(1, 3, height, width)
        with torch.no_grad():
            expected = reference_model(x)[0].numpy()
        (got,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
        assert got.shape == expected.shape
        np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-3)
