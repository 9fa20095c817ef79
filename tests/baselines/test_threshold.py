"""130 HU threshold baseline: finds every phantom lesion and the distractors inside the ROI, nothing outside it."""

from __future__ import annotations

import numpy as np
import pytest

from tests.baselines.phantom_data import phantom_case
from tqgd.baselines.dataset import load_split
from tqgd.baselines.mask_eval import MaskToBoxOptions, mask_boxes
from tqgd.baselines.roi import parse_roi
from tqgd.baselines.threshold import ThresholdOptions, run_threshold_baseline, threshold_maps
from tqgd.errors import ConfigError, DatasetError


@pytest.fixture(scope="module")
def cases():
    memo = {}

    def get(patient: str):
        if patient not in memo:
            memo[patient] = phantom_case(patient)
        return memo[patient]

    return get


def _crop(array: np.ndarray, image) -> np.ndarray:
    row = image.row
    return array[row.slice_index, row.crop_y0:row.crop_y0 + image.height, row.crop_x0:row.crop_x0 + image.width]


@pytest.mark.parametrize(("dataset", "roi"), [("plain", "none"), ("plain", "auto"), ("cropped", "auto")])
def test_lesions_and_distractors_in_the_roi_are_found(phantom_sets, cases, dataset, roi) -> None:
    split = load_split(phantom_sets[dataset] / "fold0.yaml", "train")
    kinds_found = set()
    for image, mask, confidence in threshold_maps(split, ThresholdOptions(roi=roi)):
        case = cases(image.row.patient)
        lesions, distractors = _crop(case.labels, image) > 0, _crop(case.distractor_ids, image)
        box = case.heart_boxes[image.row.slice_index]
        roi_mask = np.ones_like(mask)
        if (dataset, roi) == ("plain", "auto"):
            roi_mask[:] = False
            roi_mask[box[1]:box[3], box[0]:box[2]] = True
        assert mask[lesions].all()  # every lesion voxel (all above 130 HU) is found
        assert mask[(distractors > 0) & roi_mask].all()  # and every distractor voxel inside the ROI
        assert not mask[~roi_mask].any()
        kinds_found |= {case.distractors[i - 1].kind for i in np.unique(distractors[mask & (distractors > 0)])}
        boxes = {tuple(b[:4]) for b in mask_boxes(mask, confidence, MaskToBoxOptions(confidence="max"))}
        assert {tuple(b[:4]) for b in split.gt[image.key]} <= boxes  # each reference box comes out exactly
        assert confidence[mask].min() > 0 and confidence.max() <= 1
    if roi == "none":
        assert {"bone", "aortic_wall"} <= kinds_found


def test_heart_roi_removes_false_positives_and_keeps_recall(phantom_sets) -> None:
    data = phantom_sets["plain"] / "fold0.yaml"
    whole = run_threshold_baseline(data, "val", ThresholdOptions(roi="none"))
    heart = run_threshold_baseline(data, "val", ThresholdOptions(roi="auto"))
    assert whole.masks["instance_sensitivity"] == heart.masks["instance_sensitivity"] == heart.boxes.recall == 1.0
    assert heart.boxes.n_pred < whole.boxes.n_pred / 3 and heart.boxes.map50 > whole.boxes.map50
    assert heart.masks["instance_sensitivity"] == 1.0 and heart.settings["roi"] == "phantom heart boxes"


def test_box_roi_lung_removal_and_saved_masks(phantom_sets, tmp_path) -> None:
    data = phantom_sets["plain"] / "fold0.yaml"
    nothing = run_threshold_baseline(data, "val", ThresholdOptions(roi="0,0,2,2"))
    assert nothing.boxes.n_pred == 0 and nothing.boxes.recall == 0.0
    no_lungs = run_threshold_baseline(data, "val", ThresholdOptions(roi="none", remove_lungs=True),
                                      masks_out=tmp_path / "masks")
    assert no_lungs.masks["instance_sensitivity"] == 1.0
    split = load_split(data, "val")
    assert sorted(p.stem for p in (tmp_path / "masks").iterdir()) == sorted(i.stem for i in split.images)


def test_bad_roi_and_missing_sources(phantom_sets, tmp_path) -> None:
    with pytest.raises(ConfigError, match="x0 < x1"):
        parse_roi("10,10,5,20")
    with pytest.raises(ConfigError, match="ROI must be auto, none or x0,y0,x1,y1"):
        parse_roi("heart")
    import shutil

    copy = tmp_path / "ds"
    shutil.copytree(phantom_sets["plain"], copy)
    (copy / "fold0.yaml").write_text((copy / "fold0.yaml").read_text().replace(str(phantom_sets["plain"]), str(copy)))
    convert = (copy / "convert.json").read_text().replace(str(phantom_sets["phantom"]), str(tmp_path / "gone"))
    (copy / "convert.json").write_text(convert)
    with pytest.raises(DatasetError, match="source scan of image .* is missing"):
        run_threshold_baseline(copy / "fold0.yaml", "val")


def test_grey_value_sources_are_refused(tmp_path) -> None:
    import cv2

    from tqgd.data.convert.masks import MaskConvertOptions, convert_masks

    (tmp_path / "img").mkdir(), (tmp_path / "seg").mkdir()
    cv2.imwrite(str(tmp_path / "img" / "a.png"), np.full((16, 16), 200, np.uint8))
    cv2.imwrite(str(tmp_path / "seg" / "a.png"), np.eye(16, dtype=np.uint8))
    out = convert_masks(tmp_path / "img", tmp_path / "seg", tmp_path / "ds", MaskConvertOptions()).out
    with pytest.raises(DatasetError, match="grey values, not Hounsfield units"):
        run_threshold_baseline(out / "dataset.yaml", "val", ThresholdOptions(roi="none"))
