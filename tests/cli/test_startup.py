"""Start-up cost: ``tqgd --help``, every command's ``--help``, ``inspect`` and ``score`` never import torch or
ultralytics (checked in a fresh process, from ``sys.modules``, not by timing)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.scoring.builders import (
    boxes_from_labels,
    detection_result,
    make_volume,
    three_lesion_case,
    write_orcascore_case,
)
from tqgd.detections import save_detections

REPO = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "torchvision", "ultralytics")

#: Runs ``tqgd ARGS`` through the console script's entry point, then reports the exit code and heavy modules loaded.
ONE_COMMAND = textwrap.dedent(
    """
    import json, sys
    sys.argv = ["tqgd", *sys.argv[1:]]
    from tqgd.cli import main
    code = 0
    try:
        main()
    except SystemExit as exc:
        code = exc.code
    print("STARTUP=" + json.dumps({"code": code, "loaded": sorted(m for m in %r if m in sys.modules)}))
    """ % (HEAVY,)
)

#: Calls ``--help`` on every command and group of the real app, in one process; reports what each printed.
EVERY_HELP = textwrap.dedent(
    """
    import contextlib, io, json, sys
    import typer
    import tqgd.cli
    tqgd.cli._register()
    root = typer.main.get_command(tqgd.cli.app)
    paths, todo = [], [((), root)]
    while todo:
        path, command = todo.pop()
        paths.append(list(path))
        if hasattr(command, "commands"):  # a group (typer ships its own copy of click's classes)
            todo += [((*path, name), sub) for name, sub in command.commands.items()]
    helped = {}
    for path in paths:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            try:
                root.main([*path, "--help"], prog_name="tqgd")
            except SystemExit as exc:
                helped[" ".join(path)] = [exc.code, "Usage:" in out.getvalue()]
    print("STARTUP=" + json.dumps({"helped": helped, "loaded": sorted(m for m in %r if m in sys.modules)}))
    """ % (HEAVY,)
)


def _run(code: str, *args: object, cwd: Path) -> dict:
    env = {**os.environ, "COLUMNS": "200"}
    proc = subprocess.run([sys.executable, "-c", code, *map(str, args)], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("STARTUP="))
    return json.loads(line.removeprefix("STARTUP="))


@pytest.fixture(scope="module")
def scan_and_detections(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A hand-built CT (MetaImage) with three lesions and a detections.json boxing them."""
    root = tmp_path_factory.mktemp("startup")
    volume, labels = three_lesion_case()
    ct, _ = write_orcascore_case(root / "set", "TRV1P1", volume, labels)
    detections = root / "TRV1P1.json"
    save_detections(detection_result(make_volume(volume.shape, volume.spacing_mm), boxes_from_labels(labels)),
                    detections)
    return ct, detections


def test_every_help_page_loads_without_torch_or_ultralytics(tmp_path: Path) -> None:
    got = _run(EVERY_HELP, cwd=tmp_path)
    helped = got["helped"]
    assert {"", "inspect", "score", "detect", "train"} <= set(helped), sorted(helped)
    assert all(code == 0 and usage for code, usage in helped.values()), helped
    assert got["loaded"] == []


def test_inspect_and_score_run_without_torch_or_ultralytics(tmp_path: Path, scan_and_detections) -> None:
    ct, detections = scan_and_detections
    got = _run(ONE_COMMAND, "inspect", ct, "--json", cwd=tmp_path)
    assert got == {"code": 0, "loaded": []}
    out = tmp_path / "score"
    got = _run(ONE_COMMAND, "score", ct, "--detections", detections, "--out", out, cwd=tmp_path)
    assert got == {"code": 0, "loaded": []}
    assert json.loads((out / "score.json").read_text())["agatston"] == pytest.approx(57.0)  # 24 + 9 + 24


def test_the_check_sees_torch_when_a_command_loads_it(tmp_path: Path) -> None:
    """The assertions above can fail: ``tqgd info`` reports torch's version, so torch shows up in the list."""
    got = _run(ONE_COMMAND, "info", cwd=tmp_path)
    assert got["code"] == 0 and "torch" in got["loaded"]
