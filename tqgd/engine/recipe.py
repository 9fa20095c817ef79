"""The TQGDNet paper's training recipe (section 3.1) as ultralytics train arguments, and checked pass-through options.

Paper -> ultralytics: SGD (``optimizer``), lr 0.01 decaying linearly to 0.0001 (``lr0`` 0.01, ``lrf`` 0.01 = final
fraction), momentum 0.937 after 3 warm-up epochs starting at 0.8 (``warmup_epochs``, ``warmup_momentum``), weight decay
0.0005, 200 epochs, batch 4, trained from scratch (``pretrained`` False), left-right flips (``fliplr`` 0.5), HSV
h 0.015 / s 0 / v 0.4, translate 0.1, mosaic. What the paper does not state (image size, scale jitter, closing mosaic
for the last epochs) stays at ultralytics' default and is recorded as such. The loss is ultralytics' (DFL + CIoU + BCE
on an anchor-free head), not the YOLOv5 objectness/GIoU loss the paper names: the detection head is ultralytics' own.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from tqgd.errors import ConfigError

#: ultralytics train arguments fixed by the paper's section 3.1.
PAPER_RECIPE: dict[str, Any] = {
    "epochs": 200,
    "batch": 4,
    "optimizer": "SGD",
    "lr0": 0.01,
    "lrf": 0.01,
    "momentum": 0.937,
    "weight_decay": 0.0005,
    "warmup_epochs": 3.0,
    "warmup_momentum": 0.8,
    "pretrained": False,
    "fliplr": 0.5,
    "hsv_h": 0.015,
    "hsv_s": 0.0,
    "hsv_v": 0.4,
    "translate": 0.1,
    "mosaic": 1.0,
}

#: Arguments the paper leaves open, shown next to the recipe so a run states every choice (values: ultralytics').
UNSTATED_KEYS = ("imgsz", "scale", "close_mosaic", "cos_lr", "seed")

#: Arguments set by tqgd's own options (``--epochs`` ...) or by tqgd itself, refused as pass-through words.
NAMED_OPTION_KEYS = {"epochs": "--epochs", "imgsz": "--imgsz", "batch": "--batch", "device": "--device",
                     "project": "--project", "name": "--name", "resume": "--resume", "model": "--model",
                     "data": "--data"}
RESERVED_KEYS = frozenset({"mode", "task", "cfg"})
#: Optimizer names ultralytics' trainer accepts (checked here so a typo fails before the model is built).
OPTIMIZERS = ("SGD", "MuSGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSprop", "auto")

#: Source labels in the recipe table.
SOURCE_PAPER = "paper 3.1"
SOURCE_DEFAULT = "ultralytics default"


def ultralytics_defaults() -> dict[str, Any]:
    """ultralytics' default train configuration (``cfg/default.yaml``), as a fresh dict."""
    from ultralytics.cfg import DEFAULT_CFG_DICT

    return dict(DEFAULT_CFG_DICT)


def _unknown_key_error(key: str, valid: Sequence[str]) -> ConfigError:
    close = difflib.get_close_matches(key, valid, n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else "; see ultralytics' cfg/default.yaml for the valid keys"
    return ConfigError(f"unknown option {key!r}: not an ultralytics argument{hint}")


def check_options(options: Mapping[str, Any], named: Mapping[str, str] = NAMED_OPTION_KEYS) -> dict[str, Any]:
    """Check pass-through options: known ultralytics keys, not one of the command's ``named`` flags, valid values.

    ``named`` maps keys to the flag that sets them (``{"epochs": "--epochs"}``). Returns a copy; ultralytics' checks
    raise on wrong types and out-of-range values, reported as ConfigError.
    """
    from ultralytics.cfg import check_cfg

    defaults = ultralytics_defaults()
    checked = dict(options)
    for key in checked:
        if key in named:
            raise ConfigError(f"option {key!r} has its own flag; use {named[key]} instead of {key}=...")
        if key in RESERVED_KEYS:
            raise ConfigError(f"option {key!r} is set by tqgd itself and cannot be passed through")
        if key not in defaults:
            raise _unknown_key_error(key, sorted(defaults))
    if "optimizer" in checked and str(checked["optimizer"]).lower() not in {o.lower() for o in OPTIMIZERS}:
        raise ConfigError(f"unknown optimizer {checked['optimizer']!r}; choose one of {', '.join(OPTIMIZERS)}")
    try:
        check_cfg(checked, hard=True)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"invalid option: {exc}") from exc
    return checked


def parse_option_words(words: Sequence[str], named: Mapping[str, str] = NAMED_OPTION_KEYS) -> dict[str, Any]:
    """Parse trailing ``key=value`` words (as ultralytics' CLI takes them) into checked options (see check_options)."""
    from ultralytics.cfg import smart_value

    options: dict[str, Any] = {}
    for word in words:
        key, sep, value = word.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise ConfigError(f"cannot read option {word!r}; write extra options as key=value, e.g. lr0=0.02")
        if key in options:
            raise ConfigError(f"option {key!r} is given twice; give it once")
        options[key] = value if key in {"name", "project"} else smart_value(value)
    return check_options(options, named)


def recipe_table(args: Mapping[str, Any]) -> list[tuple[str, Any, str]]:
    """(key, value, source) for every recipe key, every unstated key and every other changed ultralytics default.

    Sources: ``paper 3.1`` (the paper's value), ``ultralytics default``, or ``changed (paper: X)`` / ``changed
    (default: X)`` when a run departs from them.
    """
    defaults = ultralytics_defaults()
    rows = []
    for key, paper_value in PAPER_RECIPE.items():
        value = args.get(key, defaults.get(key))
        rows.append((key, value, SOURCE_PAPER if value == paper_value else f"changed (paper: {paper_value})"))
    shown = set(PAPER_RECIPE)
    for key in UNSTATED_KEYS:
        value = args.get(key, defaults.get(key))
        same = value == defaults.get(key)
        rows.append((key, value, SOURCE_DEFAULT if same else f"changed (default: {defaults.get(key)})"))
        shown.add(key)
    ignored = {"model", "data", "mode", "task", "project", "name", "save_dir", "device", "resume", "exist_ok"}
    for key in sorted(set(args) - shown - ignored):
        if key in defaults and args[key] != defaults[key]:
            rows.append((key, args[key], f"changed (default: {defaults[key]})"))
    return rows


#: The short CPU schedule used for the shipped weights, the demo and the clinic benchmark (measured in BENCHMARKS.md):
#: AdamW with one warm-up epoch and an optimiser step per batch (``nbs`` = batch; ultralytics' nominal 64 leaves a
#: few steps an epoch on a small set), light scale jitter so deposits keep their pixel size, mosaic off for the last
#: epochs. Everything else is the paper's recipe.
CPU_RECIPE: dict[str, Any] = {
    "epochs": 30,
    "batch": 8,
    "nbs": 8,
    "optimizer": "AdamW",
    "lr0": 0.002,
    "warmup_epochs": 1.0,
    "scale": 0.2,
    "close_mosaic": 6,
    "workers": 0,
    "seed": 0,
    "amp": False,
    "val": False,
    "plots": False,
}
