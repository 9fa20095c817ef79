"""Multi-GPU hand-off of ``tqgd.engine.train``: the DDP script ultralytics generates for TQGDRunTrainer must rebuild
the trainer and its TQGDNet model, preprocessing record included, in a fresh process (no GPU needed to check that)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from ultralytics.utils.dist import generate_ddp_file

from tests.engine.trainval_data import write_big_box_dataset
from tqgd.engine.run_record import PREPROCESS_ATTRIBUTE, write_run_record
from tqgd.engine.train import load_model, training_args

#: Replaces the worker's ``trainer.train()``: report what the worker rebuilt, and run the model once.
REPORT_INSTEAD_OF_TRAIN = """
    import torch
    model = trainer.model
    with torch.no_grad():
        out = model.eval()(torch.zeros(1, 3, 64, 64))
    print("RESULT=" + json.dumps({
        "trainer": f"{type(trainer).__module__}.{type(trainer).__qualname__}",
        "model": f"{type(model).__module__}.{type(model).__qualname__}",
        "tqgd_layers": sorted({type(m).__name__ for m in model.modules() if type(m).__module__.startswith("tqgd.")}),
        "preprocess": getattr(model, "tqgd_preprocess", None),
        "record_callbacks": sum(f.__name__ == "write_run_record" for f in trainer.callbacks["on_train_start"]),
        "out_shape": list(out[0].shape),
    }))
"""


@pytest.mark.slow
def test_ddp_worker_script_rebuilds_trainer_and_model(tmp_path: Path) -> None:
    dataset = write_big_box_dataset(tmp_path / "ds")
    loaded, trainer_class = load_model("tqgdnet-n")
    args = training_args(dataset / "orcascore.yaml", "tqgdnet-n", epochs=1, imgsz=64, device="cpu",
                         project=tmp_path / "runs", name="ddp", options={"workers": 0})
    # what Model.train does before trainer.train() launches DDP
    trainer = trainer_class(overrides={**args, "model": loaded.overrides["model"], "task": "detect", "mode": "train"},
                            _callbacks=loaded.callbacks)
    trainer.model = trainer.get_model(cfg=loaded.model.yaml, verbose=False)
    script = Path(generate_ddp_file(trainer))
    try:
        source = script.read_text()
        assert source.count("    trainer.train()\n") == 1
        worker = tmp_path / "worker.py"
        worker.write_text("import json\n" + source.replace("    trainer.train()\n", REPORT_INSTEAD_OF_TRAIN))
        proc = subprocess.run([sys.executable, str(worker)], capture_output=True, text=True, timeout=300,
                              env=dict(os.environ), cwd=tmp_path)  # torch.distributed.run passes the environment on
    finally:
        script.unlink(missing_ok=True)
        script.with_suffix(".pt").unlink(missing_ok=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT=")).removeprefix("RESULT="))
    with torch.no_grad():
        expected_shape = list(trainer.model.eval()(torch.zeros(1, 3, 64, 64))[0].shape)
    assert got["trainer"] == "tqgd.engine.run_record.TQGDRunTrainer"
    assert got["model"] == "tqgd.nn.tasks.TQGDDetectionModel"
    assert {"ThrConvs", "QueenFusion", "GDGather", "GDInject"} <= set(got["tqgd_layers"])
    assert got["preprocess"] == getattr(trainer.model, PREPROCESS_ATTRIBUTE)
    assert got["preprocess"]["window"]["name"] == "paper"
    assert got["record_callbacks"] == 1 and write_run_record in trainer.callbacks["on_train_start"]
    assert got["out_shape"] == expected_shape
