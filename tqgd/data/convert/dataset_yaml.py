"""Dataset files written at the end of a conversion: fold image lists, ultralytics dataset YAMLs, ``convert.json``.

Fold lists (``OUT/folds/fold<i>_{train,val}.txt``) hold one ``./../images/<stem>.png`` per line; ultralytics
resolves a leading ``./`` against the list's own folder, so the lists keep working if OUT is moved (only
the YAMLs' absolute ``path:`` then needs updating). ``convert.json`` records the options a later stage
needs to prepare new scans the same way (above all the window) and is written last: when it exists, the
conversion finished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tqgd.io import write_json, write_text

FOLDS_DIR = "folds"
CONVERT_JSON = "convert.json"


def fold_list_text(images: Sequence[str]) -> str:
    """Lines for an ultralytics image list in ``OUT/folds/``, from image paths relative to OUT."""
    return "".join(f"./../{image}\n" for image in sorted(images))


def write_fold_list(out: Path, name: str, images: Sequence[str]) -> Path:
    """Write ``OUT/folds/<name>.txt`` and return its path."""
    return write_text(out / FOLDS_DIR / f"{name}.txt", fold_list_text(images))


def dataset_yaml_text(out: Path, train: str, val: str, names: Mapping[int, str], comment: str) -> str:
    """An ultralytics detection dataset YAML with absolute ``path:`` and a usage header."""
    header = "".join(f"# {line}\n" for line in comment.strip().splitlines())
    body = {"path": str(Path(out).resolve()), "train": train, "val": val,
            "names": {int(k): str(v) for k, v in sorted(names.items())}}
    usage = "# An ultralytics detection dataset: pass this file as data=... to training or validation.\n"
    return header + usage + yaml.safe_dump(body, sort_keys=False)


def write_dataset_yaml(target: Path, out: Path, train: str, val: str, names: Mapping[int, str], comment: str) -> Path:
    """Write one dataset YAML atomically."""
    return write_text(target, dataset_yaml_text(out, train, val, names, comment))


def write_convert_json(out: Path, options: dict[str, Any]) -> Path:
    """Write ``OUT/convert.json`` (call this last)."""
    return write_json(out / CONVERT_JSON, options)
