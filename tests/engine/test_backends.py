"""ONNX Runtime and OpenVINO backends of tqgd detect: same detections as PyTorch, cached exports, clear errors.

Tolerance: on the same pixels, each exported backend's boxes lie within ``BOX_TOL_PX`` of PyTorch's and its
confidences within ``CONF_TOL`` (measured: 4e-4 px and 1e-7 for ONNX Runtime on a trained TQGDNet-n at 288 px, 2e-4 px
for OpenVINO in fp32). The detector is a TQGDNet-n trained one epoch on a 2.5D, 64 px native-crop dataset, so the
input spec recorded in its weights (calcium window, context 3, crop) is what every backend must be fed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import shutil

import numpy as np
import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tests.engine.backend_fixture import train_small_detector
from tests.helpers import run_tqgd
from tqgd.data.readers import read_ct
from tqgd.engine.backends import check_backend, with_backend
from tqgd.engine.detect import DetectOptions, detect_volume
from tqgd.engine.detect_model import load_slice_detector
from tqgd.engine.export_cache import CACHE_ENV, RECORD
from tqgd.engine.heart_crop import HeartROI
from tqgd.errors import CheckpointError, ConfigError

pytestmark = pytest.mark.slow

BOX_TOL_PX = 0.01
CONF_TOL = 1e-4
#: Low enough that the one-epoch model gives dozens of boxes (its confidences stay below 0.05).
CONF = 0.01
EXPORTED = ("onnx", "openvino")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_small_detector(tmp_path_factory.mktemp("backends"))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(CACHE_ENV, str(tmp_path / "exports"))
    return tmp_path / "exports"


def _roi(xyxy):
    return HeartROI(xyxy=xyxy, slices_run=[], slices_found=[], slices_kept=[], median_box=(0.0, 0.0, 0.0, 0.0),
                    margin_px=(0, 0))


def _rows(result):
    """(slice, x0, y0, x1, y1, confidence) of every detection, sorted."""
    return np.array(sorted((z, *d.box_xyxy, d.confidence) for z, d in result.all_detections()), dtype=np.float64)


def assert_same_detections(got, expected) -> None:
    """Equal slices, boxes within BOX_TOL_PX and confidences within CONF_TOL (boxes matched in sorted order).

    Boxes within CONF_TOL of the threshold are left out of both: such a box may fall on either side of it.
    """
    got, expected = (rows[rows[:, 5] >= CONF + CONF_TOL] for rows in (got, expected))
    assert got.shape == expected.shape and len(expected)
    np.testing.assert_array_equal(got[:, 0], expected[:, 0])
    np.testing.assert_allclose(got[:, 1:5], expected[:, 1:5], rtol=0, atol=BOX_TOL_PX)
    np.testing.assert_allclose(got[:, 5], expected[:, 5], rtol=0, atol=CONF_TOL)


@pytest.mark.parametrize("backend", EXPORTED)
def test_exported_backend_detects_what_torch_detects(trained, cache, backend) -> None:
    volume = read_ct(trained.dicom)
    torch_detector = load_slice_detector(trained.weights, device="cpu")
    exported, note = with_backend(torch_detector, backend)
    assert exported.backend == backend and f"{backend} backend" in note and exported.export_path.exists()
    # the preprocessing is the one recorded in the weights, not something the export carries
    assert exported.input_spec == torch_detector.input_spec and exported.input_spec.context == 3
    assert exported.input_spec.crop_size == 64 and exported.windowing.name == "calcium"
    raw = DetectOptions(conf=CONF, physics_filter=False, snap_boxes=False)
    # a 64 px crop around an ROI (the trained size) and the whole 128 px slice (larger than the crop, so the model
    # runs at another size than the export was traced at)
    for roi in (_roi((30, 20, 90, 80)), None):
        expected = detect_volume(volume, torch_detector, roi, raw)
        got = detect_volume(volume, exported, roi, raw)
        assert got.model["model_crop_xyxy"] == expected.model["model_crop_xyxy"]
        assert_same_detections(_rows(got), _rows(expected))
    filtered = DetectOptions(conf=CONF)  # physics filter and snapping run after the model, alike for every backend
    expected = detect_volume(volume, torch_detector, None, filtered)
    got = detect_volume(volume, exported, None, filtered)
    assert_same_detections(_rows(got), _rows(expected))
    assert got.model["backend"] == backend and expected.model["backend"] == "torch"


def test_export_is_reused_and_new_weights_get_their_own(trained, cache, tmp_path, monkeypatch) -> None:
    from ultralytics.engine.model import Model

    calls = []
    real_export = Model.export
    monkeypatch.setattr(Model, "export", lambda self, **kw: calls.append(kw["format"]) or real_export(self, **kw))
    first, note = with_backend(load_slice_detector(trained.weights, device="cpu"), "onnx")
    assert calls == ["onnx"] and "exported to" in note
    record = json.loads((first.export_path.parent / RECORD).read_text())
    assert record["weights_sha256"] == hashlib.sha256(trained.weights.read_bytes()).hexdigest()
    assert record["settings"]["imgsz"] == 64 and record["settings"]["dynamic"] is True

    again, note = with_backend(load_slice_detector(trained.weights, device="cpu"), "onnx")
    assert calls == ["onnx"] and "cached export" in note and again.export_path == first.export_path

    changed = tmp_path / "changed.pt"
    from tqgd.engine.demo import mark_phantom_weights

    mark_phantom_weights(trained.weights, changed)  # same model, other bytes (a training-data note added)
    other, note = with_backend(load_slice_detector(changed, device="cpu"), "onnx")
    assert calls == ["onnx", "onnx"] and "exported to" in note
    assert other.export_path.parent.parent != first.export_path.parent.parent  # keyed by the new file's hash
    assert sorted(p.name for p in cache.iterdir()) == sorted([first.export_path.parent.parent.name,
                                                              other.export_path.parent.parent.name])


def test_a_failed_export_leaves_nothing_behind(trained, cache, monkeypatch) -> None:
    from ultralytics.engine.model import Model

    def broken(self, **kwargs):
        raise RuntimeError("exporter broke")

    monkeypatch.setattr(Model, "export", broken)
    with pytest.raises(CheckpointError, match="export to onnx failed: RuntimeError: exporter broke"):
        with_backend(load_slice_detector(trained.weights, device="cpu"), "onnx")
    assert [p for p in cache.rglob("*") if p.is_file()] == []  # no half export, no temporary folder


def _hide(monkeypatch, package: str) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))


def test_missing_backend_package_is_named_with_the_install_command(monkeypatch) -> None:
    _hide(monkeypatch, "openvino")
    with pytest.raises(ConfigError, match=r"needs the Python package\(s\) openvino.*pip install openvino"):
        check_backend("openvino")
    check_backend("torch")
    with pytest.raises(ConfigError, match="unknown backend 'tensorrt'"):
        check_backend("tensorrt")
    with pytest.raises(ConfigError, match="runs on the CPU"):
        check_backend("onnx", device="0")


def test_cli_backend_writes_the_same_detections_and_fails_clearly(trained, cache, tmp_path, monkeypatch,
                                                                  capsys) -> None:
    outputs = {}
    for backend in ("torch", "onnx"):
        out = tmp_path / backend
        code, _, err = run_tqgd(monkeypatch, capsys, "detect", trained.dicom, "--weights", trained.weights,
                                "--out", out, "--conf", CONF, "--device", "cpu", "--backend", backend)
        assert code == 0, err
        outputs[backend] = json.loads((out / "detections.json").read_text())
    assert outputs["onnx"]["model"]["backend"] == "onnx" and outputs["torch"]["model"]["backend"] == "torch"
    assert any("onnx backend" in note for note in outputs["onnx"]["model"]["notes"])

    def rows(record):
        return np.array(sorted((s["slice_index"], *d["box_xyxy"], d["confidence"]) for s in record["slices"]
                               for d in s["detections"]))

    assert_same_detections(rows(outputs["onnx"]), rows(outputs["torch"]))

    _hide(monkeypatch, "openvino")
    shutil.rmtree(tmp_path / "ov", ignore_errors=True)
    code, _, err = run_tqgd(monkeypatch, capsys, "detect", trained.dicom, "--weights", trained.weights, "--out",
                            tmp_path / "ov", "--backend", "openvino")
    assert code == 1 and "pip install openvino" in " ".join(err.split()), err
    assert not (tmp_path / "ov").exists()
    code, _, err = run_tqgd(monkeypatch, capsys, "detect", trained.dicom, "--weights", trained.weights, "--out",
                            tmp_path / "x", "--backend", "tensorrt")
    assert code == 2 and "tensorrt" in err, err


def test_preprocessing_is_read_off_the_loaded_model(trained, monkeypatch) -> None:
    """Loading a detector unpickles its weights once: the recorded preprocessing comes from the loaded model."""
    from tqgd.engine import run_record

    expected = run_record.preprocess_info(trained.weights)
    monkeypatch.setattr(run_record, "preprocess_info",
                        lambda *args, **kwargs: pytest.fail("the weights were unpickled a second time"))
    detector = load_slice_detector(trained.weights)
    assert detector.preprocess == expected and detector.input_spec.context == 3


_LEAN_SCRIPT = """
import json, sys
from tqgd.data.readers import read_ct
from tqgd.engine.detect import DetectOptions, detect_volume
from tqgd.engine.detect_model import load_slice_detector, model_pixels, predict

