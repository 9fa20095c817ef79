"""How close the phantom is to real non-contrast cardiac CT, realistic (generator 2.x) vs legacy (1.0) mode.

For each mode and scan profile (gated, non-gated) it generates ``--patients`` patients in memory and measures:
mean +- SD HU of blood pool, myocardium, fat, lung and cancellous bone (tissue masks eroded by 3 mm, away from
calcium and metal) against textbook ranges; the radial noise power spectrum's peak (uniform ROIs,
``tqgd.data.phantom.fbp_noise``); per scan, the calcium-threshold 3D components (6-connected; voxels above 130 HU,
as OrCaScore and the truth count them) inside the heart ROI (the pericardial-sac box on each slice) that are not
coronary calcium, by cause from the truth (legacy mode lists no
cause for noise, so its leftovers read ``unattributed``); the per-slice lesion area histogram in the paper's Fig. 2
buckets; generation time. Then, without any training, it re-measures the two untrained baselines of
``benchmarks/baselines_table.py`` on a gated set of each mode: the 130 HU threshold in the heart ROI, and the
threshold + artery prior (phantom artery masks), on fold 0's validation split and on every fold's (same conversion
and scoring).

Usage:
    python benchmarks/phantom_realism.py --work /tmp/tqgd-realism --update            # 12 patients, 512 px
    python benchmarks/phantom_realism.py --work /tmp/tqgd-realism-smoke --smoke        # 2 patients, 128 px
    python benchmarks/phantom_realism.py --work /tmp/r --montage docs/phantom_realism.png
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np
from bench_common import log, record_line, run_record, update_block
from scipy import ndimage

from tqgd.data.phantom import PhantomConfig, Tissue, generate_patient
from tqgd.data.phantom.config import CALCIUM_THRESHOLD_HU
from tqgd.data.phantom.fbp_noise import radial_nps, uniform_rois
from tqgd.data.phantom.layout import patient_case_id, patient_seed
from tqgd.data.phantom.stats import AREA_BUCKET_NAMES, area_histogram
from tqgd.io import write_json

BLOCK_NAME = "phantom_realism"
MODES = ("realistic", "legacy")
#: Textbook HU of non-contrast CT at 120 kVp: (low, high). Blood and myocardium as the issue states them (blood
#: 35-45, myocardium 40-50); fat about -100; aerated lung -900 to -700; adult vertebral cancellous bone 100-400.
TEXTBOOK_HU = {"blood pool": (35, 45), "myocardium": (40, 50), "fat": (-120, -80), "lung": (-900, -700),
               "bone (cancellous)": (100, 400)}
#: Tissue code of each ROI (myocardium is MUSCLE inside the heart in realistic mode; legacy paints no myocardium).
ROI_TISSUE = {"blood pool": Tissue.BLOOD, "myocardium": Tissue.MUSCLE, "fat": Tissue.FAT, "lung": Tissue.LUNG,
              "bone (cancellous)": Tissue.BONE}
ROI_EROSION_MM = 3.0
#: Width of the montage PNG (keeps it under 500 KB).
MONTAGE_WIDTH_PX = 768
#: Truth kinds folded into one cause in the components table.
CAUSE_OF_KIND = {"noise_spike": "noise"}
_SIX = ndimage.generate_binary_structure(3, 1)


def heart_roi(case) -> np.ndarray:
    """(Z, Y, X) mask of the per-slice heart boxes."""
    roi = np.zeros(case.volume.shape, dtype=bool)
    for k, box in enumerate(case.heart_boxes):
        if box is not None:
            x0, y0, x1, y1 = box
            roi[k, y0:y1, x0:x1] = True
    return roi


def tissue_values(case) -> dict[str, np.ndarray]:
    """HU of each ROI's voxels: the tissue eroded by ROI_EROSION_MM in-plane, away from calcium and metal."""
    erosion = max(1, int(round(ROI_EROSION_MM / case.acquisition.pixel_spacing_mm)))
    structure = np.ones((1, 2 * erosion + 1, 2 * erosion + 1), dtype=bool)
    clear = ~ndimage.binary_dilation((case.labels > 0) | _non_bone_distractors(case), structure)
    heart = heart_roi(case)
    out = {}
    for name, code in ROI_TISSUE.items():
        if name == "myocardium" and case.config.realism == "legacy":
            continue
        mask = ndimage.binary_erosion(case.tissue == code, structure) & clear
        if name in ("blood pool", "myocardium"):
            mask &= heart
        out[name] = case.volume.hu[mask]
    return out


