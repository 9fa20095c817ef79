"""Risk categories from a total Agatston score, under three published schemes.

``five-class`` (Rumberger et al., Mayo Clin Proc 1999): 0 / 1-10 / 11-100 / 101-400 / >400.
``four-class`` (as used by MESA and most guidelines): 0 / 1-99 / 100-399 / >=400.
``orcascore`` (the orCaScore challenge, Wolterink et al., Med Phys 2016): I 0-10 / II 11-100 / III 101-1000 /
IV >1000; no separate zero class, the challenge's own categories for its risk-category agreement (kappa).

Scores are categorised on their value rounded to a whole number, except that any positive score counts as at
least 1: a patient with detected calcium is never put in the "0" category (overlapping reconstructions can give
a single small lesion a total below 0.5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tqgd.errors import ConfigError


@dataclass(frozen=True)
class RiskCategory:
    """One category: its ordinal index within the scheme, its label, and the inclusive whole-score range."""

    index: int
    label: str
    low: int
    high: int | None  # None: no upper bound


RISK_CATEGORIES: dict[str, tuple[RiskCategory, ...]] = {
    "five-class": (
        RiskCategory(0, "0 (no calcium)", 0, 0),
        RiskCategory(1, "1-10 (minimal)", 1, 10),
        RiskCategory(2, "11-100 (mild)", 11, 100),
        RiskCategory(3, "101-400 (moderate)", 101, 400),
        RiskCategory(4, ">400 (extensive)", 401, None),
    ),
    "four-class": (
        RiskCategory(0, "0 (no calcium)", 0, 0),
        RiskCategory(1, "1-99 (mild)", 1, 99),
        RiskCategory(2, "100-399 (moderate)", 100, 399),
        RiskCategory(3, ">=400 (severe)", 400, None),
    ),
    "orcascore": (
        RiskCategory(0, "0-10 (I)", 0, 10),
        RiskCategory(1, "11-100 (II)", 11, 100),
        RiskCategory(2, "101-1000 (III)", 101, 1000),
        RiskCategory(3, ">1000 (IV)", 1001, None),
    ),
}


def whole_score(agatston: float) -> int:
    """The whole number a score is categorised by: rounded half up, but at least 1 when positive."""
    if agatston <= 0:
        return 0
    return max(1, math.floor(agatston + 0.5))


def categories(scheme: str) -> tuple[RiskCategory, ...]:
    """All categories of ``scheme``, lowest first."""
    try:
        return RISK_CATEGORIES[scheme]
    except KeyError:
        raise ConfigError(f"unknown risk scheme {scheme!r}; expected one of {', '.join(RISK_CATEGORIES)}") from None


def risk_category(agatston: float, scheme: str = "five-class") -> RiskCategory:
    """The category of a total Agatston score under ``scheme``."""
    if not math.isfinite(agatston) or agatston < 0:
        raise ConfigError(f"an Agatston score must be a finite number >= 0, got {agatston}")
    score = whole_score(agatston)
    scheme_categories = categories(scheme)
    return next((c for c in scheme_categories if c.high is not None and score <= c.high), scheme_categories[-1])
