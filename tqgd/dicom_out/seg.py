"""The DICOM Segmentation of the calcium voxels that were scored (binary, one frame per source slice with calcium).

Segments: one per artery that holds calcium (LAD, LCX, RCA, undetermined) when the scored input had artery labels,
else one ``calcium`` segment. A voxel belongs to the segment of the lesion it was scored in (``report.lesion_map``),
so the union of the segments is exactly the scored mask.
"""

from __future__ import annotations

import numpy as np
from highdicom import AlgorithmIdentificationSequence
from highdicom.seg import Segmentation, SegmentAlgorithmTypeValues, SegmentDescription
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from tqgd.data.orcascore import REFERENCE_LABELS
from tqgd.dicom_out.codes import ARTERY_CODES, FINDING, SEGMENT_CATEGORY
from tqgd.dicom_out.identity import AlgorithmIdentity, derived_uid, source_key
from tqgd.errors import DicomOutputError

#: Label of the one segment of a binary (no artery labels) result.
CALCIUM_SEGMENT = "calcium"
SEG_SERIES_NUMBER = 9101
MANUFACTURER = "tqgd"


def segment_names(report) -> list[str]:
    """Segment labels in segment-number order (segment n is ``names[n - 1]``)."""
    if report.arteries:
        present = {lesion.artery for lesion in report.lesions}
        names = [name for name in REFERENCE_LABELS.values() if name in present]
        if names:
            return names
    return [CALCIUM_SEGMENT]


def lesion_segments(report) -> dict[int, int]:
    """Lesion ID -> segment number holding it."""
    names = segment_names(report)
    return {lesion.lesion_id: (names.index(lesion.artery) + 1 if lesion.artery in names else 1)
            for lesion in report.lesions}


def label_volume(report) -> np.ndarray:
    """(Z, Y, X) uint8: the segment number of every scored voxel, 0 elsewhere."""
    lesion_map = np.asarray(report.lesion_map)
    by_lesion = lesion_segments(report)
    lut = np.zeros(int(lesion_map.max(initial=0)) + 1, dtype=np.uint8)
    for lesion_id, segment in by_lesion.items():
        lut[lesion_id] = segment
    labels = lut[lesion_map]
    missing = set(np.unique(lesion_map[lesion_map > 0]).tolist()) - set(by_lesion)
    if missing:
        raise DicomOutputError(f"the lesion map holds lesion IDs {sorted(missing)[:5]} that no scored lesion has; "
                               "this is a tqgd bug, please report it")
    return labels


def build_seg(report, sources: list[Dataset], algorithm: AlgorithmIdentity, *, automatic: bool) -> Segmentation:
    """A binary SEG of ``report``'s scored voxels on ``sources`` (the CT datasets in volume z order)."""
    labels = label_volume(report)
    if labels.shape != (len(sources), int(sources[0].Rows), int(sources[0].Columns)):
        raise DicomOutputError(f"the scored mask has shape {labels.shape}, the source series "
                               f"{(len(sources), int(sources[0].Rows), int(sources[0].Columns))}; give the series "
                               "that was scored")
    identification = AlgorithmIdentificationSequence(name=algorithm.name[:64], family=codes.DCM.ArtificialIntelligence
                                                     if automatic else codes.DCM.ImageProcessing,
                                                     version=algorithm.version, parameters=algorithm.parameters())
    kind = SegmentAlgorithmTypeValues.AUTOMATIC if automatic else SegmentAlgorithmTypeValues.SEMIAUTOMATIC
    key = source_key(sources)
    descriptions = []
    for number, name in enumerate(segment_names(report), start=1):
        site = ARTERY_CODES.get(name, ARTERY_CODES["undetermined"])
        descriptions.append(SegmentDescription(
            segment_number=number, segment_label=name, segmented_property_category=SEGMENT_CATEGORY,
            segmented_property_type=FINDING, algorithm_type=kind, algorithm_identification=identification,
            tracking_uid=derived_uid(key, algorithm, f"segment-{name}"), tracking_id=f"calcium {name}",
            anatomic_regions=[site]))
    return Segmentation(
        source_images=sources, pixel_array=labels, segmentation_type="BINARY", segment_descriptions=descriptions,
        series_instance_uid=derived_uid(key, algorithm, "seg-series"), series_number=SEG_SERIES_NUMBER,
        sop_instance_uid=derived_uid(key, algorithm, "seg-instance"), instance_number=1,
        manufacturer=MANUFACTURER, manufacturer_model_name=algorithm.name[:64], software_versions=algorithm.version,
        device_serial_number=algorithm.short, content_label="CALCIUM",
        content_description=f"Coronary calcium scored by tqgd ({algorithm.fingerprint_kind} {algorithm.short})"[:64],
        series_description="tqgd coronary calcium SEG", omit_empty_frames=True)
