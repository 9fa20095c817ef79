"""YOLO labels (write + validating read), COCO JSON (pycocotools) and Pascal VOC XML (ElementTree)."""

from __future__ import annotations

import contextlib
import io
import xml.etree.ElementTree as ET

import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from tqgd.data.boxes import Box
from tqgd.data.formats.coco import CocoDataset, write_coco
from tqgd.data.formats.voc import read_voc, voc_xml
from tqgd.data.formats.yolo import format_yolo_labels, parse_yolo_labels, read_yolo_labels
from tqgd.errors import LabelError

BOXES = [Box(0, 0, 1, 1, class_id=0), Box(10, 20, 14, 23, class_id=2), Box(60, 40, 64, 48, class_id=1)]
NAMES = {0: "LAD", 1: "LCX", 2: "RCA"}


def test_yolo_round_trip_recovers_pixel_boxes(tmp_path):
    path = tmp_path / "a.txt"
    path.write_text(format_yolo_labels(BOXES, width=64, height=48))
    labels = read_yolo_labels(path, num_classes=3)
    assert [lab.class_id for lab in labels] == [0, 2, 1]
    for label, box in zip(labels, BOXES, strict=True):
        assert label.to_xyxy(64, 48) == pytest.approx(box.xyxy, abs=1e-3)
    assert labels[0].w == pytest.approx(1 / 64, abs=1e-6) and labels[0].h == pytest.approx(1 / 48, abs=1e-6)


def test_empty_label_file_means_background(tmp_path):
    path = tmp_path / "bg.txt"
    path.write_text(format_yolo_labels([], 64, 64))
    assert path.read_text() == "" and read_yolo_labels(path, 1) == []


@pytest.mark.parametrize("line, message", [
    ("0 0.5 0.5 0.1", r"line 2: expected 5 columns"),
    ("0 0.5 0.5 0.1 0.1 0.9", r"line 2: expected 5 columns"),
    ("0 0.5 abc 0.1 0.1", r"line 2: expected numbers"),
    ("3 0.5 0.5 0.1 0.1", r"line 2: class id 3 is not one of 0\.\.2"),
    ("-1 0.5 0.5 0.1 0.1", r"line 2: class id -1"),
    ("1.5 0.5 0.5 0.1 0.1", r"line 2: class id 1.5"),
    ("0 12 30 5 5", r"line 2: cx, cy, w, h must be normalised"),
    ("0 0.5 0.5 0 0.1", r"line 2: cx, cy, w, h must be normalised"),
    ("0 0.98 0.5 0.1 0.1", r"line 2: box .* extends past the image edge"),
    ("0 nan 0.5 0.1 0.1", r"line 2: values must be finite"),
])
def test_yolo_reader_names_file_and_line_of_bad_labels(tmp_path, line, message):
    path = tmp_path / "bad.txt"
    path.write_text("0 0.5 0.5 0.1 0.1\n" + line + "\n")
    with pytest.raises(LabelError, match=rf"bad\.txt: {message}"):
        read_yolo_labels(path, num_classes=3)


def test_yolo_reader_rejects_binary_files(tmp_path):
    path = tmp_path / "x.txt"
    path.write_bytes(b"\xff\xfe\x00\x81")
    with pytest.raises(LabelError, match="not text"):
        read_yolo_labels(path, 1)


def test_yolo_parse_skips_blank_lines():
    assert len(parse_yolo_labels("\n0 0.5 0.5 0.2 0.2\n\n", 1)) == 1


def _coco_file(tmp_path):
    coco = CocoDataset(NAMES)
    coco.add_image(1, "images/a.png", 64, 48, BOXES[:2], patient="P1", slice_index=3)
    coco.add_image(2, "images/b.png", 64, 48, BOXES[2:], patient="P2", slice_index=0)
    coco.add_image(3, "images/c.png", 64, 48, [], patient="P2", slice_index=1)
    return coco, write_coco(tmp_path / "all.json", coco.subset())


def test_coco_loads_in_pycocotools_with_ids_and_boxes(tmp_path):
    _, path = _coco_file(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
    assert sorted(gt.getImgIds()) == [1, 2, 3]
    assert [c["name"] for c in gt.loadCats(gt.getCatIds())] == ["LAD", "LCX", "RCA"]
    anns = gt.loadAnns(gt.getAnnIds(imgIds=[1]))
    assert [(a["bbox"], a["category_id"]) for a in anns] == [([0.0, 0.0, 1.0, 1.0], 1), ([10.0, 20.0, 4.0, 3.0], 3)]
    assert gt.getAnnIds(imgIds=[3]) == []


def test_coco_ground_truth_scored_against_itself_gives_ap_1(tmp_path):
    _, path = _coco_file(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(path))
        detections = [{"image_id": a["image_id"], "category_id": a["category_id"], "bbox": a["bbox"], "score": 1.0}
                      for a in gt.loadAnns(gt.getAnnIds())]
        evaluator = COCOeval(gt, gt.loadRes(detections), "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    assert evaluator.stats[0] == pytest.approx(1.0)  # AP@[.5:.95]
    assert evaluator.stats[1] == pytest.approx(1.0)  # AP@.5


def test_coco_subset_keeps_global_ids(tmp_path):
    coco, _ = _coco_file(tmp_path)
    subset = coco.subset([2])
    assert [i["id"] for i in subset["images"]] == [2]
    assert [a["id"] for a in subset["annotations"]] == [3] and subset["annotations"][0]["image_id"] == 2


def test_voc_xml_parses_with_one_based_inclusive_boxes(tmp_path):
    path = tmp_path / "a.xml"
    path.write_text(voc_xml("a.png", 64, 48, 1, BOXES, NAMES))
    root = ET.parse(path).getroot()
    assert root.findtext("filename") == "a.png" and root.findtext("size/width") == "64"
    objects = [(o.findtext("name"), *(int(o.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax")))
               for o in root.iter("object")]
    assert objects == [("LAD", 1, 1, 1, 1), ("RCA", 11, 21, 14, 23), ("LCX", 61, 41, 64, 48)]
    size, boxes = read_voc(path, NAMES)
    assert size == (64, 48) and [(b.xyxy, b.class_id) for b in boxes] == [(b.xyxy, b.class_id) for b in BOXES]


def test_voc_reader_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.xml"
    path.write_text(voc_xml("a.png", 64, 48, 1, BOXES, NAMES))
    with pytest.raises(LabelError, match=r"bad\.xml: object 1: class 'LAD' is not one of"):
        read_voc(path, {0: "calcium"})
    path.write_text("<annotation><size>")
    with pytest.raises(LabelError, match=r"bad\.xml: not valid XML"):
        read_voc(path, NAMES)
