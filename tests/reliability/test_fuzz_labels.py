"""Fuzz the label and annotation parsers (YOLO text, detections.json, Pascal VOC XML, manifest.csv): every file ends
in a named ``LabelError``/``DatasetError`` or parses to exactly what an independent reading of the rules gives."""

from __future__ import annotations

import copy
import csv
import io
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.reliability import label_cases as lc
from tests.reliability.fuzz import FUZZ_SETTINGS, check_no_crash, check_refusal, count

NUM_CLASSES = 3


@pytest.fixture(scope="module")
def work_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("labels")


def _case_file(root: Path, name: str, data: bytes) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="case-", dir=root))
    path = folder / name
    path.write_bytes(data)
    return path


# --- YOLO ------------------------------------------------------------------------------------------------------------
NUMBER_TOKEN = st.one_of(
    st.floats(0, 1).map(lambda v: f"{v:.6f}"),
    st.integers(0, NUM_CLASSES + 1).map(str),
    st.sampled_from(["nan", "inf", "-0", "1e-3", "1E+0", "0.5e1", "1_0", "0.1_5", "\u0661", "0x1", ".5", "5.",
                     "-0.1", "1.0000001", "2", "abc", "", "+0.5", "1e400"]),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
)
YOLO_LINE = st.one_of(
    st.lists(NUMBER_TOKEN, min_size=5, max_size=5).map(" ".join),
    st.lists(NUMBER_TOKEN, min_size=0, max_size=8).map(" ".join),
    st.text(max_size=30),
)
YOLO_SUITE = "yolo labels (text lines)"


@FUZZ_SETTINGS
@given(lines=st.lists(YOLO_LINE, max_size=6), line_end=st.sampled_from(["\n", "\r\n", "\t\n"]),
       encoding=st.sampled_from(["utf-8", "utf-16", "latin-1"]))
def test_yolo_label_files(work_root: Path, runner, lines: list[str], line_end: str, encoding: str) -> None:
    text = line_end.join(lines)
    try:
        data = text.encode(encoding)
    except UnicodeEncodeError:
        data = text.encode("utf-8", errors="replace")
    path = _case_file(work_root, "0001.txt", data)
    try:
        outcome = runner.run(lc.parse_yolo_file, str(path), NUM_CLASSES)
        try:
            decoded = data.decode("utf-8")
        except UnicodeDecodeError:
            decoded = None
        bad_line = lc.first_bad_yolo_line(decoded, NUM_CLASSES) if decoded is not None else 0
        case = f"{data[:200]!r}"
        if bad_line is None:
            if outcome.kind != "ok":
                check_no_crash(outcome, YOLO_SUITE, case)
                count(YOLO_SUITE, "failed (refused a valid file)")
                raise AssertionError(f"{case}: valid labels refused: {outcome.message}")
            expected = [tuple(float(f) for f in line.split()) for line in decoded.splitlines() if line.split()]
            got = [(float(c), cx, cy, w, h) for c, cx, cy, w, h, _ in outcome.value]
            if got != expected:
                count(YOLO_SUITE, "failed (silently wrong)")
                raise AssertionError(f"{case}: parsed {got}, expected {expected}")
            count(YOLO_SUITE, "accepted (matches the strict rule)")
            return
        check_refusal(outcome, YOLO_SUITE, path, case)
        if bad_line and f"line {bad_line}:" not in outcome.message:
            count(YOLO_SUITE, "failed (wrong line named)")
            raise AssertionError(f"{case}: the first bad line is {bad_line}, the error says: {outcome.message}")
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


# --- detections.json -------------------------------------------------------------------------------------------------
BASE_DETECTIONS = {
    "source": "scan", "shape_zyx": [4, 32, 32], "spacing_mm": [2.5, 0.7, 0.7], "origin_mm": [0.0, -10.0, 5.0],
    "direction": [1, 0, 0, 0, 1, 0, 0, 0, 1], "series_uid": "1.2.3", "scan_id": "s1",
    "slices": [{"slice_index": 1, "detections": [{"box_xyxy": [1.0, 2.0, 5.0, 6.5], "confidence": 0.9, "class_id": 0,
                                                  "class_name": "calcium"}]},
               {"slice_index": 3, "detections": []}],
}
JSON_VALUES = st.sampled_from([None, "", "x", 0, -1, 1.5, 4.0, 1e308, float("nan"), float("inf"), [], {}, [1, 2],
                               [1, 2, 3], [0.0, 0.0, 0.0], True, "1", 10**20, [1.0, 2.0, 1.0, 6.0], 2])
PATHS = st.sampled_from([("source",), ("shape_zyx",), ("spacing_mm",), ("origin_mm",), ("direction",), ("slices",),
                         ("slices", 0), ("slices", 0, "slice_index"), ("slices", 0, "detections"),
                         ("slices", 0, "detections", 0), ("slices", 0, "detections", 0, "box_xyxy"),
                         ("slices", 0, "detections", 0, "confidence"), ("slices", 0, "detections", 0, "class_id"),
                         ("slices", 1, "slice_index"), ("shape_zyx", 0), ("spacing_mm", 2), ("heart_roi_xyxy",)])
