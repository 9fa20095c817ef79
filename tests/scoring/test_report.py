"""Terminal summary, one-page PNG report and evaluation figures."""

from __future__ import annotations

import cv2
import numpy as np

from tests.scoring.builders import four_label_case, make_volume, three_lesion_case
from tqgd.scoring import ScoringOptions, score_mask, summary_text
from tqgd.scoring.plots import write_bland_altman_png, write_confusion_png
from tqgd.scoring.report import ARTERY_COLOURS, largest_lesions, write_report_png


def _png_shape(path):
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, f"{path} is not a readable PNG"
    return image.shape


def test_report_png_is_one_page_with_thumbnails(tmp_path):
    volume, labels = three_lesion_case()
    report = score_mask(volume, labels, ScoringOptions(mass_calibration_mg_per_cm3_hu=0.8))
    path = write_report_png(report, volume, tmp_path / "report.png")
    assert _png_shape(path) == (850, 1100, 3)
    # A (LAD): 2 slices x 4 mm^2 x weight 3 = 24; C (RCA): 4 mm^2 x 4 + 4 mm^2 x 2 = 24; B (LCX): 2.25 x 4 = 9
    assert [(lesion.artery, lesion.agatston) for lesion in largest_lesions(report)] == [("LAD", 24.0), ("RCA", 24.0),
                                                                                        ("LCX", 9.0)]
    assert not list(tmp_path.glob(".report.png*"))  # no temporary file left behind


def test_report_png_has_an_undetermined_bar_for_label_4(tmp_path):
    volume, labels = four_label_case()
    report = score_mask(volume, labels)
    assert _png_shape(write_report_png(report, volume, tmp_path / "report.png")) == (850, 1100, 3)
    assert set(report.per_artery()) <= set(ARTERY_COLOURS)
    image = cv2.imread(str(tmp_path / "report.png"), cv2.IMREAD_COLOR)
    purple_bgr = tuple(int(ARTERY_COLOURS["undetermined"][i:i + 2], 16) for i in (5, 3, 1))
    assert (np.abs(image.astype(int) - purple_bgr).sum(axis=2) < 30).sum() > 200  # its bar (and E's outline) drawn


def test_report_png_without_calcium_or_artery_labels(tmp_path):
    volume = make_volume((3, 16, 16))
    report = score_mask(volume, np.zeros(volume.shape, np.uint8))
    assert _png_shape(write_report_png(report, volume, tmp_path / "empty.png")) == (850, 1100, 3)
    text = summary_text(report)
    assert "Total" in text and "0 (no calcium)" in text


def test_evaluation_figures(tmp_path):
    reference = [0.0, 12.0, 150.0, 480.0, 35.0]
    predicted = [0.0, 10.0, 170.0, 455.0, 35.0]
    ba = write_bland_altman_png(reference, predicted, tmp_path / "ba.png", labels=list("ABCDE"))
    assert _png_shape(ba) == (500, 700, 3)
    matrix = np.array([[1, 0, 0], [0, 2, 1], [0, 0, 1]])
    cm = write_confusion_png(matrix, ["0", "1-99", ">=100"], tmp_path / "cm.png", kappa=0.71)
    assert _png_shape(cm)[2] == 3


def test_bland_altman_names_only_the_largest_disagreements():
    from tqgd.scoring.plots import outliers

    diff = np.array([0.0, -50.0, 3.0, 0.0, 20.0])
    assert outliers(diff, 2) == [1, 4]
    assert outliers(diff, 5) == [1, 4, 2]  # exact agreements stay unnamed


def test_thumbnail_outlines_exactly_the_lesion_rim_in_its_artery_colour():
    from scipy import ndimage

    from tqgd.scoring.report import _outline, _rgb, thumbnail

    rng = np.random.default_rng(3)
    mask = ndimage.binary_opening(rng.random((40, 50)) > 0.4)
    for width in (1, 2, 3):
        expected = mask & ~ndimage.binary_erosion(mask, iterations=width, border_value=0)
        assert np.array_equal(_outline(mask, width), expected)
    volume, labels = three_lesion_case()
    report = score_mask(volume, labels)
    lesion = largest_lesions(report)[0]
    picture = thumbnail(volume, report, lesion, 227)
    assert picture.dtype == np.uint8 and max(picture.shape[:2]) <= 227 and picture.shape[2] == 3
    coloured = (picture == _rgb(ARTERY_COLOURS[lesion.artery])).all(axis=2)
    grey = (picture[..., 0] == picture[..., 1]) & (picture[..., 1] == picture[..., 2])
    assert coloured.any() and (coloured | grey).all()  # the outline, and nothing else in colour
