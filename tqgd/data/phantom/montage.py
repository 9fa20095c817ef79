"""A PNG montage of a phantom patient: a few slices in a soft-tissue window, lesions outlined per artery
(LAD red, LCX green, RCA blue), non-coronary calcium and metal objects circled in orange, and the heart box in
yellow."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from tqgd.data.phantom.generate import PhantomCase

WINDOW_LEVEL_HU, WINDOW_WIDTH_HU = 40.0, 400.0
#: BGR outline colour per OrCaScore label value.
ARTERY_COLOURS = {1: (40, 40, 230), 2: (40, 200, 40), 3: (230, 120, 30)}
HEART_BOX_COLOUR = (0, 220, 255)
DISTRACTOR_COLOUR = (0, 140, 255)
#: Distractor kinds not circled: bone, and the realistic truth's catch-all entries (noise, streaks, lesion fragments),
#: which would cover a noisy slice in circles.
UNCIRCLED_KINDS = ("bone", "noise", "streak", "lesion_fragment")


#: Chosen slices keep at least this many slices apart, so the montage shows different lesions and levels.
MIN_SLICE_GAP = 3


def pick_slices(case: PhantomCase, count: int = 4) -> list[int]:
    """Slices with the most lesion pixels (MIN_SLICE_GAP apart), topped up with evenly spread heart slices."""
    areas = (case.labels > 0).sum(axis=(1, 2))
    chosen: list[int] = []
    for k in np.argsort(-areas, kind="stable"):
        if areas[k] == 0 or len(chosen) == count:
            break
        if all(abs(int(k) - c) >= MIN_SLICE_GAP for c in chosen):
            chosen.append(int(k))
    heart = [k for k, box in enumerate(case.heart_boxes) if box is not None] or list(range(case.labels.shape[0]))
    for k in np.linspace(heart[0], heart[-1], count + 2)[1:-1].round().astype(int):
        if len(chosen) < count and int(k) not in chosen:
            chosen.append(int(k))
    return sorted(chosen)


def render_slice(case: PhantomCase, index: int) -> np.ndarray:
    """One annotated slice as a BGR uint8 image (Y, X, 3)."""
    low = WINDOW_LEVEL_HU - WINDOW_WIDTH_HU / 2
    grey = np.clip((case.volume.hu[index] - low) / WINDOW_WIDTH_HU * 255.0, 0, 255).astype(np.uint8)
    image = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR)
    box = case.heart_boxes[index]
    if box is not None:
        cv2.rectangle(image, (box[0], box[1]), (box[2] - 1, box[3] - 1), HEART_BOX_COLOUR, 1)
    spots = np.isin(case.distractor_ids[index], [i + 1 for i, d in enumerate(case.distractors)
                                                 if d.kind not in UNCIRCLED_KINDS])
    contours, _ = cv2.findContours(spots.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    for contour in contours:
        (x, y), radius = cv2.minEnclosingCircle(contour)
        cv2.circle(image, (int(round(x)), int(round(y))), int(radius) + 4, DISTRACTOR_COLOUR, 1)
    for value, colour in ARTERY_COLOURS.items():
        mask = (case.labels[index] == value).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(image, contours, -1, colour, 1)
    z_mm = case.volume.index_to_patient(np.array([index, 0.0, 0.0]))[2]
    text = f"{case.case_id} slice {index} z={z_mm:.1f} mm"
    scale = image.shape[0] / 1024
    cv2.putText(image, text, (6, int(24 * scale) + 4), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                cv2.LINE_AA)
    return image


def render_montage(case: PhantomCase, count: int = 4) -> np.ndarray:
    """Up to ``count`` annotated slices in a two-column grid (BGR uint8)."""
    tiles = [render_slice(case, k) for k in pick_slices(case, count)]
    if len(tiles) % 2:
        tiles.append(np.zeros_like(tiles[0]))
    rows = [np.hstack(tiles[i:i + 2]) for i in range(0, len(tiles), 2)]
    return np.vstack(rows)


def save_montage(case: PhantomCase, path: str | Path, count: int = 4) -> Path:
    """Write the montage PNG atomically."""
    from tqgd.errors import OutputError
    from tqgd.io import write_bytes

    ok, data = cv2.imencode(".png", render_montage(case, count))
    if not ok:
        raise OutputError("OpenCV could not encode the montage as PNG", path)
    return write_bytes(path, data.tobytes())
