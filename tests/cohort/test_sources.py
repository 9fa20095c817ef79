"""Which scans a cohort holds: DICOM series folders and 3D scan files anywhere in a tree, or a CSV manifest."""

from __future__ import annotations

import shutil

import pytest

from tqgd.cohort.sources import find_cohort, scan_key
from tqgd.errors import CohortError


def _dicom(path, preamble: bool = True) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\0" * 128 + (b"DICM" if preamble else b"XXXX") + b"\0" * 16)


def test_a_tree_gives_series_folders_and_scan_files_at_any_depth(tmp_path) -> None:
    root = tmp_path / "archive"
    _dicom(root / "patient" / "study" / "series1" / "IM1")  # no suffix: found by its preamble
    _dicom(root / "patient" / "study" / "series1" / "deeper" / "IM9")  # inside a series: not another scan
    _dicom(root / "patient" / "study" / "series2" / "a.dcm", preamble=False)  # the suffix is enough
    for name in ("b.nii.gz", "c.mhd", "c.zraw", "d.mha", "e.nii", "notes.txt", "thumb.png"):
        (root / "files" / name).parent.mkdir(parents=True, exist_ok=True)
        (root / "files" / name).write_bytes(b"x")
    _dicom(root / ".hidden" / "IM1")
    found = find_cohort(root)
    assert [s.source for s in found.scans] == ["files/b.nii.gz", "files/c.mhd", "files/d.mha", "files/e.nii",
                                               "patient/study/series1", "patient/study/series2"]
    assert sorted(found.ignored) == ["files/c.zraw", "files/notes.txt", "files/thumb.png"]
    assert all(s.series_uid is None and s.key == scan_key(s.source, None) for s in found.scans)
    assert found.scans[4].path == str((root / "patient" / "study" / "series1").resolve())
    moved = tmp_path / "moved"
    shutil.move(root, moved)
    assert [s.key for s in find_cohort(moved).scans] == [s.key for s in found.scans]  # keys survive a move


def test_one_series_folder_or_one_file_is_a_cohort_of_one(tmp_path) -> None:
    _dicom(tmp_path / "series" / "IM1")
    assert [s.source for s in find_cohort(tmp_path / "series").scans] == ["."]
    (tmp_path / "a.mhd").write_text("x")
    assert [s.source for s in find_cohort(tmp_path / "a.mhd").scans] == ["a.mhd"]


def test_a_folder_without_scans_is_refused(tmp_path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(CohortError, match="no scans found"):
        find_cohort(tmp_path)


def test_a_manifest_lists_paths_and_series_uids(tmp_path) -> None:
    manifest = tmp_path / "lists" / "cohort.csv"
    manifest.parent.mkdir()
    manifest.write_text("path,series_uid,site\n../scans/a,1.2.3,x\n../scans/a,1.2.4,x\n/abs/b.mhd,,y\n")
    scans = find_cohort(manifest).scans
    assert [(s.source, s.series_uid) for s in scans] == [("../scans/a", "1.2.3"), ("../scans/a", "1.2.4"),
                                                         ("/abs/b.mhd", None)]
    assert scans[0].path == str(manifest.parent / "../scans/a") and scans[2].path == "/abs/b.mhd"
    assert len({s.key for s in scans}) == 3 and scans[0].key == scan_key("../scans/a", "1.2.3")


@pytest.mark.parametrize(("text", "message"), [
    ("file,series_uid\na,1\n", r"no 'path' column \(columns: file, series_uid\)"),
    ("path\na\n\n , \n", "line 4: empty path"),
    ("path,series_uid\na,1\nb,\na,1\n", r"line 4 repeats line 2 \(a, 1\)"),
    ("path\n", "lists no scans"),
])
def test_bad_manifests_are_refused_by_line(tmp_path, text: str, message: str) -> None:
    manifest = tmp_path / "m.csv"
    manifest.write_text(text)
    with pytest.raises(CohortError, match=message):
        find_cohort(manifest)
