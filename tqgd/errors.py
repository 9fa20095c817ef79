"""Every error tqgd raises on purpose: one base class, named by what went wrong.

Messages say which file, what was expected, what was found and what to do. The CLI turns any
``TQGDError`` into a one-line message on stderr and a non-zero exit code, without a traceback.
"""

from __future__ import annotations

from pathlib import Path


class TQGDError(Exception):
    """Base class; ``path`` (when given) is prefixed to the message so every error names its file."""

    exit_code = 1

    def __init__(self, message: str, path: str | Path | None = None):
        self.path = Path(path) if path is not None else None
        self.detail = message
        super().__init__(f"{self.path}: {message}" if self.path is not None else message)


class ScanReadError(TQGDError):
    """A scan file or folder cannot be read as CT: not DICOM, truncated, missing tags, wrong modality."""


class SeriesError(ScanReadError):
    """A DICOM folder is not one consistent series: several series, mixed sizes/orientations, duplicate slices."""


class HeartNotFoundError(ScanReadError):
    """The heart detector found the heart on too few slices of a scan to crop it safely."""


class UnsupportedFormatError(ScanReadError):
    """A recognised file whose encoding tqgd cannot decode (unknown compression, unsupported layout)."""


class LabelError(TQGDError):
    """A label, mask or annotation file is malformed or does not match its image."""


class DatasetError(TQGDError):
    """A dataset YAML or dataset folder is missing keys, files or splits."""


class CheckpointError(TQGDError):
    """A weights file is missing, corrupt, or refused by restricted (safe) loading."""


class OutputError(TQGDError):
    """An output location cannot be written (read-only, full, or would overwrite an input)."""


class ConfigError(TQGDError):
    """An option or config value is invalid (unknown model name, bad window, unknown scoring convention)."""


class DicomOutputError(TQGDError):
    """DICOM results (SEG, SR, secondary capture) cannot be made for this input: not a single-frame DICOM CT series,
    or the series does not match the scan that was scored."""


class PacsError(TQGDError):
    """A PACS (DICOMweb or DIMSE) refused a query, retrieve or store, or could not be reached; names the server."""


class CohortError(TQGDError):
    """A cohort run cannot start or go on: a malformed manifest, an output folder a worker cannot see, Ray not
    reachable at the given address."""
