"""A stand-in calcium detector for tests that need ``tqgd detect`` without trained weights (none ship with the
tests): it boxes each 2D component of the reference mask, slice by slice, through detect's real pipeline."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from scipy import ndimage


def boxes_of(mask_slice: np.ndarray) -> np.ndarray:
    """(N, 6) rows x0, y0, x1, y1, confidence, class: one box per 2D reference component."""
    labelled, _ = ndimage.label(mask_slice > 0)
    rows = [[s[1].start, s[0].start, s[1].stop, s[0].stop, 0.9, 0] for s in ndimage.find_objects(labelled)]
    return np.asarray(rows, dtype=np.float64).reshape(-1, 6)


def use_stand_in_detector(monkeypatch, mask: np.ndarray) -> None:
    """Make ``make_setup`` return the stand-in and ``predict`` answer with ``mask``'s boxes on the slices asked."""
    import tqgd.engine.detect as detect
    import tqgd.engine.detect_run as detect_run
    from tqgd.data.model_input import InputSpec
    from tqgd.data.windowing import parse_window

    asked: list[list[int]] = []  # the slice indices of each batch, as detect asks for their images
    build_images = detect._images

    def images(volume, detector, z_indices, box):
        asked.append(list(z_indices))
        return build_images(volume, detector, z_indices, box)

    spec = InputSpec(parse_window("calcium"))
    detector = SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"}, notes=[],
                               phantom_trained=False, describe=lambda: {"weights": "stand-in"})

    def make_setup(weights, heart_weights, options, device=None, trust=None, backend="torch"):
        return detect_run.DetectSetup(detector=detector, cropper=None, options=options)

    monkeypatch.setattr(detect_run, "make_setup", make_setup)
    monkeypatch.setattr(detect, "_images", images)
    monkeypatch.setattr(detect, "predict", lambda det, images, conf, imgsz=None: [boxes_of(mask[z])
                                                                                  for z in asked.pop(0)])
