"""Byte-level mutation of valid files (flip, cut, insert, delete, repeat bytes) for every reader: each damaged file
ends in a named tqgd error or reads exactly as an independent reader (pydicom, nibabel, a plain MetaImage parser,
PIL, the label rules) reads it. Runs in the forked worker, so a hang or a crash inside a C library fails the case."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.reliability import dicom_cases as dc
from tests.reliability import label_cases as lc
from tests.reliability import metaimage_cases as mc
from tests.reliability import nifti_cases as nc
from tests.reliability.fuzz import check_no_crash, check_refusal, count, fuzz_settings
from tests.reliability.scan_cases import read_summary, same_volume
from tests.reliability.test_fuzz_labels import BASE_DETECTIONS

SUITE = "byte mutations ({kind})"
KINDS = ("dicom", "dicom-rle", "nifti", "nifti-gz", "mhd-header", "zraw-data", "png-slice", "png-mask", "yolo",
         "detections")


def read_mask_file(path: str) -> np.ndarray:
    """Worker side: the converter's mask reader."""
    from tqgd.data.convert.mask_files import read_mask

    return read_mask(path)


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One valid file (or folder) per kind."""
    import cv2

    from tqgd.data.volume import CTVolume, ScanMetadata
    from tqgd.data.writers import write_dicom_series

    root = tmp_path_factory.mktemp("byte_bases")
    rng = np.random.default_rng(4)
    hu = rng.integers(-1024, 2000, size=(1, dc.ROWS, dc.COLUMNS)).astype(np.float32)
    volume = CTVolume(hu=hu, spacing_mm=dc.SPACING_MM, origin_mm=(1.0, 2.0, 3.0), direction=np.eye(3),
                      meta=ScanMetadata(source=Path("b"), format="synthetic"))
    out = {}
    for kind, syntax in (("dicom", "1.2.840.10008.1.2.1"), ("dicom-rle", "1.2.840.10008.1.2.5")):
        out[kind] = write_dicom_series(volume, root / kind, transfer_syntax=syntax, uid_seed="bytes")[0]
    for kind, compressed in (("nifti", False), ("nifti-gz", True)):
        (root / kind).mkdir()
        out[kind] = nc.write_case(nc.NiftiCase((6, 5, 3), "int16", tuple(np.eye(3).ravel()), (0.7, 0.7, 2.5),
                                               (1.0, 2.0, 3.0), 1, 1, None, 0.0, 1.0, -1024.0, compressed, 9),
                                  root / kind)
    out["mhd-header"] = out["zraw-data"] = mc.write_base(root / "mhd", compress=True)
    (root / "png").mkdir()
    cv2.imwrite(str(root / "png" / "slice.png"), rng.integers(0, 65535, size=(12, 10)).astype(np.uint16))
    cv2.imwrite(str(root / "png" / "mask.png"), rng.integers(0, 3, size=(12, 10)).astype(np.uint8))
    out["png-slice"], out["png-mask"] = root / "png" / "slice.png", root / "png" / "mask.png"
    (root / "labels").mkdir()
    (root / "labels" / "0001.txt").write_text("0 0.500000 0.500000 0.200000 0.100000\n1 0.250000 0.750000 0.1 0.1\n")
    (root / "labels" / "detections.json").write_text(json.dumps(BASE_DETECTIONS, indent=1))
    out["yolo"], out["detections"] = root / "labels" / "0001.txt", root / "labels" / "detections.json"
    return out


MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(1, 255)),
    st.tuples(st.just("cut"), st.floats(0, 1), st.just(0)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.integers(1, 64)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 64)),
    st.tuples(st.just("repeat"), st.floats(0, 1), st.integers(1, 64)),
)


def mutate(data: bytes, mutations: list[tuple[str, float, int]], seed: int) -> bytes:
    """Apply byte mutations at fractional offsets (so they land in headers and in data alike)."""
    rng = np.random.default_rng(seed)
    out = bytearray(data)
    for kind, where, amount in mutations:
        at = min(int(where * len(out)), max(len(out) - 1, 0))
        if kind == "flip" and out:
            out[at] ^= amount
        elif kind == "cut":
            del out[at:]
        elif kind == "insert":
            out[at:at] = rng.integers(0, 256, size=amount, dtype=np.uint8).tobytes()
        elif kind == "delete":
            del out[at:at + amount]
        elif kind == "repeat":
            out[at:at] = out[at:at + amount]
    return bytes(out)


def _copy_case(base: Path, kind: str, work: Path) -> tuple[Path, Path]:
    """(file to mutate, path to read) inside ``work``."""
    shutil.copytree(base.parent, work / "case")
    target = work / "case" / base.name
    if kind == "zraw-data":
        return target.with_suffix(".zraw"), target
    return target, (work / "case" if kind.startswith("dicom") else target)


def _check_scan(kind: str, read: Path, outcome, case: str) -> None:
    suite = SUITE.format(kind=kind)
    if kind.startswith("dicom"):
        independent, expected_error = dc.independent_series, dc.NotReadable
    elif kind.startswith("nifti"):
        independent, expected_error = nc.independent_nifti, None
    else:
        independent, expected_error = mc.independent_metaimage, mc.NotReadable
    try:
        expected = independent(read)
    except Exception as reason:  # the independent reader refuses: tqgd must refuse too
        if expected_error is not None and not isinstance(reason, expected_error):
            raise
        expected = str(reason)
    if isinstance(expected, str):
        if outcome.kind == "ok":
            count(suite, "failed (accepted what the independent reader refuses)")
            raise AssertionError(f"{case}: accepted, but the independent reader refuses it: {expected}")
        check_refusal(outcome, suite, read, case)
        return
    if outcome.kind != "ok":
        check_refusal(outcome, suite, read, case, label="refused where the independent reader reads it")
        return
    hu, geometry = expected
    if kind.startswith("dicom"):
        position = (lambda zyx: dc.patient_position(geometry, zyx))
    elif kind.startswith("nifti"):
        position = (lambda zyx: nc.patient_position(geometry, zyx))
    else:
        position = (lambda zyx: mc.patient_position(geometry, zyx))
    same_volume(suite, case, outcome.value, hu, position)


def _check_png(kind: str, read: Path, outcome, case: str) -> None:
    from PIL import Image

    suite = SUITE.format(kind=kind)
    try:
        with Image.open(read) as image:
            image.load()
            expected = np.asarray(image)
    except Exception as reason:  # PIL finds the file damaged
        expected = None
        why = f"{type(reason).__name__}: {reason}"
    if outcome.kind != "ok":
        check_refusal(outcome, suite, read, case, label="refused" if expected is None else
                      "refused where PIL reads it")
        return
    got = outcome.value["hu"][0] if kind == "png-slice" else outcome.value
    if expected is None:
        count(suite, "failed (accepted what PIL refuses)")
        raise AssertionError(f"{case}: accepted a PNG that PIL cannot read ({why})")
    if expected.ndim != 2 or got.shape != expected.shape or not np.array_equal(got, expected):
        count(suite, "accepted (decoded differently from PIL: colour type changed)")
        return
    count(suite, "accepted (matches PIL)")


def _check_text(kind: str, read: Path, data: bytes, outcome, case: str) -> None:
    suite = SUITE.format(kind=kind)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if kind == "yolo":
        problem = "not UTF-8" if text is None else lc.first_bad_yolo_line(text, 2)
    else:
        try:
            problem = lc.detections_problem(json.loads(text)) if text is not None else "not UTF-8"
        except ValueError:
            problem = "not JSON"
    if problem is None:
        check_no_crash(outcome, suite, case)
        if outcome.kind != "ok":
            count(suite, "failed (refused a valid file)")
            raise AssertionError(f"{case}: refused a valid file: {outcome.message}")
        count(suite, "accepted (valid by the rules)")
        return
    if outcome.kind == "ok":
        count(suite, "failed (accepted an invalid file)")
        raise AssertionError(f"{case}: accepted although {problem}")
    check_refusal(outcome, suite, read, case)


@fuzz_settings(weight=4)  # ten file kinds share the examples
@given(kind=st.sampled_from(KINDS), mutations=st.lists(MUTATION, min_size=1, max_size=3), seed=st.integers(0, 999))
def test_byte_mutations(bases: dict[str, Path], runner, kind: str, mutations: list, seed: int) -> None:
    work = Path(tempfile.mkdtemp(prefix="case-", dir=bases["yolo"].parent.parent))
    try:
        target, read = _copy_case(bases[kind], kind, work)
        data = mutate(target.read_bytes(), mutations, seed)
        target.write_bytes(data)
        case = f"{kind} {mutations} seed {seed}"
        if kind in ("yolo", "detections"):
            function = lc.parse_yolo_file if kind == "yolo" else lc.load_detections_file
            outcome = runner.run(function, str(read), *((2,) if kind == "yolo" else ()))
            _check_text(kind, read, data, outcome, case)
        elif kind == "png-mask":
            _check_png(kind, read, runner.run(read_mask_file, str(read)), case)
        elif kind == "png-slice":
            _check_png(kind, read, runner.run(read_summary, str(read)), case)
        else:
            _check_scan(kind, read, runner.run(read_summary, str(read)), case)
    finally:
        shutil.rmtree(work, ignore_errors=True)
