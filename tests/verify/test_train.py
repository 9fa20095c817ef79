"""Training the verifier on labelled candidates and exporting it: ONNX Runtime gives the logits torch gives."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tqgd.data.lesion_patches import candidate_patch, find_candidates
from tqgd.verify.dataset import CandidateSet, add_case
from tqgd.verify.runtime import LesionVerifier
from tqgd.verify.train import VerifierRecipe, export_verifier, train_verifier


def _case():
    """(10, 64, 64) scan: two compact deposits marked in the reference, a rod and a plate that are not."""
    hu = np.full((10, 64, 64), 40.0, dtype=np.float32)
    reference = np.zeros(hu.shape, np.uint8)
    hu[3:5, 10:14, 10:14] = 600.0
    reference[3:5, 10:14, 10:14] = 1
    hu[6:8, 40:43, 12:15] = 450.0
    reference[6:8, 40:43, 12:15] = 2
    hu[:, 50:53, 50:53] = 500.0               # rod: not calcium
    hu[2:4, 20:40, 40:44] = 300.0             # plate: not calcium
    hu[9, 2:6, 2:6] = 900.0                   # outside the heart boxes below
    return hu, reference


def test_add_case_labels_components_by_the_reference_inside_the_heart_boxes():
    hu, reference = _case()
    sidecar = {"heart_boxes_xyxy": [[20, 20, 50, 50]] * 10,  # grown by ROI_MARGIN_PX = 10
               "distractors": [{"kind": "stent", "bbox_zyx": [0, 50, 50, 9, 52, 52]}]}
    found = CandidateSet()
    assert add_case(found, hu, reference, (3.0, 0.5, 0.5), sidecar) == 4
    patches, scalars, labels = found.arrays()
    assert patches.shape == (4, 2, 15, 48, 48) and patches.dtype == np.float16 and scalars.shape == (4, 4)
    assert sorted(zip(found.kinds, labels.tolist())) == [("calcium", 1), ("calcium", 1), ("other", 0), ("stent", 0)]
    without_sidecar = CandidateSet()  # ROI: the reference's extent grown by 40 mm (all of this small scan)
    assert add_case(without_sidecar, hu, reference, (3.0, 0.5, 0.5)) == 5


def test_trained_and_exported_verifier_agrees_with_torch(tmp_path):
    hu, reference = _case()
    found = CandidateSet()
    for shift in range(6):  # a few shifted copies so both classes have several examples
        add_case(found, np.roll(hu, shift, axis=2), np.roll(reference, shift, axis=2), (3.0, 0.5, 0.5))
    patches, scalars, labels = found.arrays()
    net, losses = train_verifier(patches, scalars, labels, VerifierRecipe(epochs=2, batch=8))
    assert len(losses) == 2 and all(np.isfinite(losses))
    path = export_verifier(net, tmp_path / "v.onnx", VerifierRecipe(epochs=2, threshold=0.1), "unit test",
                           {"n": len(labels)})
    verifier = LesionVerifier(path)
    assert verifier.threshold == 0.1 and verifier.record["training_data"] == "unit test"
    assert json.loads(json.dumps(verifier.record))["patch"] == [15, 48, 48, 0.7]
    with torch.no_grad():
        expected = torch.sigmoid(net(torch.from_numpy(patches.astype(np.float32)), torch.from_numpy(scalars))).numpy()
    assert np.allclose(verifier.probabilities(patches.astype(np.float32), scalars), expected, atol=1e-5)
    assert not list(tmp_path.glob(".v.onnx*"))


def test_training_needs_both_classes():
    hu, reference = _case()
    labels, found = find_candidates(hu)
    patch, scalars = candidate_patch(hu, labels, found[0], (3.0, 0.5, 0.5))
    with pytest.raises(ValueError, match="both"):
        train_verifier(patch[None], scalars[None], np.ones(1, np.uint8), VerifierRecipe(epochs=1))


def test_candidate_weights_enter_the_loss_and_are_checked():
    hu, reference = _case()
    found = CandidateSet()
    add_case(found, hu, reference, (3.0, 0.5, 0.5))
    patches, scalars, labels = found.arrays()
    _, losses = train_verifier(patches, scalars, labels, VerifierRecipe(epochs=1, batch=8),
                               weights=np.zeros(len(labels)))
    assert losses == [0.0]  # nothing weighted, nothing to learn from
    _, weighted = train_verifier(patches, scalars, labels, VerifierRecipe(epochs=1, batch=8),
                                 weights=np.full(len(labels), 3.0))
    _, plain = train_verifier(patches, scalars, labels, VerifierRecipe(epochs=1, batch=8))
    assert weighted[0] == pytest.approx(3 * plain[0], rel=1e-5)  # one batch: the same first step, three times the loss
    with pytest.raises(ValueError, match="one non-negative value per candidate"):
        train_verifier(patches, scalars, labels, VerifierRecipe(epochs=1), weights=np.ones(len(labels) + 1))
