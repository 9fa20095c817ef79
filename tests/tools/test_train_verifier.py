"""tools/train_verifier.py: several seeds trained, kept for a resumed run, and merged into one verifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tqgd.verify.dataset import CandidateSet, add_case
from tqgd.verify.runtime import LesionVerifier

from tests.tools.tool_scripts import load_tool



def _cached_candidates(work: Path) -> None:
    """A candidate cache as the tool writes it: deposits in the reference, a rod and a plate that are not."""
    found = CandidateSet()
    for shift in range(4):
        hu = np.full((10, 64, 64), 40.0, dtype=np.float32)
        reference = np.zeros(hu.shape, np.uint8)
        hu[3:5, 10:14, 10 + shift:14 + shift] = 600.0
        reference[3:5, 10:14, 10 + shift:14 + shift] = 1
        hu[:, 50:53, 50:53] = 500.0
        hu[2:4, 20:40, 40:44] = 300.0
        add_case(found, hu, reference, (3.0, 0.5, 0.5))
    patches, scalars, labels = found.arrays()
    np.savez(work / "candidates.npz", patches=patches, scalars=scalars, labels=labels, kinds=np.array(found.kinds))


def test_several_seeds_are_trained_kept_and_merged(tmp_path, capsys):
    _cached_candidates(tmp_path)
    argv = ["--work", str(tmp_path), "--sets", str(tmp_path / "unused"), "--seeds", "3", "4", "--epochs", "1"]
    assert load_tool("train_verifier").main(argv) == 0
    merged = LesionVerifier(tmp_path / "verifier.onnx")
    assert [(m["file"], m["seed"]) for m in merged.record["members"]] == [("verifier-seed3.onnx", 3),
                                                                          ("verifier-seed4.onnx", 4)]
    first = (tmp_path / "verifier-seed3.onnx").stat().st_mtime_ns
    capsys.readouterr()
    assert load_tool("train_verifier").main(argv) == 0  # resumed: both seeds reused, the merge written again
    assert (tmp_path / "verifier-seed3.onnx").stat().st_mtime_ns == first
    assert "seed 3: reusing" in capsys.readouterr().out
    assert LesionVerifier(tmp_path / "verifier.onnx").digest == merged.digest
    assert load_tool("train_verifier").main([*argv, "--combine", "min"]) == 0
    assert LesionVerifier(tmp_path / "verifier.onnx").record["combine"] == "min"
