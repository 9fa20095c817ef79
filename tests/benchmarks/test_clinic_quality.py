"""benchmarks/clinic_quality.py: per-lesion numbers checked against an independent count, the clinic metrics against
hand-computed values, and a resumable smoke run that writes a table with every requested row."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest


def patient(ref: int, detected: int, predicted: int, true_positive: int, agatston_ref: float = 0.0,
            agatston_pred: float = 0.0) -> dict:
    """A result.json patient entry with only the fields the tables read."""
    return {"agatston_reference": agatston_ref, "agatston_predicted": agatston_pred,
            "lesions": {"reference_lesions": ref, "detected_reference_lesions": detected,
                        "predicted_lesions": predicted, "true_positive_lesions": true_positive}}


def test_lesion_counts_are_pooled_over_patients_before_the_ratios() -> None:
    from clinic_tables import lesion_metrics

    found = lesion_metrics([patient(4, 3, 5, 2), patient(1, 1, 1, 1)])
    assert found["sensitivity"] == pytest.approx(4 / 5) and found["ppv"] == pytest.approx(3 / 6)
    assert found["f1"] == pytest.approx(2 * 0.8 * 0.5 / 1.3)
    nothing = lesion_metrics([patient(3, 0, 0, 0)])
    assert nothing["sensitivity"] == 0.0 and nothing["ppv"] is None and nothing["f1"] == 0.0


def test_cells_show_mean_and_sample_sd_of_the_runs_that_define_a_value() -> None:
    from clinic_tables import cell

    assert cell([0.2, 0.4, 0.6]) == "0.400 ± 0.200" and cell([-1e-12]) == "0.000"
    assert cell([0.5, None]) == "0.500 (1 of 2)" and cell([None]) == "—"


def test_agatston_icc_and_risk_kappa_match_hand_computed_values() -> None:
    from clinic_tables import agreement_metrics

    # ICC(A,1) of [[1, 2], [3, 4]]: MSR 4, MSC 1, MSE 0 -> 4 / (4 + 0 + 2 * 1 / 2) = 0.8.
    assert agreement_metrics([patient(0, 0, 0, 0, 1, 2), patient(0, 0, 0, 0, 3, 4)], "five-class")["icc"] == \
        pytest.approx(0.8)
    cohort = [patient(0, 0, 0, 0, 0, 0), patient(0, 0, 0, 0, 5, 12), patient(0, 0, 0, 0, 150, 150)]
    # four-class (0 / 1-99 / 100-399 / >=400): both raters 0, 1-99, 100-399 -> perfect agreement.
    assert agreement_metrics(cohort, "four-class")["kappa"] == pytest.approx(1.0)
    # five-class (0 / 1-10 / 11-100 / 101-400 / >400): reference 0, 1, 3 against 0, 2, 3; linear weights: observed
    # disagreement 1 / 3, expected (5 + 4 + 4) / 9 -> kappa 1 - 3 / 13.
    five = agreement_metrics(cohort, "five-class")
    assert five["kappa"] == pytest.approx(10 / 13) and five["same_category"] == pytest.approx(2 / 3)


@pytest.fixture(scope="module")
def tiny_set(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, dict]:
    """A non-gated tiny phantom: converted training set (for its input record) and two held-out test patients."""
    import clinic_quality

    work = tmp_path_factory.mktemp("clinic")
    # 512 px slices: pixels under 0.5 mm^2, so the 1 mm^2 minimum area drops pieces here
    schedule = replace(clinic_quality.SCHEDULES["smoke"], crop_size=None, image_size=512, train_patients=2)
    dataset, test_root = clinic_quality.make_data(work, "non-gated", schedule)
    return work, dataset, test_root, asdict(schedule)


def independent_lesion_counts(test_root: Path, margin_mm: float = 10.0, min_area_mm2: float = 1.0) -> dict[str, int]:
    """Reference lesions (labels and >= 130 HU, 3D 6-connected) against the calcium of the threshold's boxes (voxels
    > 130 HU inside the phantom's heart box + margin, 4-connected pieces of at least ``min_area_mm2`` per slice, each
    read through the box rule), 3D 6-connected; counted with SimpleITK and scipy only."""
    import SimpleITK as sitk
    from scipy import ndimage

    six = ndimage.generate_binary_structure(3, 1)
    totals = dict.fromkeys(("reference", "detected", "predicted", "true_positive"), 0)
    for image in sorted((test_root / "Images").glob("*CTI.mhd")):
        case = image.name.removesuffix("CTI.mhd")
        itk = sitk.ReadImage(str(image))
        hu = sitk.GetArrayFromImage(itk).astype(np.float32)
        labels = sitk.GetArrayFromImage(sitk.ReadImage(str(test_root / "Reference standard" / f"{case}R.mhd")))
        boxes = np.array([b for b in json.loads((test_root / "phantom" / f"{case}.json").read_text())
                          ["heart_boxes_xyxy"] if b], dtype=float)
        sx, sy, _ = itk.GetSpacing()
        x0, y0 = max(math.floor(boxes[:, 0].min() - margin_mm / sx), 0), max(math.floor(boxes[:, 1].min() -
                                                                                       margin_mm / sy), 0)
        x1 = min(math.ceil(boxes[:, 2].max() + margin_mm / sx), hu.shape[2])
        y1 = min(math.ceil(boxes[:, 3].max() + margin_mm / sy), hu.shape[1])
        reference, n_ref = ndimage.label((labels > 0) & (hu >= 130), structure=six)
        thresholded = np.zeros(hu.shape, dtype=bool)
        thresholded[:, y0:y1, x0:x1] = hu[:, y0:y1, x0:x1] > 130
        min_px = math.ceil(min_area_mm2 / (sx * sy) - 1e-6)
        for z in range(hu.shape[0]):
            pieces, _ = ndimage.label(thresholded[z])  # 4-connected
            thresholded[z] &= (np.bincount(pieces.ravel()) >= min_px)[pieces]
        # Each piece is scored as a box: the >= 130 HU pixels 8-connected to the brightest pixel of its bounding box.
        calcium = np.zeros(hu.shape, dtype=bool)
        for z in range(hu.shape[0]):
            for rows, cols in ndimage.find_objects(ndimage.label(thresholded[z])[0]):
                patch = hu[z, rows, cols]
                parts, _ = ndimage.label(patch >= 130, structure=np.ones((3, 3)))
                calcium[z, rows, cols] |= parts == parts.flat[int(np.argmax(patch))]
        thresholded = calcium
        predicted, n_pred = ndimage.label(thresholded, structure=six)
        totals["reference"] += n_ref
        totals["predicted"] += n_pred
        totals["detected"] += len(np.unique(reference[thresholded & (reference > 0)]))
        totals["true_positive"] += len(np.unique(predicted[(reference > 0) & (predicted > 0)]))
    return totals


def test_threshold_row_lesion_metrics_agree_with_an_independent_count(tiny_set) -> None:
    from clinic_rows import run_row
    from clinic_tables import lesion_metrics

    work, dataset, test_root, schedule = tiny_set
    record = run_row("threshold", None, str(dataset), str(test_root), str(work / "threshold"), schedule, None)
    expected = independent_lesion_counts(test_root)
    assert expected["reference"] > 0 and 0 < expected["true_positive"] < expected["predicted"], \
        "the tiny phantom must hold calcium and look-alikes for this check to mean anything"
    pooled = {key: sum(p["lesions"][field] for p in record["patients"])
              for key, field in (("reference", "reference_lesions"), ("detected", "detected_reference_lesions"),
                                 ("predicted", "predicted_lesions"), ("true_positive", "true_positive_lesions"))}
    assert pooled == expected
    metrics = lesion_metrics(record["patients"])
    assert metrics["sensitivity"] == pytest.approx(expected["detected"] / expected["reference"])
    assert metrics["ppv"] == pytest.approx(expected["true_positive"] / expected["predicted"])
    assert (work / "threshold" / "result.json").is_file()


@pytest.mark.parametrize("context", [1, 3])
def test_unet_inputs_equal_the_training_images_as_the_unet_read_them(tmp_path: Path, context: int) -> None:
    import clinic_quality
    from clinic_rows import dataset_spec, unet_inputs

    from tqgd.baselines.dataset import load_split
    from tqgd.baselines.unet_data import read_image
    from tqgd.data.model_input import slice_images
    from tqgd.data.readers import read_ct

    schedule = replace(clinic_quality.SCHEDULES["smoke"], context=context, train_patients=2, test_patients=1)
    dataset, _ = clinic_quality.make_data(tmp_path, "gated", schedule)
    spec = dataset_spec(dataset)
    split = load_split(dataset / "fold0.yaml", "train")
    for image in split.images[:4]:
        row = image.row
        volume = read_ct(split.source_of(image))
        box = (row.crop_x0, row.crop_y0, row.crop_x0 + image.width, row.crop_y0 + image.height)
        pixels = slice_images(volume.hu, [row.slice_index], box, spec)
        for channels in (1, 3):  # the U-Net's in_channels: 1 for a one-window dataset (2.5D PNGs read as grey)
            (ours,) = unet_inputs(pixels, channels)
            np.testing.assert_array_equal(ours, read_image(image.path, channels))


def test_a_work_folder_refuses_a_second_schedule(tmp_path: Path) -> None:
    import clinic_quality

    from tqgd.errors import ConfigError

    clinic_quality.check_schedule(tmp_path, clinic_quality.SCHEDULES["smoke"])
    clinic_quality.check_schedule(tmp_path, clinic_quality.SCHEDULES["smoke"])  # the same schedule: resumes
    longer = replace(clinic_quality.SCHEDULES["smoke"], train={**clinic_quality.SCHEDULES["smoke"].train, "epochs": 2})
    with pytest.raises(ConfigError, match="another schedule .*train"):
        clinic_quality.check_schedule(tmp_path, longer)
    with pytest.raises(ConfigError, match="another schedule .*window"):
        clinic_quality.check_schedule(tmp_path, replace(clinic_quality.SCHEDULES["smoke"], window="-200,1600"))
    with pytest.raises(ConfigError, match="another schedule .*context_step"):
        clinic_quality.check_schedule(tmp_path, replace(clinic_quality.SCHEDULES["smoke"], context_step=2))


def test_a_folder_from_before_a_schedule_key_existed_resumes_at_its_default(tmp_path: Path) -> None:
    import clinic_quality

    from tqgd.errors import ConfigError

    recorded = json.loads(json.dumps(asdict(clinic_quality.SCHEDULES["smoke"])))
    del recorded["context_step"], recorded["train_metal_share"]
    (tmp_path / "schedule.json").write_text(json.dumps(recorded))
    clinic_quality.check_schedule(tmp_path, clinic_quality.SCHEDULES["smoke"])
    with pytest.raises(ConfigError, match="another schedule .*train_metal_share"):
        clinic_quality.check_schedule(tmp_path, replace(clinic_quality.SCHEDULES["smoke"], train_metal_share=0.5))


def test_training_metal_share_and_context_step_reach_the_training_set_only(tmp_path: Path) -> None:
    import clinic_quality

    schedule = replace(clinic_quality.SCHEDULES["smoke"], context=3, context_step=2, train_metal_share=1.0,
                       train_patients=2, test_patients=1)
    dataset, test_root = clinic_quality.make_data(tmp_path, "gated", schedule)
    assert json.loads((dataset / "convert.json").read_text())["input"]["context_step"] == 2
    train_root = tmp_path / "phantom" / "gated" / "train"
    for root, share in ((train_root, 1.0), (test_root, clinic_quality.SCHEDULES["smoke"].train_metal_share)):
        for sidecar in sorted((root / "phantom").glob("TRV*.json")):
            metal = json.loads(sidecar.read_text())["realism"]["metal"]
            if share is None:
                assert metal["stent"]["probability"] < 0.5, "test patients keep the phantom's metal prevalence"
            else:
                assert {kind: entry["probability"] for kind, entry in metal.items()} == dict.fromkeys(metal, share)
    assert "slices z-2, z, z+2" in clinic_quality.schedule_line(schedule)
    assert "with probability 1" in clinic_quality.schedule_line(schedule)


@pytest.mark.slow
def test_unet_row_trains_on_the_three_slices_of_a_25d_dataset(tmp_path: Path) -> None:
    import clinic_quality
    import torch
    from clinic_rows import run_row

    schedule = replace(clinic_quality.SCHEDULES["smoke"], context=3, train_patients=2, test_patients=1)
    dataset, test_root = clinic_quality.make_data(tmp_path, "gated", schedule)
    record = run_row("unet", None, str(dataset), str(test_root), str(tmp_path / "unet"), asdict(schedule), 0)
    checkpoint = torch.load(record["trained"]["weights"], map_location="cpu", weights_only=True)
    assert checkpoint["in_channels"] == 3, "2.5D images are three slices, not one grey image"
    assert record["patients"] and (tmp_path / "unet" / "result.json").is_file()


@pytest.mark.slow
def test_smoke_run_writes_every_requested_row_and_resumes(tmp_path: Path) -> None:
    import clinic_quality

    doc = tmp_path / "BENCHMARKS.md"
    work = tmp_path / "work"
    rows = ["threshold", "unet", "yolov5b-panet", "yolo26n"]
    argv = ["--work", str(work), "--smoke", "--datasets", "gated", "--models", *rows, "--jobs", "1",
            "--risk-scheme", "four-class", "--update", str(doc)]
    block = clinic_quality.main(argv)
    runs = work / "runs" / "gated"
    for key in rows:
        label = clinic_quality.ROWS[key].label
        (line,) = [line for line in block.splitlines() if line.startswith(f"| {label} |")][:1]
        assert line.rstrip().endswith("| 1 |"), f"{key}: one finished run expected in {line}"
    assert "four-class risk categories" in block and "<!-- clinic_quality:begin -->" in doc.read_text()
    detections = json.loads(next((runs / "yolov5b-panet" / "seed0" / "detections").glob("*.json")).read_text())
    assert detections["model"]["physics_filter"] is not None and detections["model"]["input"]["crop_size"], \
        "detector rows go through tqgd detect's path with the preprocessing recorded in the weights"
    results = sorted(runs.glob("**/result.json"))
    assert len(results) == len(rows)
    stamps = [p.stat().st_mtime_ns for p in results]
    trained = runs / "yolov5b-panet" / "seed0" / "trained.json"
    trained_stamp = trained.stat().st_mtime_ns
    (runs / "yolov5b-panet" / "seed0" / "result.json").unlink()
    again = clinic_quality.main(argv)
    assert trained.stat().st_mtime_ns == trained_stamp, "a trained run is re-evaluated, not trained again"
    assert [p.stat().st_mtime_ns for p in results if p.parent.parent.name != "yolov5b-panet"] == \
        [s for p, s in zip(results, stamps, strict=True) if p.parent.parent.name != "yolov5b-panet"]
    assert again.split("\n")[1:] == block.split("\n")[1:], "the same runs give the same table"
    main_table = doc.read_text()
    report = clinic_quality.main([*argv[:argv.index("--models")], "--models", *rows, "yolo11n", "--jobs", "1",
                                  "--risk-scheme", "four-class", "--report-only", "--block", "clinic_seeds",
                                  "--update", str(doc)])
    assert not (runs / "yolo11n").exists(), "--report-only runs nothing"
    (unrun,) = [line for line in report.splitlines() if line.startswith(f"| {clinic_quality.ROWS['yolo11n'].label} |")]
    assert unrun.rstrip().endswith("| 0 |")
    written = doc.read_text()
    assert written.startswith(main_table.rstrip()), "--block writes beside the main table and leaves it as it was"
    assert f"<!-- clinic_seeds:begin -->\n{report}\n<!-- clinic_seeds:end -->" in written


def test_candidate_weights_rows_score_the_named_folder_at_its_own_operating_points(tmp_path: Path) -> None:
    """``shipped:DIR`` rows read DIR's calcium.pt, heart.pt and card.json (not the installed weights), with the
    confidences recorded in DIR's calcium weights for each crop; a folder without weights is refused by name."""
    import shutil

    from clinic_rows import row_for, shipped_record

    from tqgd.engine.demo import mark_phantom_weights
    from tqgd.engine.ship import operating_keys
    from tqgd.errors import TQGDError
    from tqgd.weights import CALCIUM_WEIGHTS, CARD_JSON, HEART_WEIGHTS, weights_dir

    candidate = tmp_path / "gpu-candidate"
    candidate.mkdir()
    shutil.copy(weights_dir() / HEART_WEIGHTS, candidate / HEART_WEIGHTS)
    mark_phantom_weights(weights_dir() / CALCIUM_WEIGHTS, candidate / CALCIUM_WEIGHTS, "candidate",
                         operating_keys({"conf": 0.3, "roi_crop": {"conf": 0.4}}))
    (candidate / CARD_JSON).write_text(json.dumps({"date": "2026-12-04", "settings": {"model": "x"}, "other": 1}))

    key, row = row_for(f"shipped-heart:{candidate}")
    assert (row.kind, row.spec, row.trained_here) == ("shipped-heart", str(candidate), False)
    assert key.startswith("shipped-heart@") and key.endswith("_gpu-candidate") and "/" not in key
    assert row_for(f"shipped-heart:{tmp_path / 'other' / 'gpu-candidate'}")[0] != key  # one key per folder
    square, roi = shipped_record(False, row.spec), shipped_record(True, row.spec)
    assert (square["operating_conf"], roi["operating_conf"]) == (0.3, 0.4)
    assert square["weights"] == str(candidate / CALCIUM_WEIGHTS)
    assert square["heart_weights"] == str(candidate / HEART_WEIGHTS)
    assert square["card"] == {"date": "2026-12-04", "settings": {"model": "x"}}
    assert shipped_record(False)["weights"] == str(weights_dir() / CALCIUM_WEIGHTS)

    (candidate / HEART_WEIGHTS).unlink()
    with pytest.raises(TQGDError, match="gpu-candidate"):
        shipped_record(True, row.spec)


