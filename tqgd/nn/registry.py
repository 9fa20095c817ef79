"""The one place tqgd plugs its layers into ultralytics' YAML model builder (machinery, not a model).

ultralytics' ``parse_model`` resolves a YAML module name only in its own namespace and does channel bookkeeping
(input channels, width scaling, repeats) only for modules on its hard-coded lists. tqgd does not fork it:

1. ``@register_module(rule)`` adds a layer class under its class name together with a *channel rule*: given a
   ``RowSpec`` (input channels, YAML args, depth-scaled repeats, ultralytics' width scaler) the rule returns the
   constructor arguments and the output channels. Names are unique and may not shadow an ultralytics module.
2. ``build_layers`` builds a model dict row by row: registered rows through their rule, every other row through the
   stock ``parse_model`` (one row at a time: ``Index`` placeholder rows stand in for the row's inputs so the stock
   code sees their channels, and a ``BatchNorm2d`` probe row after it reports the channels it produced), so scaling,
   repeats and the Detect head remain ultralytics' own logic.
3. ``tqgd_rows()`` routes ``ultralytics.nn.tasks.parse_model`` to ``build_layers`` for the current thread only, while a
   ``TQGDDetectionModel`` is being constructed; every other caller keeps the stock function.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import dataclass
from typing import Any

from torch import nn
from ultralytics.nn import tasks as ul_tasks
from ultralytics.nn.modules import Conv
from ultralytics.utils import LOGGER
from ultralytics.utils.ops import make_divisible

from tqgd.errors import ConfigError

#: The stock builder, captured before anything can route around it.
STOCK_PARSE_MODEL = ul_tasks.parse_model

#: Rows using these ultralytics blocks switch the stock Detect head to its v11 layout, a switch that is local to one
#: stock ``parse_model`` call; row-by-row delegation cannot carry it, so such rows are refused next to tqgd rows.
_HEAD_SWITCH_MODULES = frozenset({"C3k2", "A2C2f", "C2fCIB"})


@dataclass(frozen=True)
class RowSpec:
    """One YAML row as a channel rule sees it; ``c_in`` has one entry per input, in the row's ``from`` order."""

    index: int
    c_in: tuple[int, ...]
    args: tuple[Any, ...]
    repeats: int
    width: Callable[[int], int]
    source: str

    def fail(self, message: str) -> ConfigError:
        """A ConfigError naming the config file and the row, for a rule to raise."""
        return ConfigError(f"row {self.index}: {message}", path=self.source or None)


#: A channel rule: row -> (constructor args, output channels).
ChannelRule = Callable[[RowSpec], "tuple[list[Any], int]"]

_REGISTRY: dict[str, tuple[type[nn.Module], ChannelRule]] = {}


def register_module(rule: ChannelRule) -> Callable[[type[nn.Module]], type[nn.Module]]:
    """Class decorator: make ``cls`` usable by name in tqgd model YAMLs, with ``rule`` doing its channel bookkeeping."""

    def add(cls: type[nn.Module]) -> type[nn.Module]:
        name = cls.__name__
        if name in _REGISTRY and _REGISTRY[name][0] is not cls:
            raise ValueError(f"a tqgd layer named {name!r} is already registered ({_REGISTRY[name][0].__module__})")
        if name in vars(ul_tasks) or hasattr(nn, name):
            raise ValueError(f"{name!r} would shadow an ultralytics/torch module of the same name; rename the class")
        _REGISTRY[name] = (cls, rule)
        return cls

    return add


def registered_modules() -> dict[str, type[nn.Module]]:
    """Registered layer classes by YAML name (a copy)."""
    return {name: cls for name, (cls, _) in _REGISTRY.items()}


def _is_stock_name(name: str) -> bool:
    """True when the stock parser can resolve ``name`` (torch.nn, torchvision.ops or its own namespace)."""
    if name.startswith("nn."):
        return isinstance(getattr(nn, name[3:], None), type)
    found = vars(ul_tasks).get(name)
    return name.startswith("torchvision.ops.") or (isinstance(found, type) and issubclass(found, nn.Module))


