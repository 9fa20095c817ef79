"""Fixtures for data-layer tests: small synthetic CT volumes, DICOM series written from them, pydicom test files.

Everything is made on the fly in ``tmp_path``; nothing here is committed data. Add fixtures for other data
tests below (keep them small: a few slices of 32-64 px).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from tqgd.data.volume import CTVolume, ScanMetadata

#: An oblique but orthonormal direction (columns = x, y, z axes): catches any row/column or sign mix-up.
OBLIQUE_DIRECTION = np.array([[0.0, -1.0, 0.0], [0.8, 0.0, 0.6], [-0.6, 0.0, 0.8]])


def ct_volume(shape: tuple[int, int, int] = (6, 24, 40), spacing_mm: tuple[float, float, float] = (2.5, 0.7, 0.8),
              origin_mm: tuple[float, float, float] = (-20.0, -30.5, 40.25), direction: np.ndarray | None = None,
              seed: int = 0, hu_low: int = -1024, hu_high: int = 1500,
              slice_positions_mm: np.ndarray | None = None, slice_thickness_mm: float | None = None) -> CTVolume:
    """A CTVolume of random integer HU (non-square slices, so rows and columns cannot be confused)."""
    rng = np.random.default_rng(seed)
    hu = rng.integers(hu_low, hu_high, size=shape).astype(np.float32)
    meta = ScanMetadata(source=Path("synthetic"), format="synthetic", slice_thickness_mm=slice_thickness_mm)
    return CTVolume(hu=hu, spacing_mm=spacing_mm, origin_mm=origin_mm,
                    direction=np.eye(3) if direction is None else direction, meta=meta,
                    slice_positions_mm=slice_positions_mm)


@pytest.fixture
def make_ct_volume() -> Callable[..., CTVolume]:
    """Factory for synthetic CT volumes; see ``ct_volume`` for the arguments."""
    return ct_volume


@pytest.fixture
def dicom_series(tmp_path: Path) -> tuple[Path, CTVolume]:
    """A 6-slice uncompressed CT series (24x40 px, 2.5 mm spacing, 3 mm thickness) and the volume it holds."""
    from tqgd.data.writers import write_dicom_series

    volume = ct_volume(slice_thickness_mm=3.0)
    folder = tmp_path / "series"
    write_dicom_series(volume, folder, uid_seed="fixture", patient_name="Doe^Jane", patient_id="PID-123", kvp=100.0,
                       series_description="fixture series")
    return folder, volume


@pytest.fixture
def pydicom_file() -> Callable[[str], Path]:
    """Path of one of pydicom's real test files (bundled, or from the pydicom-data package); never downloads."""
    from pydicom.data import get_testdata_file

    def find(name: str) -> Path:
        found = get_testdata_file(name, download=False)
        if found is None:
            pytest.fail(f"pydicom test file {name} is not installed; install the test extras (pip install -e .[dev]), "
                        "which bring the pydicom-data package")
        return Path(found)

    return find
