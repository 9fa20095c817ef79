"""``manifest.csv``: one row per dataset image, mapping it back to the scan and slice it came from.

Columns: ``image``, ``label``, ``voc`` (paths relative to OUT; empty when that format was not written),
``patient``, ``slice_index`` (z index in the source volume; 0 for 2D images), ``crop_x0``, ``crop_y0``
(where the image's top-left pixel sits in the source slice; 0 when not cropped), ``width``, ``height``,
``n_boxes``, ``coco_image_id`` (the image's id in every COCO file of the dataset), ``val_fold`` (the fold
that validates on this patient; empty without folds), ``source`` and ``mask`` (input files, relative to
the input folder).
"""

from __future__ import annotations

import csv
import io
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from tqgd.errors import DatasetError
from tqgd.io import write_text

MANIFEST_NAME = "manifest.csv"


@dataclass
class ManifestRow:
    """One dataset image and where it came from (see the module docstring for the columns)."""

    image: str
    label: str
    voc: str
    patient: str
    slice_index: int
    crop_x0: int
    crop_y0: int
    width: int
    height: int
    n_boxes: int
    coco_image_id: int
    val_fold: int | None
    source: str
    mask: str


COLUMNS = tuple(f.name for f in fields(ManifestRow))
_INT_COLUMNS = ("slice_index", "crop_x0", "crop_y0", "width", "height", "n_boxes", "coco_image_id")


def write_manifest(path: str | Path, rows: list[ManifestRow]) -> Path:
    """Write the rows as CSV (header first, ``\\n`` line ends) atomically."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        record = asdict(row)
        record["val_fold"] = "" if row.val_fold is None else row.val_fold
        writer.writerow(record)
    return write_text(path, buffer.getvalue())


def read_manifest(path: str | Path) -> list[ManifestRow]:
    """Read a manifest written by ``write_manifest``; errors name the file and the row."""
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            reader = csv.DictReader(fh)
            missing = set(COLUMNS) - set(reader.fieldnames or [])
            if missing:
                raise DatasetError(f"manifest lacks columns {sorted(missing)}; re-run the conversion", path)
            rows = []
            for number, record in enumerate(reader, start=2):
                if None in record or None in record.values():  # csv fills a short row with None, keeps extras under None
                    raise DatasetError(f"line {number} does not hold one cell per column ({len(reader.fieldnames or [])}"
                                       "); the row is cut short or has extra cells. Re-run the conversion", path)
                try:
                    values = {name: record[name] for name in COLUMNS}
                    for name in _INT_COLUMNS:
                        values[name] = int(values[name])
                    values["val_fold"] = int(values["val_fold"]) if values["val_fold"] != "" else None
                except ValueError as exc:
                    raise DatasetError(f"line {number}: {exc}; expected whole numbers in {_INT_COLUMNS}", path) from exc
                rows.append(ManifestRow(**values))
    except OSError as exc:
        raise DatasetError(f"cannot read manifest ({exc.strerror})", path) from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"not a readable CSV manifest ({exc}); re-run the conversion", path) from exc
    return rows
