"""Generic image + mask conversion: 2D PNG pairs, 3D NIfTI volumes (written with nibabel), multi-label masks."""

from __future__ import annotations

import contextlib
import io
import json

import cv2
import nibabel as nib
import numpy as np
import pytest
from pycocotools.coco import COCO
from scipy import ndimage

from tqgd.data.convert.manifest import read_manifest
from tqgd.data.convert.masks import MaskConvertOptions, convert_masks
from tqgd.data.formats.voc import read_voc
from tqgd.data.formats.yolo import read_yolo_labels
from tqgd.data.windowing import apply_window
from tqgd.errors import ConfigError, LabelError, OutputError


def scipy_boxes(mask2d: np.ndarray, eight: bool = False) -> set[tuple[int, int, int, int]]:
    pieces, _ = ndimage.label(mask2d, structure=np.ones((3, 3)) if eight else None)
    return {(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(pieces)}


@pytest.fixture
def png_pairs(tmp_path):
    """Three 64 x 48 grey PNGs with 0/255 masks named <stem>_mask.png (one mask empty)."""
    rng = np.random.default_rng(0)
    images, masks = tmp_path / "images", tmp_path / "masks"
    images.mkdir(), masks.mkdir()
    for i in range(3):
        cv2.imwrite(str(images / f"s{i}.png"), rng.integers(0, 255, (48, 64), dtype=np.uint8))
        mask = np.zeros((48, 64), np.uint8)
        if i:
            mask[5:9, 10:14] = 255
            mask[9, 14] = 255  # diagonal neighbour: joins with 8-connectivity only
            mask[40:, 60:] = 255
        cv2.imwrite(str(masks / f"s{i}_mask.png"), mask)
    return images, masks


def read_mask_png(path):
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED)


@pytest.mark.parametrize("connectivity", [4, 8])
def test_png_pairs_to_yolo_coco_voc(png_pairs, tmp_path, connectivity):
    images, masks = png_pairs
    out = tmp_path / "out"
    report = convert_masks(images, masks, out, MaskConvertOptions(formats=("yolo", "coco", "voc"),
                                                                  connectivity=connectivity, mask_suffix="_mask"))
    assert (report.pairs, report.images, report.positive_images) == (3, 3, 2)
    rows = read_manifest(out / "manifest.csv")
    for row in rows:
        assert (out / row.image).read_bytes() == (images / row.source).read_bytes()  # copied, not re-encoded
        expected = scipy_boxes(read_mask_png(masks / row.mask) > 0, eight=connectivity == 8)
        got = {tuple(round(v) for v in lab.to_xyxy(64, 48)) for lab in read_yolo_labels(out / row.label, 1)}
        assert got == expected and row.n_boxes == len(expected)
        assert {b.xyxy for b in read_voc(out / row.voc, {0: "calcium"})[1]} == expected
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO(str(out / "annotations" / "all.json"))
    # two non-empty masks, each: a block, a diagonal pixel (own piece only with 4-connectivity), a corner
    assert len(coco.getAnnIds()) == report.boxes == (4 if connectivity == 8 else 6)


def test_multi_label_png_mask_gives_one_class_per_value(tmp_path):
    image, mask = tmp_path / "a.png", tmp_path / "a_labels.png"
    cv2.imwrite(str(image), np.zeros((32, 32), np.uint8))
    labels = np.zeros((32, 32), np.uint8)
    labels[2:4, 2:4], labels[10, 10], labels[20:25, 30:] = 1, 2, 3
    cv2.imwrite(str(mask), labels)
    convert_masks(image, mask, tmp_path / "out", MaskConvertOptions(names=("LAD", "LCX", "RCA")))
    got = [(lab.class_id, tuple(round(v) for v in lab.to_xyxy(32, 32)))
           for lab in read_yolo_labels(tmp_path / "out" / "labels" / "a.txt", 3)]
    assert got == [(0, (2, 2, 4, 4)), (1, (10, 10, 11, 11)), (2, (30, 20, 32, 25))]
    labels[0, 0] = 9
    cv2.imwrite(str(mask), labels)
    with pytest.raises(LabelError, match=r"a_labels\.png: mask holds label value\(s\) \[9\]"):
        convert_masks(image, mask, tmp_path / "out2", MaskConvertOptions(names=("LAD", "LCX", "RCA")))


