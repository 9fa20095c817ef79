"""Box annotation file formats: YOLO text labels, COCO JSON and Pascal VOC XML (write and validated read)."""
