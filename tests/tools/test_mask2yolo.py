"""tools/mask2yolo.py run as a script on 2D PNG masks and on a 3D NIfTI mask."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import nibabel as nib
import numpy as np
from scipy import ndimage

from tqgd.data.formats.yolo import read_yolo_labels

from tests.tools.tool_scripts import TOOLS, load_tool

SCRIPT = TOOLS / "mask2yolo.py"


def run(*args: str) -> subprocess.CompletedProcess:
    """The script as a user runs it (a fresh interpreter: ~3 s of imports, so used sparingly)."""
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def script_main():
    """The script's ``main`` loaded from its file, for in-process runs."""
    return load_tool("mask2yolo").main


def boxes_of(path: Path, width: int, height: int) -> set[tuple[int, ...]]:
    return {tuple(round(v) for v in lab.to_xyxy(width, height)) for lab in read_yolo_labels(path, 1)}


def test_help_has_an_example():
    result = run("--help")
    assert result.returncode == 0 and "Example:" in result.stdout


def test_png_masks_to_yolo(tmp_path):
    (tmp_path / "img").mkdir(), (tmp_path / "seg").mkdir()
    rng = np.random.default_rng(2)
    expected = {}
    for name in ("a", "b"):
        cv2.imwrite(str(tmp_path / "img" / f"{name}.png"), rng.integers(0, 255, (40, 56), dtype=np.uint8))
        mask = (rng.random((40, 56)) > 0.97).astype(np.uint8) * 255
        cv2.imwrite(str(tmp_path / "seg" / f"{name}.png"), mask)
        pieces, _ = ndimage.label(mask, structure=np.ones((3, 3)))
        expected[name] = {(s[1].start, s[0].start, s[1].stop, s[0].stop) for s in ndimage.find_objects(pieces)}
    result = run(str(tmp_path / "img"), str(tmp_path / "seg"), str(tmp_path / "out"), "--connectivity", "8")
    assert result.returncode == 0, result.stderr
    for name, boxes in expected.items():
        assert boxes and boxes_of(tmp_path / "out" / "labels" / f"{name}.txt", 56, 40) == boxes


def test_3d_nifti_mask_to_yolo_with_26_connectivity(tmp_path):
    mask = np.zeros((5, 30, 30), np.uint8)  # (z, y, x)
    mask[1, 3:5, 3:5] = 1
    mask[2, 5, 5] = 1  # diagonal to the block: same lesion only with 26-connectivity
    mask[3, 10:20, 29] = 1  # on the border
    nib.save(nib.Nifti1Image(np.zeros((30, 30, 5), np.int16), np.eye(4)), tmp_path / "ct.nii")
    nib.save(nib.Nifti1Image(mask.transpose(2, 1, 0).copy(), np.eye(4)), tmp_path / "ct_mask.nii")
    code = script_main()([str(tmp_path / "ct.nii"), str(tmp_path / "ct_mask.nii"), str(tmp_path / "out"),
                          "--connectivity", "26", "--format", "yolo", "--format", "coco"])
    assert code == 0
    labels = tmp_path / "out" / "labels"
    assert sorted(p.name for p in labels.iterdir()) == ["ct_z001.txt", "ct_z002.txt", "ct_z003.txt"]
    assert boxes_of(labels / "ct_z001.txt", 30, 30) == {(3, 3, 5, 5)}
    assert boxes_of(labels / "ct_z002.txt", 30, 30) == {(5, 5, 6, 6)}
    assert boxes_of(labels / "ct_z003.txt", 30, 30) == {(29, 10, 30, 20)}
    coco = json.loads((tmp_path / "out" / "annotations" / "all.json").read_text())
    lesions = {a["lesion_id"] for a in coco["annotations"]}
    assert len(lesions) == 2


def test_errors_exit_1_with_a_message(tmp_path, capsys):
    cv2.imwrite(str(tmp_path / "a.png"), np.zeros((8, 8), np.uint8))
    cv2.imwrite(str(tmp_path / "m.png"), np.zeros((9, 9), np.uint8))
    main = script_main()
    assert main([str(tmp_path / "a.png"), str(tmp_path / "m.png"), str(tmp_path / "out")]) == 1
    assert "m.png: mask shape (9, 9) does not match" in capsys.readouterr().err
    assert main([str(tmp_path / "a.png"), str(tmp_path / "missing.png"), str(tmp_path / "out")]) == 2
