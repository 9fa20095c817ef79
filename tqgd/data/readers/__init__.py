"""CT readers behind one call: ``read_ct(path)`` returns a ``CTVolume`` in HU whatever the format.

Format is chosen from the path: a ``.dcm`` file or a folder of DICOM files, MetaImage ``.mhd``
(with ``.raw``/``.zraw``), NIfTI ``.nii``/``.nii.gz``, or a 2D ``.png``/``.jpg`` slice (no HU).
Each reader module registers its suffixes with ``@reader``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tqgd.data.volume import CTVolume
from tqgd.errors import ConfigError, ScanReadError

ReaderFn = Callable[..., CTVolume]

_READERS: dict[str, ReaderFn] = {}


def reader(*suffixes: str) -> Callable[[ReaderFn], ReaderFn]:
    """Register ``fn`` as the reader for file names ending in any of ``suffixes`` (lower case, with dot)."""

    def register(fn: ReaderFn) -> ReaderFn:
        for suffix in suffixes:
            if suffix in _READERS:
                raise ValueError(f"a reader for {suffix!r} is already registered: {_READERS[suffix].__module__}")
            _READERS[suffix] = fn
        return fn

    return register


def refuse_dicom_options(path: Path, options: dict[str, object]) -> None:
    """Non-DICOM readers take no options: a set ``series_uid`` (or any other) would be silently ignored."""
    given = sorted(name for name, value in options.items() if value is not None)
    if given:
        raise ConfigError(f"option(s) {', '.join(given)} apply to DICOM folders only, and this is a "
                          f"{path.suffix or 'non-DICOM'} file; leave them out", path)


def supported_suffixes() -> list[str]:
    """File endings ``read_ct`` understands (folders are read as DICOM series)."""
    _load_readers()
    return sorted(_READERS)


def _load_readers() -> None:
    from tqgd.data.readers import dicom, image2d, sitk_image  # noqa: F401  (importing registers suffixes)


def _suffix_of(path: Path) -> str:
    name = path.name.lower()
    for suffix in sorted(_READERS, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    return path.suffix.lower()


def looks_like_dicom(path: Path) -> bool:
    """True when ``path`` has the DICOM Part 10 preamble ("DICM" at byte 128), whatever its name."""
    try:
        with open(path, "rb") as fh:
            fh.seek(128)
            return fh.read(4) == b"DICM"
    except OSError:
        return False


def read_ct(path: str | Path, **options) -> CTVolume:
    """Read a CT scan from ``path``: a file, or a folder holding a DICOM series; options go to the reader.

    Folders and extension-less files with a DICOM preamble go to the DICOM reader (hospital exports often
    have no ``.dcm`` suffix). ``series_uid=`` picks one series from a folder that holds several.

    Raises:
        ScanReadError: the path does not exist, has an unknown format, or the reader rejects it.
    """
    path = Path(path)
    if not path.exists():
        raise ScanReadError("no such file or folder", path)
    from tqgd.data.readers.dicom import read_dicom

    if path.is_dir():  # a DICOM series: the other readers (SimpleITK, OpenCV) are not imported
        return read_dicom(path, **options)
    _load_readers()
    fn = _READERS.get(_suffix_of(path))
    if fn is None and looks_like_dicom(path):
        fn = read_dicom
    if fn is None:
        raise ScanReadError(
            f"unknown scan format {path.suffix or '(no extension)'!r}; expected one of "
            f"{', '.join(supported_suffixes())}, a DICOM file or a folder holding a DICOM series", path)
    return fn(path, **options)
