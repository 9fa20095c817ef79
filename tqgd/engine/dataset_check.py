"""Check an ultralytics data YAML before any training or validation starts, with errors that say what to fix.

ultralytics resolves a relative ``path:`` against the current folder or its own datasets folder and may try to
download a dataset whose split is missing; tqgd refuses both up front: ``path:`` must be absolute (or absent: the
YAML's folder), and every ``train``/``val`` entry must exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tqgd.errors import DatasetError

REQUIRED_KEYS = ("train", "val", "names")


@dataclass(frozen=True)
class DataSpec:
    """A checked data YAML: its absolute path, dataset root, split entries resolved to paths, and class names."""

    yaml_path: Path
    root: Path
    splits: dict[str, tuple[Path, ...]]
    names: dict[int, str]


def _names(raw: Any, path: Path) -> dict[int, str]:
    """Class names as {0: name, 1: name, ...}: ultralytics stops mid-training on gaps, and null names read "None"."""
    if isinstance(raw, list) and raw:
        names = dict(enumerate(raw))
    elif isinstance(raw, dict) and raw:
        try:
            names = {int(k): v for k, v in raw.items()}
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"'names' keys must be class numbers 0, 1, ...; found {list(raw)}", path) from exc
    else:
        raise DatasetError(f"'names' must be a non-empty list or {{index: name}} mapping, found {raw!r}", path)
    if sorted(names) != list(range(len(names))):
        raise DatasetError(f"'names' keys must be 0 to {len(names) - 1} without gaps, found {sorted(names)}", path)
    blank = [k for k, v in names.items() if not isinstance(v, (str, int, float)) or not str(v).strip()]
    if blank:
        raise DatasetError(f"class {blank[0]} has no name ({names[blank[0]]!r}); give every class a name", path)
    return {k: str(v) for k, v in sorted(names.items())}


def check_data_yaml(data: str | Path, splits: tuple[str, ...] = ("train", "val")) -> DataSpec:
    """Read and check the data YAML ``data``; ``splits`` are the entries that must exist on disk.

    Raises:
        DatasetError: missing file, unreadable YAML, missing train/val/names, relative ``path:``, missing split files.
    """
    path = Path(data).expanduser().resolve()
    if not path.is_file():
        raise DatasetError("data YAML not found; pass the dataset YAML written by 'tqgd convert' "
                           "(e.g. OUT/orcascore.yaml) or your own with path/train/val/names", path)
    try:
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DatasetError(f"cannot read this data YAML ({exc})", path) from exc
    if not isinstance(content, dict):
        raise DatasetError(f"expected a mapping with {', '.join(REQUIRED_KEYS)}, found {type(content).__name__}", path)
    missing = [key for key in REQUIRED_KEYS if content.get(key) in (None, "", [], {})]
    if missing:
        raise DatasetError(f"data YAML lacks {', '.join(missing)}; an ultralytics dataset YAML needs path (absolute), "
                           "train, val and names", path)
    root_text = content.get("path")
    root = Path(str(root_text)).expanduser() if root_text else path.parent
    if not root.is_absolute():
        raise DatasetError(f"'path: {root_text}' is relative; ultralytics would resolve it against the current or its "
                           f"datasets folder, not this file. Write the absolute folder, e.g. path: {path.parent}", path)
    if not root.is_dir():
        raise DatasetError(f"dataset folder 'path: {root}' does not exist; fix path: or re-run the conversion", path)
    resolved: dict[str, tuple[Path, ...]] = {}
    for split in ("train", "val", "test"):
        entries = content.get(split)
        if not entries:
            continue
        entries = entries if isinstance(entries, list) else [entries]
        resolved[split] = tuple((root / str(entry)).resolve() for entry in entries)
        absent = [str(p) for p in resolved[split] if not p.exists()]
        if split in splits and absent:
            raise DatasetError(f"'{split}' entries not found: {', '.join(absent)} (resolved against path: {root}); "
                               "fix the YAML or re-run the conversion", path)
    names = _names(content["names"], path)
    if "nc" in content and content["nc"] != len(names):
        raise DatasetError(f"nc is {content['nc']!r} but 'names' lists {len(names)} classes; fix one of them (or "
                           "drop nc)", path)
    return DataSpec(yaml_path=path, root=root, splits=resolved, names=names)
