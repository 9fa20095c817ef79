"""Every shipped config builds at every scale and runs forward at two input sizes (3 channels; 1 channel at n)."""

from __future__ import annotations

import pytest
import torch
import yaml

from tqgd.nn import TQGDDetectionModel
from tqgd.nn.model_cfg import shipped_configs

#: Two input sizes divisible by the largest stride (32), one of them not square.
INPUT_SIZES = ((64, 64), (96, 64))


def _cases() -> list:
    """(config name, input channels): every scale with 3 channels, the n scale also with 1 (grey CT slices)."""
    cases = []
    for stem, entry in shipped_configs().items():
        for scale in yaml.safe_load(entry.read_text())["scales"]:
            marks = [pytest.mark.slow] if scale == "m" else []  # the m models take a second or more each on CPU
            for channels in (3, 1) if scale == "n" else (3,):
                cases.append(pytest.param(f"{stem}-{scale}", channels, marks=marks, id=f"{stem}-{scale}-ch{channels}"))
    return cases


@pytest.mark.parametrize(("name", "channels"), _cases())
def test_builds_and_runs_forward(name: str, channels: int) -> None:
    model = TQGDDetectionModel(name, ch=channels, verbose=False).eval()
    head = model.model[-1]
    assert model.stride.tolist() == [2.0 ** k for k in range(6 - head.nl, 6)]  # P3-P5, or P2-P5 for -p2
    for height, width in INPUT_SIZES:
        with torch.no_grad():
            boxes = model(torch.rand(1, channels, height, width))[0]
        anchors = sum((height // s) * (width // s) for s in model.stride.int().tolist())
        assert boxes.shape == (1, 4 + head.nc, anchors)
        assert torch.isfinite(boxes).all()
