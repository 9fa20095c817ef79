"""One calcium detector trained on phantom patches per test session (``phantom_model``), shared by the explain tests."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.explain.phantom_model import phantom_scans, train_patch_model, write_patch_dataset


@pytest.fixture(scope="session")
def trained(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """``scans``: two gated 512 px phantom patients (MetaImage); ``weights``: yolov5b-panet-n trained on patches of
    both; ``patch``: one training image (a dataset PNG); ``train_s``: training seconds."""
    root = tmp_path_factory.mktemp("explain")
    scans = phantom_scans(root / "phantom")
    data = write_patch_dataset(scans, root / "patches")
    start = time.perf_counter()
    weights = train_patch_model(data, root / "runs")
    train_s = time.perf_counter() - start
    patch = sorted((root / "patches" / "images").glob("*_z*_0.png"))[0]
    return {"root": root, "scans": scans, "weights": weights, "patch": patch, "train_s": train_s}


@pytest.fixture(scope="session")
def scan(trained) -> Path:
    """The first phantom patient's scan (the one the randomisation check runs on)."""
    return trained["scans"][0]
