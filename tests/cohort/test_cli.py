"""``tqgd cohort run`` as a command: help, and bad input refused by name before Ray or any model starts."""

from __future__ import annotations

from tests.helpers import run_tqgd


def test_help_names_every_option(monkeypatch, capsys) -> None:
    code, out, _ = run_tqgd(monkeypatch, capsys, "cohort", "run", "--help")
    assert code == 0
    for option in ("--out", "--weights", "--address", "--workers", "--gpus-per-worker", "--max-attempts",
                   "--retry-failed", "--include-identifiers"):
        assert option in out


def test_bad_sources_fail_with_the_file_and_the_fix(tmp_path, monkeypatch, capsys) -> None:
    weights = tmp_path / "w.pt"
    weights.write_bytes(b"x")
    manifest = tmp_path / "m.csv"
    manifest.write_text("file\na.mhd\n")
    code, _, err = run_tqgd(monkeypatch, capsys, "cohort", "run", manifest, "--out", tmp_path / "o", "--weights",
                            weights)
    assert code == 1 and "m.csv: the manifest has no 'path' column" in err
    (tmp_path / "src").mkdir()
    code, _, err = run_tqgd(monkeypatch, capsys, "cohort", "run", tmp_path / "src", "--out", tmp_path / "src" / "o",
                            "--weights", weights)
    assert code == 1 and "inside the source folder" in err
    code, _, err = run_tqgd(monkeypatch, capsys, "cohort", "run", tmp_path / "src", "--out", tmp_path / "o",
                            "--weights", weights, "--workers", "0")
    assert code == 2 and "--workers" in err
