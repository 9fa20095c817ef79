"""ECG-free frame synchronisation (paper 004) measured against the XA phantom's true cardiac phase.

For each seed, ``--runs`` phantom runs are written as XA DICOM into a temporary folder, read back with
``tqgd.xa.reader.read_xa`` and synchronised by ``tqgd.xa.sync.synchronise`` (no truth used); then each run is
scored against its sidecar truth: period error in frames (estimated minus the run's true mean period), whether the
contrast start was found to the frame, and the share of non-contrast frames whose paired contrast frame lies
within one frame of the same true phase; both for the period tqgd pairs with (step 5, per-phase spectra) and for
the paper's literal whole-run FFT period (step 2) with the same contrast frames. The chance level of that share (a random frame of the same beat) is
``3 / period``. Files are deleted as soon as they are scored (a 200-frame 512 px run is 52 MB).

Usage:
    python benchmarks/xa_sync.py                          # seeds 0-3, 5 runs each, 200 frames, 512 px (~2 min)
    python benchmarks/xa_sync.py --hrv 0.08                # stronger heart-rate variability (phase drifts more)
    python benchmarks/xa_sync.py --seeds 0 --runs 2 --frames 120 --size 256 --out /tmp/xa_sync.json
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from tqgd.io import write_json
from tqgd.xa.phantom_set import run_id, write_run
from tqgd.xa.reader import read_xa
from tqgd.xa.sync import pair_by_period, synchronise
from tqgd.xa.sync_eval import pair_phase_errors, score_sync
from tqgd.xa.truth import load_truth


def measure(seeds: list[int], runs: int, frames: int, size: int, views: int, hrv: float) -> list[dict]:
    """One row per run: seed, run id, true/estimated period, errors, pair share, chance, seconds."""
    rows = []
    with tempfile.TemporaryDirectory(prefix="tqgd-xa-sync-") as tmp:
        folder = Path(tmp)
        for seed in seeds:
            for index in range(runs):
                patient, view = index // views, index % views
                write_run(folder, seed, patient, view, frames, size, hrv_max=hrv)
                path = folder / f"{run_id(patient, view)}.dcm"
                start = time.perf_counter()
                seq = read_xa(path)
                result = synchronise(seq.frames, seq.frame_rate_fps)
                seconds = time.perf_counter() - start
                truth = load_truth(path, seq.num_frames, need_calcium=False)
                score = score_sync(result, truth)
                literal = pair_phase_errors(pair_by_period(seq.num_frames, result.period_whole_run,
                                                           result.contrast_start, result.contrast_full),
                                            truth.cycles(), score.true_period)
                rows.append({"seed": seed, "run": path.stem, "true_period": score.true_period,
                             "estimated_period": score.estimated_period, "period_error": score.period_error,
                             "whole_run_period_error": result.period_whole_run - score.true_period,
                             "whole_run_within_1_frame": float(np.mean(np.abs(literal) <= 1.0)),
                             "contrast_start_true": score.contrast_start_true,
                             "contrast_start_found": score.contrast_start_found,
                             "contrast_full_found": result.contrast_full, "pairs": len(score.pair_errors),
                             "within_1_frame": score.within_one_frame, "median_abs_error": score.median_abs_error,
                             "chance_within_1_frame": score.chance_within_one_frame, "read_sync_s": seconds,
                             "hrv_fraction": truth.record.get("hrv_fraction")})
                for suffix in (".dcm", ".npz", ".json"):
                    path.with_suffix(suffix).unlink()
                r = rows[-1]
                print(f"seed {seed} {r['run']}: period {r['true_period']:.2f} -> {r['estimated_period']:.2f} "
                      f"({r['period_error']:+.3f}; whole run {r['whole_run_period_error']:+.3f}), contrast {r['contrast_start_true']} -> "
                      f"{r['contrast_start_found']}, within 1 frame {r['within_1_frame']:.1%} (whole-run period "
                      f"{r['whole_run_within_1_frame']:.1%}) "
                      f"(chance {r['chance_within_1_frame']:.0%})", flush=True)
    return rows


def summary(rows: list[dict]) -> dict:
    """Aggregate numbers over all runs."""
    err = np.array([r["period_error"] for r in rows])
    within = np.array([r["within_1_frame"] for r in rows])
    pairs = np.array([r["pairs"] for r in rows])
    return {"runs": len(rows), "period_error_mean_abs": float(np.mean(np.abs(err))),
            "period_error_max_abs": float(np.max(np.abs(err))),
            "period_error_median": float(np.median(err)),
            "contrast_start_exact": float(np.mean([r["contrast_start_found"] == r["contrast_start_true"]
                                                   for r in rows])),
            "within_1_frame_pooled": float(np.sum(within * pairs) / np.sum(pairs)),
            "whole_run_period_error_mean_abs": float(np.mean(np.abs([r["whole_run_period_error"] for r in rows]))),
            "whole_run_period_error_max_abs": float(np.max(np.abs([r["whole_run_period_error"] for r in rows]))),
            "whole_run_within_1_frame_pooled": float(np.sum(np.array([r["whole_run_within_1_frame"] for r in rows])
                                                            * pairs) / np.sum(pairs)),
            "within_1_frame_median_run": float(np.median(within)), "within_1_frame_min_run": float(np.min(within)),
            "chance_within_1_frame_mean": float(np.mean([r["chance_within_1_frame"] for r in rows])),
            "read_sync_s_mean": float(np.mean([r["read_sync_s"] for r in rows]))}


def main() -> None:
    """Parse options, measure, print and optionally write the result."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    parser.add_argument("--runs", type=int, default=5, help="runs per seed")
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--views-per-patient", type=int, default=3)
    parser.add_argument("--hrv", type=float, default=0.03,
                        help="largest breathing modulation of the heart rate (phantom default 0.03)")
    parser.add_argument("--out", type=Path, help="write rows and summary as JSON")
    args = parser.parse_args()
    rows = measure(args.seeds, args.runs, args.frames, args.size, args.views_per_patient, args.hrv)
    result = {"options": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
              "summary": summary(rows), "rows": rows}
    print(json.dumps(result["summary"], indent=2))
    if args.out:
        write_json(args.out, result)


if __name__ == "__main__":
    main()
