"""Shared test set-up: tqgd state goes to a throw-away folder so tests never touch the user's ~/.cache."""

from __future__ import annotations

import os
import tempfile

# Must happen before anything imports tqgd (which configures ultralytics from these variables).
os.environ.setdefault("TQGD_HOME", tempfile.mkdtemp(prefix="tqgd-test-home-"))
os.environ.setdefault("MPLBACKEND", "Agg")
