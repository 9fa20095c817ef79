"""The phantom weights shipped inside tqgd: present, labelled, used by ``tqgd detect`` without ``--weights``, and
finding most of a held-out phantom patient's calcium (patients from seeds the shipped training never used)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tests.helpers import run_tqgd
from tqgd.weights import CARD_JSON, PHANTOM_SHIPPED_DATA, model_card, shipped_weights, weights_dir

#: Held-out phantom patients (seed, gated): not the shipped training seeds (tqgd.engine.ship).
HELD_OUT = ((424242, True), (515151, False))


def test_weights_ship_inside_the_package_with_their_card():
    found = shipped_weights()
    assert found is not None, f"no shipped weights in {weights_dir()}; run tools/ship_weights.py --install"
    card = model_card()
    assert card["warning"] == PHANTOM_SHIPPED_DATA and card["settings"]["model"].startswith("tqgdnet")
    for path in found:
        assert path.stat().st_size < 20_000_000  # "a few MB"
    assert json.loads((weights_dir() / CARD_JSON).read_text())["train_args"]["epochs"] >= 1


@pytest.fixture(scope="module")
def held_out(tmp_path_factory) -> list[tuple[Path, np.ndarray]]:
    """Two held-out phantom patients as DICOM series, with their reference labels (Z, Y, X) in DICOM slice order."""
    from tqgd.data.phantom import PhantomConfig, generate_patient
    from tqgd.data.phantom.layout import write_case

    root = tmp_path_factory.mktemp("held_out")
    cases = []
    for seed, gated in HELD_OUT:
        case = generate_patient(seed, PhantomConfig(gated=gated), f"HELD{seed}")
        write_case(case, root, ("dicom",))
        cases.append((root / "DICOM" / case.case_id, case.labels))
    return cases


@pytest.mark.slow
def test_detect_without_weights_uses_them_and_finds_most_lesions(monkeypatch, capsys, tmp_path, held_out):
    from tqgd.detections import load_detections

    found = total = 0
    for index, (series, labels) in enumerate(held_out):
        out = tmp_path / f"out{index}"
        code, text, err = run_tqgd(monkeypatch, capsys, "detect", series, "--out", out)
        assert code == 0, err
        said = " ".join(text.split())
        assert "PHANTOM WEIGHTS" in text and "physics filter: dropped" in said and "rescue: " in said
        result = load_detections(out / "detections.json")
        assert result.model["training_data"] == PHANTOM_SHIPPED_DATA
        assert (out / "score.json").is_file()
        # reference lesions (3D, 6-connected, as OrCaScore) hit by a box: counted independently of tqgd.scoring
        lesions, count = ndimage.label(labels > 0)
        hit = set()
        for z, detection in result.all_detections():
            x0, y0, x1, y1 = (int(round(v)) for v in detection.box_xyxy)
            hit |= set(np.unique(lesions[z, y0:y1, x0:x1])) - {0}
        found, total = found + len(hit), total + count
    assert total > 0 and found / total >= 0.5, f"shipped weights found {found} of {total} held-out lesions"
