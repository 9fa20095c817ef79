"""``tqgd cohort run`` on a local Ray instance with 2 CPUs and 2 workers: the cohort table and per-scan files equal
``tqgd detect`` run scan by scan; broken and MR series end failed and the rest scored; a second run does no work;
a worker killed with SIGKILL mid-run still ends with every scan done exactly once.

8 scans of 64 px (6 scorable, 2 not), one epoch of TQGDNet-n: about a minute and a half on 2 cores.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tests.cohort.conftest import BAD_SCANS, GOOD, LOW_CONF
from tests.helpers import run_tqgd
from tqgd.cohort import CohortSettings, run_cohort
from tqgd.cohort.sources import scan_key

pytestmark = pytest.mark.slow


def _settings(data, **changes) -> CohortSettings:
    given = {"weights": data.weights, "options": {"conf": LOW_CONF, "verify": False}, "workers": 2,
             "include_identifiers": True}  # the verifier (phantom-trained) rejects this fixture's synthetic blobs
    return CohortSettings(**{**given, **changes})


def _files(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _rows(out: Path) -> dict[str, dict]:
    """Table rows by source path (relative to the source folder), found through their keys."""
    rows = {r["key"]: r for r in pq.read_table(out / "cohort.parquet").to_pylist()}
    return {source: rows[scan_key(source, None)] for source in (*GOOD, *BAD_SCANS)}


@pytest.fixture(scope="module")
def first_run(cohort_data, local_ray, tmp_path_factory):
    out = tmp_path_factory.mktemp("cohort-run") / "out"
    result = run_cohort(cohort_data.source, out, _settings(cohort_data))
    return out, result


def test_table_and_files_equal_tqgd_detect_scan_by_scan(first_run, cohort_data, tmp_path, monkeypatch, capsys):
    import torch

    out, result = first_run
    rows = _rows(out)
    assert cohort_data.good == GOOD
    assert result.total == len(rows) == len(pq.read_table(out / "cohort.parquet")) == len(GOOD) + len(BAD_SCANS)
    assert all(row["source"] == source for source, row in rows.items())  # asked for with include_identifiers
    assert result.processed == result.total and result.skipped == 0 and result.retries == 0
    with open(out / "cohort.csv", encoding="utf-8") as fh:
        assert sum(1 for _ in fh) == len(rows) + 1
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each worker runs (--cpus-per-worker 1): same arithmetic, same boxes
    try:
        for source in cohort_data.good:
            row = rows[source]
            assert row["status"] == "ok" and row["error"] is None and row["attempts"] == 1, row
            assert row["key"] == scan_key(source, None)
            single = tmp_path / row["key"]
            code, _, err = run_tqgd(monkeypatch, capsys, "detect", cohort_data.source / source, "--weights",
                                    cohort_data.weights, "--conf", LOW_CONF, "--no-verify", "--out", single)
            assert code == 0, err
            expected = _files(single)
            assert {"detections.json", "detections.csv", "score.json", "report.png"} <= set(expected)
            assert _files(out / row["output"]) == expected, source  # byte for byte
            score = json.loads((single / "score.json").read_text())
            detections = json.loads((single / "detections.json").read_text())
            assert row["agatston"] == pytest.approx(score["agatston"], abs=0)
            assert row["volume_mm3"] == pytest.approx(score["volume_mm3"], abs=0)
            assert (row["risk_category"], row["lesion_count"]) == (score["risk_category"], score["lesion_count"])
            assert row["detections"] == sum(len(s["detections"]) for s in detections["slices"]) > 0
            assert (row["scan_id"], row["series_uid"]) == (detections["scan_id"], detections["series_uid"])
    finally:
        torch.set_num_threads(threads)
    assert len(list((out / "scans").iterdir())) == len(cohort_data.good)
    assert not any((out / ".cohort" / "tmp").iterdir())


def test_broken_and_mr_series_fail_and_the_rest_are_scored(first_run, cohort_data):
    out, result = first_run
    rows = _rows(out)
    assert result.failed == len(BAD_SCANS)
    for source, message in BAD_SCANS.items():
        row = rows[source]
        assert row["status"] == "failed" and row["cause"] == "ScanReadError" and message in row["error"], row
        assert row["output"] is None and row["agatston"] is None and row["attempts"] == 1
    assert all(rows[s]["status"] == "ok" and rows[s]["agatston"] is not None for s in cohort_data.good)
    report = (out / "report.md").read_text()
    assert f"{len(rows)} scans: {len(cohort_data.good)} scored, {len(BAD_SCANS)} failed" in report
    assert f"| ScanReadError | {len(BAD_SCANS)} |" in report
    assert (out / "summary.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_second_run_does_no_work(first_run, cohort_data, monkeypatch, capsys):
    out, _ = first_run
    before = {p: p.stat().st_mtime_ns for p in [*(out / "scans").rglob("*"), *(out / ".cohort" / "done").iterdir()]}
    code, _, err = run_tqgd(monkeypatch, capsys, "cohort", "run", cohort_data.source, "--out", out, "--weights",
                            cohort_data.weights, "--conf", LOW_CONF, "--no-verify", "--workers", "2")
    assert code == 1 and f"{len(BAD_SCANS)} of 8 scans failed" in err  # the failed scans stay failed
    assert "8 already done, 0 to do" in err and "0 processed now" in err
    after = {p: p.stat().st_mtime_ns for p in [*(out / "scans").rglob("*"), *(out / ".cohort" / "done").iterdir()]}
    assert after == before


def test_other_options_redo_every_scan(first_run, cohort_data):
    from tqgd.cohort.ledger import Ledger
    from tqgd.cohort.run import run_fingerprint

    out, _ = first_run
    same, _ = run_fingerprint(_settings(cohort_data))
    other, _ = run_fingerprint(_settings(cohort_data, options={"conf": 0.5}))
    assert same != other
    assert len(Ledger(out, same).load()) == 8 and not Ledger(out, other).load()


def test_a_worker_killed_mid_run_leaves_every_scan_done_exactly_once(first_run, cohort_data, tmp_path):
    out = tmp_path / "out"
    started, killed = [], {}

    def on_event(kind: str, data: dict) -> None:
        if kind != "started":
            return
        started.append(data)
        if len(started) == 3:  # a worker that already finished a scan, now busy with its next one
            killed.update(data)
            threading.Timer(0.5, os.kill, (data["pid"], signal.SIGKILL)).start()

    result = run_cohort(cohort_data.source, out, _settings(cohort_data), on_event=on_event)
    with pytest.raises(ProcessLookupError):
        os.kill(killed["pid"], 0)
    assert result.retries == 1 and result.processed == 8
    rows = _rows(out)
    retried = [r for r in rows.values() if r["attempts"] == 2]
    assert [r["key"] for r in retried] == [killed["key"]]
    assert retried[0]["status"] == "ok" and retried[0]["worker"] != killed["worker"]
    assert sum(1 for d in started if d["key"] == killed["key"]) == 2
    first_out, _ = first_run
    first_rows = _rows(first_out)
    folders = sorted(p.name for p in (out / "scans").iterdir())
    assert folders == sorted(p.name for p in (first_out / "scans").iterdir())  # one folder per scan, none twice
    for source in cohort_data.good:
        assert rows[source]["output"] == first_rows[source]["output"]
        assert _files(out / rows[source]["output"]) == _files(first_out / first_rows[source]["output"])
        for column in ("agatston", "volume_mm3", "risk_category", "lesion_count", "detections", "status"):
            assert rows[source][column] == first_rows[source][column]
    assert {s: rows[s]["status"] for s in BAD_SCANS} == {s: "failed" for s in BAD_SCANS}
    assert not any((out / ".cohort" / "tmp").iterdir())


def test_a_scan_whose_worker_always_dies_is_failed_after_max_attempts(cohort_data, local_ray, tmp_path):
    manifest = tmp_path / "manifest.csv"
    dicom = cohort_data.source / GOOD[0]
    manifest.write_text(f"path,series_uid,note\n{dicom},,kills its worker\n"
                        f"{cohort_data.source / GOOD[4]},,fine\n")
    doomed = scan_key(str(dicom), None)
    killed = []

    def on_event(kind: str, data: dict) -> None:
        if kind == "started" and data["key"] == doomed:
            killed.append(data["pid"])
            os.kill(data["pid"], signal.SIGKILL)

    result = run_cohort(manifest, tmp_path / "out", _settings(cohort_data, max_attempts=2), on_event=on_event)
    assert len(killed) == 2 and len(set(killed)) == 2 and result.retries == 1
    rows = {r["key"]: r for r in pq.read_table(tmp_path / "out" / "cohort.parquet").to_pylist()}
    assert rows[doomed]["status"] == "failed" and rows[doomed]["cause"] == "worker died"
    assert rows[doomed]["attempts"] == 2 and "each of 2 attempts" in rows[doomed]["error"]
    fine = rows[scan_key(str(cohort_data.source / GOOD[4]), None)]
    assert fine["status"] == "ok" and fine["source"] == str(cohort_data.source / GOOD[4])
    assert [p.name for p in (tmp_path / "out" / "scans").iterdir()] == [fine["output"].split("/")[1]]


def test_weights_a_worker_cannot_load_stop_the_run_with_the_reason(cohort_data, local_ray, tmp_path):
    from tqgd.errors import CheckpointError

    broken = tmp_path / "heart.pt"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="heart.pt"):
        run_cohort(cohort_data.source, tmp_path / "out", _settings(cohort_data, heart_weights=broken))
    assert not any((tmp_path / "out" / ".cohort" / "done").iterdir())
