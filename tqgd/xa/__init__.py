"""2D coronary angiography (X-ray angiography, XA): paper 004 (De Rose et al. 2025) in tqgd.

The room holds, from the bottom up:

- ``reader``: XA / XRF multi-frame DICOM to frames (N, H, W), frame time and isocentre pixel spacing;
- ``phantom_*``: a synthetic 2D angiography generator (a 3D coronary tree projected by a C-arm, cardiac motion,
  contrast filling, faint calcium, spine/ribs/diaphragm, quantum noise) with per-frame ground truth, and
  ``writer`` to store a sequence as an X-Ray Angiographic Image Storage object;
- ``sync``: the paper's ECG-like signal (distance of every frame to the first), FFT for the heartbeat period, and
  the pairing of each non-contrast frame with the contrast frame in the same cardiac phase;
- ``dataset``: YOLO datasets from the paired frames (non-contrast, contrast, difference as the three channels);
- ``roi``, ``roi_metrics``: the paper's ROI targets (calcium dilated 4 x 5 px) and post-processing; IoM, Hausdorff
  distance in mm and patch precision/recall/F1;
- ``baseline_*``: the paper's double-head ResNet-18 + U-Net decoder (ResUNet-18), its data, training and one fold;
- ``table2``: every method (baseline ROIs, detector boxes) scored the same way, laid out as the paper's Table 2.

Nothing here imports the CT rooms except the shared mask-to-box tools (``tqgd.data.boxes``), the YOLO label
format, the folds, the IoM of ``tqgd.baselines.instance_metrics``, the pycocotools scoring of
``tqgd.engine.coco_eval`` and ``tqgd.io`` / ``tqgd.errors``.
"""
