"""Fuzz the NIfTI reader with odd orientations, obliques, qform/sform combinations and scalings: an accepted file
must put every voxel at the patient position nibabel gives it, with nibabel's scaled value; an ambiguous one (qform
and sform disagree, a sheared affine, non-finite scaling) must be refused with a named error."""

from __future__ import annotations

import itertools
import shutil
import tempfile
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.reliability import nifti_cases as nc
from tests.reliability.fuzz import FUZZ_SETTINGS, check_refusal, count
from tests.reliability.scan_cases import read_summary, same_volume

SUITE = "nifti (orientations, qform/sform, scaling)"
PERMUTATIONS = list(itertools.permutations(range(3)))
SIGNS = list(itertools.product((1, -1), repeat=3))
QUATERNION = st.tuples(*[st.floats(-1, 1, allow_nan=False)] * 4).filter(lambda q: sum(v * v for v in q) > 0.1)
ROTATION = st.one_of(
    st.builds(lambda p, s: tuple(nc.axis_rotation(p, s).ravel()), st.sampled_from(PERMUTATIONS), st.sampled_from(SIGNS)),
    QUATERNION.map(lambda q: tuple(nc.rotation_matrix(q).ravel())),
)
SCALING = st.sampled_from([(None, None), (None, None), (2.0, -1024.0), (0.5, 0.0), (0.0, 5.0), (0.0, 0.0),
                           (float("nan"), 0.0), (1.0, float("nan")), (float("inf"), 0.0), (-1.0, 100.0)])
CASE = st.builds(
    lambda shape, dtype, rotation, spacing, offset, codes, other, shear, scaling, compressed, seed: nc.NiftiCase(
        shape, dtype, rotation, spacing, offset, codes[0], codes[1], other, shear, scaling[0], scaling[1], compressed,
        seed),
    st.tuples(st.integers(2, 7), st.integers(2, 6), st.integers(1, 4)),
    st.sampled_from(["int16", "uint8", "float32", "int32"]),
    ROTATION,
    st.tuples(*[st.sampled_from([0.4, 0.7, 1.0, 2.5, 3.0])] * 3),
    st.tuples(*[st.floats(-300, 300, allow_nan=False).map(lambda v: round(v, 2))] * 3),
    st.sampled_from([(1, 0), (2, 0), (0, 1), (1, 1), (2, 1), (1, 0), (0, 1), (2, 1), (0, 0)]),
    st.one_of(st.none(), st.none(), st.none(), ROTATION),  # mostly a qform that agrees with the sform
    st.sampled_from([0.0, 0.0, 0.0, 0.3]),
    SCALING,
    st.booleans(),
    st.integers(0, 2**16),
)


@FUZZ_SETTINGS
@given(case=CASE)
def test_odd_nifti_reads_as_nibabel_places_it(tmp_path_factory, runner, case: nc.NiftiCase) -> None:
    work = Path(tempfile.mkdtemp(prefix="case-", dir=tmp_path_factory.getbasetemp()))
    try:
        path = nc.write_case(case, work)
        outcome = runner.run(read_summary, str(path))
        expected = nc.independent_nifti(path)
        if isinstance(expected, str):
            if outcome.kind == "ok":
                count(SUITE, "failed (accepted an ambiguous file)")
                raise AssertionError(f"{case}: tqgd accepted a file whose geometry or values are ambiguous ({expected})")
            check_refusal(outcome, SUITE, path, str(case))
            return
        hu, lps_affine = expected
        if outcome.kind == "ok":
            same_volume(SUITE, str(case), outcome.value, hu, lambda zyx: nc.patient_position(lps_affine, zyx))
        else:
            check_refusal(outcome, SUITE, path, str(case), label="refused where nibabel reads it")
    finally:
        shutil.rmtree(work, ignore_errors=True)
