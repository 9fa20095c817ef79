"""A calcium detector trained by tqgd on the phantom in well under a minute of CPU, for the saliency tests.

Whole heart crops (384 px at 512 px slices) would need minutes of training before the detector scores anything: each
crop holds a few 3-10 px deposits, and the detector needs a few hundred optimiser steps to find them. So the training
images are 96 px patches cut from the same model images tqgd detect builds (``tqgd.data.model_input``: calcium window,
2.5D context, native pixels, the phantom's heart crop): most around a deposit (its boxes from the reference mask),
some from elsewhere in the heart crop (bone, aorta, noise: no boxes). The detector is fully convolutional, so weights
trained on patches run on the whole crop at the same pixel size; ``convert.json`` records the crop's input spec, so the
weights carry it as converted weights do. It records no heart cropper: ``tqgd detect`` runs such weights on whole
slices, and ``tqgd explain --roi phantom`` cuts the phantom's own heart crop.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml

from tqgd.data.boxes import Box, mask_to_boxes
from tqgd.data.convert.dataset_yaml import write_convert_json
from tqgd.data.convert.writer import DatasetWriter
from tqgd.data.model_input import InputSpec, auto_crop_size, crop_box, slice_images
from tqgd.data.windowing import parse_window

PATCH_PX = 96
#: Training boxes are grown to at least this side around the deposit (see ``grown``).
MIN_BOX_PX = 24
NAMES = {0: "calcium"}


def phantom_scans(root: Path, patients: int = 2, seed: int = 21) -> list[Path]:
    """A gated 512 px phantom set (OrCaScore layout) under ``root``; returns the MetaImage scans."""
    from tqgd.data.phantom.layout import write_phantom_set

    write_phantom_set(root, patients, seed=seed, image_size=512, gated=True)
    return sorted((root / "Images").glob("*CTI.mhd"))


def heart_roi(scan: Path) -> tuple[int, int, int, int]:
    """The phantom's oracle heart ROI of a scan (sidecar heart boxes + 10 mm)."""
    from tqgd.baselines.roi import phantom_heart_crop
    from tqgd.data.readers import read_ct

    return phantom_heart_crop()(read_ct(scan))


