"""``tqgd.engine.ship``: the shipped weights' recipe runs end to end on a tiny phantom, resumes without redoing
finished steps, and installs weights that detect reads as phantom weights, with a card saying how they were made."""

from __future__ import annotations

import json

import pytest

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tqgd.engine.operating_point import CANDIDATE_CONFS
from tqgd.engine.ship import ShipSettings, build, install, read_operating_point
from tqgd.weights import CALCIUM_WEIGHTS, CARD_JSON, HEART_WEIGHTS, PHANTOM_SHIPPED_DATA

#: The demo's quick heart settings (``DemoSettings.quick``: 30 epochs at 64 px find 128 px hearts), one calcium epoch.
TINY = ShipSettings(gated_patients=2, non_gated_patients=2, image_size=128, heart_slice_step=2, heart_epochs=30,
                    heart_imgsz=64, heart_batch=4, heart_conf=0.1, crop_size=96, folds=2,
                    recipe={"epochs": 1, "batch": 4})


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    work = tmp_path_factory.mktemp("ship")
    return work, build(work, TINY)


@pytest.mark.slow
def test_build_trains_both_detectors_on_both_phantom_sets(built):
    work, weights = built
    assert weights["heart"].is_file() and weights["calcium"].is_file()
    for name in ("gated", "non-gated"):
        convert = json.loads((work / "dataset" / name / "convert.json").read_text())
        assert convert["input"]["context"] == 3 and convert["input"]["crop_size"] == 96
    record = json.loads((work / "ship.json").read_text())
    assert record["train_args"]["epochs"] == 1 and record["settings"]["model"] == "tqgdnet-n"
    point = read_operating_point(work)  # swept on the validation patient of each set (folds=2: one each)
    assert len(point["patients"]) == 2
    for record in (point, point["roi_crop"]):  # the square training crop and the heart-ROI crop
        assert [p["conf"] for p in record["sweep"]] == list(CANDIDATE_CONFS)
        best = max(record["sweep"], key=lambda p: (p["f1"], p["conf"]))
        assert record["conf"] == best["conf"]


@pytest.mark.slow
def test_second_build_reuses_every_finished_step(built):
    work, weights = built
    stamps = {path: path.stat().st_mtime_ns for path in (weights["heart"], weights["calcium"],
                                                          work / "dataset" / "merged" / "merged.yaml")}
    again = build(work, TINY)
    assert again == weights
    assert {path: path.stat().st_mtime_ns for path in stamps} == stamps


@pytest.mark.slow
def test_install_marks_the_weights_and_writes_the_card(built, tmp_path):
    from tqgd.engine.detect_model import load_slice_detector

    _, weights = built
    work, weights = built
    point = read_operating_point(work)
    card_path = install(weights, tmp_path, TINY, notes={"held_out": {"example": 1}}, operating_point=point)
    card = json.loads(card_path.read_text())
    assert card_path == tmp_path / CARD_JSON and card["warning"] == PHANTOM_SHIPPED_DATA
    assert card["held_out"] == {"example": 1} and card["settings"]["crop_size"] == 96
    assert card["sizes_bytes"][CALCIUM_WEIGHTS] == (tmp_path / CALCIUM_WEIGHTS).stat().st_size
    detector = load_slice_detector(tmp_path / CALCIUM_WEIGHTS, device="cpu")
    assert detector.training_data == PHANTOM_SHIPPED_DATA and detector.operating_conf == point["conf"]
    assert detector.operating_conf_roi == point["roi_crop"]["conf"]
    assert card["operating_point"] == point
    assert (tmp_path / HEART_WEIGHTS).is_file()


@pytest.mark.slow
def test_operating_points_are_recorded_again_into_installed_weights(built, tmp_path):
    """Weights installed with the square crop's confidence only get both again, from the patients their card names."""
    from tqgd.engine.detect_model import load_slice_detector
    from tqgd.engine.ship import record_operating_points

    work, weights = built
    point = read_operating_point(work)
    older = {key: value for key, value in point.items() if key != "roi_crop"}
    install(weights, tmp_path, TINY, operating_point=older)
    assert load_slice_detector(tmp_path / CALCIUM_WEIGHTS, device="cpu").operating_conf_roi is None
    card_path = record_operating_points(work, tmp_path)  # the phantoms in work are reused (same seeds)
    card = json.loads(card_path.read_text())
    assert card["operating_point"] == point  # the same patients and weights give the same sweeps
    detector = load_slice_detector(tmp_path / CALCIUM_WEIGHTS, device="cpu")
    assert (detector.operating_conf, detector.operating_conf_roi) == (point["conf"], point["roi_crop"]["conf"])
    assert card["sizes_bytes"][CALCIUM_WEIGHTS] == (tmp_path / CALCIUM_WEIGHTS).stat().st_size


