"""Why the detector fired: saliency maps for tqgd and ultralytics detectors (the TQGDNet paper's Fig. 9).

- ``cam``: Grad-CAM++ / Grad-CAM / EigenCAM per detection with the ``grad-cam`` package (the mechanism is explained
  there: output wrapper, anchor bookkeeping through NMS, class-score target, letterbox inversion);
- ``scan``: maps for exactly what ``tqgd detect`` reports on a scan, or for a dataset image;
- ``measures``: energy share inside a box, rank correlation of two maps;
- ``randomise``, ``sanity``: the model-parameter randomisation check of Adebayo et al. (2018);
- ``render``: map overlays in the model's own window and the Fig. 9 panel;
- ``run``: the ``tqgd explain`` / ``tqgd detect --explain`` drivers (files written per scan).

This room imports from ``tqgd.engine`` and ``tqgd.data`` only; nothing below imports it.
"""
