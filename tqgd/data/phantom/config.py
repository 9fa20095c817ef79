"""Options of the synthetic cardiac CT phantom and the tissue values it paints.

Two scan profiles follow the TQGDNet paper's two datasets (003, §2.1): ECG-gated calcium-scoring scans
(OrCaScore-like: heart-centred small field of view, low noise, per-slice lesion areas mostly 10-100 px) and
non-gated chest scans (Concord-like: whole-chest field of view, more noise, motion blur over the heart,
more lesions of 0-10 px). HU values are textbook values for non-contrast CT at 120 kVp.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import IntEnum
from typing import Any

from tqgd.errors import ConfigError

#: Version of the generator written into every sidecar; bump when the same seed would give other voxels.
#: It is the version of the default ("realistic") mode; ``--realism legacy`` keeps writing LEGACY_GENERATOR_VERSION.
GENERATOR_VERSION = "2.1"
#: Version of the pre-realism generator, kept byte-identical by ``PhantomConfig(realism="legacy")``.
LEGACY_GENERATOR_VERSION = "1.0"
#: ``legacy``: the version-1.0 generator, unchanged; ``realistic``: look-alikes, metal, FBP noise, richer anatomy.
REALISM_MODES = ("legacy", "realistic")

#: OrCaScore's calcium threshold: a labelled voxel is strictly above this value in the final image.
CALCIUM_THRESHOLD_HU = 130.0

#: Pixel count a slice has at the reference size; smaller images scale pixel spacing by REFERENCE/size.
REFERENCE_IMAGE_SIZE = 512

#: Stored HU range (12-bit CT as written with RescaleIntercept -1024).
MIN_HU = -1024.0
MAX_HU = 3071.0

# Tissue HU at 120 kVp, non-contrast.
AIR_HU = -1000.0
LUNG_HU = -860.0
FAT_HU = -100.0
MUSCLE_HU = 50.0
BLOOD_HU = 40.0
MYOCARDIUM_HU = 42.0
PERICARDIUM_HU = 25.0
LIVER_HU = 58.0
CSF_HU = 15.0
CARTILAGE_HU = 110.0
DISC_HU = 85.0
CANCELLOUS_BONE_HU = 230.0
CORTICAL_BONE_HU = 800.0



class Tissue(IntEnum):
    """Tissue class of a voxel in ``PhantomCase.tissue`` (the structure covering at least half of it)."""

    AIR = 0
    LUNG = 1
    FAT = 2
    MUSCLE = 3
    BLOOD = 4  # heart chambers, aorta, great vessels, coronary lumen
    OTHER_SOFT = 5  # liver, stomach, pericardium, oesophagus, spinal canal, discs, cartilage
    BONE = 6


#: Bone and calcium attenuate more at lower tube voltage; factor on their HU above water.
CALCIUM_KVP_FACTOR: dict[int, float] = {120: 1.0, 100: 1.12, 80: 1.30}
#: Image noise grows at lower tube voltage (same dose index); factor on the noise std.
NOISE_KVP_FACTOR: dict[int, float] = {120: 1.0, 100: 1.2, 80: 1.5}


@dataclass(frozen=True)
class ScanProfile:
    """What differs between gated and non-gated scans: field of view, noise, motion and lesion sizes."""

    name: str
    pixel_spacing_mm: tuple[float, float]  # at 512 px; range sampled per patient
    fov_centre: str  # "heart" (cardiac reconstruction) or "body" (chest reconstruction)
    noise_std_hu: tuple[float, float]  # at 120 kVp, in soft tissue
    motion_blur_mm: tuple[float, float]  # per-slice in-plane motion smear over the heart; (0, 0) = none
    lesion_radius_mm: tuple[float, float, float]  # (smallest, typical, largest) cross-section semi-axis
    lesion_small_share: float  # share of lesions drawn from the small end (spotty calcification)


GATED_PROFILE = ScanProfile(name="gated", pixel_spacing_mm=(0.40, 0.55), fov_centre="heart",
                            noise_std_hu=(11.0, 17.0), motion_blur_mm=(0.0, 0.0),
                            lesion_radius_mm=(0.55, 1.4, 3.6), lesion_small_share=0.2)
NON_GATED_PROFILE = ScanProfile(name="non-gated", pixel_spacing_mm=(0.58, 0.72), fov_centre="body",
                                noise_std_hu=(22.0, 30.0), motion_blur_mm=(1.5, 4.5),
                                lesion_radius_mm=(0.4, 1.0, 4.0), lesion_small_share=0.6)


#: PhantomConfig fields holding a per-patient probability of metal, and the metal kind each one draws.
METAL_SHARE_FIELDS = ("sternal_wire_share", "stent_share", "clip_share", "lead_share")


def with_metal_share(config: PhantomConfig, share: float) -> PhantomConfig:
    """``config`` with every kind of metal drawn with per-patient probability ``share`` (e.g. a training set
    rich in stents and leads, so a detector sees enough of them to learn to ignore them)."""
    return replace(config, **dict.fromkeys(METAL_SHARE_FIELDS, float(share)))


@dataclass(frozen=True)
class PhantomConfig:
    """Options for ``generate_patient``; every field has a realistic default.

    Attributes:
        image_size: slice width and height in pixels; below 512 the pixel spacing grows so anatomy keeps its mm size.
        gated: ECG-gated calcium-scoring scan (True) or non-gated chest scan (False); picks the ScanProfile.
        lesions_per_patient: (min, max) coronary lesions placed per patient (a placed lesion that noise pushes
            below 130 HU is not labelled and not listed).
        slice_spacing_mm: slice-centre spacings drawn for ordinary reconstructions (thickness == spacing).
        overlap_share: share of patients reconstructed as overlapping slices (3 mm thick every 1.5 mm).
        kvp_choices / kvp_weights: tube voltages and how often each is drawn.
        scan_length_mm: (min, max) craniocaudal coverage; never shorter than the heart plus 10 mm unless
            ``clip_heart`` is set (quick tests), giving ~36-60 slices at 2.5-3 mm.
        clip_heart: allow a scan shorter than the heart (tests that only need a few slices).
        aortic_calcifications / valve_calcifications / noise_spikes: (min, max) distractors per patient
            (realistic mode draws aortic valve calcium with a published per-patient rate instead of
            valve_calcifications; see ``lookalikes``).
        realism: ``realistic`` (default: look-alikes, metal and its artefacts, FBP-shaped noise, myocardium vs blood
            pool, diaphragm, bone and lung texture; see ``tqgd.data.phantom.realistic``) or ``legacy`` (the
            version-1.0 generator, byte-identical, so earlier tables can be reproduced).
        sternal_wire_share / stent_share / clip_share / lead_share: per-patient probability of each kind of metal
            (realistic mode only; recorded in every sidecar).
        lookalike_share: per-patient probability of every kind of calcified look-alike (mitral annulus, aortic
            valve and root, pericardium, lymph nodes), e.g. 1.0 for a set on which a lesion verifier learns to
            reject them; None (default) draws each kind at its published rate (``lookalikes.LOOKALIKE_SHARE``).
            Realistic mode only; the probability used is recorded in every sidecar.
    """

    image_size: int = REFERENCE_IMAGE_SIZE
    gated: bool = True
    lesions_per_patient: tuple[int, int] = (2, 7)
    slice_spacing_mm: tuple[float, ...] = (2.5, 3.0)
    overlap_share: float = 0.15
    overlap_thickness_mm: float = 3.0
    overlap_spacing_mm: float = 1.5
    kvp_choices: tuple[int, ...] = (120, 100, 80)
    kvp_weights: tuple[float, ...] = (0.75, 0.17, 0.08)
    scan_length_mm: tuple[float, float] = (110.0, 150.0)
    clip_heart: bool = False
    aortic_calcifications: tuple[int, int] = (1, 4)
    valve_calcifications: tuple[int, int] = (0, 2)
    noise_spikes: tuple[int, int] = (2, 6)
    realism: str = "realistic"
    sternal_wire_share: float = 0.05
    stent_share: float = 0.06
    clip_share: float = 0.05
    lead_share: float = 0.03
    lookalike_share: float | None = None

    def __post_init__(self) -> None:
        if self.realism not in REALISM_MODES:
            raise ConfigError(f"phantom realism must be one of {', '.join(REALISM_MODES)}, got {self.realism!r}; "
                              "use legacy only to reproduce tables made with generator version "
                              f"{LEGACY_GENERATOR_VERSION}")
        for name in METAL_SHARE_FIELDS:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"phantom {name} is a per-patient probability and must lie in [0, 1], "
                                  f"got {getattr(self, name)!r}")
        if self.lookalike_share is not None and not 0.0 <= self.lookalike_share <= 1.0:
            raise ConfigError(f"phantom lookalike_share is a per-patient probability and must lie in [0, 1] (or None "
                              f"for the published rates), got {self.lookalike_share!r}")
        if not isinstance(self.image_size, int) or not 64 <= self.image_size <= 1024 or self.image_size % 16:
            raise ConfigError(f"phantom image_size must be a multiple of 16 between 64 and 1024, got "
                              f"{self.image_size!r}; "
                              "use 512 for realistic scans or 128 for quick tests")
        for name in ("lesions_per_patient", "scan_length_mm", "aortic_calcifications", "valve_calcifications",
                     "noise_spikes"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise ConfigError(f"phantom {name} must be (min, max) with 0 <= min <= max, got {(low, high)}")
        if self.scan_length_mm[0] < 20:
            raise ConfigError(f"phantom scan_length_mm must be 20 mm or more, got {self.scan_length_mm}")
        if self.lesions_per_patient[1] > 12:
            raise ConfigError(f"phantom lesions_per_patient allows at most 12 lesions, got {self.lesions_per_patient}")
        if not self.slice_spacing_mm or any(not 0.5 <= s <= 5.0 for s in self.slice_spacing_mm):
            raise ConfigError(f"phantom slice_spacing_mm values must lie in 0.5-5 mm, got {self.slice_spacing_mm}")
        if not 0.0 <= self.overlap_share <= 1.0:
            raise ConfigError(f"phantom overlap_share must lie in [0, 1], got {self.overlap_share}")
        if len(self.kvp_choices) != len(self.kvp_weights) or not set(self.kvp_choices) <= set(CALCIUM_KVP_FACTOR):
            raise ConfigError(f"phantom kvp_choices must be a subset of {sorted(CALCIUM_KVP_FACTOR)} with one weight "
                              f"each, got {self.kvp_choices} / {self.kvp_weights}")

    @property
    def profile(self) -> ScanProfile:
        """The gated or non-gated scan profile."""
        return GATED_PROFILE if self.gated else NON_GATED_PROFILE

    @property
    def generator_version(self) -> str:
        """GENERATOR_VERSION, or LEGACY_GENERATOR_VERSION in legacy mode."""
        return LEGACY_GENERATOR_VERSION if self.realism == "legacy" else GENERATOR_VERSION

    @property
    def pixel_scale(self) -> float:
        """Factor on the profile's pixel spacing (REFERENCE_IMAGE_SIZE / image_size)."""
        return REFERENCE_IMAGE_SIZE / self.image_size

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready options (for the sidecars)."""
        out = asdict(self)
        if self.realism == "legacy":  # the version-1.0 options, byte for byte
            for name in ("realism", "lookalike_share", *METAL_SHARE_FIELDS):
                out.pop(name)
        out["profile"] = asdict(self.profile)
        return out
