"""Synthetic non-contrast cardiac CT phantom with known coronary calcium (the default data of tqgd).

``generate_patient(seed, config)`` builds one patient in memory; ``write_phantom_set`` writes a set in
OrCaScore's layout and/or as DICOM series with JSON sidecars. See ``tqgd phantom --help``.
"""

from tqgd.data.phantom.config import CALCIUM_THRESHOLD_HU, GENERATOR_VERSION, PhantomConfig, Tissue
from tqgd.data.phantom.generate import PhantomCase, generate_patient

__all__ = ["CALCIUM_THRESHOLD_HU", "GENERATOR_VERSION", "PhantomCase", "PhantomConfig", "Tissue", "generate_patient"]
