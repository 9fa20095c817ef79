"""``model_pass`` + ``finish_pass``: one model pass at a low confidence, finished at ``c``, is exactly
``detect_volume`` at ``c``, rescued seeds included (what the confidence sweep relies on)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import tqgd.engine.detect as detect
from tqgd.data.model_input import InputSpec
from tqgd.data.volume import CTVolume, ScanMetadata
from tqgd.data.windowing import parse_window
from tqgd.engine.detect import DetectOptions, detect_volume, finish_pass, model_pass

#: What the stub model finds: deposit A (slices 2-4) boxed at 0.7 on slice 3, deposit B (slices 5-7) at 0.2 on slice 6,
#: a 0.05 box on the rod; boxes below the asked confidence are not returned, as ultralytics' predict does.
MODEL_ROWS = {3: [[8, 8, 14, 14, 0.7, 0]], 6: [[20, 20, 25, 25, 0.2, 0]], 1: [[30, 30, 33, 33, 0.05, 0]]}


class SureOfDeposits:
    """Stub verifier: 0.995 for components up to 1.2 cm along z (above the 0.99 rescue score), 0.1 for the rod."""

    threshold = 0.5

    def probabilities(self, patches, scalars):
        return np.where(scalars[:, 1] > 1.2, 0.1, 0.995)

    def describe(self, threshold):
        return {"file": "stub.onnx", "threshold": threshold}


def _volume() -> CTVolume:
    hu = np.full((10, 40, 40), 40.0, dtype=np.float32)
    hu[2:5, 8:14, 8:14] = 500.0
    hu[5:8, 20:25, 20:25] = 450.0
    hu[:, 30:33, 30:33] = 400.0
    meta = ScanMetadata(source=Path("synthetic"), format="synthetic", has_hu=True)
    return CTVolume(hu=hu, spacing_mm=(3.0, 0.5, 0.5), origin_mm=(0.0, 0.0, 0.0), direction=np.eye(3), meta=meta)


def _detector() -> SimpleNamespace:
    spec = InputSpec(parse_window("calcium"))
    return SimpleNamespace(input_spec=spec, windowing=spec.windowing, names={0: "calcium"}, operating_conf=None,
                           describe=lambda: {"weights": "fake"})


def _boxes(result) -> list[tuple]:
    return [(s.slice_index, d.box_xyxy, d.confidence, d.origin) for s in result.slices for d in s.detections]


@pytest.fixture
def stub_model(monkeypatch):
    def predict(detector, images, conf, imgsz=None):
        return [np.array([row for row in MODEL_ROWS.get(z, []) if row[4] >= conf]).reshape(-1, 6)
                for z in range(len(images))]

    monkeypatch.setattr(detect, "predict", predict)
    monkeypatch.setattr(detect, "load_verifier", lambda path=None: SureOfDeposits())


@pytest.mark.parametrize("conf", [0.01, 0.1, 0.25, 0.3, 0.4])
def test_one_low_pass_finished_at_c_is_detect_at_c(stub_model, conf):
    volume, detector = _volume(), _detector()
    low = model_pass(volume, detector, None, DetectOptions(conf=0.002))
    swept = finish_pass(volume, detector, low, DetectOptions(conf=conf))
    direct = detect_volume(volume, detector, None, DetectOptions(conf=conf))
    assert _boxes(swept) == _boxes(direct) and swept.model == direct.model
    b_origins = {origin for z, _, _, origin in _boxes(direct) if z in (5, 6, 7)}
    # B's 0.2 box is kept up to 0.2; above it B is unboxed and rescued, with the seeds' 0.25 (no recorded point),
    # up to 0.25; above that the seeds sit under the run's confidence
    assert ("model" in b_origins) == (conf <= 0.2) and ("verifier" in b_origins) == (0.2 < conf <= 0.25)
    assert all(z != 1 for z, *_ in _boxes(direct))  # the rod's box is rejected by the verifier at every confidence


def test_a_pass_cannot_be_finished_below_its_own_confidence(stub_model):
    volume = _volume()
    run = model_pass(volume, _detector(), None, DetectOptions(conf=0.3))
    with pytest.raises(ValueError, match="kept boxes from 0.3"):
        finish_pass(volume, _detector(), run, DetectOptions(conf=0.1))


def test_the_confidence_sweep_leaves_the_rescue_out(stub_model, monkeypatch):
    """At 0.25 detect rescues deposit B (its only box, 0.2, is below; the seeds take 0.25); the sweep's row for 0.25
    is detect --no-rescue: B is not there, so the verifier's rescue cannot flatten the sweep."""
    import tqgd.data.readers
    import tqgd.engine.detect_model
    import tqgd.scoring.cohort
    from tqgd.detections import load_detections
    from tqgd.engine.operating_point import sweep_confidence

    seen = {}

    def evaluate(volume, reference, prediction, options, case_id=None):
        result = load_detections(prediction)
        seen[result.model["conf"]] = {(s.slice_index, d.origin) for s in result.slices for d in s.detections}
        return SimpleNamespace(match=SimpleNamespace(reference_lesions=2, detected_reference_lesions=1,
                                                     predicted_lesions=1, true_positive_lesions=1))

    monkeypatch.setattr(tqgd.engine.detect_model, "load_slice_detector", lambda weights, device=None: _detector())
    monkeypatch.setattr(tqgd.data.readers, "read_ct", lambda path: _volume())
    monkeypatch.setattr(tqgd.scoring.cohort, "evaluate_scan", evaluate)
    case = SimpleNamespace(image="scan", reference="labels", case_id="P1")
    points = sweep_confidence([case], Path("w.pt"), heart=lambda volume: None, confs=(0.1, 0.25))
    assert [p.conf for p in points] == [0.1, 0.25]
    direct = detect_volume(_volume(), _detector(), None, DetectOptions(conf=0.25))
    assert any(origin == "verifier" for _, _, _, origin in _boxes(direct))
    assert all(origin != "verifier" for boxes in seen.values() for _, origin in boxes)
    assert not any(z in (5, 6, 7) for z, _ in seen[0.25]) and any(z in (5, 6, 7) for z, _ in seen[0.1])
