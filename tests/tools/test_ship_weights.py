"""tools/ship_weights.py: the card's record of the checkpoint a fine-tune started from."""

from __future__ import annotations

import hashlib
import json

import torch

import tqgd  # noqa: F401  (configures ultralytics before anything imports it)
from tqgd.nn.tasks import TQGDDetectionModel

from tests.tools.tool_scripts import load_tool



def test_a_fine_tune_of_a_fine_tune_still_names_the_architecture(tmp_path):
    model = TQGDDetectionModel("yolov5b-panet-n", verbose=False)
    checkpoint = tmp_path / "second.pt"
    torch.save({"model": model, "ema": None, "train_args": {"model": "/elsewhere/first.pt"}}, checkpoint)
    card = tmp_path / "card.json"
    card.write_text(json.dumps({"settings": {"model": "yolov5b-panet-n"}}))
    record = load_tool("ship_weights").initialised_from(checkpoint, card)["initialised_from"]
    assert record["architecture"] == "yolov5b-panet-n"  # train_args name the .pt it was fine-tuned from
    assert record["sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert record["file"] == "second.pt" and record["card"]["settings"]["model"] == "yolov5b-panet-n"
