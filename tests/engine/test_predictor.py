"""tqgd's slice predictor on the CPU: no torchvision import (its warm-up there did nothing else), the same boxes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

#: In a fresh process: the shipped calcium detector on a phantom patient's heart crops (2.5D, as detect builds them)
#: at confidence 0.01, so NMS has overlapping candidates to suppress; once as tqgd runs it, then again after importing
#: torchvision, which makes ultralytics' NMS use torchvision's kernel. Prints whether the first run loaded
#: torchvision, and both results.
SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from tqgd.data.model_input import crop_box, slice_images
    from tqgd.data.phantom import PhantomConfig, generate_patient
    from tqgd.engine.detect_model import load_slice_detector, predict, to_bgr
    from tqgd.weights import shipped_weights

    case = generate_patient(31337, PhantomConfig(gated=True), "P")
    calcium, _ = shipped_weights()
    detector = load_slice_detector(calcium, device="cpu")
    zs = [z for z in range(case.labels.shape[0]) if case.labels[z].any()][:6]
    box = crop_box(case.heart_boxes[zs[0]], case.volume.hu.shape[1:], detector.input_spec.crop_size)
    images = to_bgr(slice_images(case.volume.hu, zs, box, detector.input_spec))
    first = [rows.tolist() for rows in predict(detector, images, 0.01, images[0].shape[0])]
    loaded = "torchvision" in sys.modules
    import torchvision  # noqa: F401
    again = [rows.tolist() for rows in predict(load_slice_detector(calcium, device="cpu"), images, 0.01,
                                               images[0].shape[0])]
    print("RESULT=" + json.dumps({"torchvision_loaded": loaded, "first": first, "again": again}))
    """
)


def test_cpu_detection_skips_the_torchvision_import_and_keeps_every_box() -> None:
    done = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.split("RESULT=")[-1])
    assert result["torchvision_loaded"] is False
    assert sum(len(rows) for rows in result["first"]) >= 6
    assert result["first"] == result["again"]
