"""The OrCaScore challenge folder layout, shared by the phantom writer and the converters.

    ROOT/Images/<ID>CTI.mhd (+ <ID>CTI.zraw)          CT in HU
    ROOT/Reference standard/<ID>R.mhd (+ .zraw)       labels: 0 background, 1 LAD (incl. left main), 2 LCX, 3 RCA,
                                                      4 calcium whose artery the observer could not determine

IDs look like ``TRV1P1`` (training set, vendor 1, patient 1). The challenge's own sets may nest this layout
one level down (``Training set/Images/...``); ``discover_cases`` accepts both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from tqgd.errors import DatasetError

IMAGES_DIR = "Images"
REFERENCE_DIR = "Reference standard"
IMAGE_SUFFIX = "CTI"
REFERENCE_SUFFIX = "R"

#: OrCaScore label values of the three coronary arteries (LAD includes the left main).
ARTERY_LABELS: dict[int, str] = {1: "LAD", 2: "LCX", 3: "RCA"}
#: Label value of calcium whose artery the observer could not determine (real reference standards hold it; the
#: phantom never writes it), and the name it goes by as a box class and in per-artery tables.
UNDETERMINED_LABEL = 4
UNDETERMINED_NAME = "undetermined"
#: Every calcium label value a reference standard may hold, in class-id order: ``--classes artery`` numbers them
#: LAD 0, LCX 1, RCA 2, undetermined 3, and per-artery scores and evaluations have one row for each.
REFERENCE_LABELS: dict[int, str] = {**ARTERY_LABELS, UNDETERMINED_LABEL: UNDETERMINED_NAME}


def reference_labels_text() -> str:
    """The label values in words, for messages: ``0 background, 1 LAD, 2 LCX, 3 RCA, 4 undetermined``."""
    return ", ".join(["0 background", *(f"{value} {name}" for value, name in REFERENCE_LABELS.items())])


_IMAGE_RE = re.compile(rf"^(?P<id>.+){IMAGE_SUFFIX}\.mhd$")


def case_id(vendor: int, patient: int, prefix: str = "TR") -> str:
    """OrCaScore-style case ID, e.g. ``case_id(1, 3) == "TRV1P3"``."""
    return f"{prefix}V{vendor}P{patient}"


def image_path(root: Path, case: str) -> Path:
    """Header path of a case's CT image."""
    return Path(root) / IMAGES_DIR / f"{case}{IMAGE_SUFFIX}.mhd"


def reference_path(root: Path, case: str) -> Path:
    """Header path of a case's reference label volume."""
    return Path(root) / REFERENCE_DIR / f"{case}{REFERENCE_SUFFIX}.mhd"


@dataclass(frozen=True)
class OrcaCase:
    """One patient of an OrCaScore-layout folder; ``reference`` is None for unlabelled (test-set) cases."""

    case_id: str
    image: Path
    reference: Path | None


def _layout_root(root: Path) -> Path:
    if (root / IMAGES_DIR).is_dir():
        return root
    nested = sorted(p for p in root.iterdir() if p.is_dir() and (p / IMAGES_DIR).is_dir()) if root.is_dir() else []
    if len(nested) == 1:
        return nested[0]
    if len(nested) > 1:
        names = ", ".join(p.name for p in nested)
        raise DatasetError(f"several OrCaScore sets found ({names}); point at one of them", root)
    raise DatasetError(f"not an OrCaScore-layout folder: expected '{IMAGES_DIR}/<ID>{IMAGE_SUFFIX}.mhd' and "
                       f"'{REFERENCE_DIR}/<ID>{REFERENCE_SUFFIX}.mhd' inside", root)


def discover_cases(root: str | Path, require_reference: bool = True) -> list[OrcaCase]:
    """List the cases under ``root``, sorted by ID; every image must have its reference unless told otherwise."""
    root = _layout_root(Path(root))
    cases = []
    for header in sorted((root / IMAGES_DIR).glob(f"*{IMAGE_SUFFIX}.mhd")):
        match = _IMAGE_RE.match(header.name)
        if not match:
            continue
        ref = reference_path(root, match["id"])
        if not ref.exists():
            if require_reference:
                raise DatasetError(f"case {match['id']} has no reference label file {ref.relative_to(root)}; "
                                   "add it or pass require_reference=False to convert unlabelled scans", root)
            ref = None
        cases.append(OrcaCase(case_id=match["id"], image=header, reference=ref))
    if not cases:
        raise DatasetError(f"no '*{IMAGE_SUFFIX}.mhd' images in {root / IMAGES_DIR}", root)
    return cases
