"""End-to-end OrCaScore conversion on a synthetic MetaImage folder (3 patients x 8 slices x 96 x 96)."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import os
import shutil
import stat
from pathlib import Path

import cv2
import numpy as np
import pytest
import SimpleITK as sitk
import yaml
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
from scipy import ndimage

from tests.data.orca_synthetic import write_orcascore_folder
from tqgd.data.convert.manifest import COLUMNS, read_manifest
from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
from tqgd.data.formats.voc import read_voc
from tqgd.data.formats.yolo import read_yolo_labels
from tqgd.data.orcascore import image_path, reference_path
from tqgd.data.windowing import apply_window
from tqgd.errors import ConfigError, LabelError, OutputError

OPTIONS = OrcaConvertOptions(folds=3)


def tree_digest(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def src(tmp_path_factory) -> Path:
    return write_orcascore_folder(tmp_path_factory.mktemp("orca") / "src")


@pytest.fixture(scope="module")
def converted(src, tmp_path_factory):
    out = tmp_path_factory.mktemp("converted") / "out"
    return convert_orcascore(src, out, OPTIONS), out


def sitk_array(path: Path) -> np.ndarray:
    return sitk.GetArrayFromImage(sitk.ReadImage(str(path)))


def expected_slice_boxes(labels: np.ndarray) -> dict[int, set[tuple[int, int, int, int]]]:
    """Per slice, (x0, y0, x1, y1) of each 4-connected piece of calcium, via scipy (single class)."""
    out = {}
    for z in range(labels.shape[0]):
        pieces, _ = ndimage.label(labels[z] > 0)
        boxes = {(sl[1].start, sl[0].start, sl[1].stop, sl[0].stop) for sl in ndimage.find_objects(pieces)}
        if boxes:
            out[z] = boxes
    return out


def test_manifest_columns_and_every_image_maps_back_to_its_source_slice(src, converted):
    report, out = converted
    with open(out / "manifest.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert header[:5] == ["image", "label", "voc", "patient", "slice_index"]
    assert {"crop_x0", "crop_y0", "coco_image_id"} <= set(header) and tuple(header) == COLUMNS
    rows = read_manifest(out / "manifest.csv")
    assert len(rows) == report.images == len(list((out / "images").iterdir()))
    assert [r.coco_image_id for r in rows] == list(range(1, len(rows) + 1))
    for row in rows:
        hu = sitk_array(image_path(src, row.patient))[row.slice_index]
        crop = hu[row.crop_y0:row.crop_y0 + row.height, row.crop_x0:row.crop_x0 + row.width]
        png = cv2.imread(str(out / row.image), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(png, apply_window(crop, "paper"))
        assert (row.crop_x0, row.crop_y0) == (0, 0)


def test_labels_are_the_scipy_components_of_each_calcium_slice(src, converted):
    _, out = converted
    rows = read_manifest(out / "manifest.csv")
    for patient in sorted({r.patient for r in rows}):
        expected = expected_slice_boxes(sitk_array(reference_path(src, patient)))
        mine = {r.slice_index: r for r in rows if r.patient == patient}
        assert sorted(mine) == sorted(expected)  # negatives=0: exactly the calcium slices
        for z, row in mine.items():
            labels = read_yolo_labels(out / row.label, num_classes=1)
            got = {tuple(round(v) for v in lab.to_xyxy(row.width, row.height)) for lab in labels}
            assert got == expected[z]
            _, voc_boxes = read_voc(out / row.voc, {0: "calcium"})
            assert {b.xyxy for b in voc_boxes} == expected[z]


def test_coco_per_split_loads_and_scores_ap_1_against_itself(converted):
    _, out = converted
    rows = read_manifest(out / "manifest.csv")
    for name in ["all", "fold0_train", "fold0_val", "fold2_val"]:
        with contextlib.redirect_stdout(io.StringIO()):
            gt = COCO(str(out / "annotations" / f"{name}.json"))
            dets = [{**{k: a[k] for k in ("image_id", "category_id", "bbox")}, "score": 1.0}
                    for a in gt.loadAnns(gt.getAnnIds())]
            evaluator = COCOeval(gt, gt.loadRes(dets), "bbox")
            evaluator.evaluate()
            evaluator.accumulate()
            evaluator.summarize()
        assert evaluator.stats[0] == pytest.approx(1.0)
        for image in gt.loadImgs(gt.getImgIds()):
            (row,) = [r for r in rows if r.coco_image_id == image["id"]]
            assert image["file_name"] == row.image and len(gt.getAnnIds(imgIds=[image["id"]])) == row.n_boxes


def test_folds_group_patients_and_yamls_point_at_them(converted):
    _, out = converted
    rows = read_manifest(out / "manifest.csv")
    patient_of = {r.image: r.patient for r in rows}
    validated = []
    for k in range(3):
        data = yaml.safe_load((out / f"fold{k}.yaml").read_text())
        assert data["path"] == str(out.resolve()) and data["names"] == {0: "calcium"}
        lists = {split: [line.removeprefix("./../") for line in (out / data[split]).read_text().splitlines()]
                 for split in ("train", "val")}
        train_patients = {patient_of[i] for i in lists["train"]}
        val_patients = {patient_of[i] for i in lists["val"]}
        assert not train_patients & val_patients
        assert sorted(lists["train"] + lists["val"]) == sorted(patient_of)
        assert all(r.val_fold == k for r in rows if r.patient in val_patients)
        validated += sorted(val_patients)
    assert sorted(validated) == sorted({r.patient for r in rows})
    orca, fold0 = (yaml.safe_load((out / n).read_text()) for n in ("orcascore.yaml", "fold0.yaml"))
    assert orca == fold0


def test_ultralytics_reads_the_fold_lists_and_labels(converted):
    from ultralytics.data.dataset import YOLODataset
    from ultralytics.data.utils import check_det_dataset

    import tqgd  # noqa: F401  (offline set-up before ultralytics)

    _, out = converted
    scratch = out.parent / "moved"  # ultralytics writes labels.cache; keep the shared output pristine
    shutil.copytree(out, scratch)
    moved = yaml.safe_load((scratch / "fold0.yaml").read_text())
    (scratch / "fold0.yaml").write_text(yaml.safe_dump({**moved, "path": str(scratch)}))  # lists are relative
    data = check_det_dataset(str(scratch / "fold0.yaml"))
    dataset = YOLODataset(img_path=data["val"], data=data, augment=False, imgsz=96, task="detect")
    rows = [r for r in read_manifest(out / "manifest.csv") if r.val_fold == 0]
    assert len(dataset.labels) == len(rows)
    assert sum(len(lab["bboxes"]) for lab in dataset.labels) == sum(r.n_boxes for r in rows)


def test_convert_json_records_the_options(converted, src):
    import json

    _, out = converted
    options = json.loads((out / "convert.json").read_text())
    assert options["window"] == {"name": "paper", "channels_hu": [[-1200.0, 1800.0]]}
    assert (options["classes"], options["negatives"], options["folds"], options["seed"]) == ("single", "0", 3, 0)
    assert options["source"] == str(src.resolve())


def test_read_only_source_converts_and_stays_unchanged(tmp_path):
    src = write_orcascore_folder(tmp_path / "src", patients=3, slices=4, size=64)
    before = tree_digest(src)
    paths = sorted(src.rglob("*"), reverse=True)
    for p in paths:
        p.chmod(p.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    src.chmod(src.stat().st_mode & ~stat.S_IWUSR)
    try:
        report = convert_orcascore(src, tmp_path / "out", OPTIONS)
    finally:
        for p in [src, *paths]:
            p.chmod(p.stat().st_mode | stat.S_IWUSR)
    assert report.images > 0 and tree_digest(src) == before


def test_two_runs_write_identical_bytes(src, converted, tmp_path):
    _, first = converted
    second = tmp_path / "second"
    convert_orcascore(src, second, OPTIONS)
    a, b = tree_digest(first), tree_digest(second)
    assert a.keys() == b.keys()
    # only the dataset YAMLs differ, by their absolute path: line
    assert {k for k in a if a[k] != b[k]} == {"fold0.yaml", "fold1.yaml", "fold2.yaml", "orcascore.yaml"}
    for name in ("fold1.yaml", "orcascore.yaml"):
        texts = [(folder / name).read_text().replace(str(folder), "OUT") for folder in (first, second)]
        assert texts[0] == texts[1]


def test_killed_run_rerun_matches_an_uninterrupted_run(src, tmp_path):
    out = tmp_path / "out"
    convert_orcascore(src, out, OPTIONS)
    reference = tree_digest(out)
    shutil.rmtree(out)
    seen = []

    def die_midway(case, done, total):
        seen.append(done)
        if len(seen) == 9:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        convert_orcascore(src, out, OrcaConvertOptions(folds=3, negatives="all"), progress=die_midway)
    assert not (out / "convert.json").exists() and (out / "images").is_dir()
    (out / "images" / ".TRV1P2_z003.png.k1ll3d.png").write_bytes(b"half a png")  # what SIGKILL leaves behind
    convert_orcascore(src, out, OPTIONS)
    assert tree_digest(out) == reference


@pytest.mark.parametrize("where", ["out_in_src", "src_in_out", "foreign"])
def test_unsafe_output_folders_are_refused(src, tmp_path, where):
    if where == "out_in_src":
        out, message = src / "dataset", "output folder lies inside the input folder"
    elif where == "src_in_out":
        out, message = src.parent, "input folder lies inside the output folder"
    else:
        out, message = tmp_path / "mine", "not empty and has no .tqgd-dataset marker"
        out.mkdir()
        (out / "thesis.docx").write_text("precious")
    with pytest.raises(OutputError, match=message):
        convert_orcascore(src, out, OPTIONS)
    assert not (src / "dataset").exists()


def test_crop_hook_cuts_images_clips_boxes_and_records_offsets(src, tmp_path):
    def heart(volume):
        return 20, 10, 90, 80

    report = convert_orcascore(src, tmp_path / "out", OrcaConvertOptions(folds=3, negatives="all"), crop=heart)
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    assert {(r.crop_x0, r.crop_y0, r.width, r.height) for r in rows} == {(20, 10, 70, 70)}
    for row in rows:
        labels = sitk_array(reference_path(src, row.patient))[row.slice_index, 10:80, 20:90]
        expected = expected_slice_boxes(labels[None]).get(0, set())
        labels_file = tmp_path / "out" / row.label
        got = {tuple(round(v) for v in lab.to_xyxy(70, 70)) for lab in read_yolo_labels(labels_file, 1)}
        assert got == expected
        hu = sitk_array(image_path(src, row.patient))[row.slice_index, 10:80, 20:90]
        np.testing.assert_array_equal(cv2.imread(str(tmp_path / "out" / row.image), cv2.IMREAD_UNCHANGED),
                                      apply_window(hu))
    assert report.boxes_outside_crop > 0  # the synthetic border lesions lie outside this ROI


def test_crop_hook_outside_the_slice_is_rejected(src, tmp_path):
    with pytest.raises(ConfigError, match=r"case TRV1P1: crop ROI \(0, 0, 500, 50\) is not inside the 96 x 96"):
        convert_orcascore(src, tmp_path / "out", OPTIONS, crop=lambda volume: (0, 0, 500, 50))


def test_artery_classes_follow_label_values(src, tmp_path):
    convert_orcascore(src, tmp_path / "out", OrcaConvertOptions(folds=3, classes="artery"))
    assert yaml.safe_load((tmp_path / "out" / "fold1.yaml").read_text())["names"] == {
        0: "LAD", 1: "LCX", 2: "RCA", 3: "undetermined"}  # the arteries keep the ids they had before label 4
    for row in read_manifest(tmp_path / "out" / "manifest.csv"):
        labels = sitk_array(reference_path(src, row.patient))[row.slice_index]
        for lab in read_yolo_labels(tmp_path / "out" / row.label, 4):
            x0, y0, x1, y1 = (round(v) for v in lab.to_xyxy(row.width, row.height))
            values = set(np.unique(labels[y0:y1, x0:x1])) - {0}
            assert lab.class_id + 1 in values


def _with_label_4(tmp_path: Path) -> Path:
    """A 3-patient folder whose TRV1P2 also holds an undetermined-artery lesion (label 4): slice 1, rows 5-7, cols 6-9,
    drawn where the synthetic case has no other calcium (its own lesions lie at rows >= 8 or cols >= 8 elsewhere)."""
    src = write_orcascore_folder(tmp_path / "src", patients=3, slices=4, size=32)
    labels = sitk_array(reference_path(src, "TRV1P2"))
    assert not labels[1, 4:9, 5:11].any()  # the spot and its border are free, so the box is this lesion alone
    labels[1, 5:8, 6:10] = 4
    image = sitk.ReadImage(str(reference_path(src, "TRV1P2")))
    relabelled = sitk.GetImageFromArray(labels)
    relabelled.CopyInformation(image)
    sitk.WriteImage(relabelled, str(reference_path(src, "TRV1P2")), useCompression=True)
    return src


@pytest.mark.parametrize(("classes", "class_id", "names"), [
    ("single", 0, {0: "calcium"}),
    ("artery", 3, {0: "LAD", 1: "LCX", 2: "RCA", 3: "undetermined"}),
])
def test_label_4_is_undetermined_in_artery_mode_and_calcium_in_single_mode(tmp_path, classes, class_id, names):
    src = _with_label_4(tmp_path)
    out = tmp_path / "out"
    convert_orcascore(src, out, OrcaConvertOptions(folds=3, classes=classes))
    assert yaml.safe_load((out / "orcascore.yaml").read_text())["names"] == names
    row = next(r for r in read_manifest(out / "manifest.csv") if (r.patient, r.slice_index) == ("TRV1P2", 1))
    boxes = {(lab.class_id, *(round(v) for v in lab.to_xyxy(row.width, row.height)))
             for lab in read_yolo_labels(out / row.label, len(names))}
    assert (class_id, 6, 5, 10, 8) in boxes  # x0 6, y0 5, x1 10, y1 8 in pixel edges
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(out / "annotations" / "all.json"))
    category = class_id + 1  # COCO category ids count from 1
    assert coco.loadCats(category)[0]["name"] == names[class_id]
    anns = coco.loadAnns(coco.getAnnIds(imgIds=[row.coco_image_id], catIds=[category]))
    assert [6, 5, 4, 3] in [a["bbox"] for a in anns]  # x, y, width, height


@pytest.mark.parametrize("classes", ["single", "artery"])
def test_label_values_beyond_4_are_refused_naming_the_file_and_value(tmp_path, classes):
    src = _with_label_4(tmp_path)
    labels = sitk_array(reference_path(src, "TRV1P3"))
    labels[2, 1, 1] = 5
    sitk.WriteImage(sitk.GetImageFromArray(labels), str(reference_path(src, "TRV1P3")), useCompression=True)
    with pytest.raises(LabelError, match=r"TRV1P3R\.mhd: mask holds label value\(s\) \[5\] but only \[1, 2, 3, 4\]"):
        convert_orcascore(src, tmp_path / "out", OrcaConvertOptions(folds=3, classes=classes))


@pytest.mark.parametrize("negatives", ["0.5", "all"])
def test_negative_slices_option(src, tmp_path, negatives):
    report = convert_orcascore(src, tmp_path / "out", OrcaConvertOptions(folds=3, negatives=negatives))
    rows = read_manifest(tmp_path / "out" / "manifest.csv")
    positives = sum(1 for r in rows if r.n_boxes)
    if negatives == "all":
        assert len(rows) == 3 * 8
    else:
        per_patient = {p: sum(1 for r in rows if r.patient == p and r.n_boxes) for p in {r.patient for r in rows}}
        assert len(rows) - positives == sum(int(np.floor(0.5 * n + 0.5)) for n in per_patient.values())
    assert report.images == len(rows) and report.positive_images == positives
    assert all((tmp_path / "out" / r.label).read_text() == "" for r in rows if r.n_boxes == 0)


def test_rgb_window_writes_three_channel_pngs_in_rgb_order(src, tmp_path):
    convert_orcascore(src, tmp_path / "out", OrcaConvertOptions(folds=3, window="rgb"))
    row = read_manifest(tmp_path / "out" / "manifest.csv")[0]
    bgr = cv2.imread(str(tmp_path / "out" / row.image), cv2.IMREAD_UNCHANGED)
    hu = sitk_array(image_path(src, row.patient))[row.slice_index]
    np.testing.assert_array_equal(bgr[..., ::-1], apply_window(hu, "rgb"))


def test_label_volume_problems_name_the_reference_file(tmp_path):
    src = write_orcascore_folder(tmp_path / "src", patients=3, slices=4, size=32)
    labels = sitk_array(reference_path(src, "TRV1P2"))
    labels[0, 0, 0] = 7
    sitk.WriteImage(sitk.GetImageFromArray(labels), str(reference_path(src, "TRV1P2")), useCompression=True)
    with pytest.raises(LabelError, match=r"TRV1P2R\.mhd: mask holds label value\(s\) \[7\]"):
        convert_orcascore(src, tmp_path / "out", OPTIONS)
    sitk.WriteImage(sitk.GetImageFromArray(labels[:3]), str(reference_path(src, "TRV1P2")), useCompression=True)
    with pytest.raises(LabelError, match=r"TRV1P2R\.mhd: label volume has shape \(3, 32, 32\)"):
        convert_orcascore(src, tmp_path / "out2", OPTIONS)


@pytest.mark.parametrize("options, message", [
    (OrcaConvertOptions(folds=5), r"--folds must be between 2 and the number of patients \(3\)"),
    (OrcaConvertOptions(folds=3, connectivity=8), "connectivity 8 is not defined for 3D masks"),
    (OrcaConvertOptions(folds=3, classes="vessel"), "classes must be one of"),
])
def test_bad_options_are_config_errors_before_anything_is_written(src, tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        convert_orcascore(src, tmp_path / "out", options)
    assert not (tmp_path / "out").exists()


def test_output_never_lands_in_src_even_via_relative_paths(src, tmp_path, monkeypatch):
    monkeypatch.chdir(src)
    with pytest.raises(OutputError):
        convert_orcascore(".", "out", OPTIONS)
    assert sorted(os.listdir(src)) == ["Images", "Reference standard"]


@pytest.mark.parametrize("negatives", ["-1", "lots", "nan"])
def test_bad_negatives_are_config_errors(src, tmp_path, negatives):
    with pytest.raises(ConfigError, match="negatives must be 'all' or a ratio >= 0"):
        convert_orcascore(src, tmp_path / "out", OrcaConvertOptions(folds=3, negatives=negatives))
