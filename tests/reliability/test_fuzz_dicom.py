"""Fuzz the DICOM reader with damaged series: every case ends in a named tqgd error or the HU pydicom gives."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, JPEGLSLossless, RLELossless

from tests.reliability import dicom_cases as dc
from tests.reliability.fuzz import check_refusal, count, fuzz_settings
from tests.reliability.scan_cases import read_summary, same_volume

SUITE = "dicom (tag, VR, pixel and file mutations)"
SYNTAX_NAMES = {ExplicitVRLittleEndian: "explicit", ImplicitVRLittleEndian: "implicit", RLELossless: "rle",
                JPEGLSLossless: "jpegls"}


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The valid series once per transfer syntax (3 slices of 10 x 12 px, random HU, oblique orientation)."""
    from tqgd.data.volume import CTVolume, ScanMetadata
    from tqgd.data.writers import write_dicom_series

    root = tmp_path_factory.mktemp("dicom_bases")
    rng = np.random.default_rng(8)
    hu = rng.integers(-1024, 2000, size=(dc.N_FILES, dc.ROWS, dc.COLUMNS)).astype(np.float32)
    direction = np.array([[0.0, -1.0, 0.0], [0.8, 0.0, 0.6], [-0.6, 0.0, 0.8]])
    volume = CTVolume(hu=hu, spacing_mm=dc.SPACING_MM, origin_mm=(-20.0, 30.5, 40.25), direction=direction,
                      meta=ScanMetadata(source=Path("fuzz"), format="synthetic"))
    out = {}
    for syntax, name in SYNTAX_NAMES.items():
        write_dicom_series(volume, root / name, transfer_syntax=syntax, uid_seed="fuzz", patient_name="Fuzz^Base")
        out[name] = root / name
    return out


FILE_INDEX = st.integers(0, dc.N_FILES - 1)
MUTATION = st.one_of(
    st.sampled_from(sorted(dc.VALUES)).flatmap(
        lambda keyword: st.tuples(st.just("set"), FILE_INDEX, st.just(keyword), st.sampled_from(dc.VALUES[keyword]))),
    st.tuples(st.just("vr"), FILE_INDEX, st.sampled_from(["Rows", "RescaleSlope", "PixelSpacing", "BitsAllocated",
                                                          "ImagePositionPatient", "Modality", "PixelRepresentation"]),
              st.sampled_from(dc.WRONG_VRS)).map(lambda t: (t[0], t[1], t[2], *t[3])),
    st.tuples(st.just("pixels"), FILE_INDEX, st.sampled_from([0, 1, 100, 239, 241, 300, 10_000])),
    st.tuples(st.just("syntax"), FILE_INDEX, st.sampled_from(dc.SYNTAXES)),
    st.tuples(st.just("file"), FILE_INDEX, st.sampled_from(dc.FILE_ACTIONS), st.sampled_from([0.0, 0.1, 0.5, 0.97])),
)


@fuzz_settings(weight=2)  # four transfer syntaxes share the examples
@given(syntax=st.sampled_from(sorted(SYNTAX_NAMES.values())),
       mutations=st.lists(MUTATION, min_size=1, max_size=3), all_files=st.booleans())
def test_damaged_dicom_series(bases: dict[str, Path], runner, syntax: str, mutations: list[tuple],
                              all_files: bool) -> None:
    if all_files:  # the same header damage in every slice (a broken exporter), not just one file
        mutations = [m if m[0] == "file" else (m[0], i, *m[2:]) for m in mutations for i in range(dc.N_FILES)]
    work = Path(tempfile.mkdtemp(prefix="case-", dir=bases[syntax].parent))
    folder = work / "series"
    try:
        case = f"{syntax} {dc.build_case(bases[syntax], folder, mutations)}"
        outcome = runner.run(read_summary, str(folder))
        try:
            expected, geometry = dc.independent_series(folder)
        except dc.NotReadable as reason:
            if outcome.kind == "ok":
                count(SUITE, "failed (accepted what the independent reader refuses)")
                raise AssertionError(f"{case}: tqgd accepted a series the independent reader refuses ({reason})")
            check_refusal(outcome, SUITE, folder, case)
            return
        if outcome.kind == "ok":
            same_volume(SUITE, case, outcome.value, expected, lambda zyx: dc.patient_position(geometry, zyx))
        else:
            check_refusal(outcome, SUITE, folder, case, label="refused where pydicom reads it (stricter rule)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
