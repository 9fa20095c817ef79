"""Small phantom runs shared by the XA tests: 60 frames of 128 px (written in well under a second each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tqgd.xa.phantom_set import run_id, write_run

SMALL_FRAMES, SMALL_SIZE = 60, 128


@pytest.fixture(scope="session")
def small_runs(tmp_path_factory) -> Path:
    """A folder with runs P001V1, P001V2 (patient 1) and P002V1 (patient 2) of seed 3."""
    folder = tmp_path_factory.mktemp("xa-runs")
    for patient, view in ((0, 0), (0, 1), (1, 0)):
        write_run(folder, 3, patient, view, SMALL_FRAMES, SMALL_SIZE)
    return folder


@pytest.fixture(scope="session")
def small_run(small_runs) -> Path:
    """The DICOM file of P001V1."""
    return small_runs / f"{run_id(0, 0)}.dcm"