def _non_bone_distractors(case) -> np.ndarray:
    bone_ids = [i + 1 for i, d in enumerate(case.distractors) if d.kind == "bone"]
    return (case.distractor_ids > 0) & ~np.isin(case.distractor_ids, bone_ids)


def components_by_cause(case) -> Counter:
    """>130 HU 3D components inside the heart ROI that hold no coronary label, counted by their voxels' main cause."""
    bright = (case.volume.hu > CALCIUM_THRESHOLD_HU) & heart_roi(case)  # integer HU: >130 is >=131, as the truth
    components, n = ndimage.label(bright, structure=_SIX)
    kinds = ["unattributed"] + [CAUSE_OF_KIND.get(d.kind, d.kind) for d in case.distractors]
    counts: Counter = Counter()
    for index, window in enumerate(ndimage.find_objects(components), start=1):
        inside = components[window] == index
        if (case.labels[window][inside] > 0).any():
            continue
        ids = case.distractor_ids[window][inside]
        counts[kinds[int(np.bincount(ids).argmax())]] += 1
    return counts


def patient_nps_peak(case) -> float | None:
    """Peak (cycles/mm) of the radial NPS over uniform ROIs of every 4th slice."""
    roi_px = max(8, min(32, case.volume.shape[-1] // 8))
    rois = uniform_rois(case.volume.hu[::4], case.tissue[::4], roi_px, 120)
    if not len(rois):
        return None
    freq, nps = radial_nps(rois, case.acquisition.pixel_spacing_mm)
    return float(freq[int(np.argmax(nps[1:])) + 1])


def measure_mode(realism: str, gated: bool, patients: int, seed: int, image_size: int) -> dict:
    """All realism measures of one mode and profile."""
    config = PhantomConfig(image_size=image_size, gated=gated, realism=realism)
    values: dict[str, list[np.ndarray]] = {}
    causes: Counter = Counter()
    lesions, peaks, kernel_peaks, seconds = [], [], [], []
    for index in range(patients):
        started = time.perf_counter()
        case = generate_patient(patient_seed(seed, index), config, patient_case_id(index))
        seconds.append(time.perf_counter() - started)
        for name, v in tissue_values(case).items():
            values.setdefault(name, []).append(v)
        causes.update(components_by_cause(case))
        lesions.extend(case.lesions)
        if (peak := patient_nps_peak(case)) is not None:
            peaks.append(peak)
        if case.realism is not None:
            kernel_peaks.append(case.realism["noise_kernel"]["nps_peak_per_mm"])
    hu = {name: (float(np.mean(np.concatenate(v))), float(np.std(np.concatenate(v)))) for name, v in values.items()}
    return {"realism": realism, "gated": gated, "patients": patients, "hu": hu,
            "components_per_scan": {k: v / patients for k, v in sorted(causes.items())},
            "components_total_per_scan": sum(causes.values()) / patients,
            "nps_peak_per_mm": (float(np.mean(peaks)), float(np.std(peaks))) if peaks else None,
            "kernel_nps_peak_per_mm": float(np.mean(kernel_peaks)) if kernel_peaks else None,
            "area_buckets": area_histogram(lesions), "lesions": len(lesions),
            "generate_s": float(np.mean(seconds))}


def measure_baselines(work: Path, realism: str, patients: int, seed: int, image_size: int) -> dict:
    """HU threshold and threshold + artery prior on every fold's validation split of a gated set of one mode."""
    from tqgd.baselines.roi import phantom_heart_crop
    from tqgd.baselines.threshold import ThresholdOptions, run_threshold_baseline
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.data.phantom.layout import write_phantom_set

    phantom, dataset = work / realism / "phantom", work / realism / "dataset"
    if not (phantom / "phantom" / "phantom.json").is_file():
        log(f"{realism}: writing {patients} gated patients at {image_size} px")
        write_phantom_set(phantom, patients, seed=seed, gated=True, image_size=image_size, overwrite=True,
                          config=PhantomConfig(realism=realism))
    if not (dataset / "convert.json").is_file():
        log(f"{realism}: converting (masks, heart-box crop)")
        convert_orcascore(phantom, dataset, OrcaConvertOptions(folds=min(5, patients), masks=True, seed=seed),
                          crop=phantom_heart_crop())
    folds = min(5, patients)
    log(f"{realism}: threshold baselines on {folds} folds")
    out: dict = {"fold0": {}, "folds": folds, "per_fold": {}}
    for fold in range(folds):
        data = dataset / f"fold{fold}.yaml"
        for method, arteries in (("threshold", None), ("threshold + artery prior", "phantom")):
            boxes = run_threshold_baseline(data, "val", ThresholdOptions(roi="auto"), arteries=arteries).boxes
            out["per_fold"].setdefault(method, []).append(boxes.to_dict())
            if fold == 0:
                out["fold0"][method] = boxes.to_dict()
    return out


def _pm(pair: tuple[float, float] | None, digits: int = 0) -> str:
    return "n/a" if pair is None else f"{pair[0]:.{digits}f} ± {pair[1]:.{digits}f}"


def report(results: list[dict], baselines: dict, record: dict, montage: str | None) -> str:
    """The Markdown block."""
    profiles = [(r["realism"], "gated" if r["gated"] else "non-gated") for r in results]
    head = "| measure | textbook | " + " | ".join(f"{m} {p}" for m, p in profiles) + " |"
    rule = "|" + "---|" * (len(profiles) + 2)
    lines = [record_line(record), "", f"{results[0]['patients']} patients per column, "
             f"{'512' if not record['command'].count('--smoke') else '128'} px; HU pooled over voxels.", "",
             "Tissue HU (mean ± SD over the ROI voxels, noise included):", "", head, rule]
    for name, (low, high) in TEXTBOOK_HU.items():
        lines.append(f"| {name} | {low} to {high} | " + " | ".join(_pm(r["hu"].get(name)) for r in results) + " |")
    lines.append("| NPS peak (cycles/mm) | ~0.2-0.4 | "
                 + " | ".join(_pm(r["nps_peak_per_mm"], 3) for r in results) + " |")
    lines.append("| kernel's NPS peak (cycles/mm) | | " + " | ".join(
        "n/a" if r["kernel_nps_peak_per_mm"] is None else f"{r['kernel_nps_peak_per_mm']:.3f}" for r in results) + " |")
    lines.append("| generation s / patient | | " + " | ".join(f"{r['generate_s']:.2f}" for r in results) + " |")
    causes = sorted({c for r in results for c in r["components_per_scan"]})
    lines += ["", ">130 HU components (3D, 6-connected) inside the heart ROI that are not coronary calcium, per scan, "
              "by cause:", "", "| cause | " + " | ".join(f"{m} {p}" for m, p in profiles) + " |",
              "|" + "---|" * (len(profiles) + 1)]
    for cause in causes:
        lines.append(f"| {cause} | " + " | ".join(f"{r['components_per_scan'].get(cause, 0.0):.2f}" for r in results)
                     + " |")
    lines.append("| **all** | " + " | ".join(f"**{r['components_total_per_scan']:.2f}**" for r in results) + " |")
    lines += ["", "Per-slice lesion areas in the paper's Fig. 2 buckets (px):", "",
              "| bucket | " + " | ".join(f"{m} {p}" for m, p in profiles) + " |", "|" + "---|" * (len(profiles) + 1)]
    for bucket in AREA_BUCKET_NAMES:
        lines.append(f"| {bucket} | " + " | ".join(str(r["area_buckets"][bucket]) for r in results) + " |")
    if baselines:
        lines += ["", "Untrained baselines (gated set, heart-box crop, scored as in `benchmarks/baselines_table.py`): "
                  "fold 0's validation split, and the mean ± SD over the validation splits of all folds (every patient "
                  "once):", "",
                  "| phantom | method | P | R | F1 | mAP50 | mAP50-95 | predicted / GT boxes | F1, all folds | "
                  "mAP50, all folds |", "|---|---|---|---|---|---|---|---|---|---|"]
        for realism, result in baselines.items():
            for method, m in result["fold0"].items():
                folds = result["per_fold"][method]
                f1 = _pm((float(np.mean([f["f1"] for f in folds])), float(np.std([f["f1"] for f in folds]))), 3)
                ap = _pm((float(np.mean([f["map50"] for f in folds])), float(np.std([f["map50"] for f in folds]))), 3)
                lines.append(f"| {realism} | {method} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | "
                             f"{m['map50']:.3f} | {m['map50_95']:.3f} | {m['n_pred']} / {m['n_gt']} | {f1} | {ap} |")
    if montage:
        lines += ["", f"![gated and non-gated slices of the realistic phantom]({montage})"]
    return "\n".join(lines)


def save_montage(path: Path, seed: int) -> Path:
    """Two annotated slices each of a gated and a non-gated realistic patient (PNG, MONTAGE_WIDTH_PX wide)."""
    import cv2

    from tqgd.data.phantom.montage import pick_slices, render_slice
    from tqgd.io import write_bytes

    tiles = []
    for gated in (True, False):
        case = generate_patient(patient_seed(seed, 0), PhantomConfig(gated=gated), patient_case_id(0))
        slices = pick_slices(case, 2)
        tiles.append(np.hstack([render_slice(case, k) for k in slices]))
    image = np.vstack(tiles)
    height = image.shape[0] * MONTAGE_WIDTH_PX // image.shape[1]
    image = cv2.resize(image, (MONTAGE_WIDTH_PX, height), interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".png", image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    return write_bytes(path, data.tobytes())


def main(argv: list[str] | None = None) -> str:
    """Measure, print the block and (with --update) write it into BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="working folder (phantom sets for the baselines)")
    parser.add_argument("--patients", type=int, default=12, help="patients per mode and profile (default 12)")
    parser.add_argument("--baseline-patients", type=int, default=16,
                        help="gated patients per mode for the threshold baselines (default 16, as baselines_table)")
    parser.add_argument("--seed", type=int, default=0, help="set seed (default 0)")
    parser.add_argument("--smoke", action="store_true", help="2 patients at 128 px, 5 for the baselines")
    parser.add_argument("--no-baselines", action="store_true", help="skip the threshold baselines")
    parser.add_argument("--montage", type=Path, help="also write a montage PNG here (referenced from the block)")
    parser.add_argument("--update", type=Path, nargs="?", const=Path("BENCHMARKS.md"),
                        help="write the block into this Markdown file's phantom_realism block")
    args = parser.parse_args(argv)
    work = args.work.expanduser().resolve()
    record = run_record("phantom_realism.py")
    size, patients, baseline_patients = (128, 2, 5) if args.smoke else (512, args.patients, args.baseline_patients)
    results = []
    for realism in MODES:
        for gated in (True, False):
            log(f"{realism} {'gated' if gated else 'non-gated'}: {patients} patients")
            results.append(measure_mode(realism, gated, patients, args.seed, size))
    baselines = {} if args.no_baselines else {
        realism: measure_baselines(work, realism, baseline_patients, args.seed, size) for realism in MODES}
    montage = None
    if args.montage:
        save_montage(args.montage, args.seed)
        montage = args.montage.as_posix()
    block = report(results, baselines, record, montage)
    write_json(work / "phantom_realism.json", {"record": record, "results": results, "baselines": baselines})
    print(block)
    if args.update:
        update_block(BLOCK_NAME, block, args.update)
    return block


if __name__ == "__main__":
    main()
