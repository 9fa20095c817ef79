"""COCO detection JSON (the layout pycocotools reads): images, box annotations and categories.

Category ids are class ids + 1 (COCO reserves 0). ``bbox`` is ``[x, y, w, h]`` in pixel edges and ``area`` is
``w * h``, the same area pycocotools gives detections, so small/medium/large ranges treat both alike. Each
annotation also carries ``slice_index`` and ``lesion_id`` so results can be grouped by lesion.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqgd.data.boxes import Box
from tqgd.io import write_json


@dataclass
class CocoDataset:
    """Collects images and their boxes; ``subset`` then gives the JSON dict for any selection of image ids."""

    names: Mapping[int, str]
    description: str = "tqgd dataset"
    images: dict[int, dict[str, Any]] = field(default_factory=dict)
    annotations: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    _next_annotation_id: int = 1

    def add_image(self, image_id: int, file_name: str, width: int, height: int, boxes: Iterable[Box],
                  **extra: Any) -> None:
        """Record one image (``file_name`` relative to the dataset root) and its boxes."""
        if image_id in self.images:
            raise ValueError(f"COCO image id {image_id} used twice")
        self.images[image_id] = {"id": image_id, "file_name": file_name, "width": width, "height": height, **extra}
        entries = []
        for box in boxes:
            entries.append({"id": self._next_annotation_id, "image_id": image_id, "category_id": box.class_id + 1,
                            "bbox": [float(box.x0), float(box.y0), float(box.width), float(box.height)],
                            "area": float(box.width * box.height), "iscrowd": 0,
                            "slice_index": box.slice_index, "lesion_id": box.lesion_id})
            self._next_annotation_id += 1
        self.annotations[image_id] = entries

    def categories(self) -> list[dict[str, Any]]:
        """COCO categories, id = class id + 1."""
        return [{"id": cid + 1, "name": name, "supercategory": "calcium"} for cid, name in sorted(self.names.items())]

    def subset(self, image_ids: Iterable[int] | None = None) -> dict[str, Any]:
        """The COCO dict for ``image_ids`` (all images when None), images in the given order."""
        ids = list(self.images) if image_ids is None else list(image_ids)
        return {"info": {"description": self.description, "version": "1.0"}, "licenses": [],
                "images": [self.images[i] for i in ids],
                "annotations": [a for i in ids for a in self.annotations[i]],
                "categories": self.categories()}


def write_coco(path: str | Path, coco: dict[str, Any]) -> Path:
    """Write a COCO dict atomically."""
    return write_json(path, coco)
