"""A DICOMweb PACS: QIDO-RS to find a study's CT series, WADO-RS to fetch them, STOW-RS to store results."""

from __future__ import annotations

from pathlib import Path

import pydicom

from tqgd.errors import PacsError
from tqgd.pacs.files import durable_write, is_uid

#: DICOM JSON tags (PS3.18 F.2) used from QIDO-RS answers.
SERIES_UID_TAG = "0020000E"
MODALITY_TAG = "00080060"


def _instance_bytes(ds: pydicom.Dataset) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


class DicomWebPacs:
    """QIDO-RS / WADO-RS / STOW-RS through dicomweb-client at ``url`` (the DICOMweb root, e.g. .../dicom-web)."""

    def __init__(self, url: str, timeout_s: float = 60.0):
        from dicomweb_client.api import DICOMwebClient

        self.url = url.rstrip("/")
        self.client = DICOMwebClient(url=self.url, timeout=timeout_s)

    def describe(self) -> str:
        """The server, for messages."""
        return f"DICOMweb {self.url}"

    def _call(self, what: str, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:  # requests/HTTP errors of every kind: one named error with the server
            raise PacsError(f"{what} failed at {self.describe()}: {type(exc).__name__}: {exc}") from exc

    def find_ct_series(self, study_uid: str) -> list[str]:
        """SeriesInstanceUIDs of the CT series of ``study_uid`` (QIDO-RS)."""
        found = self._call("QIDO-RS series search", self.client.search_for_series, study_instance_uid=study_uid,
                           search_filters={"Modality": "CT"})
        uids = []
        for item in found:
            modality = item.get(MODALITY_TAG, {}).get("Value", [""])[0]
            uid = item.get(SERIES_UID_TAG, {}).get("Value", [""])[0]
            if modality == "CT" and uid:
                uids.append(uid)
        return uids

    def fetch_series(self, study_uid: str, series_uid: str, folder: Path) -> list[Path]:
        """Write every instance of the series into ``folder`` as ``<SOPInstanceUID>.dcm`` (WADO-RS)."""
        datasets = self._call("WADO-RS series retrieve", self.client.retrieve_series, study_uid, series_uid)
        paths = []
        for ds in datasets:
            uid = str(ds.get("SOPInstanceUID", ""))
            if not is_uid(uid):
                raise PacsError(f"{self.describe()} sent an instance without a valid SOPInstanceUID ({uid!r})")
            paths.append(durable_write(folder / f"{uid}.dcm", _instance_bytes(ds)))
        return paths

    def store(self, paths: list[Path]) -> None:
        """Send ``paths`` in one STOW-RS request; any failed instance raises."""
        datasets = [pydicom.dcmread(p) for p in paths]
        response = self._call("STOW-RS store", self.client.store_instances, datasets=datasets)
        failed = response.get("FailedSOPSequence", []) if response is not None else []
        if failed:
            reasons = ", ".join(f"{item.get('ReferencedSOPInstanceUID', '?')}: {item.get('FailureReason', '?')}"
                                for item in failed)
            raise PacsError(f"{self.describe()} refused {len(failed)} of {len(paths)} instances ({reasons})")
