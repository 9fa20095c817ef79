"""Segmentation-paper baselines scored as detectors: masks -> boxes -> the same P/R/F1/mAP code as TQGDNet.

``mask_eval`` turns predicted masks or probability maps (and detector predictions) into boxes and scores them with
``tqgd.engine.coco_eval.evaluate_boxes``; ``instance_metrics`` adds the segmentation papers' own metrics (instance
F1/sensitivity/precision, Dice, surface Dice, IoM). Baselines: ``threshold`` (130 HU + connected components in the
heart ROI) and ``unet`` (smp U-Net with an EfficientNet-B0 encoder). ``preprocess`` (histogram matching, lung
removal) and ``postprocess`` (geometric prior) are options usable with any model. ``tqgd baseline --help`` runs them.
"""