def _scaling(d: dict) -> tuple[str | None, float, float, float]:
    """(scale key, depth, width, max_channels) exactly as the config asks; the scale defaults to the first listed."""
    scales, scale = d.get("scales"), d.get("scale")
    if not scales:
        return scale, d.get("depth_multiple", 1.0), d.get("width_multiple", 1.0), float("inf")
    if not scale:
        scale = next(iter(scales))
        LOGGER.warning(f"no model scale passed. Assuming scale='{scale}'.")
    if scale not in scales:
        raise ConfigError(f"scale {scale!r} is not in this config's scales {sorted(scales)}", path=d.get("yaml_file"))
    depth, width, max_channels = scales[scale]
    return scale, depth, width, max_channels


def _delegate(d: dict, scale: str | None, row: list, c_in: list[int]) -> tuple[nn.Module, int]:
    """Build one non-tqgd row with the stock parser; return the layer and its output channels."""
    f, n, m, args = row
    mini = {k: v for k, v in d.items() if k not in ("backbone", "head")}
    mini["scale"] = scale
    placeholders = [[-1, 1, "Index", [c, 0]] for c in c_in]  # the stock Index rule sets c2 = args[0]
    local_from = -1 if isinstance(f, int) else list(range(len(c_in)))
    mini["backbone"] = [*placeholders, [local_from, n, m, deepcopy(args)], [-1, 1, "nn.BatchNorm2d", []]]
    mini["head"] = []
    layers, _ = STOCK_PARSE_MODEL(mini, ch=c_in[0], verbose=False)
    return layers[len(c_in)], layers[len(c_in) + 1].num_features


def _resolve_activation(act: str | None, yaml_file: str | None) -> nn.Module | None:
    """The config's ``activation`` as a module, parsed without eval (ultralytics' own restricted parser)."""
    if not act:
        return None
    try:
        return ul_tasks._SafeLoad.activation(act)
    except TypeError as exc:
        raise ConfigError(f"activation {act!r} is not a torch.nn class call such as 'nn.SiLU()'", yaml_file) from exc


