"""The speed rewrites of tqgd's layers give the outputs (and gradients) of the code they replaced, in float64.

The reference is the previous code, kept in tests/nn/reference_layers.py: pooling through ``F.max_pool2d`` /
``F.avg_pool2d``, every row resizing for itself, GDInject's Eq. 9 conv before the resize. The rewrites: pooling as
strided slices, one resize per (tensor, size) per forward pass, Eq. 9's conv after average pooling in eval mode.
"""

from __future__ import annotations

import copy
import io

import pytest
import torch
import torch.nn.functional as F
from tests.nn.reference_layers import reference_model, use_reference

from tqgd.nn import GDInject, TQGDDetectionModel
from tqgd.nn import resize as resize_module
from tqgd.nn.resize import avg_pool, max_pool, shared_resizes, upsample2_bilinear

#: Configs covering every rewritten path: Queen-fusion (max pools by 2 and 4, shared upsamplings), GD into P3-P5
#: (pooled injection) and P3/P4, GD as the neck, both ThrConvs readings, the P2 head.
CONFIGS = ("tqgdnet-n", "tqgdnet-faithful-n", "tqgdnet-p2-n", "yolov5b-gd34-n", "thrconvs-gd-n")
KERNELS = [(2, 2), (4, 4), (2, 4), (8, 2), (3, 3), (6, 6)]


@pytest.mark.parametrize("kernel", KERNELS, ids=str)
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_max_pool_is_bit_identical_to_f_max_pool2d(kernel: tuple[int, int], dtype: torch.dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 24, 48, generator=generator, dtype=dtype)
    ties = torch.randint(-2, 3, (2, 3, 24, 48), generator=generator).to(dtype)  # many equal values per window
    for t in (x, ties, x.masked_fill(x > 1.5, float("-inf"))):
        torch.testing.assert_close(max_pool(t, kernel), F.max_pool2d(t, kernel, kernel), rtol=0, atol=0)


def test_max_pool_keeps_nan_like_f_max_pool2d() -> None:
    x = torch.rand(1, 1, 4, 4, dtype=torch.float64)
    x[0, 0, 1, 2] = float("nan")
    got, expected = max_pool(x, (2, 2)), F.max_pool2d(x, 2)
    assert torch.equal(got.isnan(), expected.isnan()) and got.isnan().sum() == 1


