"""``tqgd listen`` as a real process sending to a real Orthanc: killed mid-series (SIGKILL) and restarted, nothing
acknowledged is lost and the series is scored once complete; and a node sending by STOW-RS."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pydicom
import pytest

from tests.pacs.checks import check_results
from tests.pacs.orthanc import free_port
from tests.pacs.scu import send
from tqgd.pacs.listen import NOT_MATCHING, SUCCESS

IDLE_TIMEOUT_S = 3
MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
READY_TIMEOUT_S = 180.0
RESULT_TIMEOUT_S = 180.0


def _echo(port: int) -> bool:
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(Verification)
    ae.acse_timeout = ae.network_timeout = 2
    assoc = ae.associate("127.0.0.1", port, ae_title="TQGD")
    if not assoc.is_established:
        return False
    status = assoc.send_c_echo()
    assoc.release()
    return getattr(status, "Status", None) == SUCCESS


def _start(storage: Path, port: int, orthanc, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-c", "from tqgd.cli import main; main()", "listen", "--storage", str(storage),
               "--port", str(port), "--idle-timeout", str(IDLE_TIMEOUT_S), "--dest-aet", "ORTHANC", "--dest-host",
               "127.0.0.1", "--dest-port", str(orthanc.dicom_port), "--method", "threshold"]
    process = subprocess.Popen(command, stdout=open(log, "ab"), stderr=subprocess.STDOUT,
                               env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not _echo(port):
        assert process.poll() is None, f"tqgd listen exited with {process.returncode}:\n{log.read_text()[-3000:]}"
        assert time.monotonic() < deadline, f"tqgd listen did not answer C-ECHO:\n{log.read_text()[-3000:]}"
        time.sleep(0.5)
    return process


def _wait_for_results(orthanc, study_uid: str, timeout_s: float = RESULT_TIMEOUT_S) -> float:
    """Seconds until the study's SEG, SR and SC are all in Orthanc (it starts empty, so they are all it holds)."""
    start = time.monotonic()
    while len(orthanc.find_instances(StudyInstanceUID=study_uid)) < 3:
        assert time.monotonic() - start < timeout_s, "the results did not all reach Orthanc"
        time.sleep(0.3)
    return time.monotonic() - start


def test_listen_killed_mid_series_loses_nothing_and_resumes(phantom_series, orthanc, tmp_path) -> None:
    files = sorted(phantom_series.dicom.glob("*.dcm"))
    half = len(files) // 2
    study = str(pydicom.dcmread(files[0]).StudyInstanceUID)
    series = str(pydicom.dcmread(files[0]).SeriesInstanceUID)
    storage, log = tmp_path / "storage", tmp_path / "listen.log"
    node = _start(storage, free_port(), orthanc, log)
    try:
        assert send(_port_of(node), files[:half]) == [SUCCESS] * half
    finally:
        node.send_signal(signal.SIGKILL)  # no clean-up of any kind
        node.wait()
    on_disk = list((storage / "series" / series / "instances").glob("*.dcm"))
    assert len(on_disk) == half  # every acknowledged instance is on disk
    assert not orthanc.find_instances(StudyInstanceUID=study, Modality="SR")

    node = _start(storage, free_port(), orthanc, log)
    try:
        not_ct = pydicom.dcmread(files[0])
        not_ct.Modality, not_ct.SOPClassUID = "MR", MR_IMAGE_STORAGE
        assert send(_port_of(node), [not_ct]) == [NOT_MATCHING]  # refused, and the node goes on
        assert send(_port_of(node), files[half:]) == [SUCCESS] * (len(files) - half)
        waited = _wait_for_results(orthanc, study)
        print(f"listen: results in Orthanc {waited:.1f}s after the last instance (idle timeout {IDLE_TIMEOUT_S}s)")
        check_results(orthanc, phantom_series.dicom)  # the SEG references all instances: both halves
        assert "1 unfinished series resumed" in log.read_text() and "not CT (Modality 'MR'" in log.read_text()
    finally:
        node.send_signal(signal.SIGTERM)
        assert node.wait(timeout=60) == 0, log.read_text()[-3000:]


def _port_of(process: subprocess.Popen) -> int:
    return int(process.args[process.args.index("--port") + 1])


def test_listen_sends_results_by_stow(phantom_series, orthanc, tmp_path) -> None:
    from tqgd.pacs.analysis import ThresholdAnalyser
    from tqgd.pacs.dicomweb import DicomWebPacs
    from tqgd.pacs.listen import Listener

    files = sorted(phantom_series.dicom.glob("*.dcm"))
    listener = Listener(tmp_path / "storage", ThresholdAnalyser(), DicomWebPacs(orthanc.dicomweb), port=free_port(),
                        idle_timeout_s=1.0, poll_s=0.1)
    listener.start()
    try:
        assert send(listener.port, files) == [SUCCESS] * len(files)
        _wait_for_results(orthanc, str(pydicom.dcmread(files[0]).StudyInstanceUID))
        results = check_results(orthanc, phantom_series.dicom)
        assert results["sc"].Rows > 0
    finally:
        listener.stop()


@pytest.fixture(autouse=True)
def _empty_orthanc(orthanc) -> None:
    """Each test starts from an Orthanc holding nothing: the results it finds come from this test."""
    assert orthanc.get("/instances") == []
