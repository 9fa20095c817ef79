"""Scoring conventions that real calcium-scoring tools disagree on, as one explicit, recorded options object.

Every choice that changes a number is a field here with a documented default, and ``ScoreReport`` stores both
the options and the values they resolved to for a given scan (threshold in HU, slice normalisation factor), so
a score can always be reproduced and compared with another tool's.

Defaults (and the alternatives offered):

- ``threshold_hu = 130``: Agatston's calcium threshold at 120 kVp. ``kvp_adjusted_threshold`` looks the
  threshold up by the scan's tube voltage instead (table ``KVP_THRESHOLDS_HU``, extendable per call).
- ``threshold_inclusive = True``: a voxel of exactly the threshold is calcium (>= 130, as Agatston's 130-199 HU
  band); False counts only voxels above it (> 130, the orCaScore framework's wording and the phantom's labels).
- ``connectivity_2d = 8``: in-plane pixels touching at an edge or a corner form one lesion (4: edges only).
- ``min_lesion_area_mm2 = 1.0``: per-slice lesions smaller than this are noise, not calcium (inclusive bound).
- ``slice_normalisation = "spacing"``: Agatston is defined for contiguous 3 mm slices; each slice's score is
  multiplied by ``slice_spacing_mm / 3``. ``"thickness"`` uses ``SliceThickness / 3`` instead (what tools that
  ignore overlap do: overlapping reconstructions, e.g. 3 mm every 1.5 mm, then count each lesion about twice),
  ``"none"`` uses factor 1 (the original EBT protocol assumed 3 mm contiguous slices).
- ``risk_scheme = "five-class"``: 0 / 1-10 / 11-100 / 101-400 / >400; ``"four-class"``: 0 / 1-99 / 100-399 / >=400;
  ``"orcascore"``: the orCaScore challenge's I 0-10 / II 11-100 / III 101-1000 / IV >1000 (``tqgd.scoring.risk``).
- ``mass_calibration_mg_per_cm3_hu = None``: mass score only when a scanner calibration factor is given.
- ``mask_labels = "auto"``: how a mask's values are read (see ``MASK_LABEL_MODES``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from tqgd.errors import ConfigError
from tqgd.scoring.risk import RISK_CATEGORIES

#: Agatston's calcium threshold at 120 kVp.
CALCIUM_THRESHOLD_HU = 130.0

#: Agatston scores are defined on contiguous slices of this thickness.
REFERENCE_SLICE_THICKNESS_MM = 3.0

#: Default minimum per-slice lesion area.
MIN_LESION_AREA_MM2 = 1.0

#: Tube voltage (kVp) -> calcium threshold (HU) used when ``kvp_adjusted_threshold`` is on. 120 kVp is Agatston's
#: own protocol; 100 kVp -> 147 HU is the threshold of Nakazato et al. (JACC Cardiovasc Imaging 2009) for 100 kVp
#: dual-source CT. Add others per call (``kvp_thresholds_hu``) from a study that matches your scanner.
KVP_THRESHOLDS_HU: dict[int, float] = {120: 130.0, 100: 147.0}

SLICE_NORMALISATIONS = ("spacing", "thickness", "none")
RISK_SCHEMES = tuple(RISK_CATEGORIES)  # five-class, four-class, orcascore
CONNECTIVITIES_2D = (4, 8)

#: ``auto``: artery labels (1 LAD incl. left main, 2 LCX, 3 RCA, 4 undetermined artery, as OrCaScore) when every
#: value is 0-4 and 2, 3 or 4 occurs, otherwise any non-zero voxel is calcium of unknown artery (a 0/1 mask is read
#: as binary, not as LAD). ``arteries``: values must be 0-4. ``binary``: any non-zero value is calcium, no per-artery
#: scores.
MASK_LABEL_MODES = ("auto", "arteries", "binary")


@dataclass(frozen=True)
class ScoringOptions:
    """The conventions one scoring run uses; see the module docstring for each field's meaning and default."""

    threshold_hu: float = CALCIUM_THRESHOLD_HU
    threshold_inclusive: bool = True
    kvp_adjusted_threshold: bool = False
    kvp_thresholds_hu: Mapping[int, float] = field(default_factory=lambda: dict(KVP_THRESHOLDS_HU))
    connectivity_2d: int = 8
    min_lesion_area_mm2: float = MIN_LESION_AREA_MM2
    slice_normalisation: str = "spacing"
    slice_thickness_mm: float | None = None
    risk_scheme: str = "five-class"
    mass_calibration_mg_per_cm3_hu: float | None = None
    mask_labels: str = "auto"

    def __post_init__(self) -> None:
        _check_choice("slice_normalisation", self.slice_normalisation, SLICE_NORMALISATIONS)
        _check_choice("risk_scheme", self.risk_scheme, RISK_SCHEMES)
        _check_choice("connectivity_2d", self.connectivity_2d, CONNECTIVITIES_2D)
        _check_choice("mask_labels", self.mask_labels, MASK_LABEL_MODES)
        if self.min_lesion_area_mm2 < 0:
            raise ConfigError(f"min_lesion_area_mm2 must be >= 0, got {self.min_lesion_area_mm2}")
        if self.slice_thickness_mm is not None and not self.slice_thickness_mm > 0:
            raise ConfigError(f"slice_thickness_mm must be > 0 when given, got {self.slice_thickness_mm}")
        calibration = self.mass_calibration_mg_per_cm3_hu
        if calibration is not None and not calibration > 0:
            raise ConfigError(f"mass calibration factor must be > 0 mg/cm^3 per HU when given, got {calibration}")
        for kvp, threshold in self.kvp_thresholds_hu.items():
            if not (float(kvp) > 0 and float(threshold) > 0):
                raise ConfigError(f"kVp threshold table entries must be positive, got {kvp} kVp -> {threshold} HU")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy (table keys become strings, as JSON requires)."""
        out = asdict(self)
        out["kvp_thresholds_hu"] = {str(k): float(v) for k, v in self.kvp_thresholds_hu.items()}
        return out


def _check_choice(name: str, value: Any, choices: tuple) -> None:
    """Raise ``ConfigError`` naming the valid choices when ``value`` is not one of them."""
    if value not in choices:
        raise ConfigError(f"unknown {name} {value!r}; expected one of {', '.join(map(str, choices))}")


@dataclass(frozen=True)
class ResolvedConventions:
    """What the options mean for one scan: the numbers actually used, recorded in every report.

    ``calcium_floor_hu`` is what voxels are compared with (``hu >= calcium_floor_hu``), see ``calcium_floor``.
    """

    threshold_hu: float
    threshold_source: str
    calcium_floor_hu: float
    kvp: float | None
    slice_spacing_mm: float
    slice_thickness_mm: float | None
    slice_factor: float
    slice_factor_source: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready copy."""
        return asdict(self)