def test_given_heart_weights_are_reused_and_a_missing_file_is_named(tmp_path):
    from dataclasses import replace

    from tqgd.engine.ship import _heart
    from tqgd.errors import ConfigError

    heart = tmp_path / "heart.pt"
    heart.write_bytes(b"stand-in: _heart only checks that the file exists")
    assert _heart(tmp_path / "work", {}, replace(TINY, heart_weights=str(heart))) == heart.resolve()
    assert not (tmp_path / "work").exists()  # nothing trained, no dataset written
    with pytest.raises(ConfigError, match="missing.pt not found"):
        _heart(tmp_path / "work", {}, replace(TINY, heart_weights=str(tmp_path / "missing.pt")))


def _dataset_with_input(folder, model_input):
    """A data YAML whose convert.json records ``model_input`` (all ``adopt`` reads of a dataset)."""
    folder.mkdir(parents=True)
    (folder / "convert.json").write_text(json.dumps({"input": model_input}))
    (folder / "merged.yaml").write_text(f"path: {folder}\ntrain: t.txt\nval: v.txt\nnames:\n  0: calcium\n")
    return folder / "merged.yaml"


def test_weights_trained_elsewhere_are_adopted_only_for_the_same_model_input(tmp_path):
    """A checkpoint trained on this dataset becomes the calcium run's weights (once; its sha256 and train args
    recorded); one trained on another model input is refused by name, and nothing is copied."""
    from tqgd.engine.run_record import preprocess_info
    from tqgd.engine.ship import ADOPTED_JSON, adopt
    from tqgd.errors import ConfigError
    from tqgd.weights import weights_dir

    trained = weights_dir() / CALCIUM_WEIGHTS
    model_input = preprocess_info(trained)["input"]
    other = _dataset_with_input(tmp_path / "other", {**model_input, "crop_size": 256})
    with pytest.raises(ConfigError, match="calcium.pt") as error:
        adopt(tmp_path / "run_other", other, trained)
    assert "256" in str(error.value) and not (tmp_path / "run_other").exists()

    run = tmp_path / "runs" / "calcium"
    record = adopt(run, _dataset_with_input(tmp_path / "same", json.loads(json.dumps(model_input))), trained)
    import hashlib

    assert record["sha256"] == hashlib.sha256(trained.read_bytes()).hexdigest()
    assert record["train_args"]["epochs"] == json.loads((weights_dir() / CARD_JSON).read_text())["train_args"]["epochs"]
    for name in ("last.pt", "best.pt"):
        assert (run / "weights" / name).read_bytes() == trained.read_bytes()
    assert json.loads((run / ADOPTED_JSON).read_text()) == record
    stamp = (run / "weights" / "last.pt").stat().st_mtime_ns
    assert adopt(run, tmp_path / "same" / "merged.yaml", trained) == record
    assert (run / "weights" / "last.pt").stat().st_mtime_ns == stamp  # the same file is not copied again


def test_an_operating_point_is_swept_again_when_the_calcium_weights_change(tmp_path, monkeypatch):
    """operating_point.json is reused for the weights it was swept on, and swept again for other weights."""
    import tqgd.data.orcascore
    from tqgd.engine import ship

    monkeypatch.setattr(tqgd.data.orcascore, "discover_cases", lambda folder: [])  # no phantom needed here
    sweeps = []
    monkeypatch.setattr(ship, "_sweep", lambda cases, names, calcium, heart, device:
                        sweeps.append(calcium.read_bytes()) or {"conf": 0.1, "patients": names})
    for name in ("gated", "non-gated"):
        (tmp_path / "dataset" / name).mkdir(parents=True)
        (tmp_path / "dataset" / name / "convert.json").write_text(json.dumps({"fold_patients": [{"val": []}]}))
    calcium = tmp_path / "last.pt"
    calcium.write_bytes(b"weights one")
    built = {"calcium": calcium, "heart": tmp_path / "heart.pt"}
    first = ship._operating_point(tmp_path, built, TINY)
    assert ship._operating_point(tmp_path, built, TINY) == first and len(sweeps) == 1
    assert read_operating_point(tmp_path) == first  # the file's checksum key stays out of the record
    calcium.write_bytes(b"weights two")
    ship._operating_point(tmp_path, built, TINY)
    assert sweeps == [b"weights one", b"weights two"]