detector = load_slice_detector(sys.argv[1], device="cpu", backend="onnx")
volume = read_ct(sys.argv[2])
result = detect_volume(volume, detector, None, DetectOptions(conf=float(sys.argv[3]), physics_filter=False,
                                                             snap_boxes=False))
images = model_pixels(volume.hu[:4, :, :100], detector.windowing, True, "x")  # 128 x 100: scaled and padded
rows = [r.tolist() for r in predict(detector, images, float(sys.argv[3]), imgsz=96)]
print(json.dumps({"notes": detector.notes, "torch": "torch" in sys.modules, "ultralytics": "ultralytics" in sys.modules,
                  "rows": [[z, *d.box_xyxy, d.confidence] for z, d in result.all_detections()], "resized": rows}))
"""


def test_a_cached_onnx_export_runs_without_torch(trained, cache) -> None:
    """After the first export, --backend onnx needs neither torch nor ultralytics and gives ultralytics' boxes."""
    import subprocess
    import sys

    from tqgd.engine.detect_model import model_pixels, predict

    volume = read_ct(trained.dicom)
    torch_detector = load_slice_detector(trained.weights, device="cpu")
    exported, _ = with_backend(torch_detector, "onnx")  # ultralytics' AutoBackend; leaves the detector record
    raw = DetectOptions(conf=CONF, physics_filter=False, snap_boxes=False)
    done = subprocess.run([sys.executable, "-c", _LEAN_SCRIPT, str(trained.weights), str(trained.dicom), str(CONF)],
                          capture_output=True, text=True, timeout=300, check=True)
    lean = json.loads(done.stdout.strip().splitlines()[-1])
    assert not lean["torch"] and not lean["ultralytics"], "the cached ONNX path imported torch or ultralytics"
    assert any("without torch" in note for note in lean["notes"])
    got = np.array(sorted(map(tuple, lean["rows"])), dtype=np.float64)
    assert_same_detections(got, _rows(detect_volume(volume, exported, None, raw)))
    assert_same_detections(got, _rows(detect_volume(volume, torch_detector, None, raw)))
    images = model_pixels(volume.hu[:4, :, :100], exported.windowing, True, "x")
    for lean_rows, rows in zip(lean["resized"], predict(exported, images, CONF, imgsz=96), strict=True):
        lean_rows, rows = np.array(lean_rows).reshape(-1, 6), rows[rows[:, 4] >= CONF + CONF_TOL]
        lean_rows = lean_rows[lean_rows[:, 4] >= CONF + CONF_TOL]
        order = np.lexsort(rows.T[::-1]), np.lexsort(lean_rows.T[::-1])
        np.testing.assert_allclose(lean_rows[order[1]], rows[order[0]], rtol=0, atol=BOX_TOL_PX)


def test_a_damaged_or_foreign_detector_record_is_not_used(trained, cache) -> None:
    from tqgd.engine.detect_model import cached_onnx_detector
    from tqgd.engine.detector_record import load_record, record_path

    assert cached_onnx_detector(trained.weights) is None  # nothing exported yet
    first = load_slice_detector(trained.weights, device="cpu", backend="onnx")
    digest = hashlib.sha256(trained.weights.read_bytes()).hexdigest()
    assert load_record(digest)["imgsz"] == first.imgsz == 64
    lean = cached_onnx_detector(trained.weights)
    assert lean is not None and lean.input_spec == first.input_spec and lean.names == first.names
    path = record_path(digest)
    path.write_text("{not json")
    assert cached_onnx_detector(trained.weights) is None
    again = load_slice_detector(trained.weights, device="cpu", backend="onnx")  # the full path writes it again
    assert not any("without torch" in note for note in again.notes) and load_record(digest) is not None
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "weights_sha256": "0" * 64}))  # another file's record in this place
    assert cached_onnx_detector(trained.weights) is None
