"""Write SEG, SR and secondary capture for one scored DICOM series into ``OUT/dicom/`` (atomically)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset

from tqgd.dicom_out.identity import AlgorithmIdentity, source_key
from tqgd.dicom_out.sc import build_sc
from tqgd.dicom_out.seg import build_seg
from tqgd.dicom_out.source import source_datasets
from tqgd.dicom_out.sr import build_sr
from tqgd.errors import DicomOutputError
from tqgd.io import atomic_path

#: Sub-folder of a scan's output folder that holds the DICOM results.
DICOM_DIR = "dicom"
FILE_NAMES = {"seg": "seg.dcm", "sr": "sr.dcm", "sc": "sc.dcm"}


@dataclass
class DicomResults:
    """Where the three objects went and their SOP Instance UIDs."""

    seg: Path
    sr: Path
    sc: Path | None
    uids: dict[str, str]

    def paths(self) -> list[Path]:
        """The written files."""
        return [p for p in (self.seg, self.sr, self.sc) if p is not None]


def _save(ds: Dataset, target: Path) -> Path:
    with atomic_path(target) as tmp:
        ds.save_as(tmp, enforce_file_format=True)
    return target


def write_dicom_results(report, source: str | Path, out: str | Path, algorithm: AlgorithmIdentity, *,
                        report_png: str | Path | None, automatic: bool) -> DicomResults:
    """Write ``out/dicom/{seg,sr,sc}.dcm`` for ``report`` (a ``ScoreReport`` of a DICOM series at ``source``).

    ``automatic``: the calcium voxels came from tqgd's detector (SEG algorithm type AUTOMATIC); else from a given
    mask scored by tqgd (SEMIAUTOMATIC). Without ``report_png`` no secondary capture is written.

    Raises:
        DicomOutputError: the scan is not DICOM, or the series at ``source`` is not the scan that was scored.
    """
    if report.scan.get("format") != "dicom":
        raise DicomOutputError(f"--dicom needs a DICOM input (the scan is {report.scan.get('format')}): DICOM "
                               "results must reference the source instances", source)
    if report.lesion_map is None:
        raise DicomOutputError("this score report no longer holds its voxel lesion map (a run over a folder of "
                               "scans releases it after each scan); write DICOM results while the scan is processed, "
                               "e.g. in run_detect's on_scan", source)
    sources = source_datasets(source, report.scan.get("series_uid"), int(report.lesion_map.shape[0]))
    folder = Path(out) / DICOM_DIR
    seg = build_seg(report, sources, algorithm, automatic=automatic)
    sr = build_sr(report, seg, sources, algorithm)
    paths = {"seg": _save(seg, folder / FILE_NAMES["seg"]), "sr": _save(sr, folder / FILE_NAMES["sr"])}
    uids = {"seg": str(seg.SOPInstanceUID), "sr": str(sr.SOPInstanceUID)}
    if report_png is not None:
        sc = build_sc(report_png, sources[0], algorithm, source_key(sources))
        paths["sc"] = _save(sc, folder / FILE_NAMES["sc"])
        uids["sc"] = str(sc.SOPInstanceUID)
    return DicomResults(seg=paths["seg"], sr=paths["sr"], sc=paths.get("sc"), uids=uids)
