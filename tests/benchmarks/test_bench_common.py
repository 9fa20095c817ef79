"""bench_common: each script rewrites only its own block of BENCHMARKS.md and records where and how it ran."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from bench_common import git_commit, record_line, run_record, update_block

from tqgd.errors import ConfigError


def test_blocks_are_appended_then_replaced_without_touching_the_rest(tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("# Benchmarks\n\nprose the lead wrote\n")
    update_block("quality", "table v1", doc)
    update_block("speed", "speed v1", doc)
    update_block("quality", "table v2", doc)
    assert doc.read_text() == ("# Benchmarks\n\nprose the lead wrote\n\n<!-- quality:begin -->\ntable v2\n"
                               "<!-- quality:end -->\n\n<!-- speed:begin -->\nspeed v1\n<!-- speed:end -->\n")


def test_a_missing_file_is_created_with_a_title(tmp_path: Path) -> None:
    doc = update_block("speed", "numbers", tmp_path / "new.md")
    assert doc.read_text().startswith("# Benchmarks\n") and "<!-- speed:begin -->\nnumbers\n" in doc.read_text()


def test_unpaired_markers_are_refused_and_the_file_kept(tmp_path: Path) -> None:
    doc = tmp_path / "BENCHMARKS.md"
    doc.write_text("<!-- speed:begin -->\nhalf a block\n")
    with pytest.raises(ConfigError, match=r"BENCHMARKS.md: the '<!-- speed:begin -->' .* unpaired or repeated"):
        update_block("speed", "numbers", doc)
    assert doc.read_text() == "<!-- speed:begin -->\nhalf a block\n"


def test_the_record_names_command_date_commit_machine_and_load() -> None:
    record = run_record("model_speed.py")
    assert record["command"].startswith("python benchmarks/model_speed.py")
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", record["date"])
    assert re.fullmatch(r"[0-9a-f]{7,}( \+ local changes)?|unknown", git_commit())
    assert "CPU cores" in record["machine"] and "torch" in record["machine"]
    line = record_line(record)
    assert record["commit"] in line and record["load"] in line and "`python benchmarks/model_speed.py" in line
