"""Grad-CAM++ / Grad-CAM / EigenCAM maps for each detection of an ultralytics detector, with the ``grad-cam`` package.

How one detection becomes a map (the one non-obvious mechanism of this room):

1. **Image.** The model image is the BGR uint8 array ``tqgd detect`` hands to ultralytics (``tqgd.data.model_input``:
   window, 2.5D context, native-pixel crop). It is letterboxed exactly as ultralytics' predictor does (``LetterBox``
   with ``auto`` padding to the stride, the size checked by ``check_imgsz``), turned to RGB and scaled to 0..1.
2. **Model output.** ``grad-cam`` calls ``model(x)`` and loops over the batch of what comes back. ultralytics'
   ``DetectionModel`` in eval mode returns ``(decoded, raw)``; ``DecodedOutput`` wraps it so only ``decoded`` comes
   back: (B, 4 + classes, anchors), box xywh and the sigmoid class scores of every anchor. It also makes the input
   require gradients, because loaded ultralytics models have frozen parameters and nothing would flow back otherwise.
3. **Which anchor.** One plain forward pass and ultralytics' own NMS with the predictor's settings
   (``non_max_suppression(..., return_idxs=True)``, IoU 0.7, 300 boxes) give every detection and the anchor it came
   from; boxes go back to image pixels with ``scale_boxes``, as ``Results`` does, so they are the boxes ``predict``
   gives.
4. **Target.** ``DetectionScoreTarget(anchor, class)`` returns ``output[4 + class, anchor]``, the detection's class
   score (the paper's target). The image is repeated once per detection, each copy with its own target: one forward
   and one backward pass give every detection's map (eval-mode layers treat batch items independently).
5. **Layers.** By default the layers whose outputs feed the Detect head (``Detect.f``: the neck outputs P3, P4, P5).
   ``grad-cam`` makes one map per layer (ReLU, min-max normalised, resized to the input), averages them and
   normalises the mean to 0..1. EigenCAM (first principal component of the activations) ignores the target; its
   sign is fixed by ``tqgd.explain.eigen`` (the package leaves it to LAPACK, so maps flipped between machines).
6. **Back to the image.** The letterbox padding is cut off and the map resized to the model image, the inverse of 1.

What ``grad-cam`` does not do for detectors, so tqgd adds it here: the output wrapper (2), the anchor bookkeeping (3)
and the per-detection target (4) (the package's own YOLO tutorial uses EigenCAM with no target), and the letterbox
inversion (6). ultralytics 8.4 has a LayerCAM of its own (``ultralytics.utils.plotting.class_activation_map``, behind
``predict``), but it only reads the head inputs, takes the maximum over all detections and writes pictures; it returns
no map per detection. End-to-end heads (YOLO26's NMS-free head) are refused: their detections come from a top-k whose
anchors this code does not track.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np
import torch

from tqgd.errors import ConfigError

#: Saliency methods: the name on the command line -> the ``pytorch_grad_cam`` class.
METHODS = {"gradcam++": "GradCAMPlusPlus", "gradcam": "GradCAM", "eigencam": "EigenCAM", "layercam": "LayerCAM",
           "hirescam": "HiResCAM"}
DEFAULT_METHOD = "gradcam++"
#: Methods whose map ignores the target (EigenCAM: the first principal component of the activations).
TARGET_FREE = frozenset({"eigencam"})
#: ultralytics predictor defaults for NMS (``cfg/default.yaml``), which ``tqgd detect`` keeps.
NMS_IOU = 0.7
MAX_DETECTIONS = 300


@dataclass
class Explained:
    """One detection of one model image with its saliency map.

    ``box_xyxy`` is in model-image pixels (pixel edges), ``anchor`` the index of the prediction it came from, ``cam``
    a float32 (H, W) map over the model image in 0..1 (all zero when the target's gradients vanished).
    """

    box_xyxy: tuple[float, float, float, float]
    confidence: float
    class_id: int
    anchor: int
    cam: np.ndarray | None = None


class DecodedOutput(torch.nn.Module):
    """``model(x)`` -> the decoded predictions (B, 4 + nc, anchors) only (ultralytics returns ``(decoded, raw)``)."""

    def __init__(self, inner: torch.nn.Module):
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not x.requires_grad:
            x = x.detach().clone().requires_grad_(True)  # frozen weights: let gradients flow from the input
        out = self.inner(x)
        return out[0] if isinstance(out, (list, tuple)) else out


class DetectionScoreTarget:
    """``grad-cam`` target: the class score of one anchor, ``output[4 + class_id, anchor]`` of one batch item."""

    def __init__(self, anchor: int, class_id: int):
        self.anchor, self.class_id = int(anchor), int(class_id)

    def __call__(self, output: Any) -> Any:
        return output[4 + self.class_id, self.anchor]


def torch_model(model: Any) -> Any:
    """The ``DetectionModel`` (torch module) inside an ultralytics ``YOLO``/``TQGD`` object, or ``model`` itself."""

    inner = model
    while isinstance(getattr(inner, "model", None), torch.nn.Module) and not isinstance(
            inner.model, (torch.nn.Sequential, torch.nn.ModuleList)):
        inner = inner.model  # ultralytics Model (itself a torch Module) -> DetectionModel
    if not isinstance(inner, torch.nn.Module):
        raise ConfigError(f"expected an ultralytics detector (a YOLO or TQGD model), got {type(model).__name__}")
    return inner


def detect_head(module: Any) -> Any:
    """The Detect head (last layer) of a ``DetectionModel``; refuses models without one and end-to-end heads."""
    layers = getattr(module, "model", None)
    head = layers[-1] if layers is not None and len(layers) else None
    if head is None or not hasattr(head, "f") or not hasattr(head, "nc") or not hasattr(head, "stride"):
        raise ConfigError(f"{type(module).__name__} has no ultralytics Detect head as its last layer; tqgd explain "
                          "works with ultralytics detection models (tqgd, YOLOv5/v8/11 configs)")
    if getattr(head, "end2end", False):
        raise ConfigError("this model has an end-to-end (NMS-free) head, e.g. YOLO26: tqgd explain tracks detections "
                          "through NMS and cannot follow its top-k; use a model with a standard Detect head")
    return head


def default_layers(module: Any) -> list[int]:
    """Indices of the layers feeding the Detect head (the neck outputs)."""
    sources = detect_head(module).f
    count = len(module.model)
    return [int(i) % count for i in (sources if isinstance(sources, (list, tuple)) else [sources])]


def parse_layers(spec: str | Sequence[int] | None, module: Any) -> list[int]:
    """``None``/``neck`` -> the neck outputs; ``"17,20"`` or ``[17, 20]`` -> those layer indices (negatives count
    from the end); the Detect head itself is refused (its output is not a feature map)."""
    if spec is None or (isinstance(spec, str) and spec.strip().lower() in ("", "neck", "default")):
        return default_layers(module)
    try:
        values = [int(v) for v in (spec.split(",") if isinstance(spec, str) else spec)]
    except ValueError:
        raise ConfigError(f"--layer must be 'neck' or layer indices like 17,20,23, got {spec!r}") from None
    count = len(module.model)
    layers = []
    for value in values:
        index = value % count if -count <= value < count else None
        if index is None or index == count - 1:
            raise ConfigError(f"--layer {value}: the model has layers 0..{count - 2} before its Detect head "
                              f"(layer {count - 1}); its neck outputs are {default_layers(module)}")
        layers.append(index)
    return layers


def letterbox(image: np.ndarray, imgsz: int, stride: int) -> tuple[np.ndarray, tuple[int, int]]:
    """BGR uint8 (H, W, 3) -> float32 (3, H', W') RGB in 0..1 as ultralytics' predictor prepares it, and (H', W')."""
    from ultralytics.data.augment import LetterBox
    from ultralytics.utils.checks import check_imgsz

    size = check_imgsz(imgsz, stride=stride, min_dim=2)
    boxed = LetterBox(tuple(size), auto=True, stride=stride)(image=image)
    tensor = np.ascontiguousarray(boxed[..., ::-1].transpose(2, 0, 1)).astype(np.float32) / 255.0
    return tensor, boxed.shape[:2]


def unletterbox(cam: np.ndarray, input_hw: tuple[int, int], image_hw: tuple[int, int]) -> np.ndarray:
    """A map over the letterboxed input (H', W') -> the same map over the model image (H, W) (inverse of LetterBox,
    with the rounding ultralytics' ``scale_boxes`` uses)."""
    (in_h, in_w), (h0, w0) = input_hw, image_hw
    gain = min(in_h / h0, in_w / w0)
    new_h, new_w = max(round(h0 * gain), 1), max(round(w0 * gain), 1)
    pad_x, pad_y = round((in_w - new_w) / 2 - 0.1), round((in_h - new_h) / 2 - 0.1)
    inner = cam[pad_y:pad_y + new_h, pad_x:pad_x + new_w]
    if inner.shape != (h0, w0):
        inner = cv2.resize(inner, (w0, h0), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(inner, dtype=np.float32)


class Explainer:
    """Saliency maps of one detector's detections (see the module docstring).

    ``model``: an ultralytics ``YOLO``/``TQGD`` object or its ``DetectionModel``; it is deep-copied, so the caller's
    model (and its predictor) is never changed. ``imgsz``: the size detection uses; None for native-pixel crops, which
    ``tqgd detect`` predicts at their own side (a heart larger than the recorded crop gets a larger square).
    ``layers``: layer indices, default the neck outputs.
    """

    def __init__(self, model: Any, imgsz: int | None, method: str = DEFAULT_METHOD,
                 layers: Sequence[int] | str | None = None, device: str | None = None):
        if method not in METHODS:
            raise ConfigError(f"--method must be one of {', '.join(METHODS)}, got {method!r}")
        self.module = copy.deepcopy(torch_model(model)).float().eval()
        self.head = detect_head(self.module)
        self.device = torch.device("cpu" if device in (None, "", "cpu") else
                                   (f"cuda:{device}" if str(device).isdigit() else str(device)))
        self.module.to(self.device)
        self.layers = parse_layers(layers, self.module)
        self.method, self.imgsz = method, int(imgsz) if imgsz else None
        self.stride = int(max(int(self.module.stride.max()) if hasattr(self.module, "stride") else 32, 32))
        self.wrapped = DecodedOutput(self.module)

    def describe(self) -> dict[str, Any]:
        """JSON-ready settings (method, layers with their module types, image size)."""
        return {"method": self.method, "layers": self.layers,
                "layer_types": [type(self.module.model[i]).__name__ for i in self.layers], "imgsz": self.imgsz}

    def _tensor(self, image: np.ndarray, copies: int = 1) -> tuple[Any, tuple[int, int]]:
        array, input_hw = letterbox(image, self.imgsz or max(image.shape[:2]), self.stride)
        return torch.from_numpy(array)[None].repeat(copies, 1, 1, 1).to(self.device), input_hw

    def detect(self, image: np.ndarray, conf: float) -> list[Explained]:
        """Detections of one model image (BGR uint8) with their anchors; no maps yet."""
        from ultralytics.utils.nms import non_max_suppression
        from ultralytics.utils.ops import scale_boxes

        tensor, input_hw = self._tensor(image)
        with torch.no_grad():
            out = self.module(tensor)
        decoded = out[0] if isinstance(out, (list, tuple)) else out
        kept, anchors = non_max_suppression(decoded, conf, NMS_IOU, max_det=MAX_DETECTIONS, return_idxs=True)
        rows, idx = kept[0].cpu(), anchors[0].cpu().reshape(-1)
        if not len(rows):
            return []
        boxes = scale_boxes(input_hw, rows[:, :4].clone(), image.shape[:2]).numpy()
        return [Explained(box_xyxy=tuple(float(v) for v in box), confidence=float(row[4]), class_id=int(row[5]),
                          anchor=int(a)) for box, row, a in zip(boxes, rows.numpy(), idx.numpy(), strict=True)]

    def maps(self, image: np.ndarray, items: Sequence[Explained], chunk: int = 16) -> list[Explained]:
        """Fill ``cam`` of each item (targets: each item's anchor and class) for one model image; returns ``items``."""
        import pytorch_grad_cam

        if self.method == "eigencam":
            from tqgd.explain.eigen import OrientedEigenCAM as cam_class
        else:
            cam_class = getattr(pytorch_grad_cam, METHODS[self.method])
        if self.method in TARGET_FREE and items:  # one map serves every detection of the image
            tensor, input_hw = self._tensor(image)
            with torch.enable_grad(), cam_class(self.wrapped, [self.module.model[i] for i in self.layers]) as cam:
                grey = cam(input_tensor=tensor, targets=[DetectionScoreTarget(items[0].anchor, items[0].class_id)])
            shared = unletterbox(np.nan_to_num(grey[0].astype(np.float32)), input_hw, image.shape[:2])
            for item in items:
                item.cam = shared.copy()
            return list(items)
        for start in range(0, len(items), chunk):
            part = list(items[start:start + chunk])
            tensor, input_hw = self._tensor(image, len(part))
            targets = [DetectionScoreTarget(item.anchor, item.class_id) for item in part]
            with torch.enable_grad(), cam_class(self.wrapped, [self.module.model[i] for i in self.layers]) as cam:
                grey = cam(input_tensor=tensor, targets=targets)
            for item, one in zip(part, grey, strict=True):
                item.cam = unletterbox(np.nan_to_num(one.astype(np.float32)), input_hw, image.shape[:2])
        return list(items)

    def explain(self, image: np.ndarray, conf: float) -> list[Explained]:
        """Detections of one model image, each with its map."""
        return self.maps(image, self.detect(image, conf))
