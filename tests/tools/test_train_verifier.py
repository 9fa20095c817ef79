"""tools/train_verifier.py: several seeds trained, kept for a resumed run, and merged into one verifier."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

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


def test_a_trained_seed_is_merged_with_an_existing_verifier(tmp_path, capsys):
    _cached_candidates(tmp_path)
    base = ["--work", str(tmp_path), "--sets", str(tmp_path / "unused"), "--epochs", "1"]
    assert load_tool("train_verifier").main([*base, "--seeds", "5"]) == 0
    existing = tmp_path / "existing.onnx"
    (tmp_path / "verifier.onnx").rename(existing)
    with pytest.raises(SystemExit) as refused:  # checked before an hour of training, not after
        load_tool("train_verifier").main([*base, "--merge-with", str(tmp_path / "missing.onnx")])
    assert refused.value.code == 2 and "missing.onnx" in capsys.readouterr().err
    assert not (tmp_path / "verifier-seed0.onnx").exists()
    assert load_tool("train_verifier").main([*base, "--merge-with", str(existing), "--combine", "min"]) == 0
    merged = LesionVerifier(tmp_path / "verifier.onnx")
    assert [(m["file"], m["seed"]) for m in merged.record["members"]] == [("verifier-seed0.onnx", 0),
                                                                          ("existing.onnx", 5)]
    assert merged.record["combine"] == "min"


def test_default_sets_build_valid_configs_and_reuse_written_sets(tmp_path, monkeypatch):
    import tqgd.data.phantom.layout as layout
    from tqgd.data.phantom.config import PhantomConfig, with_metal_share

    written = {}

    def fake_write(root, patients, seed, gated, image_size, config, overwrite):
        written[Path(root).name] = (patients, seed, gated, config)

    monkeypatch.setattr(layout, "write_phantom_set", fake_write)
    tool = load_tool("train_verifier")
    (tmp_path / "sets" / "gated" / "phantom").mkdir(parents=True)
    (tmp_path / "sets" / "gated" / "phantom" / "phantom.json").write_text("{}")
    roots = tool.make_default_sets(tmp_path)
    assert [r.name for r in roots] == list(tool.DEFAULT_SETS)
    assert "gated" not in written and set(written) == set(tool.DEFAULT_SETS) - {"gated"}
    assert written["metal-gated"][3] == with_metal_share(PhantomConfig(), 0.9)
    assert written["non-gated"][1:] == (9302, False, PhantomConfig())
    dense = written["dense2-non-gated"][3]
    assert (dense.lesions_per_patient, dense.aortic_calcifications) == ((8, 12), (3, 6))
    assert written["dense2-non-gated"][:3] == (48, 9404, False)
