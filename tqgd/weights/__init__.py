"""The weights that ship inside tqgd: a calcium detector, a heart detector and a lesion verifier (``verifier.onnx``,
``tqgd.verify``) trained on the synthetic phantom.

``tqgd detect`` uses them when no ``--weights`` is given, so a fresh install detects calcium without training. They
are phantom weights, not clinical ones: every output made with them says so. ``card.json`` records how they were
made (data, seeds, recipe, versions, commit, held-out results); ``tools/ship_weights.py`` re-makes them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

CALCIUM_WEIGHTS = "calcium.pt"
HEART_WEIGHTS = "heart.pt"
VERIFIER = "verifier.onnx"
CARD_JSON = "card.json"
#: The checkpoint's training-data note (``tqgd.engine.detect_model.TRAINING_DATA_KEY``) of the shipped weights.
PHANTOM_SHIPPED_DATA = ("synthetic phantom (weights shipped with tqgd): not clinically trained, not for patient "
                        "care")


def weights_dir() -> Path:
    """The folder holding the shipped weights (inside the installed package)."""
    return Path(__file__).resolve().parent


def shipped_weights() -> tuple[Path, Path] | None:
    """(calcium, heart) weights shipped with this install, or None when this copy of tqgd has none."""
    folder = weights_dir()
    calcium, heart = folder / CALCIUM_WEIGHTS, folder / HEART_WEIGHTS
    return (calcium, heart) if calcium.is_file() and heart.is_file() else None


def model_card() -> dict[str, Any]:
    """Contents of ``card.json`` (empty when absent)."""
    card = weights_dir() / CARD_JSON
    return json.loads(card.read_text(encoding="utf-8")) if card.is_file() else {}
