"""Interrupted work loses nothing: a conversion killed with SIGKILL midway and run again ends byte-identical to an
uninterrupted one; inputs are never modified, proven three ways (content hashes, an audit hook that records every
write-mode open, rename or delete the converter makes under the input, and a read-only bind mount that even root
cannot write through).

Training interrupted and resumed with ``--resume``: tests/engine/test_train_resume.py
(test_interrupted_run_resumes_to_the_last_epoch) stops a run after epoch 1 and resumes it through the CLI to epoch 3.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest

from tests.data.orca_synthetic import write_orcascore_folder
from tests.reliability import mounts
from tests.reliability.test_output_errors import CLI_OPTIONS, OPTIONS, assert_nothing_half_written, digest
from tqgd.data.convert.orcascore import convert_orcascore

REPO = Path(__file__).resolve().parents[2]
#: The installed console script, next to this interpreter.
TQGD_SCRIPT = Path(sys.executable).with_name("tqgd")
#: Images written before the kill: well into the run, well before its end (8 patients x 100 slices).
KILL_AFTER_IMAGES = 150
#: A run that ends before this can be killed makes the test meaningless, so it fails instead.
KILL_TIMEOUT_S = 300

#: Runs the CLI under an audit hook that records writes under the input folder (argv: SRC, LOG, tqgd arguments...).
AUDITED_RUN = r'''
import json, os, sys
SRC, LOG = os.path.realpath(sys.argv[1]), sys.argv[2]
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
CHANGES = {"os.rename", "os.remove", "os.rmdir", "os.mkdir", "os.chmod", "os.chown", "os.truncate", "os.utime",
           "os.link", "os.symlink", "shutil.rmtree", "shutil.move", "shutil.copyfile", "shutil.copytree"}
found, seen = [], {"opens": 0}

def inside(path):
    try:
        path = os.path.realpath(os.fsdecode(path))
    except (TypeError, ValueError):
        return False
    return path == SRC or path.startswith(SRC + os.sep)

def hook(event, args):
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        path, mode, flags = (list(args) + [None, 0])[:3]
        if inside(path):
            seen["opens"] += 1
            if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (flags or 0) & WRITE_FLAGS:
                found.append([event, os.fsdecode(path), mode, flags])
    elif event in CHANGES:
        targets = [a for a in args if isinstance(a, (str, bytes, os.PathLike))]
        if event in ("shutil.copyfile", "shutil.copytree", "os.link", "os.symlink"):
            targets = targets[1:2]
        if any(inside(t) for t in targets):
            found.append([event, *map(os.fsdecode, targets)])

sys.addaudithook(hook)
sys.argv = ["tqgd", *sys.argv[3:]]
try:
    from tqgd.cli import main
    main()
finally:
    with open(LOG, "w") as fh:
        json.dump({"writes": found, "opens": seen["opens"]}, fh)
'''


def _env() -> dict[str, str]:
    return {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "200"}


@pytest.mark.slow
def test_sigkilled_conversion_rerun_matches_an_uninterrupted_run(tmp_path: Path) -> None:
    src = write_orcascore_folder(tmp_path / "src", patients=8, slices=100, size=96)
    reference = tmp_path / "reference"
    convert_orcascore(src, reference, OPTIONS)
    out = tmp_path / "out"
    command = [str(TQGD_SCRIPT), "convert", "orcascore", str(src), str(out), *CLI_OPTIONS]
    process = subprocess.Popen(command, cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + KILL_TIMEOUT_S
    try:
        while time.monotonic() < deadline and process.poll() is None:
            images = out / "images"
            if images.is_dir() and sum(1 for _ in os.scandir(images)) >= KILL_AFTER_IMAGES:
                process.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        process.wait(60)
    assert process.returncode == -signal.SIGKILL, f"the run was not killed midway: {process.stderr.read()[-2000:]}"
    assert not (out / "convert.json").exists()  # the completion record is written last
    for image in out.glob("images/[!.]*.png"):  # temp files of the write in progress may remain; no final file is cut
        assert cv2.imread(str(image), cv2.IMREAD_UNCHANGED) is not None, image
    partial = digest(out)
    rerun = subprocess.run(command, cwd=REPO, env=_env(), capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert_nothing_half_written(out)
    assert KILL_AFTER_IMAGES <= len([k for k in partial if k.startswith("images/")]) < len(
        [k for k in digest(reference) if k.startswith("images/")])
    assert digest(out) == digest(reference)


def test_input_is_never_opened_for_writing_audited(tmp_path: Path) -> None:
    src = write_orcascore_folder(tmp_path / "src", patients=3, slices=6, size=64)
    before = digest(src), {p: p.stat().st_mtime_ns for p in src.rglob("*")}
    log = tmp_path / "audit.json"
    run = subprocess.run([sys.executable, "-c", AUDITED_RUN, str(src), str(log), "convert", "orcascore", str(src),
                          str(tmp_path / "out"), *CLI_OPTIONS, "--masks"], cwd=REPO, env=_env(),
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-2000:]
    audit = json.loads(log.read_text())
    assert audit["opens"] > 0  # the hook saw the converter read its input, so it would have seen a write too
    assert audit["writes"] == []
    assert (digest(src), {p: p.stat().st_mtime_ns for p in src.rglob("*")}) == before


def test_the_audit_hook_catches_a_write(tmp_path: Path) -> None:
    """The audit test above can fail: a program that touches a file under SRC is caught."""
    src = tmp_path / "src"
    src.mkdir()
    log = tmp_path / "audit.json"
    writer = AUDITED_RUN.replace("    from tqgd.cli import main\n    main()", "    open(os.path.join(SRC, 'x'), 'w')")
    subprocess.run([sys.executable, "-c", writer, str(src), str(log)], env=_env(), timeout=120, check=True)
    assert [w[0] for w in json.loads(log.read_text())["writes"]] == ["open"]


def test_conversion_reads_through_a_read_only_mount(tmp_path: Path) -> None:
    mounts.require_mounting(tmp_path)
    src = write_orcascore_folder(tmp_path / "src", patients=3, slices=6, size=64)
    before = digest(src)
    with mounts.read_only_view(src, tmp_path / "ro") as ro:
        with pytest.raises(OSError, match="Read-only file system"):
            (ro / "probe").write_text("root cannot write here")
        report = convert_orcascore(ro, tmp_path / "out", OPTIONS)
    assert report.images > 0 and digest(src) == before
