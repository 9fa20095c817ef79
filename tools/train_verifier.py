#!/usr/bin/env python
"""Train the lesion verifier (``tqgd.verify``) and export it as ONNX; ``--install`` puts it in ``tqgd/weights/``.

Without ``--sets`` it trains on the default phantom sets (``DEFAULT_SETS``: fixed seeds, never the benchmark's test
patients), generated into WORK. Each step is skipped when its output exists, so a killed run resumes.

With several ``--seeds`` each seed's verifier is trained (``verifier-seed<N>.onnx``, kept for a resumed run) and
``verifier.onnx`` is their merge (``tqgd.verify.ensemble``): one file scoring the mean (``--combine min``: the
minimum) of their probabilities. ``--merge-with FILE`` adds existing verifiers (e.g. the shipped one, trained on other
sets) as members of that merge. The shipped verifier is such a merge (``--combine min``): the network trained on all
default sets and one trained with ``--sets`` of the first eight (BENCHMARKS.md, "Dense training patients, and the min
merge").

Example: python tools/train_verifier.py --work /tmp/tqgd-verifier --install   # ~70 min training on one CPU core
         python tools/train_verifier.py --work /tmp/v --seeds 0 1 2 --install      # three seeds, merged
         python tools/train_verifier.py --work /tmp/v --sets data/orcascore/train   # OrCaScore-layout folders
         python tools/train_verifier.py --work /tmp/v --merge-with tqgd/weights/verifier.onnx --combine min
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from dataclasses import replace
from pathlib import Path

#: name -> (set seed, gated, patients, PhantomConfig overrides): ordinary patients, metal of every kind, stents (the
#: rarest look-alike of coronary calcium), and dense patients (8-12 lesions and 3-6 aortic calcifications each: large
#: lesions and aortic wall were too few among the candidates for the verifier to tell them apart).
_METAL = {"sternal_wire_share": 0.9, "stent_share": 0.9, "clip_share": 0.9, "lead_share": 0.9}
_DENSE = {"lesions_per_patient": (8, 12), "aortic_calcifications": (3, 6)}
DEFAULT_SETS = {"gated": (9301, True, 24, {}), "non-gated": (9302, False, 24, {}),
                "metal-gated": (9101, True, 12, _METAL), "metal-non-gated": (9102, False, 12, _METAL),
                "stent-gated": (9201, True, 16, {"stent_share": 1.0}),
                "stent-non-gated": (9202, False, 16, {"stent_share": 1.0}),
                "stent2-gated": (9203, True, 24, {"stent_share": 1.0}),
                "stent2-non-gated": (9204, False, 24, {"stent_share": 1.0}),
                "dense-gated": (9401, True, 24, _DENSE), "dense-non-gated": (9402, False, 24, _DENSE),
                "dense2-gated": (9403, True, 48, _DENSE), "dense2-non-gated": (9404, False, 48, _DENSE)}


def make_default_sets(work: Path) -> list[Path]:
    """Generate (or reuse) the default phantom sets under ``work/sets``; returns their folders."""
    from tqgd.data.phantom.config import PhantomConfig
    from tqgd.data.phantom.layout import write_phantom_set

    roots = []
    for name, (seed, gated, patients, overrides) in DEFAULT_SETS.items():
        root = work / "sets" / name
        if not (root / "phantom" / "phantom.json").is_file():
            print(f"phantom set {name}: {patients} patients, seed {seed}", flush=True)
            write_phantom_set(root, patients, seed=seed, gated=gated, image_size=512,
                              config=replace(PhantomConfig(), **overrides), overwrite=True)
        roots.append(root)
    return roots


def subsample(kinds, most: int, seed: int):
    """Sorted indices keeping every calcium candidate and at most ``most`` of each other kind (a seeded draw)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    keep = []
    for kind in np.unique(kinds):
        index = np.flatnonzero(kinds == kind)
        if kind != "calcium" and len(index) > most:
            index = rng.choice(index, most, replace=False)
        keep.append(index)
    return np.sort(np.concatenate(keep))


#: Look-alikes inside the heart's outline that a box on a coronary can land on: rare among the candidates (bone and
#: leads dominate), so ``--hard-weight`` makes each count more.
HARD_KINDS = ("stent", "aortic_wall", "aortic_root", "aortic_valve", "mitral_annulus", "lymph_node", "pericardium")


