"""Masks / probability maps -> boxes -> evaluate_boxes, checked against boxes computed independently with scipy."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import SimpleITK as sitk
from scipy import ndimage

from tqgd.baselines.dataset import load_split
from tqgd.baselines.mask_eval import MaskToBoxOptions, evaluate_box_predictions, evaluate_mask_predictions
from tqgd.data.orcascore import reference_path
from tqgd.engine.coco_eval import evaluate_boxes
from tqgd.errors import ConfigError, DatasetError, LabelError


def _scipy_boxes(mask: np.ndarray, scores: np.ndarray | None, reduce=ndimage.mean) -> np.ndarray:
    """(M, 5) boxes of the 4-connected components of ``mask`` with the mean score (1.0 without scores), via scipy."""
    labels, count = ndimage.label(mask)
    rows = []
    for index, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1):
        score = 1.0 if scores is None else float(reduce(scores, labels, index))
        rows.append([xs.start, ys.start, xs.stop, ys.stop, score])
    return np.array(rows, dtype=np.float64).reshape(-1, 5)


def _reference(dataset: Path, stem: str) -> np.ndarray:
    return cv2.imread(str(dataset / "masks" / f"{stem}.png"), cv2.IMREAD_UNCHANGED) > 0


def _noisy_probability(reference: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible probability map: the reference (some lesions dilated, some missed) plus random false blobs."""
    labels, count = ndimage.label(reference)
    probability = rng.uniform(0.0, 0.3, reference.shape).astype(np.float32)
    for index in range(1, count + 1):
        lesion = labels == index
        if rng.random() < 0.2:
            continue  # missed
        if rng.random() < 0.5:
            lesion = ndimage.binary_dilation(lesion)
        probability[lesion] = rng.uniform(0.5, 1.0, int(lesion.sum()))
    for _ in range(int(rng.integers(0, 3))):
        y, x = (int(v) for v in rng.integers(0, np.array(reference.shape) - 3))
        probability[y:y + 3, x:x + 2] = rng.uniform(0.5, 0.9)
    return probability


def test_box_metrics_equal_evaluate_boxes_on_scipy_boxes(phantom_sets, tmp_path) -> None:
    dataset = phantom_sets["cropped"]
    split = load_split(dataset / "fold0.yaml", "val")
    rng = np.random.default_rng(3)
    gt, preds = {}, {}
    for image in split.images:
        reference = _reference(dataset, image.stem)
        probability = _noisy_probability(reference, rng)
        sitk.WriteImage(sitk.GetImageFromArray(probability), str(tmp_path / f"{image.stem}.mha"))
        gt[image.key] = _scipy_boxes(reference, None)[:, :4]
        preds[image.key] = _scipy_boxes(probability >= 0.5, probability)
    result = evaluate_mask_predictions(tmp_path, dataset / "fold0.yaml", "val")
    expected = evaluate_boxes(gt, preds)
    assert result.boxes.n_pred == expected.n_pred and result.boxes.n_gt == expected.n_gt > 0
    for key in ("precision", "recall", "f1", "map50", "map50_95"):
        assert getattr(result.boxes, key) == pytest.approx(getattr(expected, key), abs=1e-9), key
    assert result.boxes.conf == pytest.approx(expected.conf, abs=1e-6)  # float32 maps: means agree to ~1e-7
    assert 0 < result.boxes.map50 < 1  # the perturbations matter


