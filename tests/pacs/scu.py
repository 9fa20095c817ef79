"""A plain pynetdicom C-STORE SCU for the listener tests (what a scanner or PACS does when it sends a series)."""

from __future__ import annotations

from pathlib import Path

import pydicom
from pydicom.dataset import Dataset


def send(port: int, items: list[Path | Dataset], aet: str = "TQGD", calling: str = "SCANNER") -> list[int | None]:
    """C-STORE each file or dataset to 127.0.0.1:``port``; the status of each (None: no answer)."""
    from pynetdicom import AE

    datasets = [pydicom.dcmread(i) if isinstance(i, Path) else i for i in items]
    ae = AE(ae_title=calling)
    for sop_class in sorted({str(ds.SOPClassUID) for ds in datasets}):
        ae.add_requested_context(sop_class)
    assoc = ae.associate("127.0.0.1", port, ae_title=aet)
    assert assoc.is_established, f"no association with the listener on port {port}"
    try:
        return [getattr(assoc.send_c_store(ds), "Status", None) for ds in datasets]
    finally:
        assoc.release()