def test_rechoose_reopens_only_trained_detector_runs_chosen_by_an_older_sweep(tmp_path: Path) -> None:
    """A run chosen before SWEEP_METHOD existed, or on other candidates, gets its choice moved aside and its result
    kept as result_previous.json (so run_all chooses and evaluates again); a current choice and rows without an
    operating point stay as they are."""
    import clinic_quality
    from clinic_rows import RESULT_JSON, ROWS, TRAINED_JSON

    from tqgd.engine.operating_point import CANDIDATE_CONFS, SWEEP_METHOD

    current = {"conf": 0.01, "method": SWEEP_METHOD, "sweep": [{"conf": c} for c in CANDIDATE_CONFS]}
    points = {"old": {"conf": 0.01, "sweep": [{"conf": c} for c in CANDIDATE_CONFS]},
              "coarse": {**current, "sweep": [{"conf": c} for c in (0.005, 0.01, 0.02)]}, "current": current}
    runs = []
    for seed, (name, point) in enumerate(points.items()):
        folder = clinic_quality.run_dir(tmp_path, "gated", "tqgdnet", ROWS["tqgdnet"], seed)
        folder.mkdir(parents=True)
        (folder / TRAINED_JSON).write_text(json.dumps({"weights": "last.pt", "operating_point": point}))
        (folder / RESULT_JSON).write_text(json.dumps({"name": name}))
        runs.append(("gated", "tqgdnet", seed, folder))
    unet = clinic_quality.run_dir(tmp_path, "gated", "unet", ROWS["unet"], 0)
    unet.mkdir(parents=True)
    (unet / TRAINED_JSON).write_text(json.dumps({"weights": "unet.pt"}))
    (unet / RESULT_JSON).write_text("{}")
    runs.append(("gated", "unet", 0, unet))
    rows = {"tqgdnet": ROWS["tqgdnet"], "unet": ROWS["unet"]}
    assert clinic_quality.reopen_stale_choices(runs, rows) == 2
    for (_, _, _, folder), (name, point) in zip(runs, points.items(), strict=False):
        trained = json.loads((folder / TRAINED_JSON).read_text())
        if name == "current":
            assert trained["operating_point"] == point and (folder / RESULT_JSON).is_file()
        else:
            assert "operating_point" not in trained and trained["previous_operating_points"] == [point]
            assert not (folder / RESULT_JSON).exists()
            assert json.loads((folder / "result_previous.json").read_text()) == {"name": name}
    assert (unet / RESULT_JSON).is_file()
    assert clinic_quality.reopen_stale_choices(runs, rows) == 0, "re-opened runs wait for run_all, not re-opened again"


