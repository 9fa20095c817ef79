"""The one place tqgd loads checkpoints: restricted unpickling by default, full pickle only when the user trusts the file.

A ``.pt`` file is a pickle, and a pickle can run any code while it loads. tqgd therefore loads weights with ultralytics'
restricted loader (``torch.load(weights_only=True)`` plus an allow-list of torch, ultralytics and tqgd model classes,
see ``tqgd.nn.safe_globals``), whatever ``ULTRALYTICS_SAFE_LOAD`` says. A file that names anything else (``builtins.exec``,
``os.system``, or just a class an older library version pickled) is refused before any of its code runs, with the
offending globals named. ``--trust-weights`` on the CLI, ``trust=True`` here, or ``TQGD_TRUST_WEIGHTS=1`` in the
environment loads such a file with full pickle, for weights whose origin the user vouches for.

Training also loads checkpoints inside ultralytics (resume, pretrained weights): run it inside ``checkpoint_loading``
so those loads follow the same rule.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tqgd.errors import CheckpointError, TQGDError

#: Environment variable that opts in to full (unrestricted) pickle loading for scripts; "1", "true", "yes" or "on".
TRUST_WEIGHTS_ENV = "TQGD_TRUST_WEIGHTS"
#: The CLI flag every weights-loading command takes.
TRUST_WEIGHTS_FLAG = "--trust-weights"
_TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
#: What torch's restricted unpickler says when it meets a global outside the allow-list.
_REFUSED_GLOBAL_RE = re.compile(r"GLOBAL ([\w.]+) was not an allowed global")
#: ultralytics decorates its messages with these.
_DECORATION_RE = re.compile(r"^\s*ERROR\s*\S*\s*")
#: A checkpoint is a zip archive (torch.save since 1.6) or a bare pickle (older torch.save), whose first opcode is PROTO.
ZIP_MAGIC = b"PK\x03\x04"
PICKLE_PROTOCOL_OPCODE = b"\x80"
#: The opt-in, as every refusal states it.
HOW_TO_TRUST = (f"If you trust where this file came from (e.g. weights you trained with an older version), load it with "
                f"{TRUST_WEIGHTS_FLAG} (or {TRUST_WEIGHTS_ENV}=1)")
#: Words in torch's message when its restricted unpickler (not a damaged file) stopped the load.
_RESTRICTED_MARKERS = ("Weights only load failed", "WeightsUnpickler error")


def trust_requested(trust: bool | None = None) -> bool:
    """``trust`` when given, else whether ``TQGD_TRUST_WEIGHTS`` is set to a true word."""
    if trust is not None:
        return bool(trust)
    return os.environ.get(TRUST_WEIGHTS_ENV, "").strip().lower() in _TRUE_WORDS


@contextlib.contextmanager
def checkpoint_loading(trust: bool | None = None) -> Iterator[bool]:
    """Within the block every ultralytics checkpoint load is restricted, or full pickle when trusted; yields which.

    Sets ultralytics' process-wide switch (``ultralytics.nn.tasks.SAFE_LOAD``) and, for worker processes started in
    the block (multi-GPU training), ``ULTRALYTICS_SAFE_LOAD``; both are restored on exit.

    Raises:
        CheckpointError: restricted loading is wanted but the installed torch cannot do it (torch < 2.6).
    """
    import ultralytics.nn.tasks as tasks

    trusted = trust_requested(trust)
    if not trusted and not tasks._SafeLoad.SUPPORTED:
        import torch

        raise CheckpointError(f"restricted checkpoint loading needs torch 2.6 or newer, found {torch.__version__}; "
                              f"upgrade torch. {HOW_TO_TRUST}")
    previous_flag, previous_env = tasks.SAFE_LOAD, os.environ.get("ULTRALYTICS_SAFE_LOAD")
    tasks.SAFE_LOAD = not trusted
    os.environ["ULTRALYTICS_SAFE_LOAD"] = "0" if trusted else "1"
    try:
        yield trusted
    finally:
        tasks.SAFE_LOAD = previous_flag
        if previous_env is None:
            os.environ.pop("ULTRALYTICS_SAFE_LOAD", None)
        else:
            os.environ["ULTRALYTICS_SAFE_LOAD"] = previous_env


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and the exceptions it was raised from, outermost first."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def refused_globals(path: str | Path, message: str = "") -> list[str]:
    """Globals of the checkpoint that restricted loading refused: from torch's message and a scan of the pickle.

    Call after a refused load: the loader has by then allow-listed every class it accepts, so what the scan still
    reports as unsafe is what was refused. The scan reads the pickle's opcodes; it never runs them.
    """
    import torch

    names = _REFUSED_GLOBAL_RE.findall(message)
    try:
        names += torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception:  # not a zip checkpoint (legacy torch.save or plain pickle): the message is all there is
        pass
    return sorted(dict.fromkeys(name if "." in name else f"builtins.{name}" for name in names))


def checkpoint_error(exc: BaseException, path: Path, trusted: bool) -> TQGDError:
    """The ``CheckpointError`` a user should see for a failed load of ``path`` (the cause chain is inspected)."""
    if isinstance(exc, TQGDError):
        return exc
    chain = list(_causes(exc))
    refusal = next((e for e in chain if isinstance(e, pickle.UnpicklingError)
                    and any(marker in str(e) for marker in _RESTRICTED_MARKERS)), None)
    if refusal is not None and not trusted:
        names = refused_globals(path, str(refusal))
        found = f"references {', '.join(names)}" if names else "uses pickle features beyond tensors and model classes"
        return CheckpointError(f"refused to load: the checkpoint {found}, which tqgd's restricted loading does not "
                               "allow (a .pt file is a pickle and could run code as it loads; nothing from this file "
                               f"was run). {HOW_TO_TRUST}", path)
    missing = next((e for e in chain if isinstance(e, ModuleNotFoundError)), None)
    if missing is not None:
        return CheckpointError(f"the checkpoint needs the Python module {missing.name!r}, which is not installed; tqgd "
                               "never installs packages a checkpoint asks for. Install it yourself if you trust the file",
                               path)
    if any("is not a loadable checkpoint" in str(e) for e in chain):
        return CheckpointError("the weights file is truncated or corrupted (not a complete PyTorch checkpoint); copy "
                               "it again from where it came from", path)
    text = _DECORATION_RE.sub("", str(exc)).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return CheckpointError(f"cannot load these weights ({type(exc).__name__}: {text})", path)


def _check_file(path: Path) -> Path:
    """``path`` resolved; a missing file or a folder is an error (tqgd never downloads weights)."""
    path = Path(path).expanduser()
    if not path.is_file():
        what = "is a folder, not a weights file" if path.is_dir() else "weights file not found"
        raise CheckpointError(f"{what}; give an existing .pt file (tqgd never downloads weights)", path)
    if path.suffix.lower() != ".pt":
        raise CheckpointError(f"expected a PyTorch checkpoint ending in .pt, found {path.suffix or 'no suffix'!r}", path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(len(ZIP_MAGIC))
    except OSError as exc:
        raise CheckpointError(f"cannot read the weights file ({exc.strerror})", path) from exc
    if not head:
        raise CheckpointError("the weights file is empty; copy it again from where it came from", path)
    if not head.startswith((ZIP_MAGIC, PICKLE_PROTOCOL_OPCODE)):
        raise CheckpointError(f"not a PyTorch checkpoint (it starts with bytes {head!r}, expected a zip archive or a "
                              "pickle); the file is damaged or holds something else", path)
    return path.resolve()


def load_checkpoint(path: str | Path, trust: bool | None = None) -> dict[str, Any]:
    """The checkpoint dict stored in ``path`` (``model``/``ema``, ``train_args``, ``epoch``, ``optimizer``, ...).

    Raises:
        CheckpointError: missing, corrupt, not a dict, or refused by restricted loading (names the globals).
    """
    from ultralytics.nn.tasks import torch_safe_load

    path = _check_file(Path(path))
    with checkpoint_loading(trust) as trusted:
        try:
            checkpoint, _ = torch_safe_load(str(path), safe_only=not trusted)
        except Exception as exc:  # torch, pickle and ultralytics raise many types for a bad file
            raise checkpoint_error(exc, path, trusted) from exc
    if not isinstance(checkpoint, dict):
        raise CheckpointError(f"expected a checkpoint dictionary, found {type(checkpoint).__name__}", path)
    return checkpoint


def load_weights(path: str | Path, trust: bool | None = None) -> Any:
    """An ultralytics ``Model`` for a weights file: ``TQGD`` for tqgd models, ``YOLO`` for stock ultralytics ones.

    Raises:
        CheckpointError: missing, corrupt, or refused by restricted loading (names the globals and the opt-in).
    """
    from tqgd.engine.model import TQGD
    from tqgd.nn.tasks import TQGDDetectionModel

    path = _check_file(Path(path))
    with checkpoint_loading(trust) as trusted:
        try:
            loaded = TQGD(path)
            if not isinstance(loaded.model, TQGDDetectionModel):
                from ultralytics import YOLO

                loaded = YOLO(loaded)  # takes over the loaded state (stock task map), without reading the file again
        except Exception as exc:  # torch, pickle and ultralytics raise many types for a bad file
            raise checkpoint_error(exc, path, trusted) from exc
    return loaded


def save_with_keys(source: str | Path, target: str | Path, keys: dict[str, Any], trust: bool | None = None) -> Path:
    """Copy the checkpoint ``source`` to ``target`` with ``keys`` added (atomic write; ``target`` may be ``source``,
    for a caller's own outputs such as a run's best.pt)."""
    import torch

    from tqgd.io import atomic_path

    checkpoint = load_checkpoint(source, trust)
    checkpoint.update(keys)
    with atomic_path(Path(target)) as tmp:
        torch.save(checkpoint, tmp)
    return Path(target)
