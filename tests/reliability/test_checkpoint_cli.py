"""Every command that loads weights refuses a checkpoint carrying code, through the CLI: exit 1, a message naming the
offending global and the opt-in, and the payload never runs; --trust-weights / TQGD_TRUST_WEIGHTS=1 load a foreign
(but harmless) checkpoint that is otherwise refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.data.orca_synthetic import write_orcascore_folder
from tests.helpers import run_tqgd
from tests.reliability.checkpoints import (
    MarkerPayload,
    foreign_object,
    save_tqgd_checkpoint,
    with_extra,
)
from tqgd.engine.weights import TRUST_WEIGHTS_ENV


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A tiny OrCaScore folder and its converted dataset, a good checkpoint, one with a payload, a foreign one."""
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore

    root = tmp_path_factory.mktemp("checkpoint_cli")
    src = write_orcascore_folder(root / "src", patients=3, slices=4, size=64)
    dataset = convert_orcascore(src, root / "dataset", OrcaConvertOptions(folds=2, negatives="all")).out
    good = save_tqgd_checkpoint(root / "good.pt")
    return {"src": src, "dataset": dataset, "good": good, "marker": root / "MARKER",
            "evil": with_extra(good, root / "evil.pt", payload=MarkerPayload(root / "MARKER")),
            "foreign": with_extra(good, root / "foreign.pt", saved_on=foreign_object()),
            "scan": src / "Images" / "TRV1P1CTI.mhd"}


def commands(f: dict[str, Path], weights: Path, out: Path) -> dict[str, list[object]]:
    """Each weights-loading command with ``weights`` in its weights option."""
    return {
        "train --model": ["train", "--data", f["dataset"] / "orcascore.yaml", "--model", weights, "--epochs", "1",
                          "--imgsz", "64", "--device", "cpu", "--project", out],
        "val --weights": ["val", "--weights", weights, "--data", f["dataset"] / "orcascore.yaml", "--device", "cpu",
                          "--project", out],
        "cv --model": ["cv", "--data-dir", f["dataset"], "--folds", "2", "--model", weights, "--epochs", "1",
                       "--device", "cpu", "--project", out],
        "detect --weights": ["detect", f["scan"], "--weights", weights, "--out", out, "--device", "cpu"],
        "detect --heart-weights": ["detect", f["scan"], "--weights", f["good"], "--heart-weights", weights, "--out",
                                   out, "--device", "cpu"],
        "convert --heart-weights": ["convert", "orcascore", f["src"], out, "--heart-weights", weights],
    }


@pytest.mark.parametrize("command", ["train --model", "val --weights", "cv --model", "detect --weights",
                                     "detect --heart-weights", "convert --heart-weights"])
def test_every_command_refuses_a_checkpoint_carrying_code(files, monkeypatch, capsys, tmp_path, command) -> None:
    monkeypatch.delenv(TRUST_WEIGHTS_ENV, raising=False)
    code, _, err = run_tqgd(monkeypatch, capsys, *commands(files, files["evil"], tmp_path / "out")[command])
    assert code == 1, err
    assert "evil.pt: refused to load: the checkpoint references builtins.exec" in err
    assert "--trust-weights" in err and f"{TRUST_WEIGHTS_ENV}=1" in err and "Traceback" not in err
    assert not files["marker"].exists()


def test_foreign_checkpoint_needs_the_flag_or_the_variable(files, monkeypatch, capsys, tmp_path) -> None:
    monkeypatch.delenv(TRUST_WEIGHTS_ENV, raising=False)
    detect = ["detect", files["scan"], "--weights", files["foreign"], "--conf", "0.001", "--device", "cpu"]
    code, _, err = run_tqgd(monkeypatch, capsys, *detect, "--out", tmp_path / "refused")
    assert code == 1 and "references datetime.date" in err, err
    code, _, err = run_tqgd(monkeypatch, capsys, *detect, "--out", tmp_path / "flag", "--trust-weights")
    assert code == 0 and (tmp_path / "flag" / "detections.json").is_file(), err
    monkeypatch.setenv(TRUST_WEIGHTS_ENV, "1")
    code, _, err = run_tqgd(monkeypatch, capsys, *detect, "--out", tmp_path / "variable")
    assert code == 0 and (tmp_path / "variable" / "detections.json").is_file(), err
