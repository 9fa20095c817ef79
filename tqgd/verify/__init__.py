"""Lesion verification: a second stage that checks each detected deposit in 3D before it is scored.

The slice detector sees three slices; a stent, the aortic wall or a rib can look like calcium there. The verifier
looks at the whole >= 130 HU component under a box (``tqgd.data.lesion_patches``) with a small 3D CNN
(``tqgd.nn.verifier``) and ``tqgd detect`` drops the boxes of components it rejects. ``dataset`` labels components
from reference masks, ``train`` fits and exports the network (ONNX), ``runtime`` runs it (ONNX Runtime, no torch).
"""
