"""Configure ultralytics at the moment it is first imported, so ``import tqgd`` itself imports neither it nor torch.

tqgd promises that in a process which imported tqgd, ultralytics is offline and quiet and tqgd's model classes are
allow-listed for restricted (weights-only) checkpoint loading. Doing all of that inside ``import tqgd`` meant
importing ultralytics and torch (1.5-10 s) even for ``tqgd --help``. The work is now split (machinery, not a model):

1. ``import tqgd`` sets ultralytics' environment switches (``tqgd.offline.configure_environment``: no network, no
   auto-install, quiet, restricted loading). ultralytics reads them when it is imported, so they must come first;
   setting them costs nothing.
2. ``import tqgd`` then calls ``watch_ultralytics()``, which puts ``UltralyticsWatcher`` at the front of
   ``sys.meta_path``. Any import of ``ultralytics`` or of one of its submodules first executes the package
   ``ultralytics/__init__.py``; the watcher lets the other finders locate it and wraps its loader, so that
   ``ensure_ready()`` runs right after that ``__init__`` has executed and before the import statement that asked for
   ultralytics (in tqgd, a test, a benchmark or a user's script) gets control back. The wrapper hands the module its
   real loader before executing it, as wrapt's post-import hooks do. If ultralytics was already imported when tqgd
   was, ``ensure_ready()`` runs at once instead.
3. ``ensure_ready()`` (idempotent) turns off ultralytics' network-backed settings (``tqgd.offline.configure_settings``)
   and imports ``tqgd.nn``, whose ``__init__`` ends by allow-listing tqgd's classes (``tqgd.nn.safe_globals``). No
   checkpoint can be loaded before that: loading one goes through ultralytics. When the first ultralytics import
   comes from inside ``tqgd.nn`` itself, ``tqgd.nn`` is still being imported, and its own ``__init__`` does the
   allow-listing when it finishes.
"""

from __future__ import annotations

import importlib
import importlib.abc
import sys
from types import ModuleType
from typing import Any

#: The package whose first import triggers ``ensure_ready``.
WATCHED = "ultralytics"

_ready = False


def ensure_ready() -> None:
    """ultralytics settings offline and tqgd's classes allow-listed; imports ultralytics and torch (idempotent)."""
    global _ready
    if _ready:
        return
    from tqgd.offline import configure_settings

    configure_settings()
    if "tqgd.nn" not in sys.modules:  # present but unfinished: its own __init__ allow-lists when it completes
        importlib.import_module("tqgd.nn")
    _ready = True


class _ReadyAfterExec(importlib.abc.Loader):
    """Wraps the loader of the ``ultralytics`` package: executes it, then runs ``ensure_ready()``."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def _hand_back(self, module: ModuleType) -> None:
        """Give the module and its spec the real loader (resources, source lookup and reloads go to it)."""
        if getattr(module, "__loader__", None) in (None, self):
            module.__loader__ = self.loader
        spec = getattr(module, "__spec__", None)
        if spec is not None and spec.loader is self:
            spec.loader = self.loader

    def create_module(self, spec: Any) -> ModuleType | None:
        return self.loader.create_module(spec) if hasattr(self.loader, "create_module") else None

    def exec_module(self, module: ModuleType) -> None:
        self._hand_back(module)
        self.loader.exec_module(module)
        ensure_ready()


class UltralyticsWatcher(importlib.abc.MetaPathFinder):
    """A ``sys.meta_path`` finder that only wraps the loader of the ``ultralytics`` package (see the module doc)."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> Any:
        if fullname != WATCHED:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None:
                break
        else:
            return None  # not installed: the import fails as it would without tqgd
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _ReadyAfterExec(spec.loader)
        return spec


def watch_ultralytics() -> None:
    """Arrange for ``ensure_ready()`` to run when ultralytics is first imported (at once if it already is)."""
    if WATCHED in sys.modules:
        ensure_ready()
    elif not any(isinstance(finder, UltralyticsWatcher) for finder in sys.meta_path):
        sys.meta_path.insert(0, UltralyticsWatcher())
