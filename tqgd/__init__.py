"""tqgd: coronary artery calcium detection in CT (TQGDNet on ultralytics) and calcium scoring.

Importing tqgd first makes ultralytics offline and quiet (see ``tqgd.offline``); this must happen before
ultralytics is imported, so ``import tqgd`` comes first in any program that uses both. It then allow-lists tqgd's
model classes for restricted checkpoint loading (``tqgd.nn.safe_globals``).
"""

from tqgd.offline import configure_environment as _configure_environment

_configure_environment()

from tqgd.offline import configure_settings as _configure_settings  # noqa: E402

_configure_settings()

from tqgd.nn.safe_globals import allow_tqgd_classes as _allow_tqgd_classes  # noqa: E402

_allow_tqgd_classes()  # checkpoints holding tqgd layers load under restricted (weights-only) loading

__version__ = "0.1.0"