DETECTIONS_SUITE = "detections.json (schema mutations)"


def _mutate(data: dict, path: tuple, value: object, delete: bool) -> None:
    target = data
    for key in path[:-1]:
        target = target[key]
    if delete and isinstance(target, dict):
        target.pop(path[-1], None)
    else:
        target[path[-1]] = copy.deepcopy(value)  # drawn values are shared objects: never alias them into the file


@FUZZ_SETTINGS
@given(edits=st.lists(st.tuples(PATHS, JSON_VALUES, st.booleans()), max_size=3),
       raw=st.one_of(st.none(), st.binary(max_size=40)))
def test_detections_files(work_root: Path, runner, edits: list, raw: bytes | None) -> None:
    data = copy.deepcopy(BASE_DETECTIONS)
    for path, value, delete in edits:
        try:
            _mutate(data, path, value, delete)
        except (KeyError, IndexError, TypeError):
            continue  # an earlier edit removed what this one points into
    text = raw if raw is not None else json.dumps(data).encode()
    path = _case_file(work_root, "detections.json", text)
    try:
        outcome = runner.run(lc.load_detections_file, str(path))
        try:
            parsed = json.loads(text)
            problem = lc.detections_problem(parsed)
        except ValueError:
            problem = "not JSON"
        case = f"{text[:300]!r}"
        if problem is None:
            if outcome.kind != "ok":
                check_no_crash(outcome, DETECTIONS_SUITE, case)
                count(DETECTIONS_SUITE, "failed (refused a valid file)")
                raise AssertionError(f"{case}: valid detections refused: {outcome.message}")
            count(DETECTIONS_SUITE, "accepted (valid by the schema)")
            return
        if outcome.kind == "ok":
            count(DETECTIONS_SUITE, "failed (accepted an invalid file)")
            raise AssertionError(f"{case}: accepted although {problem} is invalid")
        check_refusal(outcome, DETECTIONS_SUITE, path, case)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


# --- Pascal VOC ------------------------------------------------------------------------------------------------------
VOC_NAMES = {0: "calcium", 1: "LAD"}
VOC_FIELDS = ["size/width", "size/height", "object/name", "object/bndbox/xmin", "object/bndbox/ymin",
              "object/bndbox/xmax", "object/bndbox/ymax"]
VOC_VALUES = st.sampled_from(["", "abc", "-1", "0", "1", "5.5", "5.0", "1e3", "100000", "32", "calcium", "LAD", "RCA",
                              "nan", "inf", None])
BILLION_LAUGHS = ("<?xml version='1.0'?><!DOCTYPE a [<!ENTITY l0 'ha'>" + "".join(
    f"<!ENTITY l{i} '{('&l' + str(i - 1) + ';') * 10}'>" for i in range(1, 10)) + "]><annotation>&l9;</annotation>")
VOC_SUITE = "pascal voc xml (element mutations)"


def _voc_text(edits: list[tuple[str, str | None]]) -> str:
    import xml.etree.ElementTree as ET

    from tqgd.data.boxes import Box
    from tqgd.data.formats.voc import voc_xml

    root = ET.fromstring(voc_xml("0001.png", 32, 24, 1, [Box(2, 3, 10, 12, 0), Box(20, 5, 31, 9, 1)], VOC_NAMES))
    for field, value in edits:
        element = root.find(field)
        if element is None:
            continue
        if value is None:
            parents = {child: parent for parent in root.iter() for child in parent}
            parents[element].remove(element)
        else:
            element.text = value
    return ET.tostring(root, encoding="unicode")


def voc_problem(text: str) -> str | None:
    """Why a VOC file breaks the rules (integer 1-based inclusive corners inside the image, known names)."""
    import xml.etree.ElementTree as ET

    def whole(value: str | None) -> int | None:
        try:
            number = float(value or "")
        except ValueError:
            return None
        return int(number) if number == number and abs(number) != float("inf") and number.is_integer() else None

    try:
        root = ET.fromstring(text)
    except ET.ParseError:
        return "not XML"
    width, height = whole(root.findtext("size/width")), whole(root.findtext("size/height"))
    if width is None or height is None or width <= 0 or height <= 0:
        return "size"
    for obj in root.iter("object"):
        if obj.findtext("name") not in VOC_NAMES.values():
            return "name"
        corners = [whole(obj.findtext(f"bndbox/{t}")) for t in ("xmin", "ymin", "xmax", "ymax")]
        if None in corners or not (1 <= corners[0] <= corners[2] <= width and 1 <= corners[1] <= corners[3] <= height):
            return "corners"
    return None


@FUZZ_SETTINGS
@given(edits=st.lists(st.tuples(st.sampled_from(VOC_FIELDS), VOC_VALUES), max_size=3),
       special=st.sampled_from([None, None, None, "billion laughs", "truncated", "not xml"]))
