"""Shared data for the baseline tests: one tiny converted phantom set per session (see ``phantom_data``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.baselines.phantom_data import write_phantom_datasets


@pytest.fixture(scope="session")
def phantom_sets(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``phantom``: the OrCaScore-layout set; ``plain`` / ``cropped``: its conversions (with masks, 2 folds)."""
    return write_phantom_datasets(tmp_path_factory.mktemp("baseline_phantom"))