def test_more_test_sets_get_their_own_patients_folders_and_the_main_sets_training(tmp_path: Path) -> None:
    """``--test-sets``: another set seed writes other test patients beside the main ones (never the training set's),
    its runs live in ``<set>@<seed>`` and trained rows there reuse the main set's training, or are refused by name."""
    import clinic_quality
    from clinic_rows import ROWS, TRAINED_JSON

    from tqgd.errors import ConfigError

    schedule = clinic_quality.SCHEDULES["smoke"]
    main_set, other = clinic_quality.TEST_SEEDS["gated"], 30
    assert clinic_quality.set_key("gated", main_set) == "gated" and clinic_quality.set_key("gated") == "gated"
    assert clinic_quality.parse_set_key(clinic_quality.set_key("gated", other)) == ("gated", other)
    assert clinic_quality.parse_set_key("gated") == ("gated", main_set)
    converted, main_root = clinic_quality.make_data(tmp_path, "gated", schedule)
    same, other_root = clinic_quality.make_data(tmp_path, "gated", schedule, other)
    assert same == converted and other_root != main_root and other_root.name == f"test-{other}"
    cases = {root: json.loads((root / "phantom" / "phantom.json").read_text()) for root in (main_root, other_root)}
    assert cases[main_root] != cases[other_root], "another set seed gives other patients"
    with pytest.raises(ConfigError, match="share phantom patient seeds"):
        clinic_quality.make_data(tmp_path, "gated", schedule, clinic_quality.TRAIN_SEEDS["gated"])

    rows = {"tqgdnet": ROWS["tqgdnet"], "threshold": ROWS["threshold"]}
    runs = clinic_quality.planned_runs(tmp_path, ["gated", "gated@30"], rows, [0, 1])
    assert {(s, k, seed) for s, k, seed, _ in runs} == {
        ("gated", "tqgdnet", 0), ("gated", "tqgdnet", 1), ("gated@30", "tqgdnet", 0), ("gated@30", "tqgdnet", 1),
        ("gated", "threshold", None), ("gated@30", "threshold", None)}
    main_run = clinic_quality.run_dir(tmp_path, "gated", "tqgdnet", ROWS["tqgdnet"], 0)
    main_run.mkdir(parents=True)
    (main_run / TRAINED_JSON).write_text(json.dumps({"weights": "last.pt", "operating_point": {"conf": 0.02}}))
    with pytest.raises(ConfigError, match="gated tqgdnet seed 1"):
        clinic_quality.borrow_training(tmp_path, runs, rows)
    given = json.loads((clinic_quality.run_dir(tmp_path, "gated@30", "tqgdnet", ROWS["tqgdnet"], 0) / TRAINED_JSON)
                       .read_text())
    assert given == {"weights": "last.pt", "operating_point": {"conf": 0.02}, "trained_for": str(main_run)}
    assert clinic_quality.borrow_training(tmp_path, [r for r in runs if r[2] != 1], rows) == 0, "given once"
    assert clinic_quality.set_label("gated@30").endswith("test set seed 30")
