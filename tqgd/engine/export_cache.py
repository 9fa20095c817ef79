"""Exported copies of a checkpoint (ONNX, OpenVINO), made once by ultralytics' exporter and kept in a cache.

How a cached export is found or made (``cached_export``):

1. Key. The sha256 of the weights file's bytes, the backend, the export settings (``ExportSettings``: trace size,
   dynamic shapes, batch, simplification) and what else shapes the exported graph: the versions of ultralytics,
   torch and the exporter's package, and a hash of tqgd's layer code (``tqgd/nn/*.py``: a fix to a layer changes the
   graph of unchanged weights). A changed weights file, setting or layer gets a new export; nothing else does.
2. Folder. ``<cache root>/<weights sha256, 16 hex>/<backend>-<key hash, 12 hex>/`` holds the exported model and
   ``export.json`` (every input of the key, for a person to read). The cache root is ``TQGD_EXPORT_CACHE``, else
   ``<TQGD_HOME>/exports`` (``~/.cache/tqgd/exports``): never next to the weights, which may ship inside a read-only
   installed package.
3. Atomic. A miss exports into a temporary folder beside the final one (ultralytics' exporter writes next to the
   checkpoint path it is given, so it is given a path inside that folder), writes ``export.json`` last, and renames
   the folder into place: an interrupted export leaves no folder that looks complete. When two processes export at
   once, the first rename wins and the other process uses that folder and drops its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import warnings
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from tqgd.errors import CheckpointError
from tqgd.io import output_error

#: Environment variable naming the cache root (default ``<TQGD_HOME>/exports``).
CACHE_ENV = "TQGD_EXPORT_CACHE"
#: The file that marks a finished export and records its key.
RECORD = "export.json"
#: What ultralytics' exporter writes for a checkpoint called ``model.pt``, per format.
EXPORTED_NAMES = {"onnx": "model.onnx", "openvino": "model_openvino_model"}
#: The package whose version is part of the key, per format.
EXPORTER_PACKAGES = {"onnx": "onnx", "openvino": "openvino"}
_CHUNK = 1 << 20


@dataclass(frozen=True)
class ExportSettings:
    """What ultralytics' ``model.export`` is asked for: format, trace size, dynamic batch/height/width, trace batch.

    Dynamic shapes let one export run at any crop side and batch, with the same minimal letterbox as PyTorch.
    """

    format: str
    imgsz: int
    dynamic: bool = True
    batch: int = 1
    simplify: bool = True

    def export_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``ultralytics.YOLO.export`` (CPU, fp32)."""
        return {**asdict(self), "device": "cpu", "half": False, "verbose": False}


def cache_root() -> Path:
    """Where exports are kept: ``TQGD_EXPORT_CACHE``, else ``<TQGD_HOME>/exports``."""
    from tqgd.offline import TQGD_HOME

    return Path(os.environ.get(CACHE_ENV) or TQGD_HOME / "exports").expanduser()


def file_sha256(path: Path) -> str:
    """Hex sha256 of a file's bytes."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def layer_code_sha256() -> str:
    """Hex sha256 over tqgd's layer sources (``tqgd/nn/*.py``, names and bytes, sorted by name); read as files,
    not imported, so a cache lookup does not import torch."""
    digest = hashlib.sha256()
    for source in sorted((Path(__file__).resolve().parents[1] / "nn").glob("*.py")):
        digest.update(source.name.encode() + b"\0" + source.read_bytes() + b"\0")
    return digest.hexdigest()


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def export_key(weights_sha256: str, settings: ExportSettings) -> dict[str, Any]:
    """Everything the exported graph depends on (JSON-ready; recorded as ``export.json``)."""
    return {"weights_sha256": weights_sha256, "settings": asdict(settings),
            "versions": {name: _version(name) for name in ("ultralytics", "torch",
                                                           EXPORTER_PACKAGES[settings.format])},
            "tqgd_layers_sha256": layer_code_sha256()}


def export_folder(key: dict[str, Any]) -> Path:
    """The cache folder of ``key`` (module docstring, step 2)."""
    key_hash = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()
    return cache_root() / key["weights_sha256"][:16] / f"{key['settings']['format']}-{key_hash[:12]}"


def find_export(weights_sha256: str, settings: ExportSettings) -> Path | None:
    """The finished export of the weights with this sha256 and these settings, None when it was never made."""
    folder = export_folder(export_key(weights_sha256, settings))
    return folder / EXPORTED_NAMES[settings.format] if (folder / RECORD).is_file() else None


def cached_export(model: Any, weights: Path, settings: ExportSettings) -> tuple[Path, bool]:
    """The exported model of ``weights`` (``model``: the ``ultralytics.YOLO`` loaded from them) and whether it was
    made now (False: reused from the cache).

    Raises:
        CheckpointError: ultralytics' exporter failed on these weights.
        OutputError: the cache folder cannot be written (set ``TQGD_EXPORT_CACHE`` to a writable folder).
    """
    key = export_key(file_sha256(weights), settings)
    final = export_folder(key)
    if (final / RECORD).is_file():
        return final / EXPORTED_NAMES[settings.format], False
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    except OSError as exc:
        raise output_error(exc, final.parent, f"create the export cache (set {CACHE_ENV} to a writable folder)"
                           ) from exc
    try:
        _export(model, work, settings, weights)
        (work / RECORD).write_text(json.dumps({**key, "source_weights": str(weights)}, indent=2) + "\n")
        try:
            os.rename(work, final)
        except OSError as exc:
            if not (final / RECORD).is_file():  # not a concurrent export that finished first
                raise output_error(exc, final, "store the export") from exc
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
    return final / EXPORTED_NAMES[settings.format], True


def _export(model: Any, folder: Path, settings: ExportSettings, weights: Path) -> None:
    """Run ultralytics' exporter so that it writes into ``folder`` (it names its output after ``pt_path``)."""
    inner = model.model
    previous = getattr(inner, "pt_path", None)
    inner.pt_path = str(folder / "model.pt")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python ints in shapes: the trace is checked
            model.export(**settings.export_kwargs())
    except Exception as exc:  # ultralytics raises plain exceptions from its exporters
        raise CheckpointError(f"export to {settings.format} failed: {type(exc).__name__}: {exc}. Use --backend torch",
                              weights) from exc
    finally:
        inner.pt_path = previous
    if not (folder / EXPORTED_NAMES[settings.format]).exists():
        raise CheckpointError(f"ultralytics' {settings.format} export wrote no {EXPORTED_NAMES[settings.format]} into "
                              f"{folder}. Use --backend torch", weights)
