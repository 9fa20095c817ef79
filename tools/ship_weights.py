#!/usr/bin/env python
"""Train (or resume) the phantom weights that ship in ``tqgd/weights/`` and install them: a thin script over
``tqgd.engine.ship``.

Example: python tools/ship_weights.py --work /tmp/tqgd-ship             # about an hour on 2 CPU cores
         python tools/ship_weights.py --work /tmp/tqgd-ship --epochs 60 --device 0 --install
         python tools/ship_weights.py --work /tmp/tqgd-op --record-operating-points   # installed weights, again
         python tools/ship_weights.py --work /tmp/tqgd-ship --trained gpu/last.pt --install   # trained elsewhere
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from pathlib import Path


def initialised_from(checkpoint: Path, card: Path | None) -> dict:
    """The card's record of a fine-tuning start: the checkpoint's name, sha256 and architecture (the model config it
    was built from, also when it was itself fine-tuned from a .pt), and its own card when given."""
    import hashlib
    import json

    from tqgd.engine.weights import load_checkpoint

    ckpt = load_checkpoint(checkpoint)
    model = ckpt.get("ema") or ckpt.get("model")
    yaml_file = (getattr(model, "yaml", None) or {}).get("yaml_file")  # a fine-tune's train_args name a .pt
    architecture = str(yaml_file or ckpt["train_args"]["model"]).removesuffix(".yaml")
    record = {"file": checkpoint.name, "sha256": hashlib.sha256(checkpoint.read_bytes()).hexdigest(),
              "architecture": architecture}
    if card is not None:
        record["card"] = json.loads(card.read_text(encoding="utf-8"))
    return {"initialised_from": record}


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv``, build (resuming) and optionally install; returns the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], prog="ship_weights.py")
    parser.add_argument("--work", type=Path, required=True, help="Work folder (phantoms, datasets, runs); reused.")
    parser.add_argument("--gated", type=int, default=None, help="Gated phantom patients (default 16).")
    parser.add_argument("--non-gated", type=int, default=None, help="Non-gated phantom patients (default 16).")
    parser.add_argument("--model", default=None,
                        help="Calcium model config (default tqgdnet-n), or a .pt to fine-tune from.")
    parser.add_argument("--epochs", type=int, default=None, help="Calcium epochs (default: CPU_RECIPE's).")
    parser.add_argument("--crop-size", type=int, default=None, help="Native-pixel crop side in px (default 384).")
    parser.add_argument("--context", type=int, default=None, choices=(1, 3), help="1 slice or 2.5D (default 3).")
    parser.add_argument("--negatives", default=None,
                        help="Calcium-free slices per positive slice (default 0.5; hard:0.5 = most look-alikes).")
    parser.add_argument("--device", default=None, help="cpu (default) or a GPU such as 0.")
    parser.add_argument("--init-card", type=Path, default=None,
                        help="card.json of the weights a .pt --model came from; the new card records it.")
    parser.add_argument("--gated-seed", type=int, default=None, help="Seed of the gated training phantom (7001).")
    parser.add_argument("--non-gated-seed", type=int, default=None,
                        help="Seed of the non-gated training phantom (7002).")
    parser.add_argument("--metal-share", type=float, default=None,
                        help="Per-patient probability of each metal kind in the training phantoms (default: the "
                             "phantom's own, 0.03-0.06), e.g. 0.5 to show the detector many stents and leads.")
    parser.add_argument("--heart-weights", default=None,
                        help="Reuse these heart weights (e.g. tqgd/weights/heart.pt) instead of training one.")
    parser.add_argument("--trained", type=Path, default=None,
                        help="Calcium weights trained elsewhere (e.g. on a GPU machine) on this work folder's calcium "
                             "dataset: adopted instead of training; the card records their file, sha256 and train "
                             "arguments.")
    parser.add_argument("--install", action="store_true", help="Copy the finished weights into tqgd/weights/.")
    parser.add_argument("--record-operating-points", action="store_true",
                        help="Train nothing: sweep the installed weights' confidence for the square and the heart-ROI "
                             "crop on the validation patients their card names (phantoms regenerated in --work) and "
                             "write both into the weights and card.json.")
    args = parser.parse_args(argv)

    import tqgd  # noqa: F401  - configures ultralytics (offline) before it loads
    from tqgd.engine.ship import ShipSettings, build, install, read_operating_point, record_operating_points
    from tqgd.errors import TQGDError
    from tqgd.weights import weights_dir

    if args.record_operating_points:
        try:
            print(f"recorded: {record_operating_points(args.work, weights_dir())}")
        except TQGDError as exc:
            print(f"ship_weights: error: {exc}", file=sys.stderr)
            return exc.exit_code
        return 0

    changes = {"gated_patients": args.gated, "non_gated_patients": args.non_gated, "model": args.model,
               "crop_size": args.crop_size, "context": args.context, "device": args.device,
               "negatives": args.negatives, "gated_seed": args.gated_seed, "non_gated_seed": args.non_gated_seed,
               "metal_share": args.metal_share, "heart_weights": args.heart_weights,
               "recipe": {"epochs": args.epochs} if args.epochs else None}
    settings = ShipSettings(**{k: v for k, v in changes.items() if v is not None})
    try:
        built = build(args.work, settings, trained=args.trained)
        if args.install:
            point = read_operating_point(args.work)
            notes, train_args = None, None
            if (args.model or "").endswith(".pt"):  # the card names the architecture, the start checkpoint aside
                notes = initialised_from(Path(args.model), args.init_card)
                settings = replace(settings, model=notes["initialised_from"]["architecture"])
            if args.trained:
                adopted = json.loads((args.work / "ship.json").read_text(encoding="utf-8"))["adopted"]
                notes, train_args = {**(notes or {}), "trained_elsewhere": adopted}, adopted["train_args"]
                model = str(train_args.get("model") or settings.model)
                settings = replace(settings, model=Path(model).name.removesuffix(".yaml"))
            print(f"installed: {install(built, weights_dir(), settings, notes, point, train_args)}")
    except TQGDError as exc:
        print(f"ship_weights: error: {exc}", file=sys.stderr)
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main())
