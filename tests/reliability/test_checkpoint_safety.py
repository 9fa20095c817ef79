"""Untrusted checkpoints: a .pt carrying code is refused before the code runs; foreign pickles need an explicit opt-in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from tests.reliability.checkpoints import MarkerPayload, foreign_object, save_tqgd_checkpoint, with_extra
from tqgd.engine.weights import TRUST_WEIGHTS_ENV, checkpoint_loading, load_checkpoint, load_weights
from tqgd.errors import CheckpointError

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained TQGDNet-n checkpoint saved by ultralytics."""
    return save_tqgd_checkpoint(tmp_path_factory.mktemp("weights") / "good.pt")


@pytest.mark.parametrize(("via", "refused"), [("exec", "builtins.exec"), ("os.system", "posix.system")])
@pytest.mark.parametrize("loader", [load_weights, load_checkpoint], ids=["load_weights", "load_checkpoint"])
def test_code_in_a_checkpoint_is_refused_and_never_runs(good_checkpoint: Path, tmp_path: Path, via: str,
                                                        refused: str, loader) -> None:
    marker = tmp_path / "MARKER"
    evil = with_extra(good_checkpoint, tmp_path / "evil.pt", payload=MarkerPayload(marker, via))
    with pytest.raises(CheckpointError, match=rf"evil.pt: refused to load: the checkpoint references {refused}, .*"
                                              rf"nothing from this file was run.*--trust-weights.*{TRUST_WEIGHTS_ENV}=1"):
        loader(evil)
    assert not marker.exists()
    with pytest.raises(CheckpointError, match="refused to load"):
        loader(evil, trust=False)
    assert not marker.exists()


def test_the_payload_is_real_it_runs_when_trusted(good_checkpoint: Path, tmp_path: Path) -> None:
    """The marker test above can fail: full pickle loading of the same file does run the payload."""
    marker = tmp_path / "MARKER"
    evil = with_extra(good_checkpoint, tmp_path / "evil.pt", payload=MarkerPayload(marker))
    load_checkpoint(evil, trust=True)
    assert marker.read_text() == "ran"


def test_ultralytics_safe_load_off_does_not_turn_off_tqgd_restricted_loading(good_checkpoint: Path,
                                                                              tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    evil = with_extra(good_checkpoint, tmp_path / "evil.pt", payload=MarkerPayload(marker))
    env = {k: v for k, v in os.environ.items() if k != TRUST_WEIGHTS_ENV}
    env.update(ULTRALYTICS_SAFE_LOAD="0", OMP_NUM_THREADS="1")
    code = "import sys, tqgd; from tqgd.engine.weights import load_weights; load_weights(sys.argv[1])"
    run = subprocess.run([sys.executable, "-c", code, str(evil)], cwd=REPO, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode != 0 and "CheckpointError" in run.stderr and "builtins.exec" in run.stderr, run.stderr
    assert not marker.exists()


def test_foreign_checkpoint_loads_only_with_the_opt_in(good_checkpoint: Path, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    foreign = with_extra(good_checkpoint, tmp_path / "old.pt", saved_on=foreign_object())
    monkeypatch.delenv(TRUST_WEIGHTS_ENV, raising=False)
    with pytest.raises(CheckpointError, match=r"old.pt: refused to load: the checkpoint references datetime.date,"):
        load_weights(foreign)

    trusted = load_weights(foreign, trust=True)
    reference = load_weights(good_checkpoint)
    got, want = trusted.model.state_dict(), reference.model.state_dict()
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    assert load_checkpoint(foreign, trust=True)["saved_on"] == foreign_object()

    monkeypatch.setenv(TRUST_WEIGHTS_ENV, "1")
    assert load_checkpoint(foreign)["saved_on"] == foreign_object()
    with pytest.raises(CheckpointError, match="refused to load"):  # an explicit False beats the environment
        load_checkpoint(foreign, trust=False)

    monkeypatch.setenv(TRUST_WEIGHTS_ENV, "0")
    with pytest.raises(CheckpointError, match="refused to load"):  # trusting once does not stay switched on
        load_checkpoint(foreign)


def test_checkpoint_loading_restores_ultralytics_switches(monkeypatch: pytest.MonkeyPatch) -> None:
    import ultralytics.nn.tasks as tasks

    monkeypatch.setenv("ULTRALYTICS_SAFE_LOAD", "1")
    before = tasks.SAFE_LOAD
    with checkpoint_loading(trust=True) as trusted:
        assert trusted and tasks.SAFE_LOAD is False and os.environ["ULTRALYTICS_SAFE_LOAD"] == "0"
    assert tasks.SAFE_LOAD == before and os.environ["ULTRALYTICS_SAFE_LOAD"] == "1"
    with pytest.raises(RuntimeError), checkpoint_loading(trust=False):
        assert tasks.SAFE_LOAD is True
        raise RuntimeError("a failed load inside the block")
    assert tasks.SAFE_LOAD == before


def _truncated(good: Path, target: Path) -> Path:
    data = good.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


DAMAGED = {
    "empty": (lambda good, t: (t.write_bytes(b""), t)[1], r"the weights file is empty"),
    "random bytes": (lambda good, t: (t.write_bytes(bytes(range(7, 256)) * 8), t)[1], r"not a PyTorch checkpoint"),
    "png renamed": (lambda good, t: (t.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64)), t)[1],
                    r"not a PyTorch checkpoint \(it starts with bytes b'\\x89PNG'"),
    "truncated": (_truncated, r"the weights file is truncated or corrupted"),
    "folder": (lambda good, t: (t.mkdir(), t)[1], r"is a folder, not a weights file"),
    "missing": (lambda good, t: t, r"weights file not found.*never downloads"),
}


@pytest.mark.parametrize("case", sorted(DAMAGED))
def test_damaged_weights_files_get_a_clear_error(good_checkpoint: Path, tmp_path: Path, case: str) -> None:
    build, message = DAMAGED[case]
    target = build(good_checkpoint, tmp_path / "w.pt")
    for trust in (False, True):
        with pytest.raises(CheckpointError, match=rf"w.pt: {message}"):
            load_weights(target, trust=trust)


def test_wrong_suffix_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "weights.onnx"
    target.write_bytes(b"PK\x03\x04")
    with pytest.raises(CheckpointError, match=r"weights.onnx: expected a PyTorch checkpoint ending in .pt"):
        load_checkpoint(target)
