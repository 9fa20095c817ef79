"""Phantom sets on disk: OrCaScore names, DICOM series read back by read_ct, sidecars, byte-for-byte determinism."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pydicom
import pytest
import SimpleITK as sitk

from tqgd.data.orcascore import discover_cases
from tqgd.data.phantom import GENERATOR_VERSION, PhantomConfig, generate_patient
from tqgd.data.phantom.layout import patient_case_id, patient_seed, write_phantom_set
from tqgd.data.readers import read_ct
from tqgd.errors import ConfigError, OutputError

SEED = 3
SIZE = 128


@pytest.fixture(scope="module")
def phantom_set(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom") / "set"
    result = write_phantom_set(out, 2, SEED, formats=("orcascore", "dicom"), image_size=SIZE, montage=True)
    return out, result


def expected_case(index: int):
    return generate_patient(patient_seed(SEED, index), PhantomConfig(image_size=SIZE), patient_case_id(index))


def test_orcascore_layout_and_names(phantom_set):
    out, result = phantom_set
    assert result.case_ids == ["TRV1P1", "TRV2P1"]
    cases = discover_cases(out)
    assert [c.case_id for c in cases] == ["TRV1P1", "TRV2P1"]
    for c in cases:
        assert c.image.name == f"{c.case_id}CTI.mhd" and c.image.with_suffix(".zraw").exists()
        assert c.reference.name == f"{c.case_id}R.mhd" and c.reference.with_suffix(".zraw").exists()


def test_metaimage_files_hold_the_generated_hu_and_labels(phantom_set):
    out, _ = phantom_set
    case = expected_case(0)
    image = read_ct(out / "Images" / "TRV1P1CTI.mhd")
    assert np.array_equal(image.hu, case.volume.hu)
    assert np.allclose(image.spacing_mm, case.volume.spacing_mm) and np.allclose(image.origin_mm, case.volume.origin_mm)
    reference = sitk.ReadImage(str(out / "Reference standard" / "TRV1P1R.mhd"))
    assert reference.GetPixelID() == sitk.sitkUInt8
    assert np.array_equal(sitk.GetArrayFromImage(reference), case.labels)
    assert sitk.ReadImage(str(out / "Images" / "TRV1P1CTI.mhd")).GetPixelID() == sitk.sitkInt16


@pytest.mark.parametrize("index", [0, 1])
def test_dicom_series_reads_back_with_the_same_hu_and_geometry(phantom_set, index):
    out, _ = phantom_set
    case = expected_case(index)
    folder = out / "DICOM" / case.case_id
    files = sorted(folder.glob("IM*.dcm"))
    assert [f.name for f in files[:2]] == ["IM0001.dcm", "IM0002.dcm"] and len(files) == case.volume.shape[0]
    scan = read_ct(folder)
    assert np.array_equal(scan.hu, case.volume.hu)
    assert np.allclose(scan.spacing_mm, case.volume.spacing_mm, atol=1e-4)
    assert np.allclose(scan.origin_mm, case.volume.origin_mm, atol=1e-4)
    assert scan.meta.kvp == case.acquisition.kvp
    assert scan.meta.slice_thickness_mm == pytest.approx(case.acquisition.slice_thickness_mm)
    assert scan.meta.series_uid == case.volume.meta.series_uid
    first = pydicom.dcmread(files[0])
    assert first.SOPClassUID == pydicom.uid.CTImageStorage and first.Modality == "CT"
    assert float(first.ImagePositionPatient[2]) == pytest.approx(case.acquisition.z_mm[-1])  # superior first
    assert float(first.RescaleSlope) == 1.0
    if index == 1:  # vendor 2 stores signed values with intercept -1000
        assert float(first.RescaleIntercept) == -1000.0 and first.PixelRepresentation == 1
    else:
        assert float(first.RescaleIntercept) == -1024.0


def test_sidecars_describe_the_patient_and_the_set(phantom_set):
    out, _ = phantom_set
    case = expected_case(0)
    sidecar = json.loads((out / "phantom" / "TRV1P1.json").read_text())
    assert sidecar["case_id"] == "TRV1P1" and sidecar["seed"] == patient_seed(SEED, 0) and sidecar["gated"] is True
    assert sidecar["generator_version"] == GENERATOR_VERSION
    assert len(sidecar["heart_boxes_xyxy"]) == case.volume.shape[0]
    assert [b and tuple(b) for b in sidecar["heart_boxes_xyxy"]] == case.heart_boxes
    assert len(sidecar["lesions"]) == len(case.lesions) > 0
    for written, lesion in zip(sidecar["lesions"], case.lesions):
        assert (written["voxel_count"], written["peak_hu"], written["artery"]) == \
               (lesion.voxel_count, lesion.peak_hu, lesion.artery)
        assert written["label"] in (1, 2, 3) and len(written["centroid_mm"]) == 3
    assert {d["kind"] for d in sidecar["distractors"]} >= {"bone", "noise_spike"}
    assert sidecar["geometry"]["shape_zyx"] == list(case.volume.shape)
    assert set(sidecar["arteries"]) == {"LAD", "LCX", "RCA"}
    assert sidecar["files"]["image"] == "Images/TRV1P1CTI.mhd" and sidecar["files"]["dicom"] == "DICOM/TRV1P1"
    set_file = json.loads((out / "phantom" / "phantom.json").read_text())
    assert set_file["seed"] == SEED and set_file["generator_version"] == GENERATOR_VERSION
    assert [p["case_id"] for p in set_file["patients"]] == ["TRV1P1", "TRV2P1"]
    assert set_file["options"]["image_size"] == SIZE and set_file["options"]["formats"] == ["orcascore", "dicom"]


def test_montage_is_a_png_with_lesion_outlines(phantom_set):
    out, _ = phantom_set
    picture = cv2.imread(str(out / "phantom" / "TRV1P1_montage.png"))
    assert picture.shape == (2 * SIZE, 2 * SIZE, 3)
    blue, green, red = (picture[..., c].astype(int) for c in range(3))
    coloured = (np.abs(red - green) > 60) | (np.abs(red - blue) > 60) | (np.abs(green - blue) > 60)
    assert coloured.sum() > 20  # outlines and the heart box; grey CT pixels have equal channels


def test_same_seed_writes_identical_files_and_another_seed_does_not(phantom_set, tmp_path):
    out, _ = phantom_set
    again = tmp_path / "again"
    write_phantom_set(again, 2, SEED, formats=("orcascore", "dicom"), image_size=SIZE, montage=True)
    written = sorted(p.relative_to(out) for p in out.rglob("*") if p.is_file())
    assert written == sorted(p.relative_to(again) for p in again.rglob("*") if p.is_file())
    for relative in written:
        assert (out / relative).read_bytes() == (again / relative).read_bytes(), relative
    other = tmp_path / "other"
    write_phantom_set(other, 1, SEED + 1, image_size=SIZE)
    assert (other / "Images" / "TRV1P1CTI.zraw").read_bytes() != (out / "Images" / "TRV1P1CTI.zraw").read_bytes()


def test_patients_keep_their_seed_when_the_set_grows():
    assert [patient_seed(7, i) for i in range(3)] == [patient_seed(7, i) for i in range(5)][:3]
    assert len({patient_seed(7, i) for i in range(50)}) == 50


def test_refuses_a_non_empty_folder_unless_told_to_overwrite(tmp_path):
    (tmp_path / "keep.txt").write_text("user data")
    with pytest.raises(OutputError, match="not empty"):
        write_phantom_set(tmp_path, 1, 0, image_size=64)
    assert (tmp_path / "keep.txt").read_text() == "user data"
    write_phantom_set(tmp_path, 1, 0, image_size=64, overwrite=True)
    assert (tmp_path / "keep.txt").read_text() == "user data" and (tmp_path / "phantom" / "phantom.json").exists()


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(formats=("nifti",)), ConfigError, "unknown phantom format"),
    (dict(formats=()), ConfigError, "unknown phantom format"),
    (dict(n_patients=0), ConfigError, "at least 1"),
    (dict(image_size=96 + 4), ConfigError, "multiple of 16"),
])
def test_bad_arguments_are_refused_before_writing(tmp_path, kwargs, error, message):
    arguments = dict(out=tmp_path / "set", n_patients=1, seed=0, image_size=64) | kwargs
    with pytest.raises(error, match=message):
        write_phantom_set(**arguments)
    assert not (tmp_path / "set").exists()


def test_a_file_in_the_way_is_refused(tmp_path):
    target = tmp_path / "set"
    target.write_text("not a folder")
    with pytest.raises(OutputError, match="not a folder"):
        write_phantom_set(target, 1, 0, image_size=64)
