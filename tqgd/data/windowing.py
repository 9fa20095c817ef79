"""HU -> 8-bit pixels: the one place where CT values become image pixels, for datasets and for detection.

A window maps ``[low_hu, high_hu]`` linearly onto 0..255 (values outside are clipped), rounding half up:
``pixel = floor((clip(hu, low, high) - low) * 255 / (high - low) + 0.5)``. A one-window spec gives a grey
(H, W) image; a three-window spec gives (H, W, 3) with channel *c* from window *c*, in RGB order.

Named windows: ``paper`` [-1200, 1800] HU is the clip range TQGDNet used for OrCaScore (section 3.1 of the
paper); ``mediastinum`` (W400/L40) and ``calcium`` (W1000/L300, so the 130 HU calcium threshold lands near
grey 84) are tqgd's choices for the 3-window ``rgb`` option (= ``paper+mediastinum+calcium``). Custom
windows are written ``LOW,HIGH`` and combined with ``+``, e.g. ``-1000,1000`` or ``paper+-160,240+0,1000``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from tqgd.errors import ConfigError

#: Grey levels of the output images.
MAX_PIXEL_VALUE = 255

#: Named single windows, (low_hu, high_hu).
NAMED_WINDOWS_HU: dict[str, tuple[float, float]] = {
    "paper": (-1200.0, 1800.0),
    "mediastinum": (-160.0, 240.0),
    "calcium": (-200.0, 800.0),
}

#: Named multi-window specs (channels in RGB order).
NAMED_WINDOW_SETS: dict[str, str] = {"rgb": "paper+mediastinum+calcium"}

#: Window used when none is given: the paper's clip range.
DEFAULT_WINDOW = "paper"


@dataclass(frozen=True)
class Windowing:
    """A parsed window spec: ``name`` as given by the user, ``channels_hu`` one (low, high) pair per channel."""

    name: str
    channels_hu: tuple[tuple[float, float], ...]

    @property
    def num_channels(self) -> int:
        """1 for a grey image, 3 for an RGB image."""
        return len(self.channels_hu)

    def to_json(self) -> dict[str, Any]:
        """JSON form stored in ``convert.json``; ``from_json`` reads it back."""
        return {"name": self.name, "channels_hu": [list(pair) for pair in self.channels_hu]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Windowing:
        """Rebuild from ``to_json`` output (e.g. a dataset's ``convert.json``), validating the ranges."""
        try:
            channels = tuple((float(lo), float(hi)) for lo, hi in data["channels_hu"])
            name = str(data.get("name", ""))
        except (KeyError, TypeError, ValueError) as exc:
            raise ConfigError(f"window must look like {{'name': ..., 'channels_hu': [[low, high], ...]}}, "
                              f"got {data!r}") from exc
        return _checked(name or "+".join(f"{lo:g},{hi:g}" for lo, hi in channels), channels)


def _checked(name: str, channels: tuple[tuple[float, float], ...]) -> Windowing:
    if len(channels) not in (1, 3):
        raise ConfigError(f"window {name!r} has {len(channels)} parts; expected 1 (grey) or 3 (RGB), "
                          "e.g. 'paper' or 'rgb'")
    for lo, hi in channels:
        if not (np.isfinite(lo) and np.isfinite(hi)) or hi <= lo:
            raise ConfigError(f"window {name!r}: each range needs LOW < HIGH (finite HU), got ({lo:g}, {hi:g})")
    return Windowing(name=name, channels_hu=channels)


def _parse_part(part: str, spec: str) -> tuple[float, float]:
    part = part.strip()
    if part in NAMED_WINDOWS_HU:
        return NAMED_WINDOWS_HU[part]
    pieces = part.split(",")
    if len(pieces) == 2:
        try:
            return float(pieces[0]), float(pieces[1])
        except ValueError:
            pass
    known = ", ".join([*NAMED_WINDOWS_HU, *NAMED_WINDOW_SETS])
    raise ConfigError(f"cannot read window {spec!r}: {part!r} is neither a named window ({known}) nor 'LOW,HIGH' "
                      "in HU, e.g. --window=-1200,1800")


def parse_window(spec: str | Windowing | None = None) -> Windowing:
    """Turn a spec (``paper``, ``rgb``, ``-1000,1000``, ``paper+mediastinum+calcium``) into a ``Windowing``."""
    if isinstance(spec, Windowing):
        return spec
    spec = DEFAULT_WINDOW if spec is None else str(spec).strip()
    expanded = NAMED_WINDOW_SETS.get(spec, spec)
    channels = tuple(_parse_part(part, spec) for part in expanded.split("+"))
    return _checked(spec, channels)


def apply_window(hu: np.ndarray, window: str | Windowing | None = None) -> np.ndarray:
    """Map HU to uint8 with ``window``: (...) -> (...) for one window, (...) -> (..., 3) for three.

    Works on a slice (H, W) or a whole volume (Z, H, W) at once; NaN is not expected (readers reject it).
    """
    windowing = parse_window(window)
    hu = np.asarray(hu, dtype=np.float32)
    planes = [_window_plane(hu, lo, hi) for lo, hi in windowing.channels_hu]
    return planes[0] if len(planes) == 1 else np.stack(planes, axis=-1)


def _window_plane(hu: np.ndarray, low_hu: float, high_hu: float) -> np.ndarray:
    scaled = np.clip(hu, np.float32(low_hu), np.float32(high_hu))
    scaled -= np.float32(low_hu)
    scaled *= np.float32(MAX_PIXEL_VALUE)
    scaled /= np.float32(high_hu - low_hu)
    scaled += np.float32(0.5)
    np.floor(scaled, out=scaled)
    return scaled.astype(np.uint8)
