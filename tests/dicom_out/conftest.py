"""One phantom DICOM series for the whole package (generating it takes seconds)."""

from __future__ import annotations

import pytest

from tests.dicom_out.phantom_series import write_phantom_series


@pytest.fixture(scope="session")
def phantom_series(tmp_path_factory):
    return write_phantom_series(tmp_path_factory.mktemp("dicom-out-phantom"))
