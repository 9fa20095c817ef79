"""Heart-box datasets from a phantom folder and from a user's YOLO-labelled slices."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import yaml

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tqgd.data.convert.manifest import read_manifest
from tqgd.data.formats.yolo import read_yolo_labels
from tqgd.data.phantom.layout import write_phantom_set
from tqgd.data.readers import read_ct
from tqgd.data.windowing import apply_window
from tqgd.engine.heart import HeartDatasetOptions, build_heart_dataset
from tqgd.engine.heart_crop import slices_to_run
from tqgd.errors import DatasetError, LabelError, OutputError, ScanReadError


@pytest.fixture(scope="module")
def phantom(tmp_path_factory):
    root = tmp_path_factory.mktemp("heart_phantom")
    write_phantom_set(root / "phantom", 3, seed=3, image_size=64)
    return root / "phantom"


def test_phantom_slices_carry_the_sidecar_heart_boxes(phantom, tmp_path) -> None:
    report = build_heart_dataset(phantom, tmp_path / "heart", HeartDatasetOptions(slice_step=4, folds=3))
    out = report.out
    rows = read_manifest(out / "manifest.csv")
    assert report.source_kind == "phantom" and report.patients == 3 and report.images == len(rows)
    for case in ("TRV1P1", "TRV2P1", "TRV3P1"):
        sidecar = json.loads((phantom / "phantom" / f"{case}.json").read_text())
        boxes = sidecar["heart_boxes_xyxy"]
        volume = read_ct(phantom / "Images" / f"{case}CTI.mhd")
        mine = [r for r in rows if r.patient == case]
        assert [r.slice_index for r in mine] == slices_to_run(len(boxes), 4)
        for row in mine:
            image = cv2.imread(str(out / row.image), cv2.IMREAD_UNCHANGED)
            np.testing.assert_array_equal(image, apply_window(volume.hu[row.slice_index], "paper"))
            labels = read_yolo_labels(out / row.label, num_classes=1)
            truth = boxes[row.slice_index]
            if truth is None:
                assert labels == []
            else:
                (label,) = labels
                np.testing.assert_allclose(label.to_xyxy(64, 64), truth, atol=1e-3)
    assert 0 < report.images_with_heart < report.images  # slices above and below the heart are negatives
    data = yaml.safe_load(report.yaml.read_text())
    assert data["names"] == {0: "heart"} and data["path"] == str(out)
    record = json.loads((out / "convert.json").read_text())
    assert record["task"] == "heart" and record["window"]["channels_hu"] == [[-1200.0, 1800.0]]
    val_patients = {r.patient for r in rows if r.val_fold == 0}
    listed = (out / "folds" / "fold0_val.txt").read_text().split()
    assert {line.split("/")[-1].split("_z")[0] for line in listed} == val_patients


def _write_yolo_slices(root, patients=("P1", "P2"), per_patient=4):
    (root / "images").mkdir(parents=True)
    (root / "labels").mkdir()
    for p in patients:
        for i in range(per_patient):
            image = np.full((32, 48), 20 * i, dtype=np.uint8)
            cv2.imwrite(str(root / "images" / f"{p}_z{i:03d}.png"), image)
            if i % 2 == 0:
                (root / "labels" / f"{p}_z{i:03d}.txt").write_text("0 0.5 0.5 0.5 0.25\n")
    return root


def test_yolo_labelled_png_slices_are_subsampled_and_kept_as_exported(tmp_path) -> None:
    src = _write_yolo_slices(tmp_path / "src")
    report = build_heart_dataset(src, tmp_path / "out", HeartDatasetOptions(slice_step=2, folds=2))
    rows = read_manifest(report.out / "manifest.csv")
    assert report.source_kind == "yolo" and report.patients == 2
    assert sorted(r.image for r in rows) == [f"images/{p}_z{i:03d}.png" for p in ("P1", "P2") for i in (0, 2)]
    for row in rows:
        image = cv2.imread(str(report.out / row.image), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(image, cv2.imread(str(src / row.image), cv2.IMREAD_UNCHANGED))
        (label,) = read_yolo_labels(report.out / row.label, 1)
        assert label.to_xyxy(48, 32) == pytest.approx((12, 12, 36, 20))
    assert any("grey values, not HU" in note for note in report.notes)


def test_bad_sources_are_refused_with_the_reason(tmp_path, phantom) -> None:
    with pytest.raises(DatasetError, match="not a heart-box source"):
        build_heart_dataset(tmp_path, tmp_path / "out")
    src = _write_yolo_slices(tmp_path / "one", patients=("P1",))
    with pytest.raises(DatasetError, match="needs at least 2"):
        build_heart_dataset(src, tmp_path / "out1")
    src = _write_yolo_slices(tmp_path / "badlabel")
    (src / "labels" / "P1_z000.txt").write_text("0 0.5 0.5 nan\n")
    with pytest.raises(LabelError, match="P1_z000.txt"):
        build_heart_dataset(src, tmp_path / "out2")
    src = _write_yolo_slices(tmp_path / "wide")
    cv2.imwrite(str(src / "images" / "P2_z000.png"), np.full((32, 48), 4000, dtype=np.uint16))
    with pytest.raises(ScanReadError, match="8-bit export"):
        build_heart_dataset(src, tmp_path / "out3")
    with pytest.raises(OutputError, match="inside the input folder"):
        build_heart_dataset(phantom, phantom / "heart")


def test_sidecar_that_does_not_match_its_scan_is_refused(phantom, tmp_path) -> None:
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(phantom, copy)
    sidecar = copy / "phantom" / "TRV2P1.json"
    record = json.loads(sidecar.read_text())
    record["heart_boxes_xyxy"] = record["heart_boxes_xyxy"][:-2]
    sidecar.write_text(json.dumps(record))
    with pytest.raises(LabelError, match="heart boxes for a scan of"):
        build_heart_dataset(copy, tmp_path / "out")
