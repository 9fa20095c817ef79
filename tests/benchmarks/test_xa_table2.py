"""benchmarks/xa_table2.py: folds run side by side are reused by the call that assembles the table."""

from __future__ import annotations

import argparse
from pathlib import Path


def test_a_fold_stored_by_an_only_folds_process_is_reused_by_the_assembling_call(tmp_path: Path) -> None:
    from xa_table2 import cached

    common = {"work": tmp_path, "epochs": 2, "json": None, "doc": None, "no_doc": True, "models": ["tqgdnet-n"]}
    child = argparse.Namespace(**common, only_folds=[1], prepare_only=False, parallel_folds=1)
    parent = argparse.Namespace(**common, only_folds=None, prepare_only=False, parallel_folds=8)
    path = tmp_path / "results" / "baseline_fold1.json"
    calls = []
    record, wall, _ = cached(child, path, lambda: calls.append(1) or {"f1": 0.5})
    assert calls == [1] and record == {"f1": 0.5} and wall is not None
    assert cached(parent, path, lambda: calls.append(2) or {"f1": 0.0})[0] == {"f1": 0.5}
    assert calls == [1]
    changed = argparse.Namespace(**{**vars(parent), "epochs": 3})  # an option that changes the result: trained again
    assert cached(changed, path, lambda: calls.append(3) or {"f1": 0.1})[0] == {"f1": 0.1}
    assert calls == [1, 3]


def test_the_side_by_side_runner_drops_only_its_own_option() -> None:
    from xa_table2 import without_option

    argv = ["--work", "w", "--parallel-folds", "4", "--epochs", "2", "--parallel-folds=3", "--det-epochs", "4"]
    assert without_option(argv, "--parallel-folds") == ["--work", "w", "--epochs", "2", "--det-epochs", "4"]
