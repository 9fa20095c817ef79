"""Model config names: ``tqgdnet-n`` -> ``tqgd/cfg/models/tqgdnet.yaml`` at scale ``n`` (as ultralytics' ``yolov8n``).

Shipped configs are found through ``importlib.resources.files("tqgd.cfg")`` (``models/*.yaml`` and
``models/ablation/*.yaml``, stems unique). A path to a YAML file works too, with the scale either as a ``-<scale>``
suffix of the file name (``my/net-s.yaml`` loads ``my/net.yaml`` at scale s) or as a ``scale:`` key inside it.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tqgd.errors import ConfigError

if TYPE_CHECKING:
    from importlib.resources.abc import Traversable

#: Package and folders holding the shipped model YAMLs.
CONFIG_PACKAGE = "tqgd.cfg"
MODEL_FOLDERS = ("models", "models/ablation")
YAML_SUFFIXES = (".yaml", ".yml")


def shipped_configs() -> dict[str, Traversable]:
    """Shipped model YAMLs by stem (``tqgdnet``, ``yolov5b-panet``, ...)."""
    found: dict[str, Traversable] = {}
    root = files(CONFIG_PACKAGE)
    for folder in MODEL_FOLDERS:
        directory = root.joinpath(*folder.split("/"))
        if not directory.is_dir():
            continue
        for entry in sorted(directory.iterdir(), key=lambda e: e.name):
            stem, dot, suffix = entry.name.rpartition(".")
            if entry.is_file() and dot and f".{suffix}" in YAML_SUFFIXES:
                found[stem] = entry
    return found


def _read(entry: Traversable | Path, shown: str) -> dict[str, Any]:
    """Parse one model YAML, checking it has the keys a model needs."""
    try:
        data = yaml.safe_load(entry.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read this model config ({exc})", path=shown) from exc
    missing = [k for k in ("nc", "backbone", "head") if not isinstance(data, dict) or k not in data]
    if missing:
        raise ConfigError(f"model config lacks {missing}; a model YAML needs nc, backbone and head", path=shown)
    return data


def known_model_names() -> list[str]:
    """Every shipped config with its scales, e.g. ``tqgdnet-{n,s,m}``, for messages and listings."""
    names = []
    for stem, entry in shipped_configs().items():
        scales = _read(entry, str(entry)).get("scales") or {}
        names.append(f"{stem}-{{{','.join(scales)}}}" if scales else stem)
    return names


def _with_scale(data: dict[str, Any], stem: str, scale: str | None, shown: str) -> dict[str, Any]:
    """Attach ``scale`` and ``yaml_file`` (the requested name, as ultralytics does) to a loaded config."""
    scales = data.get("scales") or {}
    scale = scale or data.get("scale")
    if scales and scale not in scales:
        choices = ", ".join(f"{stem}-{s}" for s in scales)
        got = f"unknown scale {scale!r}" if scale else "no scale given"
        raise ConfigError(f"{got}; choose one of {choices}", path=shown)
    data["scale"] = scale or ""
    data["yaml_file"] = f"{stem}-{scale}.yaml" if scales else f"{stem}.yaml"
    return data


def resolve_model_cfg(name: str | Path) -> dict[str, Any]:
    """Load the model config ``name`` names (``tqgdnet-n``, ``tqgdnet-n.yaml``, or a YAML path) at its scale.

    Returns the model dict ready for ``TQGDDetectionModel``; raises ConfigError listing the known names otherwise.
    """
    text = str(name).strip()
    path = Path(text)
    stem = path.name[: -len(path.suffix)] if path.suffix in YAML_SUFFIXES else path.name
    base, _, scale = stem.rpartition("-")
    if path.suffix in YAML_SUFFIXES and path.is_file():
        return _with_scale(_read(path, text), stem, None, text)
    if path.suffix in YAML_SUFFIXES and base and path.with_name(base + path.suffix).is_file():
        return _with_scale(_read(path.with_name(base + path.suffix), text), base, scale, text)
    shipped = shipped_configs() if path.parent == Path(".") else {}
    if stem in shipped:
        return _with_scale(_read(shipped[stem], text), stem, None, text)
    if base in shipped:
        return _with_scale(_read(shipped[base], text), base, scale, text)
    raise ConfigError(f"unknown model config {text!r}; known: {', '.join(known_model_names())} "
                      "(or give the path of a model YAML file)")
