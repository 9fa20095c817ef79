"""``tqgd.engine.operating_point``: choosing the confidence with the best lesion F1 on the
validation patients of the fold a dataset YAML names, and recording it in a copy of the weights;
``tqgd detect`` uses a recorded operating confidence unless --conf is given."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from tqgd.data.orcascore import image_path, reference_path
from tqgd.engine import operating_point
from tqgd.engine.detect import DEFAULT_CONF, DetectOptions, operating_conf
from tqgd.engine.operating_point import (CANDIDATE_CONFS, SWEEP_METHOD, ConfPoint, best_point, dataset_fold,
                                        record_operating_point, validation_operating_point)
from tqgd.errors import DatasetError


def test_conf_point_pools_lesion_counts_as_orcascore_f1():
    point = ConfPoint(0.1, reference_lesions=10, detected_reference_lesions=6, predicted_lesions=8,
                      true_positive_lesions=6)
    assert point.sensitivity == pytest.approx(0.6) and point.ppv == pytest.approx(0.75)
    assert point.f1 == pytest.approx(2 * 0.6 * 0.75 / 1.35)


def test_best_point_takes_the_highest_f1_and_the_higher_conf_on_ties():
    low = ConfPoint(0.05, 10, 8, 16, 8)   # F1 0.615
    mid = ConfPoint(0.1, 10, 7, 10, 7)    # F1 0.700
    tie = ConfPoint(0.2, 10, 7, 10, 7)    # same F1, fewer boxes allowed
    high = ConfPoint(0.4, 10, 2, 2, 2)    # F1 0.333
    assert best_point([low, mid, tie, high]) is tie


@pytest.mark.parametrize("given, recorded, used", [(None, 0.1, 0.1), (0.3, 0.1, 0.3), (None, None, DEFAULT_CONF)])
def test_detect_uses_the_recorded_operating_conf_unless_given(given, recorded, used):
    assert operating_conf(SimpleNamespace(operating_conf=recorded), DetectOptions(conf=given)) == used


def _fake_phantom(tmp_path, cases=("P1", "P2", "P3")):
    """An OrCaScore-layout folder (empty headers: the sweep is replaced) and a dataset whose fold 0 validates P2."""
    for case in cases:
        for path in (image_path(tmp_path / "phantom", case), reference_path(tmp_path / "phantom", case)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    (tmp_path / "dataset").mkdir()
    (tmp_path / "dataset" / "convert.json").write_text(json.dumps(
        {"source": str(tmp_path / "phantom"),
         "fold_patients": [{"index": 0, "train": ["P1", "P3"], "val": ["P2"]},
                           {"index": 1, "train": ["P2", "P3"], "val": ["P1"]}]}))


@pytest.mark.parametrize("lesions, expected", [(4, 0.05), (0, None)])
def test_detects_confidence_is_swept_on_the_fold0_validation_patients_only(tmp_path, monkeypatch, lesions,
                                                                            expected) -> None:
    _fake_phantom(tmp_path)
    seen = []

    def sweep(cases, weights, heart, device, roi_crop=False):
        seen.extend(case.case_id for case in cases)
        return [ConfPoint(c, lesions, lesions if c <= 0.05 else 1, 5, lesions if c <= 0.05 else 1) if lesions
                else ConfPoint(c, 0, 0, 2, 0) for c in CANDIDATE_CONFS]

    monkeypatch.setattr(operating_point, "sweep_confidence", sweep)
    point = validation_operating_point(tmp_path / "dataset", tmp_path / "c.pt", tmp_path / "h.pt", "cpu")
    assert seen == ["P2"]
    if expected is None:  # no reference lesion on the validation patients: no operating point to choose
        assert point is None
    else:  # F1 4/4.5 at 0.005-0.05; the highest of the tied confidences is kept
        assert point["conf"] == expected and point["patients"] == ["P2"] and len(point["sweep"]) == len(CANDIDATE_CONFS)
        assert point["method"] == SWEEP_METHOD  # what benchmarks/clinic_quality.py --rechoose compares


def _fold_yaml(tmp_path, fold: int):
    path = tmp_path / "dataset" / f"fold{fold}.yaml"
    path.write_text(f"path: {tmp_path / 'dataset'}\ntrain: folds/fold{fold}_train.txt\nval: folds/fold{fold}_val.txt\n"
                    "names:\n  0: calcium\n")
    return path


@pytest.mark.parametrize("roi_point", [True, False])
def test_the_yamls_fold_is_swept_and_recorded_in_a_copy_of_the_weights(tmp_path, monkeypatch, roi_point) -> None:
    """The crop detect will use is swept and its key written: the shipped weights record a heart-ROI point, weights
    straight from training record none (the square crop)."""
    import torch

    from tqgd.engine.detect_model import OPERATING_CONF_KEY, OPERATING_CONF_ROI_KEY, load_slice_detector
    from tqgd.engine.weights import load_checkpoint
    from tqgd.weights import CALCIUM_WEIGHTS, weights_dir

    _fake_phantom(tmp_path)
    checkpoint = load_checkpoint(weights_dir() / CALCIUM_WEIGHTS)
    if not roi_point:
        del checkpoint[OPERATING_CONF_KEY], checkpoint[OPERATING_CONF_ROI_KEY]
    weights = tmp_path / "best.pt"
    torch.save(checkpoint, weights)
    before = weights.read_bytes()
    seen = []

    def sweep(cases, swept, heart, device, roi_crop):
        assert roi_crop == roi_point, "the crop detect will use is swept"
        seen.extend(case.case_id for case in cases)
        return [ConfPoint(c, 3, 3 if c <= 0.1 else 1, 4, 3 if c <= 0.1 else 1) for c in CANDIDATE_CONFS]

    monkeypatch.setattr(operating_point, "sweep_confidence", sweep)
    assert dataset_fold(_fold_yaml(tmp_path, 1)) == (tmp_path / "dataset", 1)
    record = record_operating_point(weights, _fold_yaml(tmp_path, 1), tmp_path / "out.pt")
    assert seen == ["P1"], "fold 1's validation patient, named by the YAML's val list"
    assert record["conf"] == 0.1 and record["fold"] == 1 and record["patients"] == ["P1"]
    written, swept = load_slice_detector(tmp_path / "out.pt"), load_slice_detector(weights)
    if roi_point:
        assert (written.operating_conf_roi, written.operating_conf) == (0.1, swept.operating_conf)
    else:
        assert (written.operating_conf_roi, written.operating_conf) == (None, 0.1)
    assert json.loads((tmp_path / "out_operating_point.json").read_text())["sweep"] == record["sweep"]
    assert weights.read_bytes() == before, "the swept weights are never changed"


def test_nothing_is_recorded_when_no_confidence_finds_a_lesion(tmp_path, monkeypatch) -> None:
    _fake_phantom(tmp_path)
    monkeypatch.setattr(operating_point, "sweep_confidence",
                        lambda cases, *_, **__: [ConfPoint(c, 3, 0, 5, 0) for c in CANDIDATE_CONFS])
    from tqgd.weights import CALCIUM_WEIGHTS, weights_dir

    assert record_operating_point(weights_dir() / CALCIUM_WEIGHTS, _fold_yaml(tmp_path, 0), tmp_path / "out.pt") is None
    assert not (tmp_path / "out.pt").exists() and not (tmp_path / "out_operating_point.json").exists()


def test_datasets_without_source_scans_or_the_fold_are_refused_by_name(tmp_path) -> None:
    _fake_phantom(tmp_path)
    with pytest.raises(DatasetError, match="has no fold 3"):
        validation_operating_point(tmp_path / "dataset", tmp_path / "c.pt", fold=3)
    (tmp_path / "dataset" / "convert.json").write_text(json.dumps({"command": "tqgd convert masks"}))
    with pytest.raises(DatasetError, match="convert.json: records no source scans"):
        validation_operating_point(tmp_path / "dataset", tmp_path / "c.pt")
    (tmp_path / "dataset" / "convert.json").write_text(json.dumps(
        {"source": str(tmp_path / "moved"), "fold_patients": [{"index": 0, "train": [], "val": ["P1"]}]}))
    with pytest.raises(DatasetError, match="converted from are gone"):
        validation_operating_point(tmp_path / "dataset", tmp_path / "c.pt")


def _sweepable_big_box_dataset(tmp_path):
    """The big-box dataset (patients P0-P3, manifest, 2 converter folds) recording an OrCaScore-layout source."""
    from tests.engine.trainval_data import write_big_box_dataset
    from tqgd.data.folds import make_patient_folds

    dataset = write_big_box_dataset(tmp_path / "dataset", patients=4, folds=2)
    for case in ("P0", "P1", "P2", "P3"):
        for path in (image_path(tmp_path / "phantom", case), reference_path(tmp_path / "phantom", case)):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch()
    record = json.loads((dataset / "convert.json").read_text())
    record["source"] = str(tmp_path / "phantom")
    record["fold_patients"] = [{"index": f.index, "train": list(f.train), "val": list(f.val)}
                               for f in make_patient_folds(["P0", "P1", "P2", "P3"], 2, 0)]
    (dataset / "convert.json").write_text(json.dumps(record))
    return dataset, record["fold_patients"]


def test_a_fold_tqgd_cv_re_split_is_swept_on_the_patients_its_val_list_holds(tmp_path, monkeypatch) -> None:
    """A re-split fold (written outside the dataset) validates other patients than the converter's fold of the same
    number: the sweep takes the patients of the YAML's own val list, never the converter's (they trained there)."""
    from tqgd.data.convert.manifest import read_manifest
    from tqgd.engine.cv import fold_datasets
    from tqgd.engine.operating_point import listed_patients

    dataset, converter_folds = _sweepable_big_box_dataset(tmp_path)
    resplit = fold_datasets(dataset, 3, seed=1, out=tmp_path / "cv")
    seen = []
    monkeypatch.setattr(operating_point, "sweep_confidence", lambda cases, *_, **__: seen.append(
        sorted(c.case_id for c in cases)) or [ConfPoint(c, 2, 2, 2, 2) for c in CANDIDATE_CONFS])
    from tqgd.weights import CALCIUM_WEIGHTS, weights_dir

    for index, (data_yaml, patients) in enumerate(resplit):
        manifest = {str((dataset / r.image).resolve()): r.patient for r in read_manifest(dataset / "manifest.csv")}
        listed = {manifest[line] for line in (tmp_path / "cv" / "folds" / f"fold{index}_val.txt").read_text().split()}
        assert listed_patients(data_yaml, dataset) == sorted(listed) == sorted(patients)
        record = record_operating_point(weights_dir() / CALCIUM_WEIGHTS, data_yaml, tmp_path / f"out{index}.pt")
        assert seen[-1] == sorted(patients) and record["patients"] == sorted(patients)
    assert any(sorted(p) != sorted(f["val"]) for (_, p), f in zip(resplit, converter_folds, strict=False)), \
        "the re-split differs from the converter's folds, so the test can tell them apart"
    assert listed_patients(dataset / "fold1.yaml", dataset) is None, "the converter's own lists: convert.json's"
    foreign = tmp_path / "cv" / "folds" / "fold0_val.txt"
    foreign.write_text(foreign.read_text() + str(tmp_path / "elsewhere.png") + "\n")
    with pytest.raises(DatasetError, match="1 image\\(s\\) that .*manifest.csv does not hold"):
        record_operating_point(weights_dir() / CALCIUM_WEIGHTS, resplit[0][0], tmp_path / "bad.pt")
    assert not (tmp_path / "bad.pt").exists()