def _train_one(data, args, seed: int, described: str, path: Path, reuse: bool) -> Path:
    """Train and export the verifier of one seed at ``path``; with ``reuse`` an existing file is kept (a resumed run
    of several seeds)."""
    import numpy as np

    from tqgd.verify.train import VerifierRecipe, export_verifier, train_verifier

    if reuse and path.is_file():
        print(f"seed {seed}: reusing {path}", flush=True)
        return path
    keep = subsample(data["kinds"], args.max_per_kind, seed)
    kinds = {str(k): int(n) for k, n in zip(*np.unique(data["kinds"][keep], return_counts=True), strict=True)}
    print(f"\nseed {seed}: {keep.size} of {len(data['labels'])} candidates: {kinds}", flush=True)
    recipe = VerifierRecipe(epochs=args.epochs, seed=seed, threshold=args.threshold)
    weights = np.where(np.isin(data["kinds"][keep], HARD_KINDS), args.hard_weight, 1.0)
    net, losses = train_verifier(data["patches"][keep], data["scalars"][keep], data["labels"][keep], recipe,
                                 progress=lambda e, n, loss: print(f"epoch {e}/{n}: loss {loss:.4f}", flush=True),
                                 weights=weights)
    record = {"candidates": kinds, "hard_weight": args.hard_weight, "final_loss": round(losses[-1], 4)}
    out = export_verifier(net, path, recipe, described, record)
    print(f"wrote {out}")
    print(json.dumps({"seed": seed, "losses": [round(v, 4) for v in losses]}), flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, required=True, help="folder for sets, candidates and the export")
    parser.add_argument("--sets", type=Path, nargs="+", help="OrCaScore-layout folders (default: the phantom sets)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="training seed(s); several are trained one by one and merged into one verifier")
    parser.add_argument("--merge-with", type=Path, nargs="+", default=[], metavar="FILE",
                        help="existing verifier(s) merged with the seed(s) trained here into one verifier")
    parser.add_argument("--combine", choices=("mean", "min"), default="mean",
                        help="how merged members' probabilities combine (min: kept only when every member keeps it)")
    parser.add_argument("--max-per-kind", type=int, default=1500,
                        help="keep at most this many non-calcium candidates of one kind (bone dominates; seeded)")
    parser.add_argument("--hard-weight", type=float, default=5.0,
                        help=f"loss weight of the cardiac look-alikes ({', '.join(HARD_KINDS)}); 1 = as any other")
    parser.add_argument("--threshold", type=float, default=0.1, help="rejection threshold recorded in the export")
    parser.add_argument("--install", action="store_true", help="copy the export to tqgd/weights/verifier.onnx")
    args = parser.parse_args(argv)
    missing = [str(path) for path in args.merge_with if not path.is_file()]
    if missing:
        parser.error(f"--merge-with: no such verifier file: {', '.join(missing)}")

    import numpy as np

    from tqgd.verify.dataset import collect_candidates
    from tqgd.verify.ensemble import merge_verifiers
    from tqgd.verify.runtime import SHIPPED_VERIFIER

    args.work.mkdir(parents=True, exist_ok=True)
    roots = args.sets or make_default_sets(args.work)
    cache = args.work / "candidates.npz"
    if not cache.is_file():
        found = collect_candidates(roots, progress=lambda done, total: print(f"candidates: case {done}/{total}",
                                                                             end="\r", flush=True))
        patches, scalars, labels = found.arrays()
        tmp = cache.with_name(".candidates.tmp.npz")
        np.savez(tmp, patches=patches, scalars=scalars, labels=labels, kinds=np.array(found.kinds))
        tmp.replace(cache)
    data = np.load(cache)
    described = ("synthetic phantom (tqgd): not clinically trained, not for patient care; sets "
                 + ", ".join(f"{r.name}" for r in roots)) if not args.sets else ", ".join(str(r) for r in roots)
    if not args.sets:
        described += f" (seeds: { {name: spec[0] for name, spec in DEFAULT_SETS.items()} })"
    if len(args.seeds) == 1 and not args.merge_with:
        out = _train_one(data, args, args.seeds[0], described, args.work / "verifier.onnx", reuse=False)
    else:
        members = [_train_one(data, args, seed, described, args.work / f"verifier-seed{seed}.onnx", reuse=True)
                   for seed in args.seeds] + args.merge_with
        out = merge_verifiers(members, args.work / "verifier.onnx", args.combine)
        print(f"merged {len(members)} verifiers ({args.combine}) into {out}")
    if args.install:
        shutil.copyfile(out, SHIPPED_VERIFIER)
        print(f"installed {SHIPPED_VERIFIER}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    sys.exit(main())
