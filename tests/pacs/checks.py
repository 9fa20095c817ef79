"""What the Orthanc tests check about results found in the PACS: SEG, SR and SC of the right series and numbers."""

from __future__ import annotations

import io

import numpy as np
import pydicom

from tqgd.data.readers import read_ct
from tqgd.dicom_out.readback import seg_labels, sr_numbers
from tqgd.scoring import ScoringOptions, score_mask

SEG_CLASS = "1.2.840.10008.5.1.4.1.1.66.4"
SR_CLASS = "1.2.840.10008.5.1.4.1.1.88.34"  # Comprehensive 3D SR
SC_CLASS = "1.2.840.10008.5.1.4.1.1.7"


def threshold_report(series_dir):
    """What the threshold method must have scored: every voxel >= 130 HU, binary."""
    volume = read_ct(series_dir)
    return volume, score_mask(volume, (volume.hu >= 130).astype(np.uint8), ScoringOptions(mask_labels="binary"))


def results_in_orthanc(orthanc, study_uid: str) -> dict[str, pydicom.Dataset]:
    """The study's SEG, SR and SC as stored in Orthanc (exactly one of each)."""
    found: dict[str, list[pydicom.Dataset]] = {"seg": [], "sr": [], "sc": []}
    kinds = {SEG_CLASS: "seg", SR_CLASS: "sr", SC_CLASS: "sc"}
    for item in orthanc.find_instances(StudyInstanceUID=study_uid):
        ds = pydicom.dcmread(io.BytesIO(orthanc.instance_file(item["ID"])))
        kind = kinds.get(str(ds.SOPClassUID))
        if kind:
            found[kind].append(ds)
    assert {k: len(v) for k, v in found.items()} == {"seg": 1, "sr": 1, "sc": 1}, found
    return {k: v[0] for k, v in found.items()}


def check_results(orthanc, series_dir) -> dict[str, pydicom.Dataset]:
    """SEG/SR/SC in Orthanc reference the series, SEG voxels = the threshold mask, SR numbers = its score."""
    volume, report = threshold_report(series_dir)
    source = pydicom.dcmread(next(series_dir.glob("*.dcm")))
    results = results_in_orthanc(orthanc, str(source.StudyInstanceUID))
    seg, sr = results["seg"], results["sr"]
    assert seg.ReferencedSeriesSequence[0].SeriesInstanceUID == source.SeriesInstanceUID
    assert {i.ReferencedSOPInstanceUID for i in seg.ReferencedSeriesSequence[0].ReferencedInstanceSequence} == \
        set(volume.meta.sop_instance_uids)
    labels, names = seg_labels(seg, volume.meta.sop_instance_uids)
    assert names == {1: "calcium"} and np.array_equal(labels > 0, report.lesion_map > 0)
    numbers = sr_numbers(sr)
    assert (numbers["agatston"], numbers["volume_mm3"], numbers["risk_category"]) == \
        (report.agatston, report.volume_mm3, report.risk.label)
    assert len(numbers["lesions"]) == len(report.lesions)
    evidence = {item.SeriesInstanceUID for study in sr.CurrentRequestedProcedureEvidenceSequence
                for item in study.ReferencedSeriesSequence}
    assert {str(source.SeriesInstanceUID), str(seg.SeriesInstanceUID)} <= evidence
    for ds in results.values():
        assert (ds.PatientID, ds.StudyInstanceUID) == (source.PatientID, source.StudyInstanceUID)
    return results
