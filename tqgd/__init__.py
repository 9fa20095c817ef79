"""tqgd: coronary artery calcium detection in CT (TQGDNet on ultralytics) and calcium scoring.

Importing tqgd first makes ultralytics offline and quiet (see ``tqgd.offline``); this must happen before
ultralytics is imported, so ``import tqgd`` comes first in any program that uses both.
"""

from tqgd.offline import configure_environment as _configure_environment

_configure_environment()

from tqgd.offline import configure_settings as _configure_settings  # noqa: E402

_configure_settings()

__version__ = "0.1.0"
