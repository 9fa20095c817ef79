"""What the fuzz worker runs on a scan, and what the parent compares it with.

``read_summary`` is the code under test (``read_ct``) reduced to plain arrays so it can cross a process boundary;
``same_volume`` compares it with an expectation computed by an independent reader (pydicom, nibabel or a plain
numpy parse of a MetaImage), and counts the case as accepted when they agree.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from tests.reliability.fuzz import count

#: Patient positions computed two ways may differ by float rounding of DS strings and direction cosines.
POSITION_TOLERANCE_MM = 1e-3


def read_summary(path: str) -> dict[str, Any]:
    """``read_ct(path)`` as plain data: HU (Z, Y, X), spacing (z, y, x), and the patient position (x, y, z) of the
    centres of the volume's 8 corner voxels, which pins down origin, direction and slice order at once."""
    from tqgd.data.readers import read_ct

    volume = read_ct(path)
    z, y, x = volume.shape
    corners = np.array([[k, j, i] for k in (0, z - 1) for j in (0, y - 1) for i in (0, x - 1)], dtype=float)
    return {"hu": volume.hu, "spacing_mm": volume.spacing_mm, "corners_zyx": corners,
            "corners_mm": volume.index_to_patient(corners), "has_hu": volume.meta.has_hu,
            "scan_id": volume.meta.scan_id}


def same_volume(suite: str, case: str, got: dict[str, Any], hu: np.ndarray, index_to_mm) -> None:
    """Assert ``got`` (from ``read_summary``) holds ``hu`` (float64, independent) and maps the grid corners to the
    positions ``index_to_mm(zyx)`` gives; count the case as accepted."""
    want = hu.astype(np.float32)
    problems = []
    if got["hu"].shape != want.shape:
        problems.append(f"shape {got['hu'].shape} != independent {want.shape}")
    elif not np.array_equal(got["hu"], want, equal_nan=True):
        bad = np.argwhere(got["hu"] != want)
        first = tuple(int(v) for v in bad[0])
        problems.append(f"{len(bad)} voxels differ, e.g. {first}: {got['hu'][first]} != {want[first]}")
    else:
        expected_mm = np.array([index_to_mm(c) for c in got["corners_zyx"]])
        error_mm = float(np.abs(expected_mm - got["corners_mm"]).max())
        if not error_mm <= POSITION_TOLERANCE_MM:
            problems.append(f"voxel positions differ by up to {error_mm:.4g} mm from the independent reader")
    if problems:
        count(suite, "failed (silently wrong)")
        raise AssertionError(f"{suite}: {case}: accepted but wrong: {'; '.join(problems)}")
    count(suite, "accepted (matches independent reader)")


def as_path(path: Path) -> str:
    """Paths cross to the worker as strings."""
    return str(path)
