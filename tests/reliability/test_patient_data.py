"""Patient data: a DICOM series of "DOE^JOHN", stored in a folder named DOE_JOHN, goes through inspect, score and
detect; no output file name, no output byte and no line printed carries DOE, JOHN, the birth date or the patient ID,
unless --include-identifiers asks for them (which shows the check can fail)."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pydicom
import pytest

from tests.helpers import run_tqgd

TOKENS = (b"DOE", b"JOHN", b"19500101", b"JD1950")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_text(data: bytes) -> bytes:
    """A PNG's chunk types and all non-pixel chunks (text, metadata); pixel data (IDAT) can hold any bytes."""
    out, at = [], len(PNG_SIGNATURE)
    while at + 8 <= len(data):
        length, kind = int.from_bytes(data[at:at + 4], "big"), data[at + 4:at + 8]
        body = data[at + 8:at + 8 + length]
        out.append(kind + (b"" if kind == b"IDAT" else zlib.decompress(body[body.index(b"\0") + 2:])
                           if kind == b"zTXt" else body))
        at += 12 + length
    return b"".join(out)


def leaks(root: Path, *printed: str) -> list[str]:
    """Where an identifier shows: output file names, file contents (PNG: all but pixels), printed text."""
    found = []
    for path in sorted(root.rglob("*")):
        name = str(path.relative_to(root)).encode()
        found += [f"name {path.relative_to(root)}: {t.decode()}" for t in TOKENS if t in name.upper()]
        if path.is_file():
            data = path.read_bytes()
            searched = _png_text(data) if data.startswith(PNG_SIGNATURE) else data
            found += [f"content {path.relative_to(root)}: {t.decode()}" for t in TOKENS if t in searched]
    for text in printed:
        found += [f"printed: {t.decode()}" for t in TOKENS if t in text.encode()]
    return found


@pytest.fixture(scope="module")
def doe_john(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The DOE_JOHN series (6 slices of 48 px with a calcified blob), its calcium mask, and untrained weights."""
    from tqgd.data.volume import CTVolume, ScanMetadata
    from tqgd.data.writers import write_dicom_series, write_nifti

    root = tmp_path_factory.mktemp("patient")
    hu = np.full((6, 48, 48), 40.0, dtype=np.float32)
    hu[2:4, 20:25, 18:24] = 600.0
    volume = CTVolume(hu=hu, spacing_mm=(3.0, 0.7, 0.7), origin_mm=(-16.8, -16.8, 0.0), direction=np.eye(3),
                      meta=ScanMetadata(source=Path("x"), format="synthetic"))
    folder = root / "DOE_JOHN"
    for path in write_dicom_series(volume, folder, patient_name="DOE^JOHN", patient_id="JD1950", uid_seed="doe"):
        ds = pydicom.dcmread(path)
        ds.PatientBirthDate = "19500101"
        ds.save_as(path, enforce_file_format=True)
    mask = (hu > 130).astype(np.uint8)
    write_nifti(mask, root / "masks" / "calcium.nii.gz", spacing_mm=volume.spacing_mm, origin_mm=volume.origin_mm)
    return {"root": root, "series": folder, "mask": root / "masks" / "calcium.nii.gz"}


def test_the_series_really_carries_the_identifiers(doe_john: dict[str, Path]) -> None:
    ds = pydicom.dcmread(next(doe_john["series"].iterdir()))
    assert (str(ds.PatientName), ds.PatientID, ds.PatientBirthDate) == ("DOE^JOHN", "JD1950", "19500101")


def test_inspect_prints_no_identifiers_unless_asked(doe_john, monkeypatch, capsys, tmp_path) -> None:
    code, out, err = run_tqgd(monkeypatch, capsys, "inspect", doe_john["series"], "--json")
    assert code == 0, err
    assert json.loads(out)["scan"].startswith("scan series-") and leaks(tmp_path, out, err) == []
    code, out, err = run_tqgd(monkeypatch, capsys, "inspect", doe_john["series"])
    assert code == 0 and leaks(tmp_path, out, err) == []
    code, out, err = run_tqgd(monkeypatch, capsys, "inspect", doe_john["series"], "--json", "--include-identifiers")
    assert code == 0 and "DOE^JOHN" in out and "DOE_JOHN" in json.loads(out)["scan"]


def test_score_writes_no_identifiers_unless_asked(doe_john, monkeypatch, capsys, tmp_path) -> None:
    out_dir = tmp_path / "score"
    code, out, err = run_tqgd(monkeypatch, capsys, "score", doe_john["series"], "--mask", doe_john["mask"], "--out",
                              out_dir)
    assert code == 0, err
    assert sorted(p.name for p in out_dir.iterdir()) == ["report.png", "score.json"]
    assert leaks(out_dir, out, err) == []
    score = json.loads((out_dir / "score.json").read_text())
    assert score["scan"]["scan_id"].startswith("series-") and score["scan"]["series_uid"] and score["agatston"] > 0
    assert "source" not in score["scan"] and score["input"].get("path") is None

    asked = tmp_path / "asked"
    code, _, err = run_tqgd(monkeypatch, capsys, "score", doe_john["series"], "--mask", doe_john["mask"], "--out",
                            asked, "--include-identifiers")
    assert code == 0, err
    found = leaks(asked)
    assert "content score.json: DOE" in found and "content score.json: 19500101" in found
    assert json.loads((asked / "score.json").read_text())["scan"]["source"] == str(doe_john["series"])


@pytest.mark.slow
def test_detect_writes_no_identifiers(doe_john, monkeypatch, capsys, tmp_path) -> None:
    """One scan and a folder of scans (summary included); untrained weights at a low threshold still give boxes."""
    import shutil

    from tqgd.engine.model import TQGD

    weights = tmp_path / "weights.pt"
    TQGD("tqgdnet-n").save(str(weights))
    single = tmp_path / "single"
    code, out, err = run_tqgd(monkeypatch, capsys, "detect", doe_john["series"], "--weights", weights, "--out", single,
                              "--conf", "0.001", "--device", "cpu")
    assert code == 0, err
    assert (single / "detections.json").is_file() and leaks(single, out, err) == []

    scans = tmp_path / "scans"
    shutil.copytree(doe_john["series"], scans / "DOE_JOHN")
    several = tmp_path / "several"
    code, out, err = run_tqgd(monkeypatch, capsys, "detect", scans, "--weights", weights, "--out", several, "--conf",
                              "0.001", "--device", "cpu")
    assert code == 0, err
    assert any(several.rglob("detections.json")) and leaks(several, out, err) == []
    asked = tmp_path / "asked"
    code, _, err = run_tqgd(monkeypatch, capsys, "detect", scans, "--weights", weights, "--out", asked, "--conf",
                            "0.001", "--device", "cpu", "--include-identifiers")
    assert code == 0 and "content summary.json: DOE" in leaks(asked), err
