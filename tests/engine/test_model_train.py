"""One-epoch CPU training of TQGDNet-n on a tiny converted phantom, and its checkpoint in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
from tqgd.data.phantom.layout import write_phantom_set
from tqgd.engine.model import TQGD
from tqgd.nn import TQGDDetectionModel

#: A fresh interpreter: load best.pt with plain ultralytics once tqgd is imported, run it, print what came out.
FRESH_LOAD = textwrap.dedent(
    """
    import json, sys
    import torch
    import tqgd
    from ultralytics import YOLO
    from ultralytics.utils import SAFE_LOAD
    weights, image = sys.argv[1], sys.argv[2]
    model = YOLO(weights)
    torch.manual_seed(0)
    with torch.no_grad():
        raw = model.model.float().eval()(torch.rand(1, 3, 64, 64))[0]
    results = model.predict(image, imgsz=128, device="cpu", conf=0.0, verbose=False)
    print("RESULT=" + json.dumps({"safe_load": SAFE_LOAD, "class": type(model.model).__name__,
                                  "raw": raw.flatten().tolist(), "n_results": len(results)}))
    """
)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[TQGD, Path, Path, list]:
    """TQGDNet-n after one epoch on 3 phantom patients (128 px slices, OrCaScore layout converted to YOLO boxes),
    with restricted loading on and every checkpoint load recorded.

    Returns (model, best.pt, a validation image, [(path, weights_only) of each torch load ultralytics made]).
    """
    from ultralytics.nn import tasks as ul_tasks

    root = tmp_path_factory.mktemp("train")
    write_phantom_set(root / "phantom", 3, seed=7, image_size=128)
    data = convert_orcascore(root / "phantom", root / "ds", OrcaConvertOptions(folds=2)).out / "orcascore.yaml"
    loads: list[tuple[str, bool]] = []
    stock_load = ul_tasks.torch_load

    def recording_load(file, *args, **kwargs):
        loads.append((str(file), kwargs.get("weights_only", False)))
        return stock_load(file, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        # `import tqgd` sets ULTRALYTICS_SAFE_LOAD=1, but only if it ran before ultralytics was first imported in this
        # process (test collection order decides that), so the flag ultralytics read is pinned for the run.
        patch.setattr(ul_tasks, "SAFE_LOAD", True)
        patch.setattr(ul_tasks, "torch_load", recording_load)
        model = TQGD("tqgdnet-n")
        model.train(data=str(data), epochs=1, imgsz=128, batch=4, workers=0, device="cpu",
                    project=str(root / "runs"), name="smoke", plots=False, amp=False, seed=0)
    weights = root / "runs" / "smoke" / "weights"
    return model, weights / "best.pt", next((root / "ds" / "images").glob("*.png")), loads


@pytest.mark.slow
def test_one_epoch_training_saves_and_reloads_under_restricted_loading(trained) -> None:
    model, best, _, loads = trained
    assert best.is_file() and (best.parent / "last.pt").is_file()
    assert (str(best), True) in loads  # final validation and the model handed back came from a weights-only load
    assert all(weights_only for _, weights_only in loads)
    assert isinstance(model.model, TQGDDetectionModel)
    assert type(model.trainer).__name__ == "TQGDTrainer" and model.metrics is not None


@pytest.mark.slow
@pytest.mark.parametrize("safe_load", ["1", "0"], ids=["restricted", "full-pickle"])
def test_checkpoint_loads_with_plain_yolo_in_a_fresh_process(trained, tmp_path: Path, safe_load: str) -> None:
    _, best, image, _ = trained
    script = tmp_path / "fresh_load.py"
    script.write_text(FRESH_LOAD)
    env = {**os.environ, "TQGD_HOME": str(tmp_path / "home")}
    for key in ("YOLO_CONFIG_DIR", "ULTRALYTICS_SAFE_LOAD"):
        env.pop(key, None)
    if safe_load == "0":
        env["ULTRALYTICS_SAFE_LOAD"] = "0"  # a user opting out; by default `import tqgd` turns restricted loading on
    proc = subprocess.run([sys.executable, str(script), str(best), str(image)], capture_output=True, text=True,
                          timeout=300, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT="))
    got = json.loads(line.removeprefix("RESULT="))
    assert got["safe_load"] is (safe_load == "1") and got["class"] == "TQGDDetectionModel" and got["n_results"] == 1
    reference = TQGD(str(best)).model.float().eval()  # tqgd's own entry point, this process
    torch.manual_seed(0)
    with torch.no_grad():
        expected = reference(torch.rand(1, 3, 64, 64))[0].flatten()
    torch.testing.assert_close(torch.tensor(got["raw"]), expected, rtol=1e-5, atol=1e-4)


@pytest.mark.slow
def test_fine_tuning_rebuilds_the_checkpoint_architecture_with_all_weights(trained) -> None:
    model, best, _, _ = trained
    loaded = TQGD(str(best)).model
    rebuilt = model.trainer.get_model(cfg=loaded.yaml, weights=loaded, verbose=False)
    assert isinstance(rebuilt, TQGDDetectionModel)
    expected = loaded.float().state_dict()
    assert all(torch.equal(v, expected[k]) for k, v in rebuilt.state_dict().items())
