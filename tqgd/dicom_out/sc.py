"""A Secondary Capture of ``report.png`` for viewers that show images but not SR.

The page is stored as 8-bit RGB in the source's study, in its own series. It is a picture of a report, not of the
patient, so Patient Orientation is left empty (unknown) and no pixel spacing is given.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from highdicom.sc import SCImage
from pydicom.dataset import Dataset

from tqgd.dicom_out.identity import AlgorithmIdentity, derived_uid
from tqgd.errors import DicomOutputError

SC_SERIES_NUMBER = 9103


def read_rgb(png: str | Path) -> np.ndarray:
    """(rows, columns, 3) uint8 RGB of a PNG (alpha dropped)."""
    import cv2

    image = cv2.imread(str(png), cv2.IMREAD_COLOR)  # BGR, alpha dropped
    if image is None:
        raise DicomOutputError("cannot read this PNG for the secondary capture; was report.png written?", png)
    return np.ascontiguousarray(image[:, :, ::-1])


def build_sc(png: str | Path, source: Dataset, algorithm: AlgorithmIdentity, key: str) -> SCImage:
    """A Secondary Capture Image of ``png`` in the study of ``source`` (any dataset of the scored series); ``key``
    is the series' ``identity.source_key``."""
    sc = SCImage.from_ref_dataset(
        ref_dataset=source, pixel_array=read_rgb(png), photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT", patient_orientation=("L", "P"),
        series_instance_uid=derived_uid(key, algorithm, "sc-series"), series_number=SC_SERIES_NUMBER,
        sop_instance_uid=derived_uid(key, algorithm, "sc-instance"), instance_number=1, manufacturer="tqgd",
        transfer_syntax_uid="1.2.840.10008.1.2.1")
    sc.PatientOrientation = ""  # a report page has no patient orientation (Type 2C: empty means unknown)
    sc.Laterality = ""  # Type 2C in General Series: empty (a report page, not a paired body part)
    sc.SeriesDescription = "tqgd coronary calcium report page"
    sc.ImageType = ["DERIVED", "SECONDARY"]
    return sc
