"""Allow-list tqgd's model classes for restricted (``weights_only``) checkpoint loading.

``import tqgd`` turns on ultralytics' restricted loading (ULTRALYTICS_SAFE_LOAD=1), which unpickles only allow-listed
classes. ultralytics lists its own; ``allow_tqgd_classes()`` adds tqgd's (every registered layer, their building
blocks and the model class). ``tqgd.nn`` calls it at the end of its import, which ``tqgd.runtime`` triggers as soon as
ultralytics is imported, so no checkpoint can load before. Their constructors only build layers: no I/O, downloads
or eval.
"""

from __future__ import annotations

from torch import nn


def tqgd_model_classes() -> list[type[nn.Module]]:
    """Every tqgd class a checkpoint can reference."""
    from tqgd.nn import registered_modules
    from tqgd.nn.rep_block import RepConvBlock
    from tqgd.nn.tasks import TQGDDetectionModel

    return [TQGDDetectionModel, RepConvBlock, *registered_modules().values()]


def allow_tqgd_classes() -> None:
    """Register tqgd's classes with ``torch.serialization.add_safe_globals`` (idempotent)."""
    import torch.serialization

    listed = set(torch.serialization.get_safe_globals())
    torch.serialization.add_safe_globals([c for c in tqgd_model_classes() if c not in listed])
