"""Several converted datasets -> one training dataset (e.g. gated OrCaScore-like + non-gated chest scans).

A merged dataset is a folder holding ``merged.yaml`` (ultralytics data YAML whose ``train``/``val`` list every source's
image lists, so nothing is copied) and a ``convert.json``. The sources must have been prepared the same way (model
input: window, 2.5D context, crop size; the heart crop; class names): a model trained on the merge records one
preprocessing, and ``tqgd detect`` applies it to every scan. Anything else differing is refused with what differs.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tqgd.data.convert.dataset_yaml import CONVERT_JSON
from tqgd.errors import DatasetError
from tqgd.io import write_json, write_text

#: convert.json entries that must be equal in every source (what detection repeats, and the classes).
SAME_KEYS = ("input", "window", "crop", "classes", "names")
MERGED_YAML = "merged.yaml"


def _source(data_yaml: Path) -> tuple[dict[str, list[str]], dict[str, Any], dict[str, Any]]:
    """(split -> absolute image-list paths, class names, convert.json) of one converted dataset."""
    import json

    import yaml

    try:
        content = yaml.safe_load(data_yaml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise DatasetError(f"cannot read this data YAML ({exc})", data_yaml) from exc
    if not isinstance(content, dict) or not content.get("train") or not content.get("val"):
        raise DatasetError("not a dataset YAML with train and val entries; pass the YAML tqgd convert wrote", data_yaml)
    root = Path(str(content.get("path") or data_yaml.parent))
    record = root / CONVERT_JSON
    if not record.is_file():
        raise DatasetError(f"no {CONVERT_JSON} in the dataset folder {root}; only datasets written by tqgd convert can "
                           "be merged (their preprocessing must be known)", data_yaml)
    splits = {}
    for split in ("train", "val"):
        entries = content[split] if isinstance(content[split], list) else [content[split]]
        splits[split] = [str((root / str(entry)).resolve()) for entry in entries]
        missing = [p for p in splits[split] if not Path(p).exists()]
        if missing:
            raise DatasetError(f"'{split}' entries not found: {', '.join(missing)}", data_yaml)
    return splits, content.get("names"), json.loads(record.read_text(encoding="utf-8"))


def merge_datasets(data_yamls: Sequence[str | Path], out: str | Path) -> Path:
    """Write ``OUT/merged.yaml`` and ``OUT/convert.json`` training on every source's train split, validating on every
    source's val split; returns the YAML's path.

    Raises:
        DatasetError: fewer than two sources, a source not made by tqgd convert, or sources prepared differently.
    """
    if len(data_yamls) < 2:
        raise DatasetError(f"merging needs at least two dataset YAMLs, got {len(data_yamls)}")
    sources = [(path, *_source(path)) for path in (Path(y).expanduser().resolve() for y in data_yamls)]
    first_yaml, _, names, first = sources[0]
    for path, _, other_names, record in sources[1:]:
        for key in SAME_KEYS:
            if record.get(key) != first.get(key):
                raise DatasetError(f"'{key}' differs from {first_yaml} ({first.get(key)!r} vs {record.get(key)!r}); "
                                   "convert every source with the same window, --context, --crop-size, heart crop "
                                   "and classes", path)
        if other_names != names:
            raise DatasetError(f"class names differ from {first_yaml} ({names!r} vs {other_names!r})", path)
    out = Path(out).expanduser().resolve()
    splits = {split: [p for _, source_splits, _, _ in sources for p in source_splits[split]] for split in ("train", "val")}
    names = dict(enumerate(names)) if isinstance(names, list) else {int(k): str(v) for k, v in names.items()}
    comment = "Merged tqgd dataset (train and val of every source): " + ", ".join(str(p) for p, *_ in sources)
    header = "".join(f"# {line}\n" for line in comment.splitlines())
    body = {"path": str(out), "train": splits["train"], "val": splits["val"], "names": names}
    import yaml

    target = write_text(out / MERGED_YAML, header + yaml.safe_dump(body, sort_keys=False))
    write_json(out / CONVERT_JSON, {**{key: first.get(key) for key in SAME_KEYS}, "command": "merge_datasets",
                                    "merged_from": [str(p) for p, *_ in sources],
                                    "counts_by_source": [record.get("counts", {}) for *_, record in sources]})
    return target
