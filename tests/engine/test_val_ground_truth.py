"""Ground truth and predictions as ``tqgd val`` reads them: YOLO labels to pixel corners, ultralytics' image ids."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from tqgd.engine.val import ground_truth, image_key, read_predictions
from tqgd.errors import DatasetError, LabelError


def _image(path: Path, width: int, height: int) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.zeros((height, width), dtype=np.uint8))
    return str(path)


def test_labels_become_pixel_corners_of_the_original_image(tmp_path: Path) -> None:
    image = _image(tmp_path / "images" / "P1_z004.png", width=200, height=100)
    (tmp_path / "labels").mkdir()
    # a 3 x 5 px box at x 10..13, y 20..25, written with the 6 decimals the converter uses
    line = f"0 {11.5 / 200:.6f} {22.5 / 100:.6f} {3 / 200:.6f} {5 / 100:.6f}\n"
    (tmp_path / "labels" / "P1_z004.txt").write_text(line)
    empty = _image(tmp_path / "images" / "7.png", width=64, height=64)  # no label file: an image without calcium
    gt = ground_truth([image, empty], num_classes=1)
    assert list(gt) == ["P1_z004", 7]  # ultralytics' predictions.json ids: the stem, or int(stem) when numeric
    np.testing.assert_array_equal(gt["P1_z004"], [[10, 20, 13, 25, 0]])  # exact after rounding to 0.01 px
    assert gt[7].shape == (0, 5)


def test_duplicate_ids_and_bad_labels_are_refused(tmp_path: Path) -> None:
    first = _image(tmp_path / "a" / "images" / "007.png", 32, 32)
    second = _image(tmp_path / "b" / "images" / "7.png", 32, 32)
    with pytest.raises(DatasetError, match=r"7.png: two images of the split share the id 7"):
        ground_truth([first, second], num_classes=1)
    (tmp_path / "a" / "labels").mkdir()
    (tmp_path / "a" / "labels" / "007.txt").write_text("3 0.5 0.5 0.1 0.1\n")
    with pytest.raises(LabelError, match="007.txt"):
        ground_truth([first], num_classes=1)


def test_predictions_json_to_corner_rows(tmp_path: Path) -> None:
    path = tmp_path / "predictions.json"
    path.write_text(json.dumps([{"image_id": "P1_z004", "category_id": 1, "bbox": [10, 20, 3, 5], "score": 0.5},
                                {"image_id": 7, "category_id": 2, "bbox": [0, 0, 1, 2], "score": 0.25}]))
    predictions = read_predictions(path)
    np.testing.assert_array_equal(predictions["P1_z004"], [[10, 20, 13, 25, 0.5, 0]])
    np.testing.assert_array_equal(predictions[7], [[0, 0, 1, 2, 0.25, 1]])
    assert read_predictions(tmp_path / "absent.json") == {}  # ultralytics writes none without detections
    assert image_key("a/b/0012.png") == 12 and image_key("x/P1.png") == "P1"
