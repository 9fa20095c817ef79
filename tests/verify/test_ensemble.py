"""merge_verifiers: one ONNX file scoring the mean of its members' probabilities, with their record."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from tqgd.data.lesion_patches import candidate_patch, find_candidates
from tqgd.verify.ensemble import merge_verifiers
from tqgd.verify.runtime import LesionVerifier
from tqgd.nn.verifier import LesionVerifierNet
from tqgd.verify.train import VerifierRecipe, export_verifier


def _member(tmp_path, seed: int, threshold: float = 0.1, data: str = "unit test"):
    """An untrained verifier (weights drawn with ``seed``) exported as a tqgd ONNX file."""
    torch.manual_seed(seed)
    return export_verifier(LesionVerifierNet(n_scalars=4), tmp_path / f"seed{seed}.onnx",
                           VerifierRecipe(seed=seed, threshold=threshold), data, {"final_loss": seed / 10})


def _candidates():
    """Patches and scalars of the components of a small scan: a deposit, a rod and a speck."""
    hu = np.full((10, 64, 64), 40.0, dtype=np.float32)
    hu[3:5, 10:14, 10:14] = 600.0
    hu[:, 50:53, 50:53] = 500.0
    hu[6, 30:32, 30:33] = 250.0
    labels, found = find_candidates(hu)
    built = [candidate_patch(hu, labels, candidate, (3.0, 0.5, 0.5)) for candidate in found]
    return np.stack([p for p, _ in built]).astype(np.float32), np.stack([s for _, s in built])


def test_merged_verifier_scores_the_mean_probability_of_its_members(tmp_path):
    members = [_member(tmp_path, seed) for seed in (0, 1, 2)]
    merged = LesionVerifier(merge_verifiers(members, tmp_path / "verifier.onnx"))
    patches, scalars = _candidates()
    each = np.stack([LesionVerifier(path).probabilities(patches, scalars) for path in members])
    assert len(patches) == 3 and np.ptp(each, axis=0).max() > 1e-3  # the members disagree, so the mean is a test
    assert np.allclose(merged.probabilities(patches, scalars), each.mean(axis=0), atol=1e-6)
    assert merged.threshold == 0.1 and merged.record["combine"] == "mean"
    assert [(m["file"], m["seed"], m["final_loss"]) for m in merged.record["members"]] == [
        ("seed0.onnx", 0, 0.0), ("seed1.onnx", 1, 0.1), ("seed2.onnx", 2, 0.2)]
    assert merged.record["recipe"]["seed"] == [0, 1, 2] and "counts" not in merged.record  # no member's own numbers
    assert merged.describe(0.1)["seeds"] == [0, 1, 2] and LesionVerifier(members[1]).describe(0.1)["seeds"] == [1]
    assert not list(tmp_path.glob(".verifier.onnx*"))


def test_the_min_combination_keeps_only_what_every_member_keeps(tmp_path):
    members = [_member(tmp_path, seed) for seed in (0, 1, 2)]
    merged = LesionVerifier(merge_verifiers(members, tmp_path / "verifier.onnx", combine="min"))
    patches, scalars = _candidates()
    each = np.stack([LesionVerifier(path).probabilities(patches, scalars) for path in members])
    assert np.allclose(merged.probabilities(patches, scalars), each.min(axis=0), atol=1e-6)
    assert merged.record["combine"] == "min"
    with pytest.raises(ValueError, match="combine must be one of"):
        merge_verifiers(members, tmp_path / "other.onnx", combine="median")


def test_members_trained_on_different_data_are_all_named(tmp_path):
    old, new, also_new = _member(tmp_path, 0, data="sets A"), _member(tmp_path, 1, data="sets A+B"), \
        _member(tmp_path, 2, data="sets A+B")
    merged = LesionVerifier(merge_verifiers([new, old, also_new], tmp_path / "verifier.onnx", combine="min"))
    assert merged.record["training_data"] == "sets A+B + sets A"
    assert [m["training_data"] for m in merged.record["members"]] == ["sets A+B", "sets A", "sets A+B"]
    same = LesionVerifier(merge_verifiers([new, also_new], tmp_path / "same.onnx"))
    assert same.record["training_data"] == "sets A+B"


def test_saturated_members_stay_finite(tmp_path):
    members = [_member(tmp_path, seed) for seed in (0, 1)]
    merged = LesionVerifier(merge_verifiers(members, tmp_path / "verifier.onnx"))
    patches, scalars = _candidates()
    huge = np.full_like(scalars, 1e6)  # drives every member's logit far past float32's sigmoid range
    probabilities = merged.probabilities(patches, huge)
    assert np.isfinite(probabilities).all()
    assert ((probabilities > 1e-6 - 1e-9) & (probabilities < 1 - 1e-6 + 1e-9)).all()


def test_members_of_different_recipes_or_files_are_refused(tmp_path):
    first, other = _member(tmp_path, 0), _member(tmp_path, 1, threshold=0.3)
    with pytest.raises(ValueError, match="threshold 0.3 differs"):
        merge_verifiers([first, other], tmp_path / "out.onnx")
    with pytest.raises(ValueError, match="two or more"):
        merge_verifiers([first], tmp_path / "out.onnx")
    with pytest.raises(FileNotFoundError, match="missing.onnx"):
        merge_verifiers([first, tmp_path / "missing.onnx"], tmp_path / "out.onnx")
    plain = tmp_path / "plain.onnx"
    value = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    onnx.save(helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "plain", [value],
                                                  [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])),
              str(plain))
    with pytest.raises(ValueError, match="not a tqgd lesion verifier"):
        merge_verifiers([first, plain], tmp_path / "out.onnx")
    assert not (tmp_path / "out.onnx").exists()
