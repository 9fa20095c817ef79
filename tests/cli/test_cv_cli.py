"""``tqgd cv``: 2 folds x 1 epoch on tiny data, the Table 4 style files, re-splitting patients, a failing fold."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import tqgd.cli
import tqgd.engine.train
import tqgd.engine.val
from tests.engine.trainval_data import write_big_box_dataset
from tqgd.data.convert.manifest import read_manifest
from tqgd.data.folds import make_patient_folds
from tqgd.engine.cv import TABLE_METRICS, fold_datasets
from tqgd.engine.train import TrainResult
from tqgd.engine.val import ValResult
from tqgd.errors import TQGDError

runner = CliRunner()


def trained_run(kwargs) -> TrainResult:
    """What a stand-in for ``train`` returns: the run folder it was asked for (nothing trained)."""
    run = Path(kwargs["project"]) / kwargs["name"]
    return TrainResult(save_dir=run, best=run / "weights" / "best.pt", last=run / "weights" / "last.pt")


def fake_validate(weights, data, **kwargs) -> ValResult:
    """A stand-in for ``validate``: zero metrics for one image."""
    zeros = dict.fromkeys(("precision", "recall", "f1", "map50", "map50_95"), 0.0)
    return ValResult(Path(kwargs["project"]), {"ultralytics": zeros, "pycocotools": zeros, "counts": {"images": 1}})


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    """4 patients x 3 images with large boxes (non-zero COCO metrics after one epoch), converted with 2 folds."""
    return write_big_box_dataset(tmp_path / "ds", patients=4, images_per_patient=3, folds=2)


@pytest.mark.slow
def test_two_folds_table_matches_the_fold_metrics(app, dataset: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["cv", "--data-dir", str(dataset), "--folds", "2", "--epochs", "1", "--imgsz", "64",
                                 "--device", "cpu", "--project", str(tmp_path), "--name", "cv",
                                 "workers=0", "plots=False"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "cv"
    with open(out / "cv.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["Fold"] for r in rows] == ["Group1", "Group2", "Average", "Std"]
    assert (out / "cv.md").read_text().count("\n") == 2 + len(rows)  # header, rule, rows
    per_fold = [json.loads((out / f"fold{i}_val" / "metrics.json").read_text()) for i in range(2)]
    for header, block, key in TABLE_METRICS:
        values = np.array([m[block][key] for m in per_fold])
        assert [float(r[header]) for r in rows[:2]] == pytest.approx(values, abs=5e-4), header
        assert float(rows[2][header]) == pytest.approx(values.mean(), abs=5e-4)
        assert float(rows[3][header]) == pytest.approx(values.std(ddof=1), abs=5e-4)
    assert any(float(r["COCO mAP50"]) > 0 for r in rows[:2])  # a table of real numbers, not only zeros
    assert [r["Detect conf"] for r in rows[:2]] == ["-", "-"] and "records no source scans" in result.output, \
        "a dataset without source scans trains and validates; no confidence is chosen, and the command says why"
    convert = json.loads((dataset / "convert.json").read_text())
    assert convert["folds"] == 2  # so the converter's own fold YAMLs were used
    summary = json.loads((out / "cv.json").read_text())
    assert [f["data"] for f in summary["folds"]] == [str(dataset / "fold0.yaml"), str(dataset / "fold1.yaml")]
    split = make_patient_folds(["P0", "P1", "P2", "P3"], 2, 0)  # the split write_big_box_dataset made
    assert [f["val_patients"] for f in summary["folds"]] == [list(fold.val) for fold in split]
    images = [int(r["Val images"]) for r in rows[:2]]
    manifest = read_manifest(dataset / "manifest.csv")
    assert images == [sum(r.val_fold == i for r in manifest) for i in range(2)]


def test_other_fold_count_resplits_patients_outside_the_dataset(dataset: Path, tmp_path: Path) -> None:
    before = sorted(p.relative_to(dataset) for p in dataset.rglob("*"))
    folds = fold_datasets(dataset, 3, seed=0, out=tmp_path)
    assert sorted(p.relative_to(dataset) for p in dataset.rglob("*")) == before  # dataset untouched
    validated = [patient for _, patients in folds for patient in patients]
    assert sorted(validated) == ["P0", "P1", "P2", "P3"]  # every patient validated exactly once
    manifest = {str((dataset / r.image).resolve()): r.patient for r in read_manifest(dataset / "manifest.csv")}
    for index, (data_yaml, patients) in enumerate(folds):
        assert data_yaml == tmp_path / f"fold{index}.yaml"
        val = (tmp_path / "folds" / f"fold{index}_val.txt").read_text().split()
        train = (tmp_path / "folds" / f"fold{index}_train.txt").read_text().split()
        assert {manifest[i] for i in val} == set(patients)
        assert not {manifest[i] for i in train} & set(patients)  # no patient on both sides
        assert len(val) + len(train) == len(manifest)


def test_a_failing_fold_fails_the_command_naming_it(app, dataset: Path, tmp_path: Path, monkeypatch) -> None:
    calls: list[str] = []

    def fake_train(data, model, **kwargs) -> TrainResult:
        calls.append(Path(data).name)
        if len(calls) == 2:
            raise RuntimeError("CUDA out of memory")
        return trained_run(kwargs)

    monkeypatch.setattr(tqgd.engine.train, "train", fake_train)
    monkeypatch.setattr(tqgd.engine.val, "validate", fake_validate)
    result = runner.invoke(app, ["cv", "--data-dir", str(dataset), "--folds", "2", "--project", str(tmp_path)])
    assert result.exit_code == 1 and isinstance(result.exception, TQGDError)
    assert "fold 1 of 2 failed (RuntimeError: CUDA out of memory)" in str(result.exception)
    assert calls == ["fold0.yaml", "fold1.yaml"] and not (tmp_path / "exp" / "cv.csv").exists()


def test_too_many_folds_for_the_patients(app, dataset: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["cv", "--data-dir", str(dataset), "--folds", "5", "--project", str(tmp_path)])
    assert result.exit_code == 1 and "cannot make 5 patient-grouped folds from 4 patients" in str(result.exception)


@pytest.mark.parametrize("choose", [True, False])
def test_each_folds_weights_get_detects_confidence_from_that_folds_patients(app, dataset: Path, tmp_path: Path,
                                                                           monkeypatch, choose: bool) -> None:
    """Every fold's best.pt is swept with its own fold YAML (so its own validation patients) and the table shows the
    chosen confidence and lesion F1; a fold whose dataset cannot be swept shows "-" and the command says why;
    --no-operating-point sweeps nothing."""
    import tqgd.engine.operating_point
    from tqgd.errors import DatasetError

    swept: list[tuple[Path, Path, Path]] = []

    def fake_train(data, model, **kwargs) -> TrainResult:
        return trained_run(kwargs)

    def fake_record(weights, data_yaml, out, heart=None, device="cpu"):
        swept.append((Path(weights), Path(data_yaml), Path(out)))
        if len(swept) == 2:
            raise DatasetError("records no source scans and patient folds", data_yaml)
        return {"conf": 0.0334, "f1": 0.8125}

    monkeypatch.setattr(tqgd.engine.train, "train", fake_train)
    monkeypatch.setattr(tqgd.engine.val, "validate", fake_validate)
    monkeypatch.setattr(tqgd.engine.operating_point, "record_operating_point", fake_record)
    flag = "--operating-point" if choose else "--no-operating-point"
    result = runner.invoke(app, ["cv", "--data-dir", str(dataset), "--folds", "2", "--project", str(tmp_path),
                                 "--name", "cv", flag])
    assert result.exit_code == 0, result.output
    out = tmp_path / "cv"
    with open(out / "cv.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    summary = json.loads((out / "cv.json").read_text())
    if not choose:
        assert swept == [] and [r["Detect conf"] for r in rows] == ["-", "-", "", ""]
        assert [f["operating_point"] for f in summary["folds"]] == [None, None]
        return
    best = [out / f"fold{i}" / "weights" / "best.pt" for i in range(2)]
    assert swept == [(best[0], dataset / "fold0.yaml", best[0]), (best[1], dataset / "fold1.yaml", best[1])]
    assert [(r["Detect conf"], r["Lesion F1"]) for r in rows] == [("0.0334", "0.812"), ("-", "-"), ("", "-"),
                                                                  ("", "-")]
    assert summary["folds"][0]["operating_point"] == {"conf": 0.0334, "f1": 0.8125}
    assert "records no source scans" in summary["folds"][1]["operating_point"]["skipped"]
    assert "no operating point recorded" in result.output and "records no source scans" in result.output
