"""Exactly-once bookkeeping of a cohort run: which scans are done, and the one place outputs are committed.

The mechanism, in the order a run uses it:

1. Every scan has a ``key`` (``tqgd.cohort.sources``) and every run a ``fingerprint``: the SHA-256 of the calcium
   weights' bytes, of the heart weights' bytes (given, or recorded in the calcium weights) and of the detection
   options. ``OUT/.cohort/run.json`` holds the fingerprint and a token workers check to prove they see OUT.
2. A scan is done when ``OUT/.cohort/done/<key>.json`` (its completion record) carries the current fingerprint,
   whether it succeeded or failed by itself. A re-run skips done scans; other weights or options redo every scan.
3. A worker writes a scan only into a folder of its own, ``OUT/.cohort/tmp/<key>.<attempt>.<token>/``, chosen by the
   driver; it never touches ``OUT/scans``. Leftovers in ``tmp/`` (a killed run) are deleted when a run starts.
4. Only the driver commits, one scan at a time (``Ledger.commit``): it picks the scan's folder name in
   ``OUT/scans`` (the name ``tqgd detect`` gives it; ``_2``, ``_3`` when another scan holds it), moves a stale
   folder of that name (one without a record: an interrupted commit) out of the way, renames the finished folder
   into place (one rename on one filesystem: atomic), then writes the record (atomically). A crash between the two
   leaves a folder without a record, which the next run redoes and replaces: outputs are never half-written and
   never present twice.
5. A worker that dies (SIGKILL, out of memory, a lost node) loses only its attempt's ``tmp`` folder; the driver
   deletes it and queues the scan again (``tqgd.cohort.run``), so a zombie's late writes can never reach
   ``OUT/scans``.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqgd.errors import CohortError, OutputError
from tqgd.io import output_error, write_json

STATE_DIR = ".cohort"
SCANS_DIR = "scans"
RECORD_VERSION = 1


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fingerprint(weights_sha256: str, heart_sha256: str | None, options: dict[str, Any]) -> str:
    """SHA-256 of what decides a scan's outputs: the weights' hashes and the detection options."""
    blob = json.dumps({"weights": weights_sha256, "heart_weights": heart_sha256, "options": options}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Ledger:
    """The state folder of one output folder ``out`` for one ``fingerprint``."""

    out: Path
    fingerprint: str

    @property
    def state(self) -> Path:
        return self.out / STATE_DIR

    @property
    def scans(self) -> Path:
        return self.out / SCANS_DIR

    @property
    def tmp(self) -> Path:
        return self.state / "tmp"

    def record_path(self, key: str) -> Path:
        return self.state / "done" / f"{key}.json"

    def open(self, run_info: dict[str, Any]) -> str:
        """Start a run: delete ``tmp/`` leftovers, write ``run.json`` (with a fresh token, returned)."""
        if self.tmp.exists():
            shutil.rmtree(self.tmp, ignore_errors=True)
        for folder in (self.tmp, self.state / "done", self.scans):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise output_error(exc, folder) from exc
        token = secrets.token_hex(8)
        write_json(self.state / "run.json", {**run_info, "fingerprint": self.fingerprint, "token": token})
        return token

    def load(self) -> dict[str, dict[str, Any]]:
        """Completion records of this fingerprint, by key (records of other weights or options are not done)."""
        done = {}
        folder = self.state / "done"
        if not folder.is_dir():
            return done
        for path in folder.glob("*.json"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue  # only written atomically, so unreadable means foreign: the scan is simply not done
            if isinstance(record, dict) and record.get("fingerprint") == self.fingerprint:
                done[path.stem] = record
        return done

    def attempt_dir(self, key: str, attempt: int) -> Path:
        """A fresh folder name for one attempt at one scan (not created)."""
        return self.tmp / f"{key}.{attempt}.{secrets.token_hex(4)}"

    def discard(self, folder: Path) -> None:
        """Delete an attempt's folder (a dead worker's or a failed scan's partial outputs)."""
        shutil.rmtree(folder, ignore_errors=True)

    def commit(self, key: str, row: dict[str, Any], written: Path | None, taken: dict[str, str],
               source: str, attempts: int = 1) -> dict[str, Any]:
        """Move a finished scan's folder ``written`` (None: failed, nothing to move) into ``OUT/scans`` and record it.

        ``taken`` maps folder names in ``OUT/scans`` to the key holding them (updated). Returns the record.
        """
        if written is not None:
            name = _free_name(written.name, key, taken)
            final, stale = self.scans / name, self.attempt_dir(key, 0)
            try:
                if final.exists():  # no record holds it: an interrupted commit; replace it
                    os.rename(final, stale)
                os.rename(written, final)
            except OSError as exc:
                raise output_error(exc, final, "move the finished scan into") from exc
            shutil.rmtree(stale, ignore_errors=True)
            shutil.rmtree(written.parent, ignore_errors=True)
            taken[name] = key
            row = {**row, "output": f"{SCANS_DIR}/{name}"}
        record = {"version": RECORD_VERSION, "fingerprint": self.fingerprint, "key": key, "source": source,
                  "attempts": attempts, "row": row}
        write_json(self.record_path(key), record)
        return record


def _free_name(name: str, key: str, taken: dict[str, str]) -> str:
    """``name``, or ``name_2``, ``name_3``, ... : the first one no other scan's record holds."""
    unique, n = name, 2
    while taken.get(unique, key) != key:
        unique, n = f"{name}_{n}", n + 1
    return unique


def check_out(out: Path, source: Path) -> None:
    """Refuse an output folder inside the source folder (outputs would become scans of the next run)."""
    if source.is_dir() and out.resolve().is_relative_to(source.resolve()):
        raise OutputError(f"the output folder lies inside the source folder {source}; choose --out outside it", out)
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder; choose a folder for --out", out)


def check_token(out: Path, token: str, where: str) -> None:
    """Raise ``CohortError`` unless ``OUT/.cohort/run.json`` holds ``token`` (a worker sees the driver's OUT)."""
    path = out / STATE_DIR / "run.json"
    try:
        found = json.loads(path.read_text(encoding="utf-8")).get("token")
    except (OSError, ValueError):
        found = None
    if found != token:
        raise CohortError(f"the worker on {where} does not see this run's output folder; on a cluster --out must be "
                          "a folder every Ray node (and the machine running tqgd) mounts at the same path", out)
