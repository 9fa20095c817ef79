"""Fuzz the MetaImage reader with damaged headers and data files: a named tqgd error, or the voxels the header and
data file really hold (checked by an independent plain-Python reader)."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.reliability import metaimage_cases as mc
from tests.reliability.fuzz import FUZZ_SETTINGS, check_refusal, count
from tests.reliability.scan_cases import read_summary, same_volume

SUITE = "metaimage (header fields, raw lines, data files)"


@pytest.fixture(scope="module")
def bases(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The valid file, compressed (.zraw) and not (.raw), each alone in its folder."""
    root = tmp_path_factory.mktemp("metaimage_bases")
    return {"zraw": mc.write_base(root / "zraw", compress=True), "raw": mc.write_base(root / "raw", compress=False)}


MUTATION = st.one_of(
    st.sampled_from(sorted(mc.FIELD_VALUES)).flatmap(
        lambda key: st.tuples(st.just("field"), st.just(key), st.sampled_from(mc.FIELD_VALUES[key]))),
    st.tuples(st.just("line"), st.sampled_from(mc.RAW_LINES)),
    st.tuples(st.just("data"), st.sampled_from(mc.DATA_ACTIONS), st.sampled_from([0.0, 0.3, 0.5, 0.99])),
)


@FUZZ_SETTINGS
@given(kind=st.sampled_from(["zraw", "raw"]), mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_damaged_metaimage(bases: dict[str, Path], runner, kind: str, mutations: list[tuple]) -> None:
    work = Path(tempfile.mkdtemp(prefix="case-", dir=bases[kind].parent.parent))
    try:
        header = mc.build_case(bases[kind], work / "scan", mutations)
        case = f"{kind} {mutations}"
        outcome = runner.run(read_summary, str(header))
        try:
            expected, geometry = mc.independent_metaimage(header)
        except mc.NotReadable as reason:
            if outcome.kind == "ok":
                count(SUITE, "failed (accepted what the independent reader refuses)")
                raise AssertionError(f"{case}: tqgd accepted a file the independent reader refuses ({reason})")
            check_refusal(outcome, SUITE, header, case)
            return
        if outcome.kind == "ok":
            same_volume(SUITE, case, outcome.value, expected, lambda zyx: mc.patient_position(geometry, zyx))
        else:
            check_refusal(outcome, SUITE, header, case, label="refused where the independent reader reads it")
    finally:
        shutil.rmtree(work, ignore_errors=True)