def test_3d_nifti_mask_gives_per_slice_images_and_boxes(tmp_path):
    rng = np.random.default_rng(1)
    hu_zyx = rng.normal(0, 300, (6, 40, 50)).astype(np.float32)
    mask_zyx = np.zeros((6, 40, 50), np.uint8)
    mask_zyx[1:3, 5:8, 40:50] = 1  # touches the right border on two slices
    mask_zyx[4, 20, 20] = 1
    affine = np.diag([0.7, 0.7, 3.0, 1.0])
    nib.save(nib.Nifti1Image(hu_zyx.transpose(2, 1, 0), affine), tmp_path / "scan.nii.gz")  # nibabel is (x, y, z)
    nib.save(nib.Nifti1Image(mask_zyx.transpose(2, 1, 0), affine), tmp_path / "scan_seg.nii.gz")
    out = tmp_path / "out"
    convert_masks(tmp_path / "scan.nii.gz", tmp_path / "scan_seg.nii.gz", out,
                  MaskConvertOptions(formats=("yolo", "coco")))
    rows = read_manifest(out / "manifest.csv")
    assert [r.slice_index for r in rows] == [1, 2, 4] and [r.image for r in rows][0] == "images/scan_z001.png"
    for row in rows:
        np.testing.assert_array_equal(cv2.imread(str(out / row.image), cv2.IMREAD_UNCHANGED),
                                      apply_window(hu_zyx[row.slice_index]))
        got = {tuple(round(v) for v in lab.to_xyxy(50, 40)) for lab in read_yolo_labels(out / row.label, 1)}
        assert got == scipy_boxes(mask_zyx[row.slice_index])
    assert json.loads((out / "convert.json").read_text())["counts"]["boxes"] == 3
    assert not (out / "voc").exists()


def test_mismatched_or_unpaired_inputs_are_label_errors(png_pairs, tmp_path):
    images, masks = png_pairs
    with pytest.raises(LabelError, match=r"images without a mask \['s0', 's1', 's2'\]"):
        convert_masks(images, masks, tmp_path / "out")  # forgot --mask-suffix
    cv2.imwrite(str(masks / "s1_mask.png"), np.zeros((10, 10), np.uint8))
    with pytest.raises(LabelError, match=r"s1_mask\.png: mask shape \(10, 10\) does not match its image s1\.png"):
        convert_masks(images, masks, tmp_path / "out2", MaskConvertOptions(mask_suffix="_mask"))


def test_colour_masks_bad_formats_and_unsafe_outputs(png_pairs, tmp_path):
    images, masks = png_pairs
    colour = np.zeros((48, 64, 3), np.uint8)
    colour[..., 2] = 255
    cv2.imwrite(str(masks / "s2_mask.png"), colour)
    with pytest.raises(LabelError, match=r"s2_mask\.png: colour mask with 3 different channels"):
        convert_masks(images, masks, tmp_path / "out", MaskConvertOptions(mask_suffix="_mask"))
    with pytest.raises(ConfigError, match="formats must be some of"):
        convert_masks(images, masks, tmp_path / "out", MaskConvertOptions(formats=("csv",)))
    with pytest.raises(OutputError, match="output folder lies inside the input folder"):
        convert_masks(images, masks, images / "boxes", MaskConvertOptions(mask_suffix="_mask"))


def test_duplicate_stems_are_refused_and_stale_formats_cleared_on_rerun(png_pairs, tmp_path):
    images, masks = png_pairs
    out = tmp_path / "out"
    convert_masks(images, masks, out, MaskConvertOptions(formats=("yolo", "voc"), mask_suffix="_mask"))
    convert_masks(images, masks, out, MaskConvertOptions(formats=("coco",), mask_suffix="_mask"))
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "annotations", "convert.json", "images", "manifest.csv"]
    cv2.imwrite(str(images / "s1.bmp"), np.zeros((48, 64), np.uint8))
    with pytest.raises(LabelError, match=r"s1\.bmp and s1\.png have the same name stem 's1'"):
        convert_masks(images, masks, out, MaskConvertOptions(mask_suffix="_mask"))
