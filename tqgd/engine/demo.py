"""``tqgd demo``: the whole pipeline on a synthetic phantom, on CPU, in minutes; every setting in ``DemoSettings``.

Steps: phantom patients (OrCaScore layout) and one held-out test patient (DICOM series + reference) -> heart dataset
from the phantom's heart boxes -> train the heart detector -> convert the phantom to a calcium dataset, heart-cropped
by that detector -> train TQGDNet-n -> validate -> ``tqgd detect`` on the test patient's DICOM series, scored, next
to the score of its reference mask. Layout of OUT:

    phantom/, phantom_test/      the synthetic scans (MetaImage + reference labels; the test patient also as DICOM)
    heart_dataset/, dataset/     the heart-box dataset and the heart-cropped calcium dataset
    runs/heart/, runs/calcium/, runs/val/   ultralytics run folders (weights, results.csv, metrics.json)
    detect/                      detections.json/.csv, overlays/, score.json, report.png of the test patient
    weights/calcium.pt, heart.pt the trained weights, marked as phantom-trained, the calcium weights with the
                                 operating confidence chosen on the validation patients (also copied to the demo
                                 weights folder that ``tqgd detect`` falls back to)
    demo.json                    settings, step times, validation metrics, true vs detected score

The weights are trained on synthetic data and are not clinical weights; every output of the demo says so.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from tqgd.errors import OutputError

#: Marker file of a demo output folder: only such a folder is cleared when the demo runs again.
DEMO_MARKER = ".tqgd-demo"
DEMO_SUBFOLDERS = ("phantom", "phantom_test", "heart_dataset", "dataset", "runs", "detect", "detect_shipped", "weights")
TEST_CASE_ID = "TEST1"
PHANTOM_TRAINING_DATA = "synthetic phantom (tqgd demo): not clinically trained, not for patient care"
#: Slice size of real scans (and of the shipped weights' training phantom).
REFERENCE_SIZE = 512
#: Detection confidence when validation found no operating point (no reference lesions, no predictions at all).
FALLBACK_CONF = 0.25
PHANTOM_WARNING = ("PHANTOM WEIGHTS: trained on synthetic phantom scans (tqgd demo or the weights shipped with tqgd), "
                   "not on patients. "
                   "Not clinically trained; do not use them for patient care.")


@dataclass(frozen=True)
class DemoSettings:
    """Every choice the demo makes. ``quick()`` is a smaller version for tests (minutes -> seconds).

    Current settings: 2.5D input (``context`` 3) in the ``calcium`` window, a native-pixel crop (``crop_size`` auto),
    negatives at half the positive slices, ``tqgd.engine.recipe.CPU_RECIPE``. One 30-epoch run per input on 16 legacy
    non-gated phantom patients (4 validation patients, 48 boxes, scored through detect_volume): slice-box mAP50
    0.654 with 2.5D vs 0.648 with one slice (snapped boxes; 0.354 vs 0.426 without snapping), so 2.5D is kept for
    what it should do on noise rather than for a measured gain. As a whole demo on the realistic phantom (seeds 0, 1, 2;
    three demos sharing 2 cores; stop 39): 23 min, validation mAP50 0.35-0.48, test patient in its true risk category
    for all three with detect's confidence swept on the validation patients without rescue (0.0334 / 0.0273 / 0.10);
    with ultralytics' F1 peak (0.20 / 0.15 / 0.13), or with rescue in the sweep (0.4 / 0.4 / 0.25), seed 0's largest
    lesion went unboxed and its patient a category low (seed 1's too, with rescue in the sweep).

    Earlier measurements (8 patients, ROI resized to 256 px, one slice). On the heart-cropped phantom (62 images of 8
    patients, 2 of them validation) TQGDNet-n reached validation mAP50 0.23 at 256 px / batch 4 / 40 epochs, 0.19 with
    55 epochs (lr 0.002 or 0.004), 0.06 at 320 px / 30 epochs and 0.09 at 320 px / batch 8 / 30 epochs: on CPU, more
    optimizer steps beat larger images. AdamW with one warm-up epoch replaces the paper's SGD recipe, which needs its
    200 epochs; the paper's recipe is what ``tqgd train`` uses.

    The calcium dataset uses the ``calcium`` window (-200..800 HU) rather than the paper's -1200..1800 HU clip, which
    puts 130 HU at grey 113 next to soft tissue at 105: with the same schedule, validation mAP50 went from 0.23 to 0.28
    and the test patient's most confident box on a true lesion from 0.017 to 0.24. The heart dataset keeps ``paper``.

    Both trainings step the optimiser once per batch (ultralytics' ``nbs`` = batch; its default of 64 accumulates
    16 batches of 4, about 3 optimiser steps an epoch here): validation mAP50 went from 0.28 to 0.54 and the test
    patient's detected Agatston score from 20 to 189 (true 202), measured with everything else as above.
    """

    patients: int = 10
    image_size: int = 512
    seed: int = 0
    test_seed: int = 1000
    heart_slice_step: int = 3
    heart_epochs: int = 40
    heart_imgsz: int = 128
    heart_batch: int = 16
    heart_conf: float = 0.25
    heart_options: dict[str, Any] = field(default_factory=lambda: {"val": False, "workers": 0, "amp": False})
    folds: int = 4
    window: str = "calcium"
    context: int = 3
    crop_size: int | str = "auto"
    negatives: str = "0.5"
    epochs: int = 30
    batch: int = 8
    calcium_options: dict[str, Any] = field(default_factory=dict)  # over tqgd.engine.recipe.CPU_RECIPE
    conf: float | None = None  # None: the swept operating point (validation_operating_point), else ultralytics' F1 peak
    device: str = "cpu"

    @classmethod
    def quick(cls) -> DemoSettings:
        """Tiny: 3 patients of 128 px, one calcium epoch; checks that every step runs, not that calcium is learnt.

        The heart detector still has to find hearts (or the crop step stops the demo): 30 epochs of batch 4 at 64 px
        gave heart confidences of 0.3-0.65 on these patients in about 30 s; crops keep boxes from 0.1 up.
        """
        return cls(patients=3, image_size=128, heart_slice_step=2, heart_epochs=30, heart_imgsz=64, heart_batch=4,
                   heart_conf=0.1, folds=3, epochs=1, batch=4, conf=0.001)

    def calcium_train_options(self) -> dict[str, Any]:
        """ultralytics options of the calcium training: CPU_RECIPE, the demo's seed, its overrides."""
        from tqgd.engine.recipe import CPU_RECIPE

        options = {**CPU_RECIPE, "seed": self.seed, "nbs": self.batch, **self.calcium_options}
        for named in ("epochs", "batch"):
            options.pop(named, None)
        return options


@dataclass
class DemoResult:
    """What the demo produced: step times (s), validation metrics, the test patient's true and detected scores."""

    out: Path
    seconds: dict[str, float] = field(default_factory=dict)
    val_metrics: dict[str, Any] = field(default_factory=dict)
    true_agatston: float | None = None
    detected_agatston: float | None = None
    true_risk: str | None = None
    detected_risk: str | None = None
    shipped_agatston: float | None = None
    shipped_risk: str | None = None
    detections: int = 0
    detect_conf: float | None = None
    operating_point: dict[str, Any] | None = None  # the confidence sweep on validation patients
    notes: list[str] = field(default_factory=list)

    @property
    def total_seconds(self) -> float:
        """Wall time of all steps."""
        return float(sum(self.seconds.values()))


@dataclass
class DemoHooks:
    """How the demo reports: ``step(title)`` per step, ``training(label)`` gives ultralytics callbacks for a run."""

    step: Callable[[str], None] = lambda title: None
    training: Callable[[str], AbstractContextManager[dict]] = lambda label: contextlib.nullcontext({})
    progress: Callable[[str, int, int], None] | None = None


def demo_weights_dir() -> Path:
    """Where the demo leaves its phantom weights for ``tqgd detect`` without ``--weights``."""
    from tqgd.offline import TQGD_HOME

    return TQGD_HOME / "demo" / "weights"


def mark_phantom_weights(source: Path, target: Path, training_data: str = PHANTOM_TRAINING_DATA,
                         extra: dict[str, Any] | None = None) -> Path:
    """Copy weights to ``target`` with the checkpoint key saying they were trained on the phantom (and ``extra``
    checkpoint keys, e.g. the operating confidence)."""
    from tqgd.engine.detect_model import TRAINING_DATA_KEY
    from tqgd.engine.weights import save_with_keys

    return save_with_keys(source, target, {TRAINING_DATA_KEY: training_data, **(extra or {})})


def prepare_demo_folder(out: Path) -> Path:
    """Create ``out`` or clear an earlier demo's sub-folders in it; refuse a non-empty folder the demo did not write."""
    out = Path(out).resolve()
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder; choose a folder for --out", out)
    if out.is_dir() and any(out.iterdir()) and not (out / DEMO_MARKER).is_file():
        raise OutputError(f"folder is not empty and was not written by tqgd demo (no {DEMO_MARKER}); choose a new or "
                          "empty --out folder", out)
    for name in DEMO_SUBFOLDERS:
        shutil.rmtree(out / name, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    (out / DEMO_MARKER).write_text("Written by tqgd demo; running the demo again replaces this folder's contents.\n")
    return out


@contextlib.contextmanager
def _timed(result: DemoResult, name: str, hooks: DemoHooks, title: str) -> Iterator[None]:
    hooks.step(title)
    started = time.perf_counter()
    yield
    result.seconds[name] = round(time.perf_counter() - started, 2)


def _write_test_patient(folder: Path, settings: DemoSettings) -> None:
    """One held-out patient (not in training), as a DICOM series and in OrCaScore layout (for its true score)."""
    from tqgd.data.phantom import PhantomConfig, generate_patient
    from tqgd.data.phantom.layout import write_case

    config = PhantomConfig(image_size=settings.image_size)
    write_case(generate_patient(settings.test_seed + settings.seed, config, TEST_CASE_ID), folder,
               ("orcascore", "dicom"))


def run_demo(out: str | Path, settings: DemoSettings = DemoSettings(),
             hooks: DemoHooks | None = None) -> DemoResult:
    """Run every step into ``out`` (layout in the module docstring) and return what it measured."""
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.data.phantom.layout import write_phantom_set
    from tqgd.engine.heart import HeartDatasetOptions, build_heart_dataset, train_heart
    from tqgd.engine.heart_crop import HeartCropper, HeartCropSettings
    from tqgd.engine.operating_point import validation_operating_point
    from tqgd.engine.train import train
    from tqgd.engine.val import validate

    hooks = hooks or DemoHooks()
    out = prepare_demo_folder(Path(out))
    result = DemoResult(out=out)
    with _timed(result, "phantom", hooks, f"generate {settings.patients} phantom patients + 1 test patient"):
        write_phantom_set(out / "phantom", settings.patients, settings.seed, image_size=settings.image_size)
        _write_test_patient(out / "phantom_test", settings)
    with _timed(result, "heart_dataset", hooks, "heart dataset from the phantom's heart boxes"):
        heart_data = build_heart_dataset(out / "phantom", out / "heart_dataset",
                                         HeartDatasetOptions(slice_step=settings.heart_slice_step,
                                                             folds=min(settings.folds, settings.patients)))
    with _timed(result, "heart_train", hooks, "train the heart detector"), hooks.training("heart epochs") as cbs:
        heart_run = train_heart(heart_data.yaml, epochs=settings.heart_epochs, imgsz=settings.heart_imgsz,
                                batch=settings.heart_batch, device=settings.device, project=out / "runs", name="heart",
                                options={"nbs": settings.heart_batch, **settings.heart_options}, callbacks=cbs)
    weights = out / "weights"
    heart_weights = mark_phantom_weights(heart_run.best, weights / "heart.pt")
    with _timed(result, "convert", hooks, "convert the phantom to a heart-cropped calcium dataset"):
        cropper = HeartCropper(heart_weights, HeartCropSettings(conf=settings.heart_conf), device=settings.device)
        options = OrcaConvertOptions(window=settings.window, context=settings.context, crop_size=settings.crop_size,
                                     negatives=settings.negatives, folds=min(settings.folds, settings.patients),
                                     seed=settings.seed)
        dataset = convert_orcascore(out / "phantom", out / "dataset", options, crop=cropper).out
    with _timed(result, "calcium_train", hooks, "train TQGDNet-n"), hooks.training("calcium epochs") as cbs:
        run = train(dataset / "orcascore.yaml", "tqgdnet-n", epochs=settings.epochs, batch=settings.batch,
                    device=settings.device, project=out / "runs", name="calcium",
                    options=settings.calcium_train_options(), callbacks=cbs)
    calcium_weights = mark_phantom_weights(run.last, weights / "calcium.pt")
    with _timed(result, "validate", hooks, "validate on the held-out fold; choose detect's confidence there"):
        result.val_metrics = validate(calcium_weights, dataset / "orcascore.yaml", device=settings.device,
                                      project=out / "runs", name="val").metrics
        result.operating_point = validation_operating_point(dataset, calcium_weights, heart_weights, settings.device)
    if result.operating_point is not None:
        from tqgd.engine.detect_model import OPERATING_CONF_KEY

        mark_phantom_weights(run.last, calcium_weights, extra={OPERATING_CONF_KEY: result.operating_point["conf"]})
    conf = next((c for c in (settings.conf, (result.operating_point or {}).get("conf"),
                             result.val_metrics.get("operating_conf")) if c is not None), FALLBACK_CONF)
    result.detect_conf = conf
    with _timed(result, "detect", hooks, f"detect and score the test patient's DICOM series ({TEST_CASE_ID})"):
        _detect_test_patient(out, calcium_weights, heart_weights, settings, result, hooks)
    _publish_weights(weights)
    _write_record(out, settings, result)
    return result


def _detect_test_patient(out: Path, weights: Path, heart_weights: Path, settings: DemoSettings, result: DemoResult,
                         hooks: DemoHooks) -> None:
    """``tqgd detect`` on the test DICOM series, plus the score of its reference mask for comparison."""
    from tqgd.data.orcascore import image_path, reference_path
    from tqgd.data.readers import read_ct
    from tqgd.engine.detect import DetectOptions
    from tqgd.engine.detect_run import make_setup, run_detect
    from tqgd.io import write_json
    from tqgd.scoring import score_mask
    from tqgd.scoring.masks import read_mask

    from tqgd.weights import shipped_weights

    series = out / "phantom_test" / "DICOM" / TEST_CASE_ID
    setup = make_setup(weights, heart_weights, DetectOptions(conf=result.detect_conf), settings.device)
    (outcome,) = run_detect(series, out / "detect", setup, hooks.progress)
    result.detections = outcome.detections
    result.notes.extend(outcome.notes)
    if outcome.score is not None:
        result.detected_agatston, result.detected_risk = outcome.score.agatston, outcome.score.risk.label
    shipped = shipped_weights()
    if shipped is not None and settings.image_size == REFERENCE_SIZE:  # shipped weights know 512 px scans only
        setup = make_setup(shipped[0], shipped[1], DetectOptions(), settings.device)
        (outcome,) = run_detect(series, out / "detect_shipped", setup, hooks.progress)
        if outcome.score is not None:
            result.shipped_agatston, result.shipped_risk = outcome.score.agatston, outcome.score.risk.label
    labels, spacing = read_mask(reference_path(out / "phantom_test", TEST_CASE_ID))
    truth = score_mask(read_ct(image_path(out / "phantom_test", TEST_CASE_ID)), labels, mask_spacing_mm=spacing)
    result.true_agatston, result.true_risk = truth.agatston, truth.risk.label
    write_json(out / "detect" / "reference_score.json", truth.to_dict())


def _publish_weights(weights: Path) -> None:
    """Copy the marked weights to the folder ``tqgd detect`` falls back to without ``--weights``."""
    target = demo_weights_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in ("calcium.pt", "heart.pt"):
        shutil.copyfile(weights / name, target / f".{name}.tmp")
        (target / f".{name}.tmp").replace(target / name)


def _write_record(out: Path, settings: DemoSettings, result: DemoResult) -> None:
    from tqgd.io import write_json

    write_json(out / "demo.json", {
        "warning": PHANTOM_WARNING, "settings": asdict(settings), "seconds": result.seconds,
        "total_seconds": result.total_seconds, "validation": result.val_metrics,
        "test_patient": {"case_id": TEST_CASE_ID, "true_agatston": result.true_agatston,
                         "true_risk": result.true_risk, "detected_agatston": result.detected_agatston,
                         "detected_risk": result.detected_risk, "detections": result.detections,
                         "shipped_weights_agatston": result.shipped_agatston,
                         "shipped_weights_risk": result.shipped_risk},
        "detect_conf": result.detect_conf, "operating_point": result.operating_point, "notes": result.notes,
    })


def with_overrides(settings: DemoSettings, **changes: Any) -> DemoSettings:
    """``settings`` with the non-None ``changes`` applied (for CLI options)."""
    return replace(settings, **{k: v for k, v in changes.items() if v is not None})
