"""TQGDNet layers for ultralytics YAML configs: ThrConvs, Queen-fusion and low-stage Gather-and-Distribute.

Importing this package registers the layers (``tqgd.nn.registry``); ``TQGDDetectionModel`` builds configs that use
them and ``resolve_model_cfg`` turns names such as ``tqgdnet-n`` into configs.
"""

from tqgd.nn.gather_distribute import GDGather, GDInject
from tqgd.nn.model_cfg import known_model_names, resolve_model_cfg
from tqgd.nn.queen_fusion import QueenFusion
from tqgd.nn.registry import build_layers, register_module, registered_modules
from tqgd.nn.rep_block import RepConvBlock
from tqgd.nn.tasks import TQGDDetectionModel
from tqgd.nn.thrconvs import ThrConvs

__all__ = [
    "GDGather",
    "GDInject",
    "QueenFusion",
    "RepConvBlock",
    "TQGDDetectionModel",
    "ThrConvs",
    "build_layers",
    "known_model_names",
    "register_module",
    "registered_modules",
    "resolve_model_cfg",
]

from tqgd.nn.safe_globals import allow_tqgd_classes as _allow_tqgd_classes  # noqa: E402

_allow_tqgd_classes()  # checkpoints holding tqgd layers load under restricted (weights-only) loading