def test_max_confidence_and_8_connectivity(phantom_sets, tmp_path) -> None:
    dataset = phantom_sets["cropped"]
    split = load_split(dataset / "fold0.yaml", "val")
    rng = np.random.default_rng(5)
    gt, preds = {}, {}
    for image in split.images:
        reference = _reference(dataset, image.stem)
        probability = _noisy_probability(reference, rng)
        sitk.WriteImage(sitk.GetImageFromArray(probability), str(tmp_path / f"{image.stem}.nii.gz"))
        gt[image.key] = _scipy_boxes(reference, None)[:, :4]
        labels, _ = ndimage.label(probability >= 0.5, structure=np.ones((3, 3)))
        rows = [[xs.start, ys.start, xs.stop, ys.stop, probability[labels == i].max()]
                for i, (ys, xs) in enumerate(ndimage.find_objects(labels), start=1)]
        preds[image.key] = np.array(rows).reshape(-1, 5)
    options = MaskToBoxOptions(confidence="max", connectivity=8)
    result = evaluate_mask_predictions(tmp_path, dataset / "fold0.yaml", "val", options)
    assert result.boxes.map50_95 == pytest.approx(evaluate_boxes(gt, preds).map50_95, abs=1e-9)


@pytest.mark.parametrize("dataset_name", ["plain", "cropped"])
def test_reference_masks_score_perfectly(phantom_sets, dataset_name) -> None:
    dataset = phantom_sets[dataset_name]
    result = evaluate_mask_predictions(dataset / "masks", dataset / "fold0.yaml", "val")
    boxes = result.boxes
    assert boxes.n_gt > 0 and boxes.precision == boxes.recall == boxes.map50 == boxes.map50_95 == 1.0
    assert result.masks["instance_f1"] == result.masks["dice"] == result.masks["surface_dice"] == 1.0


def test_patient_volumes_are_sliced_and_cropped_with_the_manifest(phantom_sets, tmp_path) -> None:
    """The full reference label volumes, one NIfTI per patient, land on the heart-cropped images exactly."""
    dataset = phantom_sets["cropped"]
    split = load_split(dataset / "fold0.yaml", "val")
    assert any(image.row.crop_x0 > 0 for image in split.images)
    for patient in {image.row.patient for image in split.images}:
        labels = sitk.ReadImage(str(reference_path(phantom_sets["phantom"], patient)))
        sitk.WriteImage(labels, str(tmp_path / f"{patient}.nii.gz"))
    result = evaluate_mask_predictions(tmp_path, dataset / "fold0.yaml", "val")
    assert result.boxes.precision == result.boxes.recall == result.boxes.map50_95 == 1.0


def test_shifted_volume_is_scored_as_wrong(phantom_sets, tmp_path) -> None:
    """A volume off by a few pixels must not score perfectly: the crop offset is really used."""
    dataset = phantom_sets["cropped"]
    split = load_split(dataset / "fold0.yaml", "val")
    for patient in {image.row.patient for image in split.images}:
        labels = sitk.GetArrayFromImage(sitk.ReadImage(str(reference_path(phantom_sets["phantom"], patient))))
        sitk.WriteImage(sitk.GetImageFromArray(np.roll(labels, 4, axis=2)), str(tmp_path / f"{patient}.mha"))
    assert evaluate_mask_predictions(tmp_path, dataset / "fold0.yaml", "val").boxes.map50_95 < 0.5


def test_8bit_probability_pngs_need_a_scale(phantom_sets, tmp_path) -> None:
    dataset = phantom_sets["cropped"]
    for path in (dataset / "masks").iterdir():
        cv2.imwrite(str(tmp_path / path.name), (cv2.imread(str(path), cv2.IMREAD_UNCHANGED) > 0).astype(np.uint8) * 200)
    scaled = evaluate_mask_predictions(tmp_path, dataset / "fold0.yaml", "val", probability_scale=255)
    assert scaled.boxes.map50 == 1.0 and scaled.boxes.conf == pytest.approx(200 / 255)
    with pytest.raises(LabelError, match="leave \\[0, 1\\]"):
        evaluate_mask_predictions(tmp_path, dataset / "fold0.yaml", "val", probability_scale=100)


