"""Model-parameter randomisation (Adebayo et al., 2018, "Sanity checks for saliency maps"): the same detector with the
weights of its neck and head re-initialised, for comparing maps with the trained ones.

A saliency method that explains the model must give different maps once the learned weights are gone; maps that stay
the same come from the input (edges, bright pixels) or from the architecture, not from what was learned. The layers
after the backbone (the YAML's ``head`` section: the neck and the Detect head) are re-initialised in one step, as
torch initialises a fresh layer (``reset_parameters``: Kaiming-uniform convolutions, BatchNorm scale 1, shift 0 and
running statistics 0/1). The backbone keeps its trained weights, so the check asks whether the learned neck and head
shape the map. The Distribution Focal Loss decoder's fixed integral weights (``dfl``) are arithmetic, not learned, and
are left alone. Seeded, so the same seed gives the same randomised model. ``parts="all"`` re-initialises the backbone
too (the end of the paper's cascade).
"""

from __future__ import annotations

import copy
from typing import Any

import torch

from tqgd.errors import ConfigError

#: What ``randomised_copy`` can re-initialise: the neck and head (default), or every layer (the end of Adebayo et al.'s
#: cascade, which also removes what the backbone learned).
PARTS = {"neck-head": "neck and head (every layer after the backbone)", "all": "every layer"}
DEFAULT_PARTS = "neck-head"


def backbone_length(module: Any) -> int:
    """Number of backbone layers of an ultralytics ``DetectionModel`` (from its YAML; neck and head follow)."""
    spec = getattr(module, "yaml", None) or {}
    backbone = spec.get("backbone") if isinstance(spec, dict) else None
    if not backbone:
        raise ConfigError("this model records no YAML with a 'backbone' section, so its neck and head cannot be told "
                          "apart; the randomisation check needs an ultralytics YAML-built detector")
    return len(backbone)


def randomised_copy(module: torch.nn.Module, seed: int = 0, parts: str = DEFAULT_PARTS) -> torch.nn.Module:
    """A deep copy of ``module`` (a ``DetectionModel``) with its neck and head (``parts="all"``: every layer)
    re-initialised; ``module`` is unchanged.

    Raises:
        ConfigError: unknown ``parts``, no YAML backbone, or nothing to re-initialise.
    """
    if parts not in PARTS:
        raise ConfigError(f"--randomise must be one of {', '.join(PARTS)}, got {parts!r}")
    start = backbone_length(module) if parts == "neck-head" else 0
    clone = copy.deepcopy(module)
    touched = 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for layer in list(clone.model)[start:]:
            for name, sub in layer.named_modules():
                if "dfl" in name.split(".") or not hasattr(sub, "reset_parameters"):
                    continue
                if any(True for _ in sub.parameters(recurse=False)):
                    sub.reset_parameters()
                    touched += 1
    if not touched:
        raise ConfigError("no layer after the backbone has parameters to re-initialise")
    return clone.eval()
