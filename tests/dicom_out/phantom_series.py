"""A small phantom patient (128 px) written as a DICOM CT series plus its reference mask, for the DICOM tests.

``write_phantom_series`` is shared by tests/dicom_out and tests/pacs; ``need_tool`` decides what a missing external
program (dciodvfy, dsrdump, Orthanc) means: a failure under ``TQGD_REQUIRE_ORTHANC=1`` (set by ``.ci/run``, which
installs them), else a skip that says what to install.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Set by .ci/run: a missing Orthanc / dicom3tools / dcmtk fails the run instead of skipping.
REQUIRE_ENV = "TQGD_REQUIRE_ORTHANC"
PHANTOM_SEED = 3


@dataclass(frozen=True)
class PhantomSeries:
    """Paths of the written phantom: the DICOM series folder and the reference label mask (.mhd)."""

    dicom: Path
    mask: Path
    case_id: str


def write_phantom_series(root: Path, seed: int = PHANTOM_SEED, case_id: str | None = None) -> PhantomSeries:
    """Generate phantom patient ``seed`` at 128 px and write it as DICOM and MetaImage under ``root``."""
    from tqgd.data.phantom import generate_patient
    from tqgd.data.phantom.config import PhantomConfig
    from tqgd.data.phantom.layout import write_case

    case_id = case_id or f"DCMOUT{seed}"
    case = generate_patient(seed, PhantomConfig(image_size=128), case_id)
    files = write_case(case, root, ("orcascore", "dicom"))
    return PhantomSeries(dicom=root / files["dicom"], mask=root / files["reference"], case_id=case_id)


def need_tool(binary: str, package: str) -> str:
    """Path of ``binary``; without it fail (under ``TQGD_REQUIRE_ORTHANC=1``) or skip, naming the package."""
    found = shutil.which(binary)
    if found:
        return found
    message = f"{binary} not found: install Debian's {package} (apt-get install {package})"
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message}; {REQUIRE_ENV}=1 requires it", pytrace=False)
    pytest.skip(message)
