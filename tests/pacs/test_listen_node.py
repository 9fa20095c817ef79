"""``tqgd.pacs.listen`` without a PACS: refusals with failure statuses, store-before-ack, one analysis per series,
resumption from disk, retries of failed sends (a stand-in destination records what it was sent)."""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path

import pydicom
import pytest

from tests.pacs.orthanc import free_port
from tests.pacs.scu import send
from tqgd.pacs.analysis import AnalysisResult, ThresholdAnalyser
from tqgd.pacs.listen import CANNOT_UNDERSTAND, NOT_MATCHING, SUCCESS, Listener
from tqgd.pacs.series_store import DONE, FAILED, RECEIVING, SeriesStore

MR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.4"


class Destination:
    """Records what it was sent; refuses the first ``failures`` sends."""

    def __init__(self, failures: int = 0):
        self.sent: list[list[Path]] = []
        self.failures = failures

    def describe(self) -> str:
        return "stand-in destination"

    def store(self, paths: list[Path]) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError("destination down")
        self.sent.append(list(paths))


def _wait(condition, timeout_s: float = 90.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting for the listener"
        time.sleep(0.2)


@pytest.fixture
def node(tmp_path):
    started = []

    def make(analyser=None, destination=None, idle_timeout_s: float = 1.0):
        listener = Listener(tmp_path / "storage", analyser or ThresholdAnalyser(), destination or Destination(),
                            port=free_port(), idle_timeout_s=idle_timeout_s, poll_s=0.1, retry_s=0.2)
        listener.start()
        started.append(listener)
        return listener

    yield make
    for listener in started:
        listener.stop()


def _series(phantom_series) -> list[Path]:
    return sorted(phantom_series.dicom.glob("*.dcm"))


def test_bad_input_is_refused_with_a_status_and_the_node_keeps_serving(phantom_series, node, caplog) -> None:
    destination = Destination()
    listener = node(destination=destination)
    files = _series(phantom_series)
    ct = pydicom.dcmread(files[0])
    mr = copy.deepcopy(ct)
    mr.Modality, mr.SOPClassUID = "MR", MR_IMAGE_STORAGE
    mr.file_meta.MediaStorageSOPClassUID = MR_IMAGE_STORAGE
    no_pixels = copy.deepcopy(ct)
    del no_pixels.PixelData
    truncated = copy.deepcopy(ct)
    truncated.PixelData = truncated.PixelData[:100]
    no_uid = copy.deepcopy(ct)
    no_uid.SeriesInstanceUID = "not a uid"
    with caplog.at_level("WARNING", logger="tqgd.pacs.listen"):
        assert send(listener.port, [mr, no_pixels, truncated, no_uid]) == [NOT_MATCHING, CANNOT_UNDERSTAND,
                                                                          CANNOT_UNDERSTAND, CANNOT_UNDERSTAND]
    assert "not CT" in caplog.text and "no Pixel Data" in caplog.text
    assert send(listener.port, files) == [SUCCESS] * len(files)
    series_uid = str(ct.SeriesInstanceUID)
    _wait(lambda: listener.store.state(series_uid).get("status") == DONE)  # set just after the send returns
    assert [p.name for p in destination.sent[0]] == ["seg.dcm", "sr.dcm", "sc.dcm"]
    state = json.loads((listener.store.folder(series_uid) / "state.json").read_text())
    assert state["instances"] == len(files)
    assert not (listener.store.series_root / "not a uid").exists()
    time.sleep(1.5)  # several idle periods later: analysed and sent once
    assert len(destination.sent) == 1


def test_failed_analysis_is_recorded_and_failed_sends_are_retried(phantom_series, node) -> None:
    class Broken(ThresholdAnalyser):
        def analyse(self, series_dir, out) -> AnalysisResult:
            raise RuntimeError("model exploded")

    files = _series(phantom_series)[:3]
    listener = node(analyser=Broken())
    assert send(listener.port, files) == [SUCCESS] * 3
    series_uid = str(pydicom.dcmread(files[0]).SeriesInstanceUID)
    _wait(lambda: listener.store.state(series_uid).get("status") == FAILED)
    assert "model exploded" in listener.store.state(series_uid)["error"]
    listener.stop()

    destination = Destination(failures=2)
    retrying = node(destination=destination)
    assert send(retrying.port, _series(phantom_series)) == [SUCCESS] * len(_series(phantom_series))
    _wait(lambda: retrying.store.state(series_uid).get("status") == DONE)
    assert destination.failures == 0 and len(destination.sent) == 1  # the failed series, reopened, sent once
    assert retrying.store.state(series_uid)["reopened"]


def test_store_opens_the_series_before_the_instance_and_a_restart_resumes_it(tmp_path) -> None:
    store = SeriesStore(tmp_path)
    store.add("1.2.3", "1.2.3.1", b"one")
    assert json.loads((tmp_path / "series" / "1.2.3" / "state.json").read_text())["status"] == RECEIVING
    (store.instances("1.2.3") / ".1.2.3.2.dcm.abc.part").write_bytes(b"half")  # a crash mid-write
    store.set_state("9.9", status=DONE)
    again = SeriesStore(tmp_path)  # a restart
    assert again.idle(0.0) == ["1.2.3"]
    assert [p.name for p in again.instances("1.2.3").iterdir()] == ["1.2.3.1.dcm"]
    again.add("9.9", "9.9.1", b"late")  # a late instance reopens a finished series
    assert again.state("9.9")["status"] == RECEIVING and again.state("9.9")["reopened"]


def test_listen_needs_one_destination(tmp_path, monkeypatch, capsys) -> None:
    from tests.helpers import run_tqgd

    code, _, err = run_tqgd(monkeypatch, capsys, "listen", "--storage", tmp_path, "--method", "threshold")
    assert code == 2 and "destination" in err and "AE title, host and port" in err
    code, _, err = run_tqgd(monkeypatch, capsys, "listen", "--storage", tmp_path, "--dest-url", "http://x",
                            "--method", "nonsense")
    assert code == 1 and "unknown --method 'nonsense'" in err
