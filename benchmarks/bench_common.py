"""What every benchmark script shares: the record of where and how it ran, and writing its block of BENCHMARKS.md.

Each script owns one generated block in ``BENCHMARKS.md``, between ``<!-- NAME:begin -->`` and ``<!-- NAME:end -->``;
``update_block`` replaces only that block (adding it at the end when it is missing), atomically, so the scripts can
run in any order and the prose around the blocks is kept.
"""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
import sys
from pathlib import Path

from tqgd.errors import ConfigError
from tqgd.io import write_text

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS_MD = REPO_ROOT / "BENCHMARKS.md"


def log(message: str) -> None:
    """Progress on stderr with a timestamp (benchmarks run for minutes to hours)."""
    print(f"[{datetime.datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def git_commit() -> str:
    """HEAD's short hash, with '+ local changes' when tracked files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return f"{head}{' + local changes' if dirty else ''}"


def load_average() -> str:
    """The 1/5/15-minute load averages and the core count, e.g. '1.02 / 0.98 / 0.90 on 2 cores'."""
    try:
        one, five, fifteen = os.getloadavg()
    except OSError:
        return "unknown load"
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f} on {os.cpu_count()} cores"


def machine() -> str:
    """CPU architecture, core count, GPU (if torch sees one), torch and Python versions."""
    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, {gpu}, "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def run_record(script: str) -> dict[str, str]:
    """Command, date, git commit, machine and load at the time of the call, for a results table's header."""
    command = f"python benchmarks/{script} " + " ".join(sys.argv[1:])
    return {"command": command.strip(), "date": datetime.date.today().isoformat(), "commit": git_commit(),
            "machine": machine(), "load": load_average()}


def record_line(record: dict[str, str]) -> str:
    """One Markdown line naming the command, date, commit, machine and load."""
    return (f"Command: `{record['command']}`; {record['date']}, git {record['commit']}; machine: {record['machine']}; "
            f"load average when it started: {record['load']}.")


def update_block(name: str, block: str, path: Path = BENCHMARKS_MD) -> Path:
    """Replace the ``name`` block of ``path`` with ``block`` (appended when absent); atomic write."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = path.read_text(encoding="utf-8") if path.is_file() else "# Benchmarks\n"
    if (begin in text) != (end in text) or text.count(begin) > 1:
        raise ConfigError(f"the '{begin}' ... '{end}' markers are unpaired or repeated; fix them by hand", path)
    if begin in text:
        head, rest = text.split(begin, 1)
        _, tail = rest.split(end, 1)
        return write_text(path, f"{head}{begin}\n{block}\n{end}{tail}")
    return write_text(path, f"{text.rstrip()}\n\n{begin}\n{block}\n{end}\n")
