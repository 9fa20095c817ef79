"""Converters from segmentation labels to detection datasets: OrCaScore folders (``orcascore.py``) and generic
image + mask pairs (``masks.py``), sharing one writer, manifest and output-folder policy."""