def test_voc_files(work_root: Path, runner, edits: list, special: str | None) -> None:
    text = _voc_text(edits)
    if special == "billion laughs":
        text = BILLION_LAUGHS
    elif special == "truncated":
        text = text[: len(text) // 2]
    elif special == "not xml":
        text = "{\"json\": true}"
    path = _case_file(work_root, "0001.xml", text.encode())
    try:
        outcome = runner.run(lc.read_voc_file, str(path), VOC_NAMES)
        problem = voc_problem(text) if special != "billion laughs" else "entity expansion"
        case = f"{text[:300]!r}"
        if problem is None:
            if outcome.kind != "ok":
                check_no_crash(outcome, VOC_SUITE, case)
                count(VOC_SUITE, "failed (refused a valid file)")
                raise AssertionError(f"{case}: valid VOC refused: {outcome.message}")
            count(VOC_SUITE, "accepted (valid by the rules)")
            return
        if outcome.kind == "ok":
            count(VOC_SUITE, "failed (accepted an invalid file)")
            raise AssertionError(f"{case}: accepted although its {problem} is invalid: {outcome.value}")
        check_refusal(outcome, VOC_SUITE, path, case)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


# --- manifest.csv ----------------------------------------------------------------------------------------------------
MANIFEST_SUITE = "manifest.csv (cell, column and row mutations)"


def _manifest_rows() -> list[dict[str, str]]:
    from tqgd.data.convert.manifest import ManifestRow, write_manifest

    buffer = tempfile.NamedTemporaryFile(suffix=".csv", delete=False)
    buffer.close()
    rows = [ManifestRow(f"images/P{i}_z00{i}.png", f"labels/P{i}_z00{i}.txt", "", f"P{i}", i, 0, 0, 64, 64, 1, i + 1,
                        i % 2 if i < 2 else None, "Images/x.mhd", "") for i in range(3)]
    write_manifest(buffer.name, rows)
    text = Path(buffer.name).read_text()
    Path(buffer.name).unlink()
    return list(csv.DictReader(io.StringIO(text)))


@FUZZ_SETTINGS
@given(cells=st.lists(st.tuples(st.integers(0, 2), st.sampled_from(["slice_index", "width", "val_fold", "crop_x0",
                                                                     "coco_image_id", "image", "patient"]),
                                st.sampled_from(["", "x", "1.5", "-1", "7", "1e3", " 3"])), max_size=3),
       drop_column=st.sampled_from([None, None, "val_fold", "mask", "n_boxes"]),
       cut=st.sampled_from([None, None, 0.5, 0.9]))
def test_manifest_files(work_root: Path, runner, cells: list, drop_column: str | None, cut: float | None) -> None:
    rows = _manifest_rows()
    for row, column, value in cells:
        rows[row][column] = value
    columns = [c for c in rows[0] if c != drop_column]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    text = buffer.getvalue()
    if cut is not None:
        text = text[: int(len(text) * cut)]
    path = _case_file(work_root, "manifest.csv", text.encode())
    try:
        outcome = runner.run(lc.read_manifest_file, str(path))
        problem, n_rows = manifest_problem(text)
        case = repr(text[-300:])
        if problem is None:
            if outcome.kind != "ok" or outcome.value != n_rows:
                check_no_crash(outcome, MANIFEST_SUITE, case)
                count(MANIFEST_SUITE, "failed (valid file refused or rows lost)")
                raise AssertionError(f"{case}: expected {n_rows} rows, got {outcome.kind} {outcome.value} "
                                     f"{outcome.message}")
            count(MANIFEST_SUITE, "accepted (valid by the rules)")
            return
        if outcome.kind == "ok":
            count(MANIFEST_SUITE, "failed (accepted an invalid file)")
            raise AssertionError(f"{case}: accepted although {problem}")
        check_refusal(outcome, MANIFEST_SUITE, path, case)
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


def manifest_problem(text: str) -> tuple[str | None, int]:
    """Why a manifest breaks the rules (every column, whole rows, whole numbers), and its row count."""
    from tqgd.data.convert.manifest import COLUMNS

    records = list(csv.reader(io.StringIO(text)))
    if not records or set(COLUMNS) - set(records[0]):
        return "columns are missing", 0
    header = records[0]
    for record in records[1:]:
        if len(record) != len(header):
            return f"a row has {len(record)} cells for {len(header)} columns", 0
        row = dict(zip(header, record, strict=True))
        for name in ("slice_index", "crop_x0", "crop_y0", "width", "height", "n_boxes", "coco_image_id"):
            try:
                int(row[name])
            except ValueError:
                return f"{name} {row[name]!r} is not a whole number", 0
        if row["val_fold"] != "":
            try:
                int(row["val_fold"])
            except ValueError:
                return f"val_fold {row['val_fold']!r}", 0
    return None, len(records) - 1
