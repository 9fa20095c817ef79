"""tqgd.xa.dataset: pair images, boxes equal to the masks' connected components, patient-grouped folds."""

from __future__ import annotations

import csv

import cv2
import numpy as np
import pydicom
import pytest
from scipy import ndimage

from tqgd.data.formats.yolo import read_yolo_labels
from tqgd.engine.dataset_check import check_data_yaml
from tqgd.errors import DatasetError, LabelError, OutputError
from tqgd.xa.dataset import DatasetOptions, build_xa_dataset
from tqgd.xa.pair_image import five_patches
from tqgd.xa.writer import XAHeader, write_xa


def _components(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """(x0, y0, x1, y1) pixel edges of the 4-connected components, computed here with scipy alone."""
    labels, _ = ndimage.label(mask)
    return [(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(labels)]


def _label_boxes(path, width, height) -> list[tuple[int, int, int, int]]:
    return [tuple(round(v) for v in label.to_xyxy(width, height)) for label in read_yolo_labels(path, 1)]


def _manifest(out) -> list[dict]:
    with open(out / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def whole(small_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("xa-dataset") / "whole"
    return out, build_xa_dataset(small_runs, out, DatasetOptions(frames_per_run=4, folds=2))


@pytest.fixture(scope="module")
def patched(small_runs, tmp_path_factory):
    out = tmp_path_factory.mktemp("xa-dataset") / "patched"
    return out, build_xa_dataset(small_runs, out, DatasetOptions(frames_per_run=2, folds=2, patches=True,
                                                                 patch_size=64))


def test_boxes_are_the_connected_components_of_the_masks(whole, small_runs) -> None:
    out, summary = whole
    rows = _manifest(out)
    assert len(rows) == summary["images"] == 12  # 3 runs x 4 pairs
    boxes = 0
    for row in rows:
        with np.load(small_runs / f"{row['run']}.npz") as truth:
            mask = truth["calcium"][int(row["noncontrast_frame"])] > 0
        label = out / row["image"].replace("images/", "labels/").replace(".png", ".txt")
        assert sorted(_label_boxes(label, 128, 128)) == sorted(_components(mask))
        boxes += len(_components(mask))
    assert boxes == summary["boxes"] > 0


def test_patch_boxes_are_the_components_clipped_to_each_patch(patched, small_runs) -> None:
    out, summary = patched
    rows = _manifest(out)
    assert len(rows) == summary["images"] == 3 * 2 * 5  # 3 runs x 2 pairs x 5 patches
    corners = five_patches(128, 128, 64)
    assert corners == [(0, 0), (64, 0), (0, 64), (64, 64), (32, 32)]
    for row in rows:
        x0, y0 = int(row["x0"]), int(row["y0"])
        assert (x0, y0) == corners[int(row["patch"])]
        with np.load(small_runs / f"{row['run']}.npz") as truth:
            mask = truth["calcium"][int(row["noncontrast_frame"])] > 0
        expected = []
        for bx0, by0, bx1, by1 in _components(mask):
            cx0, cy0, cx1, cy1 = max(bx0, x0), max(by0, y0), min(bx1, x0 + 64), min(by1, y0 + 64)
            if cx1 > cx0 and cy1 > cy0:
                expected.append((cx0 - x0, cy0 - y0, cx1 - x0, cy1 - y0))
        label = out / row["image"].replace("images/", "labels/").replace(".png", ".txt")
        assert sorted(_label_boxes(label, 64, 64)) == sorted(expected)
        image = cv2.imread(str(out / row["image"]))
        assert image.shape == (64, 64, 3)


def test_channels_are_noncontrast_contrast_difference(whole, small_runs) -> None:
    out, _ = whole
    row = _manifest(out)[1]
    rgb = cv2.imread(str(out / row["image"]))[..., ::-1].astype(float)
    frames = pydicom.dcmread(small_runs / f"{row['run']}.dcm").pixel_array.astype(float)
    nc, c = frames[int(row["noncontrast_frame"])], frames[int(row["contrast_frame"])]
    assert int(row["contrast_frame"]) > int(row["noncontrast_frame"])
    assert np.corrcoef(rgb[..., 0].ravel(), nc.ravel())[0, 1] > 0.98
    assert np.corrcoef(rgb[..., 1].ravel(), c.ravel())[0, 1] > 0.98
    expected_diff = np.clip(128 + 2 * (rgb[..., 0] - rgb[..., 1]), 0, 255)
    assert np.abs(rgb[..., 2] - expected_diff).max() <= 3  # the channels were rounded separately


def test_pairs_join_a_contrast_free_frame_to_a_filled_one(whole, small_runs) -> None:
    out, _ = whole
    for row in _manifest(out):
        with np.load(small_runs / f"{row['run']}.npz") as truth:
            fill = truth["fill"]
        assert fill[int(row["noncontrast_frame"])] == 0.0
        assert fill[int(row["contrast_frame"])] > 0.3  # the front has crossed most of the tree (60-frame runs)


def test_folds_keep_each_patient_on_one_side(whole) -> None:
    out, summary = whole
    patient_of = {row["image"]: row["patient"] for row in _manifest(out)}
    validated = []
    for k in range(2):
        train = [line.strip().removeprefix("./../") for line in (out / "folds" / f"fold{k}_train.txt").open()]
        val = [line.strip().removeprefix("./../") for line in (out / "folds" / f"fold{k}_val.txt").open()]
        assert not {patient_of[i] for i in train} & {patient_of[i] for i in val}
        validated += val
    assert sorted(validated) == sorted(patient_of)
    assert {r["patient"] for r in summary["runs"]} == {"P001", "P002"}


def test_dataset_yaml_passes_the_training_check(whole) -> None:
    out, _ = whole
    spec = check_data_yaml(out / "xa.yaml")
    assert spec.names == {0: "calcium"}
    assert spec.root == out.resolve()


def test_bad_inputs_are_named(whole, small_runs, tmp_path) -> None:
    out, _ = whole
    with pytest.raises(OutputError, match="not an empty folder"):
        build_xa_dataset(small_runs, out)
    with pytest.raises(DatasetError, match=r"no XA runs \(\*\.dcm\)"):
        build_xa_dataset(tmp_path, tmp_path / "o")
    lone = tmp_path / "lone"
    lone.mkdir()
    (lone / "R.dcm").write_bytes((small_runs / "P001V1.dcm").read_bytes())
    with pytest.raises(LabelError, match=r"no ground truth next to the run \(expected R.npz"):
        build_xa_dataset(lone, tmp_path / "o2")
    with pytest.raises(DatasetError, match="cannot fill 5 patient-grouped folds"):
        build_xa_dataset(small_runs, tmp_path / "o3", DatasetOptions(frames_per_run=1, folds=5))


def test_a_run_that_cannot_be_synchronised_is_left_out_and_named(small_runs, tmp_path) -> None:
    runs = tmp_path / "runs"
    runs.mkdir()
    for path in small_runs.glob("*.*"):
        (runs / path.name).write_bytes(path.read_bytes())
    short = pydicom.dcmread(small_runs / "P001V1.dcm").pixel_array[:12]  # under two beats: no period measurable
    header = XAHeader(patient_id="P009", patient_name="Phantom^P009", series_description="short", fps=15.0,
                      imager_spacing_mm=0.2, sid_mm=1000.0, sod_mm=750.0, primary_deg=0.0, secondary_deg=0.0)
    write_xa(runs / "P009V1.dcm", short, header, uid_seed="short")
    with np.load(small_runs / "P001V1.npz") as data:
        np.savez_compressed(runs / "P009V1.npz", calcium=data["calcium"][:12])
    summary = build_xa_dataset(runs, tmp_path / "out", DatasetOptions(frames_per_run=2, folds=2))
    assert [s["run"] for s in summary["skipped"]] == ["P009V1"]
    assert "beats" in summary["skipped"][0]["reason"]
    assert sorted(r["run"] for r in summary["runs"]) == ["P001V1", "P001V2", "P002V1"]
    assert {row["run"] for row in _manifest(tmp_path / "out")} == {"P001V1", "P001V2", "P002V1"}
    one_per_patient = build_xa_dataset(runs, tmp_path / "loo", DatasetOptions(frames_per_run=1, folds=0))
    assert sorted(tuple(f["val"]) for f in one_per_patient["folds"]) == [("P001",), ("P002",)]  # P009 has no fold
    assert sorted(p.name for p in (tmp_path / "loo").glob("fold*.yaml")) == ["fold0.yaml", "fold1.yaml"]
    only_short = tmp_path / "only-short"
    only_short.mkdir()
    for suffix in (".dcm", ".npz"):
        (only_short / f"P009V1{suffix}").write_bytes((runs / f"P009V1{suffix}").read_bytes())
    with pytest.raises(DatasetError, match="no run could be synchronised .*P009V1"):
        build_xa_dataset(only_short, tmp_path / "out2")


@pytest.mark.slow
def test_training_runs_on_the_paired_frame_dataset(whole, tmp_path) -> None:
    from tqgd.engine.train import train

    out, _ = whole
    result = train(out / "xa.yaml", "tqgdnet-n", epochs=1, imgsz=64, batch=4, device="cpu", project=tmp_path,
                   name="xa", options={"workers": 0, "plots": False, "nbs": 4})
    assert result.best.is_file()
    assert "metrics/mAP50(B)" in result.metrics