@pytest.mark.parametrize("kernel", KERNELS, ids=str)
def test_avg_pool_equals_f_avg_pool2d_to_float64_rounding(kernel: tuple[int, int]) -> None:
    x = torch.randn(2, 3, 24, 48, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    torch.testing.assert_close(avg_pool(x, kernel), F.avg_pool2d(x, kernel, kernel), rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize("shape", [(2, 3, 1, 1), (1, 2, 1, 5), (2, 4, 7, 3), (1, 8, 16, 32)], ids=str)
@pytest.mark.parametrize("channels_last", [False, True])
def test_bilinear_upsampling_by_two_equals_f_interpolate_in_float64(shape: tuple, channels_last: bool) -> None:
    x = torch.randn(shape, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    expected = F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
    torch.testing.assert_close(upsample2_bilinear(x), expected, rtol=1e-14, atol=1e-14)


@pytest.mark.parametrize(("target", "down", "backward"), [(2, "max", "MaxPool2DWithIndices"), (2, "avg", "AvgPool2D"),
                                                       (8, "max", "UpsampleBilinear2D")])
def test_with_autograd_the_torch_operators_run_as_before(target: int, down: str, backward: str) -> None:
    x = torch.rand(1, 2, 4, 4, requires_grad=True)
    y = resize_module.resize_like(x, torch.empty(1, 1, target, target), down)
    assert backward in type(y.grad_fn).__name__
    with torch.no_grad():
        torch.testing.assert_close(resize_module.resize_like(x, torch.empty(1, 1, target, target), down), y)


def _tensors(output: object) -> list[torch.Tensor]:
    """Every tensor in a model output (eval: decoded boxes and the raw per-level maps; train: ultralytics' dict of head
    outputs), in order. The raw maps matter: at initialisation the decoded boxes hardly depend on the features."""
    if isinstance(output, torch.Tensor):
        return [output]
    items = output.values() if isinstance(output, dict) else output if isinstance(output, (list, tuple)) else []
    return [t for item in items for t in _tensors(item)]


def _pair(name: str, mode: str) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    model = TQGDDetectionModel(name, verbose=False).double()
    for bn in (m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)):  # non-trivial BN statistics
        bn.running_mean.uniform_(-0.2, 0.2)
        bn.running_var.uniform_(0.5, 1.5)
    model = getattr(model, mode)()
    return model, reference_model(model)


@pytest.mark.parametrize("name", CONFIGS)
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_model_outputs_equal_the_previous_code_in_float64(name: str, mode: str) -> None:
    model, reference = _pair(name, mode)
    x = torch.rand(2, 3, 64, 96, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        got, expected = _tensors(model(x)), _tensors(reference(x))
    assert len(got) == len(expected) > 0
    for ours, theirs in zip(got, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["tqgdnet-n", "tqgdnet-faithful-n"])
def test_fused_model_outputs_equal_the_previous_code_in_float64(name: str) -> None:
    model, _ = _pair(name, "eval")
    model.fuse(verbose=False)
    reference = reference_model(model)
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(_tensors(model(x)), _tensors(reference(x)), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("name", ["tqgdnet-n", "tqgdnet-p2-n"])
def test_gradients_equal_the_previous_code_in_float64(name: str) -> None:
    model, reference = _pair(name, "train")
    x = torch.rand(2, 3, 64, 64, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    for net in (model, reference):
        sum(level.square().mean() for level in _tensors(net(x))).backward()
    for (key, ours), theirs in zip(model.named_parameters(), reference.parameters(), strict=True):
        torch.testing.assert_close(ours.grad, theirs.grad, rtol=1e-9, atol=1e-12, msg=key)


def test_each_tensor_is_upsampled_once_per_forward(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    upsample = resize_module._upsample

    def counting(x: torch.Tensor, factor: tuple[int, int]) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return upsample(x, factor)

    model = TQGDDetectionModel("tqgdnet-n", verbose=False).eval()
    monkeypatch.setattr(resize_module, "_upsample", counting)
    with torch.no_grad():
        model(torch.rand(1, 3, 64, 64))
    # T5 -> T4 and Q4, T4 -> T3 and Q3 share one upsampling each; T3 -> Q2, Q5 -> gather, and the P3 injection's gate
    # and global features are the others: 6 instead of 8.
    assert len(calls) == 6 and len(set(calls)) == len(calls) - 1  # gate and global features share a shape
    with shared_resizes():
        x = torch.rand(1, 2, 4, 4)
        ref = torch.rand(1, 2, 8, 8)
        assert resize_module.resize_like(x, ref) is resize_module.resize_like(x, ref)
        assert resize_module.resize_like(x.clone(), ref) is not resize_module.resize_like(x, ref)
    assert resize_module.resize_like(x, ref) is not resize_module.resize_like(x, ref), "no sharing outside a pass"


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_gd_inject_conv_after_pooling_equals_before(mode: str) -> None:
    torch.manual_seed(0)
    inject = getattr(GDInject(3, 6, c2=5, n=2).double(), mode)()
    reference = use_reference(copy.deepcopy(inject))
    q, g = torch.rand(2, 3, 4, 4, dtype=torch.float64), torch.rand(2, 6, 16, 16, dtype=torch.float64)
    torch.testing.assert_close(inject([q, g]), reference([q, g]), rtol=1e-12, atol=1e-12)


def test_a_pickled_model_of_the_previous_code_runs_the_rewrites() -> None:
    """Checkpoints pickle modules by class: one saved before the rewrites loads with the same state and outputs."""
    model, reference = _pair("tqgdnet-n", "eval")
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    assert list(loaded.state_dict()) == list(reference.state_dict())
    x = torch.rand(1, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(_tensors(loaded(x)), _tensors(reference(x)), rtol=1e-10, atol=1e-10)
