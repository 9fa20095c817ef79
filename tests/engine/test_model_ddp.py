"""DDP hand-off: the trainer and its model config survive ultralytics' cloudpickle file into a fresh worker process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tqgd  # noqa: F401  - before ultralytics, which reads tqgd's offline/safe-load switches at import

# isort: split
from ultralytics.utils.dist import generate_ddp_file

from tests.helpers import write_tiny_yolo_dataset
from tqgd.engine.trainer import TQGDTrainer
from tqgd.nn import TQGDDetectionModel

#: Appended in place of the worker's ``trainer.train()``: build the model exactly as the worker's setup would.
BUILD_INSTEAD_OF_TRAIN = """
    model = trainer.get_model(cfg=trainer.model, verbose=False)
    print("RESULT=" + json.dumps({"trainer": type(trainer).__name__, "model": type(model).__name__,
                                  "params": sum(p.numel() for p in model.parameters()), "nc": model.yaml["nc"]}))
"""


@pytest.mark.slow
def test_ddp_worker_rebuilds_the_tqgd_model(tmp_path: Path) -> None:
    data = write_tiny_yolo_dataset(tmp_path / "ds", n_train=2, n_val=1)
    trainer = TQGDTrainer(overrides={"model": "tqgdnet-n.yaml", "data": str(data), "imgsz": 64, "epochs": 1,
                                     "device": "cpu", "project": str(tmp_path / "runs"), "name": "ddp"})
    script = Path(generate_ddp_file(trainer))  # ultralytics' own DDP temp script + cloudpickled trainer state
    try:
        source = script.read_text()
        assert source.count("    trainer.train()\n") == 1
        worker = tmp_path / "worker.py"
        worker.write_text("import json\n" + source.replace("    trainer.train()\n", BUILD_INSTEAD_OF_TRAIN))
        # the launcher's environment (tqgd's offline switches included) is what torch.distributed.run passes on
        proc = subprocess.run([sys.executable, str(worker)], capture_output=True, text=True, timeout=300,
                              env=dict(os.environ), cwd=tmp_path)
    finally:
        script.unlink(missing_ok=True)
        script.with_suffix(".pt").unlink(missing_ok=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT=")).removeprefix("RESULT="))
    expected = TQGDDetectionModel("tqgdnet-n", nc=1, verbose=False)
    assert got == {"trainer": "TQGDTrainer", "model": "TQGDDetectionModel", "nc": 1,
                   "params": sum(p.numel() for p in expected.parameters())}
