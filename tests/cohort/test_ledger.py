"""Exactly-once bookkeeping without Ray: records per fingerprint, the driver's commit, stale and colliding folders."""

from __future__ import annotations

import json

import pytest

from tqgd.cohort.ledger import Ledger, check_out, check_token, fingerprint
from tqgd.errors import CohortError, OutputError


def _attempt(ledger: Ledger, key: str, name: str, content: str):
    """A worker's finished attempt: ``tmp/<key>.<attempt>.<token>/<name>/score.json``."""
    folder = ledger.attempt_dir(key, 1) / name
    folder.mkdir(parents=True)
    (folder / "score.json").write_text(content)
    return folder


def test_a_commit_moves_the_folder_and_records_it_for_this_fingerprint_only(tmp_path) -> None:
    ledger = Ledger(tmp_path / "out", fingerprint("w", None, {"conf": 0.25}))
    ledger.open({})
    taken: dict[str, str] = {}
    written = _attempt(ledger, "k1", "1.2.3", "a")
    record = ledger.commit("k1", {"status": "ok"}, written, taken, "site/a", attempts=2)
    assert (ledger.scans / "1.2.3" / "score.json").read_text() == "a"
    assert not written.parent.exists() and taken == {"1.2.3": "k1"}
    assert record["row"]["output"] == "scans/1.2.3" and record["attempts"] == 2
    assert json.loads(ledger.record_path("k1").read_text()) == record
    assert set(ledger.load()) == {"k1"}
    assert Ledger(ledger.out, fingerprint("w", None, {"conf": 0.5})).load() == {}  # other options: not done


def test_names_held_by_other_scans_get_a_suffix_and_stale_folders_are_replaced(tmp_path) -> None:
    ledger = Ledger(tmp_path / "out", "fp")
    ledger.open({})
    taken: dict[str, str] = {}
    ledger.commit("k1", {"status": "ok"}, _attempt(ledger, "k1", "TRV1", "first"), taken, "a/TRV1.mhd")
    ledger.commit("k2", {"status": "ok"}, _attempt(ledger, "k2", "TRV1", "second"), taken, "b/TRV1.mhd")
    assert taken == {"TRV1": "k1", "TRV1_2": "k2"}
    (ledger.scans / "TRV9").mkdir()  # an interrupted commit: a folder without a record
    (ledger.scans / "TRV9" / "half.json").write_text("old")
    ledger.commit("k3", {"status": "ok"}, _attempt(ledger, "k3", "TRV9", "new"), taken, "c/TRV9.mhd")
    assert sorted(p.name for p in (ledger.scans / "TRV9").iterdir()) == ["score.json"]
    assert (ledger.scans / "TRV1_2" / "score.json").read_text() == "second"
    assert not any(ledger.tmp.iterdir())


def test_a_failed_scan_is_recorded_without_a_folder(tmp_path) -> None:
    ledger = Ledger(tmp_path / "out", "fp")
    ledger.open({})
    record = ledger.commit("k1", {"status": "failed", "error": "bad"}, None, {}, "x")
    assert "output" not in record["row"] and ledger.load()["k1"]["row"]["error"] == "bad"
    assert not any(ledger.scans.iterdir())


def test_opening_a_run_clears_leftover_attempts_and_sets_a_token(tmp_path) -> None:
    ledger = Ledger(tmp_path / "out", "fp")
    ledger.open({})
    _attempt(ledger, "k1", "x", "half-written by a killed run")
    token = ledger.open({"weights": "w.pt"})
    assert not any(ledger.tmp.iterdir())
    assert json.loads((ledger.state / "run.json").read_text())["token"] == token
    check_token(ledger.out, token, "here")
    with pytest.raises(CohortError, match="does not see this run's output folder"):
        check_token(tmp_path / "elsewhere", token, "node7")


def test_an_output_folder_inside_the_source_is_refused(tmp_path) -> None:
    (tmp_path / "src").mkdir()
    with pytest.raises(OutputError, match="inside the source folder"):
        check_out(tmp_path / "src" / "out", tmp_path / "src")
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputError, match="not a folder"):
        check_out(tmp_path / "file", tmp_path / "src")