def build_layers(d: dict, ch: int, verbose: bool = True) -> tuple[nn.Sequential, list[int]]:
    """Build a model dict (``backbone`` + ``head`` rows) into layers; same contract as ultralytics' ``parse_model``."""
    source = str(d.get("yaml_file") or "")
    rows = list(d.get("backbone") or []) + list(d.get("head") or [])
    if not rows:
        raise ConfigError("the model config has no 'backbone'/'head' rows", path=source or None)
    names = {r[2] for r in rows if isinstance(r, (list, tuple)) and len(r) == 4 and isinstance(r[2], str)}
    if any(n in _REGISTRY for n in names) and _HEAD_SWITCH_MODULES.intersection(names):
        raise ConfigError(f"tqgd layers cannot be combined with {sorted(_HEAD_SWITCH_MODULES)} rows (they switch the "
                          "stock Detect head layout inside one parse_model call); use C3/C2f blocks", source or None)
    scale, depth, width, max_channels = _scaling(d)

    def scale_width(c: int) -> int:
        return make_divisible(min(c, max_channels) * width, 8)

    default_act, act = Conv.default_act, _resolve_activation(d.get("activation"), source or None)
    if verbose:
        LOGGER.info(f"\n{'':>3}{'from':>20}{'n':>3}{'params':>10}  {'module':<45}{'arguments':<30}")
    layers, save, channels = [], [], []
    try:
        if act is not None:
            Conv.default_act = act  # the stock rows set and restore it themselves; tqgd rows need it for the build
        for i, row in enumerate(rows):
            if not (isinstance(row, (list, tuple)) and len(row) == 4):
                raise ConfigError(f"row {i} must be [from, number, module, args], got {row!r}", source or None)
            f, n, name, args = row
            sources = [f] if isinstance(f, int) else list(f)
            valid = sources == [-1] if i == 0 else all(isinstance(j, int) and -i <= j < i for j in sources)
            if not sources or not valid:
                raise ConfigError(f"row {i} ('{name}'): 'from' {f!r} must name earlier rows (or -1)", source or None)
            c_in = [ch] * len(sources) if i == 0 else [channels[j] for j in sources]
            repeats = max(round(n * depth), 1) if isinstance(n, int) and n > 1 else n
            if isinstance(name, str) and name in _REGISTRY:
                if isinstance(n, bool) or not isinstance(n, int) or n < 1:
                    raise ConfigError(f"row {i} ('{name}'): 'number' must be an integer >= 1, got {n!r}",
                                      source or None)
                cls, rule = _REGISTRY[name]
                spec = RowSpec(i, tuple(c_in), tuple(deepcopy(args)), repeats, scale_width, source)
                ctor_args, c2 = rule(spec)
                layer = cls(*ctor_args)
                layer.type = f"{cls.__module__}.{cls.__name__}"
                shown_args = ctor_args
            elif isinstance(name, str) and _is_stock_name(name):
                layer, c2 = _delegate(d, scale, list(row), c_in)
                shown_args = args
            else:
                raise ConfigError(f"row {i}: unknown module {name!r}; tqgd layers are {sorted(_REGISTRY)}, everything "
                                  "else must be an ultralytics module or nn.<Class>", source or None)
            layer.np = sum(p.numel() for p in layer.parameters())
            layer.i, layer.f = i, f
            if verbose:
                LOGGER.info(f"{i:>3}{f!s:>20}{repeats:>3}{layer.np:10.0f}  {layer.type:<45}{shown_args!s:<30}")
            save.extend(j % i for j in sources if j != -1)
            layers.append(layer)
            channels.append(c2)
    finally:
        Conv.default_act = default_act
    return nn.Sequential(*layers), sorted(save)


_local = threading.local()
_route_lock = threading.RLock()
_route_depth = 0


def _route(d: dict, ch: int, verbose: bool = True) -> tuple[nn.Sequential, list[int]]:
    """Stand-in for ``parse_model``: tqgd's builder on a thread inside ``tqgd_rows()``, the stock one elsewhere."""
    if getattr(_local, "active", 0):
        return build_layers(d, ch, verbose)
    return STOCK_PARSE_MODEL(d, ch, verbose)


@contextlib.contextmanager
def tqgd_rows() -> Iterator[None]:
    """While active, ``DetectionModel`` construction on this thread builds its YAML with ``build_layers``."""
    global _route_depth
    with _route_lock:
        if _route_depth == 0:
            ul_tasks.parse_model = _route
        _route_depth += 1
    _local.active = getattr(_local, "active", 0) + 1
    try:
        yield
    finally:
        _local.active -= 1
        with _route_lock:
            _route_depth -= 1
            if _route_depth == 0:
                ul_tasks.parse_model = STOCK_PARSE_MODEL


def channels_of(spec: RowSpec, count: int | None = None, at_least: int = 1) -> tuple[int, ...]:
    """The row's input channels, checked against how many inputs the layer takes (``count`` exact, else a minimum)."""
    got = len(spec.c_in)
    if (count is not None and got != count) or got < at_least:
        want = f"exactly {count}" if count is not None else f"at least {at_least}"
        raise spec.fail(f"this layer takes {want} inputs in 'from', got {got}")
    return spec.c_in


def int_arg(spec: RowSpec, position: int, name: str, default: int | None = None, minimum: int = 1) -> int:
    """An integer YAML argument (or its default), checked to be >= ``minimum``."""
    value = spec.args[position] if len(spec.args) > position else default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise spec.fail(f"argument {position} ({name}) must be an integer >= {minimum}, got {value!r}")
    return value
