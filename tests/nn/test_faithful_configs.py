"""The faithful readings (same-resolution ThrConvs 8/12, GD injecting P3/P4 only, GD replacing the neck) as module
graphs, the stride-4 output of the P2 variants, and the checkpoint layout of the configs that existed before them."""

from __future__ import annotations

import hashlib

import pytest
import torch
from ultralytics.nn.modules import Detect

from tqgd.nn import GDGather, GDInject, QueenFusion, TQGDDetectionModel, ThrConvs

#: Configs whose GD injects P3 and P4 only (Gold-YOLO's low stage); P5 reaches the head un-injected.
GD34 = ("yolov5b-gd34", "yolov5b-qf-gd34", "thrconvs-gd34", "thrconvs-qf-gd34", "thrconvs-same-gd34",
        "tqgdnet-faithful")
#: Configs whose GD is the whole neck (paper Table 2's "+GD"): no PANet or Queen-fusion rows, GD reads the backbone.
GD_NECK = ("yolov5b-gd34", "thrconvs-gd34", "thrconvs-same-gd34")
#: Configs with the same-resolution ThrConvs (stride 1, kernels 8 / 12 / 8) as their first row.
SAME_RESOLUTION = ("thrconvs-same-panet", "thrconvs-same-qf", "thrconvs-same-gd34", "thrconvs-same-qf-gd",
                   "tqgdnet-faithful", "tqgdnet-faithful-p2")

#: sha256 (first 16 hex digits) of the "key:shape" lines of each n-scale state_dict, and the number of entries, as
#: they were when the faithful configs were added: checkpoints of these configs must keep loading.
STATE_DICT_LAYOUT = {
    "tqgdnet": ("e47876c24753296f", 609),
    "tqgdnet-p2": ("e11f36d8f2fcff1c", 672),
    "yolov5b-panet": ("b3bafafb4f5b204b", 427),
    "yolov5b-fpn": ("cdac7ac4210985ae", 355),
    "yolov5b-qf": ("e36911e8e7911429", 469),
    "yolov5b-gd": ("081cc0e08c598c62", 555),
    "yolov5b-qf-gd": ("cdfe54c50b73a984", 597),
    "thrconvs-panet": ("35442c96e53dae4e", 439),
    "thrconvs-qf": ("614bc4cc6f0b9bce", 481),
    "thrconvs-gd": ("01dbc96c94a0d36b", 567),
    "thrconvs-same-panet": ("163be7c395366b96", 445),
}


def _output_strides(model: TQGDDetectionModel, size: int = 64) -> dict[int, int]:
    """Row index -> stride of that row's output, from one forward pass (Detect's own output left out)."""
    strides: dict[int, int] = {}
    hooks = [m.register_forward_hook(lambda mod, _, out, s=strides: s.__setitem__(mod.i, size // out.shape[-1]))
             for m in model.model[:-1]]
    with torch.no_grad():
        model.eval()(torch.rand(1, 3, size, size))
    for hook in hooks:
        hook.remove()
    return strides


def _rows(model: TQGDDetectionModel, kind: type) -> list:
    return [m for m in model.model if isinstance(m, kind)]


@pytest.mark.parametrize("stem", GD34)
def test_gd34_injects_p3_and_p4_only_and_p5_reaches_the_head_un_injected(stem: str) -> None:
    model = TQGDDetectionModel(f"{stem}-n", verbose=False)
    strides = _output_strides(model)
    injects = _rows(model, GDInject)
    assert sorted(strides[m.i] for m in injects) == [8, 16]
    (gather,) = _rows(model, GDGather)
    assert [strides[j] for j in gather.f] == [4, 8, 16, 32] and strides[gather.i] == 16
    for m in injects:
        assert m.f[1] == gather.i and strides[m.f[0]] == strides[m.i], "injects I_R into its own level"
    head = model.model[-1]
    assert isinstance(head, Detect)
    assert [strides[j] for j in head.f] == [8, 16, 32]
    assert head.f[:2] == [m.i for m in injects]
    assert not isinstance(model.model[head.f[2]], GDInject), "P5 goes to the head as the neck produced it"


@pytest.mark.parametrize("stem", ["tqgdnet", "thrconvs-same-qf-gd", "yolov5b-qf-gd"])
def test_the_older_gd_reading_injects_p3_to_p5(stem: str) -> None:
    model = TQGDDetectionModel(f"{stem}-n", verbose=False)
    strides = _output_strides(model)
    assert sorted(strides[m.i] for m in _rows(model, GDInject)) == [8, 16, 32]


@pytest.mark.parametrize("stem", GD_NECK)
def test_gd_replaces_the_neck_and_gathers_the_backbone_levels(stem: str) -> None:
    model = TQGDDetectionModel(f"{stem}-n", verbose=False)
    names = [type(m).__name__ for m in model.model]
    head_start = names.index("SPPF") + 1
    assert names[head_start:] == ["GDGather", "GDInject", "GDInject", "Detect"], "no PANet / Queen-fusion rows"
    (gather,) = _rows(model, GDGather)
    assert [names[j] for j in gather.f] == ["C3", "C3", "C3", "SPPF"], "GD reads B2-B5"
    assert not _rows(model, QueenFusion)


@pytest.mark.parametrize("stem", SAME_RESOLUTION)
def test_same_resolution_thrconvs_uses_the_papers_kernels_at_stride_1(stem: str) -> None:
    model = TQGDDetectionModel(f"{stem}-n", verbose=False)
    stem_block = model.model[0]
    assert isinstance(stem_block, ThrConvs) and stem_block.stride == 1
    kernels = [(m[-1] if isinstance(m, torch.nn.Sequential) else m).conv.kernel_size
               for m in (stem_block.cv1, stem_block.cv2, stem_block.cv3)]
    assert kernels == [(8, 8), (12, 12), (8, 8)]
    assert _output_strides(model)[0] == 1


@pytest.mark.parametrize("stem", ["tqgdnet-p2", "tqgdnet-faithful-p2"])
def test_p2_variants_detect_at_stride_4(stem: str) -> None:
    model = TQGDDetectionModel(f"{stem}-n", verbose=False).eval()
    assert model.stride.tolist() == [4.0, 8.0, 16.0, 32.0]
    with torch.no_grad():
        boxes = model(torch.rand(1, 3, 64, 96))[0]
    assert boxes.shape == (1, 5, sum((64 // s) * (96 // s) for s in (4, 8, 16, 32)))
    strides = _output_strides(model)
    assert [strides[j] for j in model.model[-1].f] == [4, 8, 16, 32]


@pytest.mark.parametrize("stem", sorted(STATE_DICT_LAYOUT))
def test_existing_configs_keep_their_checkpoint_layout(stem: str) -> None:
    state = TQGDDetectionModel(f"{stem}-n", verbose=False).state_dict()
    text = "\n".join(f"{key}:{tuple(value.shape)}" for key, value in state.items())
    assert (hashlib.sha256(text.encode()).hexdigest()[:16], len(state)) == STATE_DICT_LAYOUT[stem]
