"""DICOM results for the PACS: a Segmentation (SEG), a Comprehensive 3D SR (TID 1500) and a secondary capture.

The one non-obvious mechanism is how these objects stay tied to the scan they describe and stay reproducible:

1. The source series is re-read as pydicom datasets and ordered along the slice normal exactly as ``read_ct``
   orders the volume (``source.source_datasets``), so frame k of the SEG is slice k of the mask that was scored.
2. Every UID comes from ``identity.derived_uid``: a hash of the source SeriesInstanceUID and its SOPInstanceUIDs
   (``identity.source_key``), the algorithm's fingerprint (the weights' SHA-256, or the scored mask's SHA-256 for
   ``tqgd score --mask``), tqgd's version, the scoring conventions and the object's role. The same scan scored the
   same way gives the same UIDs, so a PACS that receives it twice keeps one copy; a new model, new conventions or a
   series that gained instances give new objects.
3. The SEG is built first (``seg.build_seg``: one segment per artery with calcium, else one ``calcium`` segment).
   The SR (``sr.build_sr``) then references the SEG's segments for each artery's and each lesion's region and lists
   the source CT and the SEG as evidence. The secondary capture (``sc.build_sc``) carries ``report.png``.
4. All three copy the source's patient and study modules (highdicom does this from the source datasets), because
   they go back into the patient's study. Nothing else tqgd writes gains identifiers.
5. ``readback`` reads the written files with highdicom alone (no tqgd structures), for the checks: the SEG's
   voxels as a label volume in the source's slice order, and the SR's numbers as a plain dict.

``write_dicom_results`` does 1-4 and writes ``OUT/dicom/{seg,sr,sc}.dcm`` atomically.
"""

from __future__ import annotations

from tqgd.dicom_out.identity import AlgorithmIdentity, detections_identity, detector_identity, mask_identity
from tqgd.dicom_out.write import DICOM_DIR, DicomResults, write_dicom_results

__all__ = ["DICOM_DIR", "AlgorithmIdentity", "DicomResults", "detections_identity", "detector_identity",
           "mask_identity", "write_dicom_results"]
