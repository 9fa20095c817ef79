"""Synthetic non-contrast cardiac CT phantom with known coronary calcium (the default data of tqgd).

``generate_patient(seed, config)`` builds one patient in memory; ``write_phantom_set`` writes a set in
OrCaScore's layout and/or as DICOM series with JSON sidecars. See ``tqgd phantom --help``.
"""

from tqgd.data.phantom.config import CALCIUM_THRESHOLD_HU, GENERATOR_VERSION, PhantomConfig, Tissue
from tqgd.data.phantom.generate import PhantomCase, generate_patient
from tqgd.data.phantom.layout import PhantomSetResult, write_phantom_set

__all__ = ["CALCIUM_THRESHOLD_HU", "GENERATOR_VERSION", "PhantomCase", "PhantomConfig", "PhantomSetResult", "Tissue",
           "generate_patient", "write_phantom_set"]