def test_bad_predictions_are_refused(phantom_sets, tmp_path) -> None:
    dataset = phantom_sets["cropped"]
    split = load_split(dataset / "fold0.yaml", "val")
    first = split.images[0]
    with pytest.raises(LabelError, match=f"no prediction for image {split.images[0].stem}"):
        evaluate_mask_predictions(tmp_path, dataset / "fold0.yaml", "val")
    sitk.WriteImage(sitk.GetImageFromArray(np.full((5, 5), 0.2, np.float32)), str(tmp_path / f"{first.stem}.mha"))
    with pytest.raises(LabelError, match="does not match image"):
        evaluate_mask_predictions(tmp_path, dataset / "fold0.yaml", "val")
    outside = np.full((first.height, first.width), 1.5, np.float32)
    sitk.WriteImage(sitk.GetImageFromArray(outside), str(tmp_path / f"{first.stem}.mha"))
    with pytest.raises(LabelError, match="outside \\[0, 1\\]"):
        evaluate_mask_predictions(tmp_path, dataset / "fold0.yaml", "val")
    with pytest.raises(ConfigError, match="threshold must lie in"):
        MaskToBoxOptions(threshold=0.0)
    with pytest.raises(DatasetError, match="no 'test' split"):
        evaluate_mask_predictions(dataset / "masks", dataset / "fold0.yaml", "test")


def test_detector_predictions_go_through_the_same_scoring(phantom_sets, tmp_path) -> None:
    """COCO-style predictions.json made from the ground truth (plus one false box) scores like the boxes themselves."""
    dataset = phantom_sets["cropped"]
    split = load_split(dataset / "fold0.yaml", "val")
    items, preds = [], {}
    for number, image in enumerate(split.images):
        boxes = [[*box[:4], 0.9 - 0.01 * number] for box in split.gt[image.key]] + [[1, 1, 4, 4, 0.95]]
        preds[image.key] = np.array(boxes)
        items += [{"image_id": image.key, "category_id": 1, "bbox": [b[0], b[1], b[2] - b[0], b[3] - b[1]],
                   "score": b[4]} for b in boxes]
    (tmp_path / "predictions.json").write_text(json.dumps(items))
    result = evaluate_box_predictions(tmp_path / "predictions.json", dataset / "fold0.yaml", "val")
    expected = evaluate_boxes(split.gt, preds)
    assert result.boxes.map50 == pytest.approx(expected.map50)
    assert result.boxes.precision == pytest.approx(expected.precision)
    assert result.boxes.map50 < 1.0  # the corner boxes outrank every lesion
    with_prior = evaluate_box_predictions(tmp_path / "predictions.json", dataset / "fold0.yaml", "val",
                                          arteries="phantom")
    assert with_prior.settings["geometric_prior"]["removed_boxes"] == len(split.images)  # the corners, no lesion
    assert with_prior.boxes.map50 == with_prior.boxes.recall == 1.0


def test_png_datasets_score_without_surface_dice(tmp_path) -> None:
    """A 'tqgd convert masks' dataset of PNG pairs has no pixel size: masks score, surface Dice is left out."""
    from tqgd.data.convert.masks import MaskConvertOptions, convert_masks

    (tmp_path / "img").mkdir(), (tmp_path / "seg").mkdir()
    mask = np.zeros((32, 40), np.uint8)
    mask[3:6, 4:9] = mask[20, 30] = 1
    cv2.imwrite(str(tmp_path / "img" / "a.png"), np.full((32, 40), 90, np.uint8))
    cv2.imwrite(str(tmp_path / "seg" / "a.png"), mask)
    out = convert_masks(tmp_path / "img", tmp_path / "seg", tmp_path / "ds", MaskConvertOptions()).out
    (out / "masks").mkdir()
    cv2.imwrite(str(out / "masks" / "a.png"), mask)
    result = evaluate_mask_predictions(out / "masks", out / "dataset.yaml", "val")
    assert result.boxes.map50_95 == 1.0 and result.boxes.n_gt == 2
    assert result.masks["dice"] == 1.0 and result.masks["surface_dice"] is None
