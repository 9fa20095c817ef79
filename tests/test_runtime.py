"""``import tqgd`` stays cheap, and ultralytics is still configured (settings offline, tqgd classes allow-listed) the
moment it is first imported, whoever imports it first. Each case runs in a fresh process with a fresh settings file,
whose ultralytics default is ``sync=True``, so a missed set-up shows."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.reliability.checkpoints import save_tqgd_checkpoint
from tqgd.runtime import UltralyticsWatcher

#: Prints what a test needs to know about the process after its own imports ran.
REPORT = textwrap.dedent(
    """
    import json, os, sys
    from ultralytics.utils import SETTINGS
    import torch.serialization, ultralytics
    allowed = {getattr(c, "__name__", "") for c in torch.serialization.get_safe_globals()}
    print("REPORT=" + json.dumps({
        "sync": SETTINGS["sync"], "mlflow": SETTINGS["mlflow"], "offline": os.environ.get("YOLO_OFFLINE"),
        "allowed": sorted(allowed & {"TQGDDetectionModel", "ThrConvs", "QueenFusion", "GDInject", "RepConvBlock"}),
        "loader": type(ultralytics.__spec__.loader).__name__, "module_loader": type(ultralytics.__loader__).__name__,
    }))
    """
)
TQGD_CLASSES = ["GDInject", "QueenFusion", "RepConvBlock", "TQGDDetectionModel", "ThrConvs"]


def _python(code: str, tmp_path: Path, *args: object, check: bool = True) -> subprocess.CompletedProcess:
    env = {**os.environ, "TQGD_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1",
           "YOLO_CONFIG_DIR": str(tmp_path / "ultralytics")}  # a fresh settings file, even when ultralytics loads first
    for key in ("YOLO_OFFLINE", "ULTRALYTICS_SAFE_LOAD"):
        env.pop(key, None)
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=tmp_path, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _report(proc: subprocess.CompletedProcess) -> dict:
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("REPORT="))
    return json.loads(line.removeprefix("REPORT="))


def test_import_tqgd_sets_the_switches_without_importing_torch_or_ultralytics(tmp_path: Path) -> None:
    code = ("import json, os, sys, tqgd; print('REPORT=' + json.dumps({'loaded': [m for m in ('torch', 'ultralytics') "
            "if m in sys.modules], **{k: os.environ.get(k) for k in ('YOLO_OFFLINE', 'YOLO_AUTOINSTALL', "
            "'ULTRALYTICS_SAFE_LOAD')}}))")
    got = _report(_python(code, tmp_path))
    assert got == {"loaded": [], "YOLO_OFFLINE": "1", "YOLO_AUTOINSTALL": "0", "ULTRALYTICS_SAFE_LOAD": "1"}


@pytest.mark.parametrize("first", [
    "import tqgd; import ultralytics.utils",  # a submodule first: the package's __init__ still runs first
    "import tqgd; from ultralytics import YOLO",
    "import tqgd.nn",  # ultralytics first imported from inside tqgd.nn, while tqgd.nn is half imported
    "import tqgd; from tqgd.engine.model import TQGD; TQGD('tqgdnet-n')",  # building a model through tqgd
    "import ultralytics; import tqgd",  # ultralytics before tqgd: set up at once by import tqgd
])
def test_ultralytics_is_configured_whichever_import_comes_first(tmp_path: Path, first: str) -> None:
    got = _report(_python(first + "\n" + REPORT, tmp_path))
    assert got["sync"] is False and got["mlflow"] is False
    assert got["allowed"] == TQGD_CLASSES
    assert got["loader"] == got["module_loader"] == "SourceFileLoader"  # ultralytics keeps its own loader


@pytest.fixture(scope="module")
def tqgd_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_tqgd_checkpoint(tmp_path_factory.mktemp("weights") / "tqgdnet-n.pt")


LOAD_WITH_PLAIN_YOLO = textwrap.dedent(
    """
    import sys
    import tqgd
    if sys.argv[2] == "unwatched":  # the control: take tqgd's import watcher out before ultralytics loads
        sys.meta_path[:] = [f for f in sys.meta_path if type(f).__name__ != "UltralyticsWatcher"]
    from ultralytics import YOLO
    import ultralytics.nn.tasks as tasks
    model = YOLO(sys.argv[1])
    print("LOADED", type(model.model).__name__, "restricted" if tasks.SAFE_LOAD else "full pickle")
    """
)


def test_plain_yolo_loads_a_tqgd_checkpoint_under_restricted_loading(tmp_path: Path, tqgd_checkpoint: Path) -> None:
    proc = _python(LOAD_WITH_PLAIN_YOLO, tmp_path, tqgd_checkpoint, "watched")
    assert "LOADED TQGDDetectionModel restricted" in proc.stdout


def test_without_the_watcher_restricted_loading_refuses_tqgd_classes(tmp_path: Path, tqgd_checkpoint: Path) -> None:
    """The test above can fail: with the watcher taken out, nothing allow-lists tqgd's classes."""
    proc = _python(LOAD_WITH_PLAIN_YOLO, tmp_path, tqgd_checkpoint, "unwatched", check=False)
    assert proc.returncode != 0 and "LOADED" not in proc.stdout
    assert "tqgd.nn" in proc.stderr and "not an allowed global" in proc.stderr, proc.stderr[-3000:]


def test_watcher_is_installed_once_and_leaves_other_and_missing_modules_alone(tmp_path: Path, monkeypatch) -> None:
    code = ("import sys, tqgd; from tqgd.runtime import watch_ultralytics; watch_ultralytics(); watch_ultralytics();"
            "print('REPORT=' + str(sum(type(f).__name__ == 'UltralyticsWatcher' for f in sys.meta_path)))")
    assert _report(_python(code, tmp_path)) == 1
    watcher = UltralyticsWatcher()
    monkeypatch.setattr(sys, "meta_path", [watcher])  # no finder can locate ultralytics: the import fails as usual
    assert watcher.find_spec("ultralytics") is None
    assert watcher.find_spec("numpy") is None
