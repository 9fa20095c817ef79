"""Shared PACS test set-up: one phantom series (DICOM + reference mask) and a fresh Orthanc per test."""

from __future__ import annotations

import pytest

from tests.dicom_out.phantom_series import write_phantom_series


@pytest.fixture(scope="session")
def phantom_series(tmp_path_factory):
    return write_phantom_series(tmp_path_factory.mktemp("pacs-phantom"), seed=4, case_id="PACS4")


@pytest.fixture
def orthanc(tmp_path):
    """A running Orthanc (stopped afterwards) that knows the AE title TQGD at the port in ``orthanc.tqgd_port``."""
    from tests.pacs.orthanc import free_port, start_orthanc

    tqgd_port = free_port()
    server = start_orthanc(tmp_path / "orthanc", {"TQGD": tqgd_port})
    server.tqgd_port = tqgd_port
    yield server
    server.stop()
