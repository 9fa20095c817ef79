"""Low-stage GD: gather (Eq. 6-7) and inject (Eq. 8-10) against the equations written out with torch ops.

Average pooling is computed as sums of strided slices (tqgd/nn/resize.py) and Eq. 9's conv may run after the pooling,
so the comparisons allow float rounding (assert_close's float32 defaults); tests/nn/test_exact_rewrites.py checks
those rewrites in float64."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tqgd.errors import ConfigError
from tqgd.nn import GDGather, GDInject, TQGDDetectionModel


def _levels(channels: tuple[int, ...] = (2, 3, 4, 5), finest: int = 32) -> list[torch.Tensor]:
    """Q2..Q5 at strides 4..32 of a (finest*4)-pixel image."""
    return [torch.rand(1, c, finest >> i, finest >> i) for i, c in enumerate(channels)]


def test_gather_eq6_7_pools_finer_upsamples_coarser_to_target() -> None:
    torch.manual_seed(0)
    q2, q3, q4, q5 = _levels()
    gather = GDGather([2, 3, 4, 5], c2=8, n=2, target=2).eval()
    f_q = torch.cat([F.avg_pool2d(q2, 4), F.avg_pool2d(q3, 2), q4,
                     F.interpolate(q5, scale_factor=2, mode="bilinear", align_corners=False)], 1)  # Eq. 6
    with torch.no_grad():
        expected = gather.blocks(gather.reduce(f_q))  # Eq. 7
        got = gather([q2, q3, q4, q5])
    assert got.shape == (1, 8, 8, 8)
    torch.testing.assert_close(got, expected)


def test_gather_target_sets_the_output_level() -> None:
    levels = _levels()
    assert GDGather([2, 3, 4, 5], c2=8, target=3)(levels).shape[-2:] == (4, 4)
    assert GDGather([2, 3, 4, 5], c2=8, target=0)(levels).shape[-2:] == (32, 32)


@pytest.mark.parametrize(("gate", "act"), [("sigmoid", torch.sigmoid), ("hardsigmoid", F.hardsigmoid)])
@pytest.mark.parametrize("local_size", [16, 4], ids=["global-upsampled", "global-pooled"])
def test_inject_eq8_10(gate: str, act, local_size: int) -> None:
    torch.manual_seed(0)
    q, i_r = torch.rand(2, 3, local_size, local_size), torch.rand(2, 6, 8, 8)
    inject = GDInject(3, 6, c2=5, n=2, gate=gate).eval()

    def resize(t: torch.Tensor) -> torch.Tensor:
        if local_size > 8:
            return F.interpolate(t, scale_factor=local_size // 8, mode="bilinear", align_corners=False)
        return F.avg_pool2d(t, 8 // local_size)

    with torch.no_grad():
        global_1 = resize(act(inject.gate(i_r)))  # Eq. 8
        global_2 = resize(inject.glob(i_r))  # Eq. 9
        expected = inject.blocks(inject.local(q) * global_1 + global_2)  # Eq. 10 + RepConv block
        got = inject([q, i_r])
    assert got.shape == (2, 5, local_size, local_size)
    torch.testing.assert_close(got, expected)


def _gd_config(**inject_args) -> dict:
    """A tiny model dict: four levels from the stem, one gather, one inject, a Detect head."""
    gather_args = inject_args.pop("gather_args", [16, 2])
    gate = inject_args.pop("gate", "sigmoid")
    return {"nc": 1, "yaml_file": "tiny-gd.yaml", "backbone": [
        [-1, 1, "Conv", [8, 3, 4]],  # 0-P2/4
        [-1, 1, "Conv", [8, 3, 2]],  # 1-P3/8
        [-1, 1, "Conv", [8, 3, 2]],  # 2-P4/16
        [-1, 1, "Conv", [8, 3, 2]],  # 3-P5/32
    ], "head": [
        [[0, 1, 2, 3], 1, "GDGather", gather_args],  # 4
        [[1, 4], 1, "GDInject", [8, gate]],  # 5
        [[2, 4], 1, "GDInject", [8, gate]],  # 6
        [[3, 4], 1, "GDInject", [8, gate]],  # 7
        [[5, 6, 7], 1, "Detect", ["nc"]],  # 8
    ]}


def test_unknown_gate_is_a_config_error_naming_the_row() -> None:
    with pytest.raises(ConfigError, match=r"tiny-gd.yaml: row 5: argument 1 \(gate\) must be one of"):
        TQGDDetectionModel(_gd_config(gate="relu"), verbose=False)


def test_gather_target_outside_the_inputs_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"row 4: argument 1 \(target\) indexes the inputs, so it must be < 4"):
        TQGDDetectionModel(_gd_config(gather_args=[16, 4]), verbose=False)
