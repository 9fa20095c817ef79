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
    if isinstance(raw, list) and raw:
        return {i: str(name) for i, name in enumerate(raw)}
    if isinstance(raw, dict) and raw:
        try:
            return {int(k): str(v) for k, v in raw.items()}
        except (TypeError, ValueError) as exc:
            raise DatasetError(f"'names' keys must be class numbers 0, 1, ...; found {list(raw)}", path) from exc
    raise DatasetError(f"'names' must be a non-empty list or {{index: name}} mapping, found {raw!r}", path)


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
    return DataSpec(yaml_path=path, root=root, splits=resolved, names=_names(content["names"], path))
