"""tqgd keeps ultralytics off the network: importing tqgd and a tiny train/val/predict make no connection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.helpers import write_tiny_yolo_dataset

GUARD = textwrap.dedent(
    """
    import json, socket, sys
    attempts = []
    def refuse(kind):
        def blocked(*args, **kwargs):
            attempts.append([kind, repr(args)[:200]])
            raise OSError("network disabled by tqgd test")
        return blocked
    socket.getaddrinfo = refuse("getaddrinfo")
    socket.create_connection = refuse("create_connection")
    socket.socket.connect = refuse("connect")
    socket.socket.connect_ex = refuse("connect_ex")
    import tqgd
    from ultralytics import YOLO
    data, out = sys.argv[1], sys.argv[2]
    model = YOLO("yolov8n.yaml")
    model.train(data=data, epochs=1, imgsz=64, batch=2, workers=0, device="cpu", project=out, name="t",
                plots=True, val=True, amp=False)
    model.predict(sys.argv[3], imgsz=64, device="cpu", save=False)
    print("ATTEMPTS=" + json.dumps(attempts))
    """
)


@pytest.mark.slow
def test_import_and_tiny_train_make_no_network_access(tmp_path: Path) -> None:
    data = write_tiny_yolo_dataset(tmp_path / "ds")
    script = tmp_path / "guarded.py"
    script.write_text(GUARD)
    env = {**os.environ, "TQGD_HOME": str(tmp_path / "home")}
    env.pop("YOLO_CONFIG_DIR", None)
    image = next((tmp_path / "ds" / "images" / "val").glob("*.png"))
    proc = subprocess.run([sys.executable, str(script), str(data), str(tmp_path / "runs"), str(image)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("ATTEMPTS="))
    assert json.loads(line.removeprefix("ATTEMPTS=")) == []
    assert (tmp_path / "runs" / "t" / "weights" / "last.pt").exists()


def test_import_sets_offline_switches_and_font(tmp_path: Path) -> None:
    env = {**os.environ, "TQGD_HOME": str(tmp_path / "home")}
    for key in ("YOLO_CONFIG_DIR", "YOLO_OFFLINE", "YOLO_AUTOINSTALL", "YOLO_VERBOSE"):
        env.pop(key, None)
    code = ("import os, json, tqgd; from ultralytics.utils import SETTINGS, ONLINE;"
            "print(json.dumps({k: os.environ.get(k) for k in ('YOLO_CONFIG_DIR','YOLO_OFFLINE','YOLO_AUTOINSTALL')}"
            " | {'online': ONLINE, 'sync': SETTINGS['sync'], 'mlflow': SETTINGS['mlflow']}))")
    # a download that hangs never ends; 300 s leaves room for a loaded CI machine
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["YOLO_OFFLINE"] == "1" and got["YOLO_AUTOINSTALL"] == "0"
    assert got["online"] is False and got["sync"] is False and got["mlflow"] is False
    config_dir = Path(got["YOLO_CONFIG_DIR"])
    assert config_dir.is_relative_to(tmp_path / "home")
    assert (config_dir / "Ultralytics" / "Arial.ttf").stat().st_size > 10_000
