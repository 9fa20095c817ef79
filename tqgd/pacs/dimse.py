"""A DIMSE PACS: C-FIND a study's CT series, C-GET them (the PACS sends them back on the same association, so it
need not know tqgd's address), and C-STORE the results."""

from __future__ import annotations

import threading
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage, EnhancedCTImageStorage

from tqgd.errors import PacsError
from tqgd.pacs.files import durable_write, is_uid

#: What tqgd sends: SEG, Comprehensive 3D SR, Secondary Capture.
RESULT_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.66.4", "1.2.840.10008.5.1.4.1.1.88.34", "1.2.840.10008.5.1.4.1.1.7")
RETRIEVED_SOP_CLASSES = (CTImageStorage, EnhancedCTImageStorage)
DEFAULT_CALLING_AET = "TQGD"
SUCCESS = 0x0000
PENDING = (0xFF00, 0xFF01)


class DimsePacs:
    """C-FIND / C-GET / C-STORE against ``aet`` at ``host``:``port``, calling as ``calling_aet``."""

    def __init__(self, aet: str, host: str, port: int, calling_aet: str = DEFAULT_CALLING_AET,
                 timeout_s: float = 60.0):
        self.aet, self.host, self.port, self.calling_aet, self.timeout_s = aet, host, port, calling_aet, timeout_s

    def describe(self) -> str:
        """The server, for messages."""
        return f"DICOM node {self.aet}@{self.host}:{self.port}"

    def _ae(self):
        from pynetdicom import AE

        ae = AE(ae_title=self.calling_aet)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout_s
        return ae

    def _associate(self, ae, **kwargs):
        assoc = ae.associate(self.host, self.port, ae_title=self.aet, **kwargs)
        if not assoc.is_established:
            raise PacsError(f"{self.describe()} refused or did not answer the association from {self.calling_aet} "
                            "(check the AE titles, host and port, and that the PACS knows this AE title)")
        return assoc

    def find_ct_series(self, study_uid: str) -> list[str]:
        """SeriesInstanceUIDs of the CT series of ``study_uid`` (C-FIND, study root, SERIES level)."""
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelFind

        ae = self._ae()
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
        query = Dataset()
        query.QueryRetrieveLevel = "SERIES"
        query.StudyInstanceUID = study_uid
        query.SeriesInstanceUID = ""
        query.Modality = "CT"
        assoc = self._associate(ae)
        uids = []
        try:
            for status, identifier in assoc.send_c_find(query, StudyRootQueryRetrieveInformationModelFind):
                code = getattr(status, "Status", None)
                if code is None:
                    raise PacsError(f"{self.describe()} gave no C-FIND answer (connection lost or timed out)")
                if code in PENDING and identifier is not None:
                    if str(identifier.get("Modality", "CT")) == "CT" and identifier.get("SeriesInstanceUID"):
                        uids.append(str(identifier.SeriesInstanceUID))
                elif code != SUCCESS:
                    raise PacsError(f"{self.describe()} answered C-FIND with status 0x{code:04X}")
        finally:
            assoc.release()
        return uids

    def fetch_series(self, study_uid: str, series_uid: str, folder: Path) -> list[Path]:
        """C-GET the series; every instance is written to ``folder`` before it is acknowledged."""
        from pynetdicom import build_role, evt
        from pynetdicom.sop_class import StudyRootQueryRetrieveInformationModelGet

        ae = self._ae()
        ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
        for sop_class in RETRIEVED_SOP_CLASSES:
            ae.add_requested_context(sop_class)
        roles = [build_role(sop_class, scp_role=True) for sop_class in RETRIEVED_SOP_CLASSES]
        written: list[Path] = []
        lock = threading.Lock()

        def on_store(event) -> int:
            uid = str(event.request.AffectedSOPInstanceUID)
            if not is_uid(uid):
                return 0xC000
            path = durable_write(folder / f"{uid}.dcm", event.encoded_dataset())
            with lock:
                written.append(path)
            return SUCCESS

        query = Dataset()
        query.QueryRetrieveLevel = "SERIES"
        query.StudyInstanceUID = study_uid
        query.SeriesInstanceUID = series_uid
        assoc = self._associate(ae, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)])
        final = None
        try:
            for status, _ in assoc.send_c_get(query, StudyRootQueryRetrieveInformationModelGet):
                final = getattr(status, "Status", None)
                if final is None:
                    raise PacsError(f"{self.describe()} gave no C-GET answer (connection lost or timed out)")
        finally:
            assoc.release()
        if final != SUCCESS:
            status = f"status 0x{final:04X}" if final is not None else "no status"
            raise PacsError(f"{self.describe()} ended C-GET of series {series_uid} with {status}")
        if not written:
            raise PacsError(f"{self.describe()} sent no instances for series {series_uid}")
        return sorted(written)

    def store(self, paths: list[Path]) -> None:
        """C-STORE each file; a failure status raises."""
        ae = self._ae()
        datasets = [pydicom.dcmread(p) for p in paths]
        for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets} | set(RESULT_SOP_CLASSES)):
            ae.add_requested_context(sop_class)
        assoc = self._associate(ae)
        try:
            for path, ds in zip(paths, datasets, strict=True):
                status = assoc.send_c_store(ds)
                code = getattr(status, "Status", None)
                if code is None or code not in (SUCCESS, 0xB000, 0xB007, 0xB006):
                    text = "no answer" if code is None else f"status 0x{code:04X}"
                    raise PacsError(f"{self.describe()} did not store {path.name} ({text})")
        finally:
            assoc.release()
