"""tqgd: coronary artery calcium detection in CT (TQGDNet on ultralytics) and calcium scoring.

Importing tqgd makes ultralytics offline and quiet and allow-lists tqgd's model classes for restricted
(weights-only) checkpoint loading, without importing ultralytics or torch itself: it sets ultralytics' environment
switches now (``tqgd.offline``) and finishes the set-up the moment ultralytics is first imported
(``tqgd.runtime``). ``import tqgd`` must therefore come before ultralytics in any program that uses both.
"""

__version__ = "0.1.0"

from tqgd.offline import configure_environment as _configure_environment  # noqa: E402

_configure_environment()

from tqgd.runtime import watch_ultralytics as _watch_ultralytics  # noqa: E402

_watch_ultralytics()