def grown(box: Box, z: int) -> Box:
    """``box`` grown about its centre to at least ``MIN_BOX_PX`` a side, cut to the patch.

    A fresh ultralytics head predicts boxes of ~120 px; a 3 px deposit overlaps such a box so little that the
    task-aligned assigner gives it almost no weight, and learning starts only after minutes. A 24 px box around the
    deposit starts learning at once; ``tqgd detect`` snaps the detected boxes back to the calcium.
    """
    def side(low: int, high: int) -> tuple[int, int]:
        grow = max(MIN_BOX_PX - (high - low), 0)
        low = max(low - grow // 2, 0)
        return low, min(max(high, low + MIN_BOX_PX), PATCH_PX)

    (x0, x1), (y0, y1) = side(box.x0, box.x1), side(box.y0, box.y1)
    return Box(x0, y0, x1, y1, slice_index=z)


def write_patch_dataset(scans: list[Path], out: Path, negatives_per_scan: int = 12, seed: int = 0) -> Path:
    """Patches of ``scans`` (see the module docstring) as an ultralytics dataset; returns its data YAML."""
    from tqgd.data.readers import read_ct

    rng = np.random.default_rng(seed)
    volumes = [read_ct(s) for s in scans]
    rois = [heart_roi(s) for s in scans]
    spec = InputSpec(parse_window("calcium"), context=3, crop_size=auto_crop_size(rois))
    writer = DatasetWriter(out, NAMES, formats=("yolo",), description="phantom calcium patches")
    for scan, volume, roi in zip(scans, volumes, rois, strict=True):
        labels = read_ct(scan.parent.parent / "Reference standard" / scan.name.replace("CTI", "R")).hu > 0
        x0, y0, x1, y1 = crop_box(roi, volume.shape[1:], spec.crop_size)
        patient = scan.name[:-len("CTI.mhd")]

        def add(z: int, px: int, py: int, name: str) -> None:
            box = (px, py, px + PATCH_PX, py + PATCH_PX)
            pixels = slice_images(volume.hu, [z], box, spec)[0]
            boxes = [grown(b, z) for b in mask_to_boxes(labels[z, py:py + PATCH_PX, px:px + PATCH_PX], connectivity=8)]
            writer.add_pixels(f"{patient}_{name}", pixels, boxes, patient=patient, slice_index=z)

        for z in np.flatnonzero(labels.reshape(labels.shape[0], -1).any(axis=1)):
            ys, xs = np.nonzero(labels[z])
            for k in range(3):  # three patches per slice with calcium, the deposit at different places
                cx, cy = int(xs.mean()), int(ys.mean())
                px = int(np.clip(cx - rng.integers(16, PATCH_PX - 16), x0, x1 - PATCH_PX))
                py = int(np.clip(cy - rng.integers(16, PATCH_PX - 16), y0, y1 - PATCH_PX))
                add(int(z), px, py, f"z{z:03d}_{k}")
        for k in range(negatives_per_scan):
            z = int(rng.integers(0, volume.shape[0]))
            add(z, int(rng.integers(x0, x1 - PATCH_PX)), int(rng.integers(y0, y1 - PATCH_PX)), f"n{k:02d}_z{z:03d}")
    data = out / "patches.yaml"
    data.write_text(yaml.safe_dump({"path": str(out.resolve()), "train": "images", "val": "images", "names": NAMES}))
    write_convert_json(out, {"command": "tests/explain/phantom_model.py", "window": spec.windowing.to_json(),
                             "input": spec.to_json(), "crop": None, "classes": "single",
                             "names": NAMES})
    return data


def train_patch_model(data: Path, project: Path, model: str = "yolov5b-panet-n", epochs: int = 12) -> Path:
    """Train ``model`` on the patch dataset (CPU, AdamW, a step per batch); returns last.pt."""
    from tqgd.engine.recipe import CPU_RECIPE
    from tqgd.engine.train import train

    options = {**{k: v for k, v in CPU_RECIPE.items() if k not in ("epochs", "batch")}, "nbs": 16, "lr0": 0.01,
               "mosaic": 0.0, "close_mosaic": 0, "warmup_epochs": 0.5, "exist_ok": True}
    run = train(data, model, epochs=epochs, imgsz=PATCH_PX, batch=16, device="cpu", project=project, name="patches",
                options=options)
    return run.last


def calcium_slices(scan: Path, count: int = 2) -> list[int]:
    """The ``count`` slices of a phantom scan with the most reference calcium pixels (sorted)."""
    from tqgd.data.readers import read_ct

    labels = read_ct(scan.parent.parent / "Reference standard" / scan.name.replace("CTI", "R")).hu > 0
    area = labels.reshape(labels.shape[0], -1).sum(axis=1)
    return sorted(int(z) for z in np.argsort(-area, kind="stable")[:count])


#: The paper's Fig. 9 columns: YOLOv5*B, ThrConvs*B, +Qf, +GD, TQGDNet (docs/models.md names them).
FIG9_MODELS = ("yolov5b-panet-n", "thrconvs-panet-n", "thrconvs-qf-n", "thrconvs-gd34-n", "tqgdnet-n")


def fig9_models(out: Path, models: tuple[str, ...] = FIG9_MODELS, epochs: int = 15,
                negatives_per_scan: int = 60) -> dict[str, Path]:
    """Phantom patients for docs/explain.md's Fig. 9 panel and the patch-trained ablation models; returns the weights.

    Training patients: one gated (seed 31), one non-gated (seed 32); held-out patients shown in the panel: one gated
    (seed 41) and one non-gated (seed 42), under ``out/test-gated`` and ``out/test-non-gated``. More background
    patches than the test model gets (bone, sternum, crop edges), so the models fire less outside the arteries.
    Finished runs are kept.
    """
    from tqgd.data.phantom.layout import write_phantom_set

    for name, seed, gated in (("train-gated", 31, True), ("train-non-gated", 32, False),
                              ("test-gated", 41, True), ("test-non-gated", 42, False)):
        if not (out / name / "Images").is_dir():
            write_phantom_set(out / name, 1, seed=seed, image_size=512, gated=gated)
    data = out / "patches" / "patches.yaml"
    if not data.is_file():
        scans = [next((out / n / "Images").glob("*CTI.mhd")) for n in ("train-gated", "train-non-gated")]
        data = write_patch_dataset(scans, out / "patches", negatives_per_scan=negatives_per_scan)
    weights = {}
    for model in models:
        last = out / "runs" / model / "patches" / "weights" / "last.pt"
        if not last.is_file():
            last = train_patch_model(data, out / "runs" / model, model, epochs)
        weights[model] = last
    return weights


if __name__ == "__main__":
    import argparse

    import tqgd  # noqa: F401  (configures ultralytics first)

    parser = argparse.ArgumentParser(description="Train the patch-trained ablation models of docs/explain.md.")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    for name, path in fig9_models(args.out, epochs=args.epochs).items():
        print(name, path)
    for name in ("test-gated", "test-non-gated"):
        scan = next((args.out / name / "Images").glob("*CTI.mhd"))
        print(name, scan, "slices with the most reference calcium:", calcium_slices(scan))
