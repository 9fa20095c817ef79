"""Keep ultralytics offline and quiet inside tqgd.

Hospital machines have no internet, and a training run must never stall on a font download, a weights
download, an update check or a settings sync. ``configure_environment()`` runs once, from ``tqgd/__init__``,
before anything imports ultralytics (ultralytics reads its switches from the environment at import time).
``configure_settings()`` turns off ultralytics' integrations in the settings file tqgd owns; it imports ultralytics,
so it runs only when ultralytics is first imported anyway (``tqgd.runtime.ensure_ready``).

Environment variables a user sets explicitly are respected (``setdefault``), so ``YOLO_VERBOSE=1`` still
brings ultralytics' own logging back.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

#: Where tqgd keeps its own state (ultralytics settings, fonts). Override with ``TQGD_HOME``.
TQGD_HOME = Path(os.environ.get("TQGD_HOME") or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "tqgd")

#: ultralytics settings that would reach the network or an experiment tracker.
_OFFLINE_SETTINGS = dict(sync=False, clearml=False, comet=False, dvc=False, mlflow=False, raytune=False,
                         wandb=False, tensorboard=False, vscode_msg=False, openvino_msg=False)

#: Font names ultralytics looks for before it tries to download one.
_FONT_NAMES = ("Arial.ttf", "Arial.Unicode.ttf")


def _writable_home() -> Path:
    """TQGD_HOME if it can be created, else a per-user folder in the temp dir (read-only home directories)."""
    for candidate in (TQGD_HOME, Path(os.environ.get("TMPDIR", "/tmp")) / f"tqgd-{os.getuid() if hasattr(os, 'getuid') else 'user'}"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            if os.access(candidate, os.W_OK):
                return candidate
        except OSError:
            continue
    raise RuntimeError(f"tqgd: cannot create a writable state folder at {TQGD_HOME}; set TQGD_HOME to a writable path")


def _install_fonts(config_dir: Path) -> None:
    """Put a local TTF (matplotlib's DejaVu Sans) where ultralytics looks, so it never downloads Arial."""
    target_dir = config_dir / "Ultralytics"
    target_dir.mkdir(parents=True, exist_ok=True)
    missing = [name for name in _FONT_NAMES if not (target_dir / name).exists()]
    if not missing:
        return
    try:
        import matplotlib

        source = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
    except ImportError:  # plots still render with PIL's default font
        return
    for name in missing:
        tmp = target_dir / f".{name}.{os.getpid()}.tmp"
        shutil.copyfile(source, tmp)
        os.replace(tmp, target_dir / name)


def configure_environment() -> None:
    """Set ultralytics' offline/quiet switches; must run before ultralytics is imported."""
    home = _writable_home()
    config_dir = Path(os.environ.setdefault("YOLO_CONFIG_DIR", str(home / "ultralytics")))
    os.environ.setdefault("YOLO_OFFLINE", "1")  # no DNS probe, no downloads
    os.environ.setdefault("YOLO_AUTOINSTALL", "0")  # never pip-install missing packages
    os.environ.setdefault("YOLO_VERBOSE", "0")  # tqgd prints its own progress
    os.environ.setdefault("ULTRALYTICS_SAFE_LOAD", "1")  # checkpoints load with weights_only + allow-list
    _install_fonts(config_dir)


def configure_settings() -> None:
    """Turn off ultralytics' network-backed integrations in the settings file under ``YOLO_CONFIG_DIR``."""
    from ultralytics.utils import SETTINGS

    stale = {k: v for k, v in _OFFLINE_SETTINGS.items() if SETTINGS.get(k) != v}
    if stale:
        SETTINGS.update(stale)