def calcium_floor(threshold_hu: float, inclusive: bool) -> float:
    """The smallest float32 HU that counts as calcium: the threshold itself, or the next float32 above it.

    Every comparison is then ``hu >= floor`` (CTVolume HU are float32, so "> threshold" is exact this way).
    """
    if inclusive:
        return float(threshold_hu)
    return float(np.nextafter(np.float32(threshold_hu), np.float32(np.inf)))


def resolve_threshold(options: ScoringOptions, kvp: float | None) -> tuple[float, str]:
    """The calcium threshold (HU) for a scan of tube voltage ``kvp``, and a note saying where it came from."""
    if not options.kvp_adjusted_threshold:
        return float(options.threshold_hu), "fixed threshold_hu"
    if kvp is None:
        raise ConfigError("kVp-adjusted threshold asked for, but the scan has no tube voltage (KVP tag); pass a "
                          "fixed threshold (--threshold-hu) instead")
    table = {int(round(float(k))): float(v) for k, v in options.kvp_thresholds_hu.items()}
    key = int(round(kvp))
    if key not in table:
        known = ", ".join(f"{k} kVp" for k in sorted(table))
        raise ConfigError(f"no calcium threshold known for {kvp:g} kVp (table has {known}); add one with "
                          f"--kvp-threshold {key}=HU or pass --threshold-hu")
    return table[key], f"kVp table ({key} kVp)"


def resolve_slice_factor(options: ScoringOptions, slice_spacing_mm: float,
                         slice_thickness_mm: float | None) -> tuple[float, str]:
    """The factor each slice's Agatston score is multiplied by, and which rule produced it."""
    if options.slice_normalisation == "none":
        return 1.0, "none (factor 1)"
    if options.slice_normalisation == "spacing":
        return slice_spacing_mm / REFERENCE_SLICE_THICKNESS_MM, f"slice spacing {slice_spacing_mm:g} mm / 3 mm"
    if slice_thickness_mm is None:
        raise ConfigError("slice_normalisation 'thickness' needs the slice thickness, which this scan does not "
                          "record (MetaImage/NIfTI have no SliceThickness); pass --slice-thickness-mm or use "
                          "--slice-normalisation spacing")
    return slice_thickness_mm / REFERENCE_SLICE_THICKNESS_MM, f"slice thickness {slice_thickness_mm:g} mm / 3 mm"


def resolve(options: ScoringOptions, *, kvp: float | None, slice_spacing_mm: float,
            slice_thickness_mm: float | None) -> ResolvedConventions:
    """Resolve ``options`` for a scan with the given tube voltage and slice geometry (override thickness first)."""
    thickness = options.slice_thickness_mm if options.slice_thickness_mm is not None else slice_thickness_mm
    threshold, threshold_source = resolve_threshold(options, kvp)
    factor, factor_source = resolve_slice_factor(options, slice_spacing_mm, thickness)
    return ResolvedConventions(threshold_hu=threshold, threshold_source=threshold_source,
                               calcium_floor_hu=calcium_floor(threshold, options.threshold_inclusive), kvp=kvp,
                               slice_spacing_mm=float(slice_spacing_mm), slice_thickness_mm=thickness,
                               slice_factor=float(factor), slice_factor_source=factor_source)
