"""Enhanced CT (multi-frame) files: one ``SliceHeader`` per frame from the functional group sequences.

Each frame's position, orientation, pixel spacing and rescale live in PerFrameFunctionalGroupsSequence[i] or,
when the same for all frames, in SharedFunctionalGroupsSequence[0]; the per-frame value wins. kVp sits in the
CT X-Ray Details group. A multi-frame file without functional groups (legacy) has no per-frame position, so it
cannot be placed in space and is refused.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset

from tqgd.data.readers.dicom_slices import (
    SliceHeader,
    frame_count,
    image_size,
    numbers,
    optional_number,
    pixel_spacing,
    rescale,
)
from tqgd.errors import ScanReadError, UnsupportedFormatError


def _group(frame_item: Dataset | None, shared: Dataset | None, sequence: str) -> Dataset | None:
    """First item of functional group ``sequence`` for one frame: the per-frame one, else the shared one."""
    for item in (frame_item, shared):
        if item is not None and sequence in item and len(item[sequence].value) > 0:
            return item[sequence].value[0]
    return None


def _required_group(frame_item: Dataset | None, shared: Dataset | None, sequence: str, path: Path,
                    frame: int) -> Dataset:
    group = _group(frame_item, shared, sequence)
    if group is None:
        raise ScanReadError(f"frame {frame + 1} has no {sequence} in its per-frame or shared functional groups; "
                            "an Enhanced CT file needs it to place the frame", path)
    return group


def enhanced_slice_headers(ds: Dataset, path: Path) -> list[SliceHeader]:
    """One header per frame of an Enhanced CT (functional-group) file, in file order."""
    rows, columns = image_size(ds, path)
    n_frames = frame_count(ds, path)
    per_frame = list(ds.get("PerFrameFunctionalGroupsSequence", []))
    shared_seq = ds.get("SharedFunctionalGroupsSequence")
    shared = shared_seq[0] if shared_seq else None
    if not per_frame and shared is None:
        raise UnsupportedFormatError(f"multi-frame file ({n_frames} frames) without functional group sequences: "
                                     "frame positions are unknown. Convert it to one file per slice (e.g. with "
                                     "dcmtk or GDCM) and read the folder", path)
    if per_frame and len(per_frame) != n_frames:
        raise ScanReadError(f"NumberOfFrames is {n_frames} but PerFrameFunctionalGroupsSequence has {len(per_frame)} "
                            "items; the file is inconsistent", path)
    file_kvp = optional_number(ds, "KVP", path)
    headers = []
    for frame in range(n_frames):
        item = per_frame[frame] if per_frame else None
        plane = _required_group(item, shared, "PlanePositionSequence", path, frame)
        orient = _required_group(item, shared, "PlaneOrientationSequence", path, frame)
        measures = _required_group(item, shared, "PixelMeasuresSequence", path, frame)
        transform = _group(item, shared, "PixelValueTransformationSequence") or ds
        xray = _group(item, shared, "CTXRayDetailsSequence")
        position = numbers(plane, "ImagePositionPatient", path, 3)
        orientation = numbers(orient, "ImageOrientationPatient", path, 6)
        slope, intercept, kind = rescale(transform, path)
        kvp = optional_number(xray, "KVP", path) if xray is not None else None
        headers.append(SliceHeader(
            path=path, frame=frame, rows=rows, columns=columns,
            position_mm=np.array(position) if position else None,
            orientation=np.array(orientation) if orientation else None,
            pixel_spacing_mm=pixel_spacing(measures, path), slope=slope, intercept=intercept,
            thickness_mm=optional_number(measures, "SliceThickness", path),
            kvp=kvp if kvp is not None else file_kvp, rescale_type=kind, frames_in_file=n_frames))
    return headers
