"""Shared test set-up: tqgd state goes to a throw-away folder so tests never touch the user's ~/.cache, and tqgd
is imported before any test module can import ultralytics (ultralytics reads tqgd's offline and safe-load
switches once, at its own import)."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("TQGD_HOME", tempfile.mkdtemp(prefix="tqgd-test-home-"))
os.environ.setdefault("MPLBACKEND", "Agg")

import tqgd  # noqa: E402,F401
