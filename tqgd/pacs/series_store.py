"""The listener's disk: one folder per series, its instances and its state, all written durably.

Layout: ``STORAGE/series/<SeriesInstanceUID>/instances/<SOPInstanceUID>.dcm``, ``.../state.json`` (status
``receiving`` | ``unsent`` | ``done`` | ``failed``, with what happened) and ``.../results/`` (the analysis). A series is
opened (``receiving``) durably *before* its instance is written, and the instance is on disk before the C-STORE
success goes back, so any acknowledged instance survives a crash and belongs to a series that will be processed.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

from tqgd.pacs.files import durable_write, is_uid, remove_partials

RECEIVING, UNSENT, DONE, FAILED = "receiving", "unsent", "done", "failed"
#: Statuses with work left: a restart picks these up again.
OPEN = (RECEIVING, UNSENT)


class SeriesStore:
    """Series folders under ``root/series`` with their states (thread-safe)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.series_root = self.root / "series"
        self.series_root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._states: dict[str, dict[str, Any]] = {}
        self.last_change: dict[str, float] = {}  # monotonic time of the last instance per open series
        for folder in sorted(self.series_root.iterdir()):
            if folder.is_dir() and is_uid(folder.name):
                if (folder / "instances").is_dir():
                    remove_partials(folder / "instances")  # never acknowledged
                state = self._read_state(folder.name)
                self._states[folder.name] = state
                if state.get("status") in OPEN:
                    self.last_change[folder.name] = time.monotonic()  # resumed: a fresh idle period

    def folder(self, series_uid: str) -> Path:
        return self.series_root / series_uid

    def instances(self, series_uid: str) -> Path:
        return self.folder(series_uid) / "instances"

    def _read_state(self, series_uid: str) -> dict[str, Any]:
        path = self.folder(series_uid) / "state.json"
        try:
            return json.loads(path.read_text())
        except (OSError, ValueError):
            return {"status": RECEIVING}  # folder without a readable state: process what is there

    def state(self, series_uid: str) -> dict[str, Any]:
        with self._lock:
            return dict(self._states.get(series_uid, {}))

    def set_state(self, series_uid: str, **fields: Any) -> None:
        with self._lock:
            state = {**self._states.get(series_uid, {}), **fields}
            durable_write(self.folder(series_uid) / "state.json", json.dumps(state, indent=2).encode())
            self._states[series_uid] = state

    def add(self, series_uid: str, sop_uid: str, data: bytes) -> Path:
        """Open the series (durably) if needed, then write the instance durably; return its path."""
        with self._lock:
            status = self._states.get(series_uid, {}).get("status")
        if status != RECEIVING:
            self.set_state(series_uid, status=RECEIVING, reopened=status is not None)
        path = durable_write(self.instances(series_uid) / f"{sop_uid}.dcm", data)
        with self._lock:
            self.last_change[series_uid] = time.monotonic()
        return path

    def idle(self, timeout_s: float) -> list[str]:
        """Open series with no new instance for ``timeout_s`` seconds."""
        now = time.monotonic()
        with self._lock:
            return [uid for uid, state in self._states.items()
                    if state.get("status") in OPEN and now - self.last_change.get(uid, now) >= timeout_s]

    def changed_since(self, series_uid: str, when: float) -> bool:
        with self._lock:
            return self.last_change.get(series_uid, 0.0) > when
