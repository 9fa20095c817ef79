"""The Comprehensive 3D SR of the calcium score, following TID 1500 (Measurement Report).

Measurement groups (each with the algorithm's name, version and fingerprint, TID 4019, as the parameter
``weights_sha256=<hex>`` or ``mask_sha256=<hex>``; the scoring conventions are in the SEG's algorithm parameters):

- ``calcium total`` (TID 1501): Agatston score, calcium volume, calcium mass when calibrated, and two qualitative
  evaluations: the risk category and the scheme it comes from;
- ``calcium <artery>`` (TID 1411, only with artery labels): the artery's totals; the region is the SEG segment of
  that artery (an artery without calcium gets a TID 1501 group with zeros and no region);
- ``lesion <n>`` (TID 1411): each 3D lesion's Agatston, volume and mass; its region is the SEG segment holding it,
  its finding site the artery when known.

Numbers are written as given in score.json (highdicom keeps a float's full value in FloatingPointValue).
"""

from __future__ import annotations

from typing import Any

from highdicom.seg import Segmentation
from highdicom.sr import (
    AlgorithmIdentification,
    Comprehensive3DSR,
    DeviceObserverIdentifyingAttributes,
    FindingSite,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    QualitativeEvaluation,
    ReferencedSegment,
    SourceSeriesForSegmentation,
    TrackingIdentifier,
    VolumetricROIMeasurementsAndQualitativeEvaluations,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes

from tqgd.dicom_out.codes import (
    ARTERY_CODES,
    CORONARY_ARTERY,
    FINDING,
    MEASUREMENTS,
    PROCEDURE,
    PRIVATE_SCHEME,
    RISK_CATEGORY,
    RISK_SCHEME,
    risk_category_code,
    risk_scheme_code,
)
from tqgd.dicom_out.identity import AlgorithmIdentity, derived_uid, source_key
from tqgd.dicom_out.seg import lesion_segments, segment_names

SR_SERIES_NUMBER = 9102
TOTAL_GROUP = "calcium total"


def _measurements(values: dict[str, Any]) -> list[Measurement]:
    """Agatston, volume and (when not None) mass of ``values`` (score.json keys)."""
    out = []
    for key, (name, method, unit) in MEASUREMENTS.items():
        value = values.get(key)
        if value is None:
            continue
        out.append(Measurement(name=name, value=float(value), unit=unit, method=method))
    return out


def _tracking(key: str, algorithm: AlgorithmIdentity, label: str) -> TrackingIdentifier:
    return TrackingIdentifier(uid=derived_uid(key, algorithm, f"tracking-{label}"), identifier=label)


def _segment(seg: Segmentation, number: int) -> ReferencedSegment:
    """Segment ``number`` of ``seg`` with the source series (highdicom's ``from_segmentation`` fails on a one-segment
    SEG, whose segment identification is shared rather than per frame)."""
    source = SourceSeriesForSegmentation(seg.ReferencedSeriesSequence[0].SeriesInstanceUID)
    return ReferencedSegment(sop_class_uid=seg.SOPClassUID, sop_instance_uid=seg.SOPInstanceUID,
                             segment_number=number, source_series=source)


def measurement_groups(report, seg: Segmentation, algorithm: AlgorithmIdentity, key: str) -> list:
    """The TID 1500 measurement groups of ``report`` (see the module docstring)."""
    fingerprint = f"{algorithm.fingerprint_kind}_sha256={algorithm.fingerprint_sha256}"
    algorithm_id = AlgorithmIdentification(name=algorithm.name, version=algorithm.version, parameters=[fingerprint])
    totals = {"agatston": report.agatston, "volume_mm3": report.volume_mm3, "mass_mg": report.mass_mg}
    risk = [QualitativeEvaluation(RISK_CATEGORY, risk_category_code(report.options.risk_scheme, report.risk.index,
                                                                    report.risk.label)),
            QualitativeEvaluation(RISK_SCHEME, risk_scheme_code(report.options.risk_scheme))]
    groups: list = [MeasurementsAndQualitativeEvaluations(
        tracking_identifier=_tracking(key, algorithm, TOTAL_GROUP), finding_type=FINDING,
        algorithm_id=algorithm_id, finding_sites=[FindingSite(CORONARY_ARTERY)],
        measurements=_measurements(totals), qualitative_evaluations=risk)]
    names = segment_names(report)
    for artery, values in (report.per_artery() or {}).items():
        site = [FindingSite(ARTERY_CODES[artery])]
        tracking = _tracking(key, algorithm, f"calcium {artery}")
        measurements = _measurements(values)
        if artery in names:
            groups.append(VolumetricROIMeasurementsAndQualitativeEvaluations(
                tracking_identifier=tracking, referenced_segment=_segment(seg, names.index(artery) + 1),
                finding_type=FINDING, algorithm_id=algorithm_id, finding_sites=site, measurements=measurements))
        else:
            groups.append(MeasurementsAndQualitativeEvaluations(
                tracking_identifier=tracking, finding_type=FINDING, algorithm_id=algorithm_id, finding_sites=site,
                measurements=measurements))
    by_lesion = lesion_segments(report)
    for lesion in report.lesions:
        values = {"agatston": lesion.agatston, "volume_mm3": lesion.volume_mm3, "mass_mg": lesion.mass_mg}
        site = ARTERY_CODES.get(lesion.artery, CORONARY_ARTERY) if lesion.artery else CORONARY_ARTERY
        groups.append(VolumetricROIMeasurementsAndQualitativeEvaluations(
            tracking_identifier=_tracking(key, algorithm, f"lesion {lesion.lesion_id}"),
            referenced_segment=_segment(seg, by_lesion[lesion.lesion_id]), finding_type=FINDING,
            algorithm_id=algorithm_id, finding_sites=[FindingSite(site)],
            measurements=_measurements(values)))
    return groups


def private_scheme_identification() -> Dataset:
    """Coding Scheme Identification of tqgd's private scheme (risk categories and schemes)."""
    item = Dataset()
    item.CodingSchemeDesignator = PRIVATE_SCHEME
    item.CodingSchemeName = "tqgd coronary calcium risk categories"
    item.CodingSchemeResponsibleOrganization = "tqgd"
    return item


def build_sr(report, seg: Segmentation, sources: list[Dataset], algorithm: AlgorithmIdentity) -> Comprehensive3DSR:
    """A Comprehensive 3D SR (TID 1500) of ``report``, with ``sources`` and ``seg`` as evidence."""
    key = source_key(sources)
    device = DeviceObserverIdentifyingAttributes(uid=derived_uid(key, algorithm, "device"), name="tqgd",
                                                 manufacturer_name="tqgd", model_name=algorithm.name[:64])
    context = ObservationContext(observer_device_context=ObserverContext(
        observer_type=codes.DCM.Device, observer_identifying_attributes=device))
    content = MeasurementReport(observation_context=context, procedure_reported=PROCEDURE,
                                imaging_measurements=measurement_groups(report, seg, algorithm, key))
    sr = Comprehensive3DSR(
        evidence=[*sources, seg], content=content, series_instance_uid=derived_uid(key, algorithm, "sr-series"),
        series_number=SR_SERIES_NUMBER, sop_instance_uid=derived_uid(key, algorithm, "sr-instance"),
        instance_number=1, manufacturer="tqgd", is_complete=True, is_final=False, is_verified=False,
        series_description="tqgd coronary calcium report")
    sr.CodingSchemeIdentificationSequence = [private_scheme_identification()]
    return sr

