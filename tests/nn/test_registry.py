"""Registry and row builder: stock rows stay ultralytics' own, tqgd rows get channel bookkeeping, errors are clear."""

from __future__ import annotations

import threading

import pytest
import torch
from torch import nn
from ultralytics.nn import tasks as ul_tasks
from ultralytics.nn.tasks import DetectionModel

from tqgd.errors import ConfigError
from tqgd.nn import TQGDDetectionModel, register_module, registered_modules, resolve_model_cfg
from tqgd.nn.registry import STOCK_PARSE_MODEL


def test_stock_rows_build_exactly_as_ultralytics_builds_them() -> None:
    """yolov5b-panet has only stock rows, delegated one by one: same layers, weights and outputs as yolov5n."""
    torch.manual_seed(0)
    stock = DetectionModel("yolov5n.yaml", nc=1, verbose=False).eval()
    torch.manual_seed(0)
    ours = TQGDDetectionModel("yolov5b-panet-n", verbose=False).eval()
    assert [type(m) for m in ours.model] == [type(m) for m in stock.model]
    assert [(m.i, m.f) for m in ours.model] == [(m.i, m.f) for m in stock.model]
    assert ours.save == stock.save
    stock_sd, our_sd = stock.state_dict(), ours.state_dict()
    assert list(our_sd) == list(stock_sd)
    assert all(torch.equal(our_sd[k], stock_sd[k]) for k in stock_sd)
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(ours(x)[0], stock(x)[0], rtol=0, atol=0)


def test_tqgd_rows_get_input_channels_and_width_scaling() -> None:
    for scale, width in (("n", 0.25), ("s", 0.5)):
        model = TQGDDetectionModel(f"tqgdnet-{scale}", verbose=False)
        thr, qf = model.model[0], model.model[11]  # ThrConvs [64, ...]; QueenFusion [[6, 10, 4], 512]
        assert thr.cv1.conv.in_channels == 3 and thr.cv1.conv.out_channels == int(64 * width)
        assert qf.fuse.cv1.conv.in_channels == int((512 + 512 + 256) * width)
        assert qf.fuse.cv3.conv.out_channels == int(512 * width)
        assert model.model[12].fuse.cv1.conv.in_channels == int((256 + 512 + 128) * width)  # consumes row 11's width


def test_routing_is_scoped_to_tqgd_model_construction() -> None:
    TQGDDetectionModel("tqgdnet-n", verbose=False)
    assert ul_tasks.parse_model is STOCK_PARSE_MODEL
    cfg = {"nc": 1, "backbone": [[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "ThrConvs", [8]]], "head": []}
    with pytest.raises(KeyError, match="ThrConvs"):  # ultralytics' own builder is untouched
        DetectionModel(cfg, verbose=False)


def test_concurrent_stock_builds_are_not_routed() -> None:
    errors: list[BaseException] = []

    def stock_build() -> None:
        try:
            for _ in range(3):
                DetectionModel("yolov8n.yaml", nc=1, verbose=False)
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    thread = threading.Thread(target=stock_build)
    thread.start()
    for _ in range(2):
        TQGDDetectionModel("yolov5b-qf-n", verbose=False)
    thread.join()
    assert errors == [] and ul_tasks.parse_model is STOCK_PARSE_MODEL


def _cfg(rows: list) -> dict:
    return {"nc": 1, "yaml_file": "custom.yaml", "backbone": rows, "head": []}


@pytest.mark.parametrize(("rows", "message"), [
    ([[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "Quenfusion", [8]]],
     r"custom.yaml: row 1: unknown module 'Quenfusion'; tqgd layers are \['GDGather', 'GDInject', 'QueenFusion'"),
    ([[-1, 1, "Conv", [8, 3, 2]], [[0, 5], 1, "QueenFusion", [8]]], r"row 1 \('QueenFusion'\): 'from' \[0, 5\]"),
    ([[-1, 1, "Conv", [8, 3, 2]], [-1, 1, "QueenFusion", [8]]], r"row 1: this layer takes at least 2 inputs"),
    ([[-1, 2, "ThrConvs", [8]]], r"row 0: ThrConvs is not repeatable"),
    ([[-1, 1, "ThrConvs", [8, 2, 1, 3, 6]]], r"row 0: ThrConvs strided kernels k1=1, k3=6 must be >= stride s=2"),
    ([[-1, 1, "ThrConvs", ["wide"]]], r"row 0: argument 0 \(c2\) must be an integer >= 1, got 'wide'"),
    ([[-1, 1, "ThrConvs", [16]], [-1, 1, "C3k2", [16]]], r"tqgd layers cannot be combined with \['A2C2f', 'C2fCIB'"),
    ([[-1, 1, "Conv", [8]], "not a row"], r"row 1 must be \[from, number, module, args\]"),
    ([[-1, 1, ["Conv"], [8]]], r"row 0: unknown module \['Conv'\]"),
])
def test_bad_rows_are_config_errors_naming_file_and_row(rows: list, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        TQGDDetectionModel(_cfg(rows), verbose=False)


def test_registration_refuses_duplicates_and_shadowing() -> None:
    def rule(spec):
        return [], spec.c_in[0]

    with pytest.raises(ValueError, match="'QueenFusion' is already registered"):
        register_module(rule)(type("QueenFusion", (nn.Module,), {}))
    with pytest.raises(ValueError, match="'C3' would shadow an ultralytics/torch module"):
        register_module(rule)(type("C3", (nn.Module,), {}))
    assert set(registered_modules()) == {"ThrConvs", "QueenFusion", "GDGather", "GDInject"}


def test_config_activation_applies_to_tqgd_and_stock_rows_alike() -> None:
    cfg = {**resolve_model_cfg("tqgdnet-n"), "activation": "nn.ReLU()"}
    model = TQGDDetectionModel(cfg, verbose=False)
    assert isinstance(model.model[0].cv1.act, nn.ReLU)  # ThrConvs (tqgd row)
    assert isinstance(model.model[1].act, nn.ReLU)  # Conv (stock row)
    assert isinstance(model.model[11].fuse.cv1.act, nn.ReLU)  # QueenFusion's C3
    assert isinstance(TQGDDetectionModel("tqgdnet-n", verbose=False).model[0].cv1.act, nn.SiLU)  # restored after
