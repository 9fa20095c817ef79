"""Writers for CT volumes: DICOM CT series (pydicom), MetaImage and NIfTI (SimpleITK).

Every file is written atomically (temporary file + rename, see ``tqgd.io``), so a reader never sees half a scan.
The synthetic phantom, the converters and the tests use these to make real files that every reader must accept.
"""

from tqgd.data.writers.dicom_series import WRITABLE_TRANSFER_SYNTAXES, write_dicom_series
from tqgd.data.writers.sitk_volume import write_metaimage, write_nifti

__all__ = ["WRITABLE_TRANSFER_SYNTAXES", "write_dicom_series", "write_metaimage", "write_nifti"]
