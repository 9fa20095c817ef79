"""Reduced-precision paths: CPU autocast (bf16, fp16) and fp16 weights here; CUDA fp32 / fp16 / AMP on a GPU."""

from __future__ import annotations

import contextlib

import pytest
import torch

from tqgd.nn import TQGDDetectionModel

#: Layers of tqgdnet.yaml to watch: ThrConvs, QueenFusion (top-down, bottom-up), GDGather, GDInject.
WATCHED = {0: "ThrConvs", 11: "QueenFusion", 15: "QueenFusion", 17: "GDGather", 18: "GDInject"}
#: Feature maps may drift this far (relative L2) from fp32 through ~50 reduced-precision layers; measured <= 1 %.
RELATIVE_TOLERANCE = 0.05
needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; none is visible here")


def _features(model: TQGDDetectionModel, x: torch.Tensor, context=contextlib.nullcontext) -> dict[int, torch.Tensor]:
    """Outputs of the watched layers for one eval forward pass under ``context``."""
    outputs: dict[int, torch.Tensor] = {}
    hooks = [model.model[i].register_forward_hook(lambda m, _, out: outputs.__setitem__(m.i, out)) for i in WATCHED]
    try:
        with torch.no_grad(), context():
            model(x)
    finally:
        for hook in hooks:
            hook.remove()
    return outputs


def _assert_close_in(dtype: torch.dtype, got: dict, reference: dict) -> None:
    for i, name in WATCHED.items():
        assert got[i].dtype == dtype, f"layer {i} ({name}) ran in {got[i].dtype}, expected {dtype}"
        assert torch.isfinite(got[i]).all(), f"layer {i} ({name}) produced non-finite values in {dtype}"
        error = ((got[i].float().cpu() - reference[i]).norm() / reference[i].norm()).item()
        assert error < RELATIVE_TOLERANCE, f"layer {i} ({name}) is {error:.3f} away from fp32 in {dtype}"


def _scalar(out: dict) -> torch.Tensor:
    """A scalar that depends on every output of the Detect head in training mode (boxes, scores, features)."""
    tensors = [t for v in out.values() for t in (v if isinstance(v, (list, tuple)) else [v])]
    return sum(t.float().sum() for t in tensors)


@pytest.fixture(scope="module")
def model_and_reference() -> tuple[TQGDDetectionModel, torch.Tensor, dict]:
    torch.manual_seed(0)
    model = TQGDDetectionModel("tqgdnet-n", verbose=False).eval()
    x = torch.rand(1, 3, 64, 96)
    return model, x, _features(model, x)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_cpu_autocast(model_and_reference, dtype: torch.dtype) -> None:
    model, x, reference = model_and_reference
    got = _features(model, x, lambda: torch.autocast("cpu", dtype=dtype))
    _assert_close_in(dtype, got, reference)


def test_cpu_fp16_weights(model_and_reference) -> None:
    model, x, reference = model_and_reference
    half = TQGDDetectionModel("tqgdnet-n", verbose=False).eval()
    half.load_state_dict(model.state_dict())
    _assert_close_in(torch.float16, _features(half.half(), x.half()), reference)


def test_cpu_bf16_autocast_training_step_has_finite_gradients() -> None:
    torch.manual_seed(0)
    model = TQGDDetectionModel("tqgdnet-n", verbose=False).train()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.rand(2, 3, 64, 64))
    _scalar(out).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)


@pytest.mark.gpu
@needs_cuda
def test_cuda_fp32_matches_cpu(model_and_reference) -> None:
    model, x, reference = model_and_reference
    cuda_model = TQGDDetectionModel("tqgdnet-n", verbose=False).eval()
    cuda_model.load_state_dict(model.state_dict())
    got = _features(cuda_model.cuda(), x.cuda())
    for i in WATCHED:
        torch.testing.assert_close(got[i].cpu(), reference[i], rtol=1e-3, atol=1e-3)


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("mode", ["half", "amp"])
def test_cuda_reduced_precision(model_and_reference, mode: str) -> None:
    model, x, reference = model_and_reference
    cuda_model = TQGDDetectionModel("tqgdnet-n", verbose=False).eval()
    cuda_model.load_state_dict(model.state_dict())
    cuda_model.cuda()
    if mode == "half":
        got = _features(cuda_model.half(), x.cuda().half())
    else:
        got = _features(cuda_model, x.cuda(), lambda: torch.autocast("cuda", dtype=torch.float16))
    _assert_close_in(torch.float16, got, reference)


@pytest.mark.gpu
@needs_cuda
def test_cuda_amp_training_step_has_finite_gradients() -> None:
    torch.manual_seed(0)
    model = TQGDDetectionModel("tqgdnet-n", verbose=False).cuda().train()
    scaler = torch.amp.GradScaler("cuda")
    with torch.autocast("cuda", dtype=torch.float16):
        out = model(torch.rand(2, 3, 64, 64, device="cuda"))
    scaler.scale(_scalar(out)).backward()
    scaler.unscale_(torch.optim.SGD(model.parameters(), lr=0.0))
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
