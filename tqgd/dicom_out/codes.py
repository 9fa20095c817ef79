"""Coded concepts of tqgd's DICOM results: DICOM (DCM), SNOMED CT (SCT) and UCUM codes, and tqgd's own.

Standard codes come from pydicom's code dictionary (PS3.16). Risk categories and schemes have no standard code;
they use tqgd's private coding scheme ``99TQGD`` (a ``99`` prefix marks a private scheme, PS3.16 section 8).
"""

from __future__ import annotations

from highdicom.sr import CodedConcept
from pydicom.sr.codedict import codes

#: Procedure reported in the SR: Cardiac CT for calcium scoring.
PROCEDURE = codes.SCT.CardiacCTForCalciumScoring
#: What the SEG's segments and the SR's findings are: vascular calcification, a morphologically abnormal structure.
FINDING = codes.SCT.VascularCalcificationRadiographicFinding
SEGMENT_CATEGORY = codes.SCT.MorphologicallyAbnormalStructure
CORONARY_ARTERY = codes.SCT.CoronaryArtery

#: tqgd's artery names (``tqgd.data.orcascore.REFERENCE_LABELS``) -> anatomic codes; ``undetermined`` is calcium of a
#: coronary artery the observer could not name.
ARTERY_CODES = {"LAD": codes.SCT.LeftAnteriorDescendingCoronaryArtery,
                "LCX": codes.SCT.CircumflexCoronaryArtery,
                "RCA": codes.SCT.RightCoronaryArtery,
                "undetermined": codes.SCT.CoronaryArtery}

#: UCUM milligram (pydicom's dictionary lists only the UCUM units of its context groups).
MILLIGRAM = CodedConcept("mg", "UCUM", "milligram")

#: score.json key -> (measurement name, scoring method, unit)
MEASUREMENTS = {"agatston": (codes.DCM.CalciumScore, codes.DCM.AgatstonScoringMethod, codes.UCUM.NoUnits),
                "volume_mm3": (codes.DCM.CalciumVolume, codes.DCM.VolumeScoringMethod, codes.UCUM.CubicMillimeter),
                "mass_mg": (codes.DCM.CalciumMass, codes.DCM.MassScoringMethod, MILLIGRAM)}

PRIVATE_SCHEME = "99TQGD"
RISK_CATEGORY = CodedConcept("risk-category", PRIVATE_SCHEME, "Coronary calcium risk category")
RISK_SCHEME = CodedConcept("risk-scheme", PRIVATE_SCHEME, "Coronary calcium risk category scheme")


def risk_category_code(scheme: str, index: int, label: str) -> CodedConcept:
    """The value of a risk category: ``<scheme>/<index>`` meaning ``<label>`` (e.g. ``five-class/3``, "101-400")."""
    return CodedConcept(f"{scheme}/{index}", PRIVATE_SCHEME, label)


def risk_scheme_code(scheme: str) -> CodedConcept:
    """The value naming a risk scheme (five-class, four-class, orcascore)."""
    return CodedConcept(scheme, PRIVATE_SCHEME, f"tqgd risk scheme {scheme}")
