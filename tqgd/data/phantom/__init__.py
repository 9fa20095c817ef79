"""Synthetic non-contrast cardiac CT phantom with known coronary calcium (the default data of tqgd).

``generate_patient(seed, config)`` builds one patient in memory (``config.realism``: "realistic" by default,
"legacy" for the byte-identical version-1.0 generator); ``write_phantom_set`` writes a set in
OrCaScore's layout and/or as DICOM series with JSON sidecars. See ``tqgd phantom --help``.
"""

from tqgd.data.phantom.config import (
    CALCIUM_THRESHOLD_HU, GENERATOR_VERSION, LEGACY_GENERATOR_VERSION, REALISM_MODES, PhantomConfig, Tissue,
)
from tqgd.data.phantom.generate import PhantomCase, generate_patient
from tqgd.data.phantom.layout import PhantomSetResult, write_phantom_set

__all__ = ["CALCIUM_THRESHOLD_HU", "GENERATOR_VERSION", "LEGACY_GENERATOR_VERSION", "REALISM_MODES", "PhantomCase",
           "PhantomConfig", "PhantomSetResult", "Tissue", "generate_patient", "write_phantom_set"]
