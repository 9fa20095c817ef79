"""Write a phantom set to disk: OrCaScore layout and/or DICOM series, with JSON sidecars.

    OUT/Images/<ID>CTI.mhd + .zraw            CT in HU (int16), OrCaScore naming via tqgd.data.orcascore
    OUT/Reference standard/<ID>R.mhd + .zraw  labels (uint8: 0, 1 LAD, 2 LCX, 3 RCA)
    OUT/DICOM/<ID>/IM0001.dcm ...              CT Image Storage series, IM0001 the most superior slice
    OUT/phantom/<ID>.json                      per-patient truth: lesions, distractors, heart boxes, geometry
    OUT/phantom/<ID>_montage.png               (with montage=True) annotated slices
    OUT/phantom/phantom.json                   the set: generator version, seed, options, patient list (written last)

Case IDs cycle through four simulated vendors like OrCaScore's (TRV1P1, TRV2P1, TRV3P1, TRV4P1, TRV1P2, ...).
Every byte is a function of (seed, options): UIDs derive from the seed, no file holds a date or a time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from tqgd.data import orcascore
from tqgd.data.phantom.arteries import CENTRELINE_STEP_MM
from tqgd.data.phantom.config import PhantomConfig
from tqgd.data.phantom.generate import PhantomCase, generate_patient
from tqgd.data.phantom.stats import area_histogram, weight_histogram
from tqgd.data.volume import CTVolume
from tqgd.errors import ConfigError, OutputError
from tqgd.io import write_json

FORMATS = ("orcascore", "dicom")
VENDORS = 4
PHANTOM_DIR = "phantom"
DICOM_DIR = "DICOM"
#: RescaleIntercept per simulated vendor (V2 stores signed values, as some scanners do).
RESCALE_INTERCEPT_BY_VENDOR = {1: -1024.0, 2: -1000.0, 3: -1024.0, 4: -1024.0}
CENTRELINE_EXPORT_STEP_MM = 2.0


@dataclass
class PhantomSetResult:
    """What ``write_phantom_set`` wrote, with per-patient generation and write times (seconds)."""

    out: Path
    case_ids: list[str] = field(default_factory=list)
    generate_s: list[float] = field(default_factory=list)
    write_s: list[float] = field(default_factory=list)
    area_buckets: dict[str, int] = field(default_factory=dict)
    density_weights: dict[int, int] = field(default_factory=dict)
    lesion_count: int = 0


def patient_seed(set_seed: int, index: int) -> int:
    """Seed of patient ``index`` in a set: independent of the set size, so adding patients keeps the others."""
    return int(np.random.SeedSequence([int(set_seed), int(index)]).generate_state(1)[0])


def patient_case_id(index: int) -> str:
    """OrCaScore-style ID of the index-th patient (0-based): vendors 1-4 in turn."""
    return orcascore.case_id(index % VENDORS + 1, index // VENDORS + 1)


def check_output_folder(out: Path, overwrite: bool) -> None:
    """Refuse a file, or a non-empty folder unless ``overwrite`` (OutputError)."""
    if out.exists() and not out.is_dir():
        raise OutputError("exists and is not a folder; choose a new folder for the phantom set", out)
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise OutputError("folder is not empty; choose a new or empty folder, or pass overwrite=True "
                          "(--overwrite) to replace files of the same names", out)


def write_phantom_set(out: str | Path, n_patients: int, seed: int, gated: bool = True,
                      formats: Sequence[str] = ("orcascore",), image_size: int = 512, montage: bool = False,
                      config: PhantomConfig | None = None, overwrite: bool = False,
                      progress: Callable[[str], None] | None = None) -> PhantomSetResult:
    """Generate ``n_patients`` patients from ``seed`` and write them under ``out`` (see the module docstring).

    ``config`` overrides the defaults (its gated/image_size are replaced by the arguments). ``progress`` is
    called with each case ID after the patient is written.

    Raises:
        ConfigError: unknown format, no patients, bad image size.
        OutputError: ``out`` is a file, is not empty (without ``overwrite``), or cannot be written.
    """
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ConfigError(f"unknown phantom format(s) {unknown or '(none given)'}; choose from {', '.join(FORMATS)}")
    if not isinstance(n_patients, int) or n_patients < 1:
        raise ConfigError(f"the number of patients must be a whole number of at least 1, got {n_patients!r}")
    config = replace(config or PhantomConfig(), gated=gated, image_size=image_size)
    out = Path(out)
    check_output_folder(out, overwrite)
    result = PhantomSetResult(out=out)
    patients, all_lesions, spectra = [], [], []
    for index in range(n_patients):
        case_id, seed_i = patient_case_id(index), patient_seed(seed, index)
        started = time.perf_counter()
        case = generate_patient(seed_i, config, case_id)
        generated = time.perf_counter()
        files = write_case(case, out, formats, index, seed, montage)
        result.generate_s.append(generated - started)
        result.write_s.append(time.perf_counter() - generated)
        result.case_ids.append(case_id)
        all_lesions.extend(case.lesions)
        if case.realism is not None:
            spectra.append(_patient_nps(case))
        patients.append({"case_id": case_id, "index": index, "seed": seed_i, "gated": gated,
                         "n_slices": case.volume.shape[0], "n_lesions": len(case.lesions), "files": files})
        if progress is not None:
            progress(case_id)
    result.area_buckets, result.density_weights = area_histogram(all_lesions), weight_histogram(all_lesions)
    result.lesion_count = len(all_lesions)
    write_json(out / PHANTOM_DIR / "phantom.json", {
        "generator": "tqgd.data.phantom", "generator_version": config.generator_version,
        "seed": int(seed),
        "options": {"n_patients": n_patients, "formats": list(formats), "montage": montage, **config.to_dict()},
        "summary": {"lesions": result.lesion_count, "per_slice_area_buckets_px": result.area_buckets,
                    "density_weights": {str(k): v for k, v in result.density_weights.items()}},
        "patients": patients,
        **({"noise_power_spectrum": _nps_summary(spectra)} if spectra else {}),
    })
    return result


#: NPS measured on every NPS_SLICE_STEP-th slice, at most NPS_MAX_ROIS ROIs per patient (keeps writing fast).
NPS_SLICE_STEP = 4
NPS_MAX_ROIS = 120


def _patient_nps(case: PhantomCase) -> dict:
    """Radial NPS of one patient over uniform-tissue ROIs, with the kernel it was drawn with."""
    from tqgd.data.phantom.fbp_noise import radial_nps, uniform_rois

    roi_px = max(8, min(32, case.volume.shape[-1] // 8))
    rois = uniform_rois(case.volume.hu[::NPS_SLICE_STEP], case.tissue[::NPS_SLICE_STEP], roi_px, NPS_MAX_ROIS)
    out = {"case_id": case.case_id, "kernel": case.realism["noise_kernel"], "roi_px": roi_px, "n_rois": len(rois)}
    if len(rois):
        freq, nps = radial_nps(rois, case.acquisition.pixel_spacing_mm)
        peak = int(np.argmax(nps[1:])) + 1
        out.update(peak_per_mm=round(float(freq[peak]), 4), frequency_per_mm=[round(float(f), 4) for f in freq],
                   nps_hu2_mm2=[round(float(v), 3) for v in nps])
    return out


def _nps_summary(spectra: list[dict]) -> dict:
    """What phantom.json says about the noise texture: per-patient NPS and the mean measured peak."""
    peaks = [s["peak_per_mm"] for s in spectra if "peak_per_mm" in s]
    return {"method": "radial average of |FFT|^2 over square ROIs wholly inside blood or myocardium/muscle, "
                      "mean and plane removed (tqgd.data.phantom.fbp_noise)",
            "mean_peak_per_mm": round(float(np.mean(peaks)), 4) if peaks else None, "per_patient": spectra}


def write_case(case: PhantomCase, out: Path, formats: Sequence[str], index: int = 0, set_seed: int | None = None,
               montage: bool = False) -> dict[str, str]:
    """Write one patient's files and sidecar; return their paths relative to ``out``."""
    from tqgd.data.writers import write_dicom_series, write_metaimage

    volume, files = case.volume, {}
    geometry = dict(spacing_mm=volume.spacing_mm, origin_mm=volume.origin_mm, direction=volume.direction)
    if "orcascore" in formats:
        image = write_metaimage(volume.hu.astype(np.int16), orcascore.image_path(out, case.case_id), **geometry)
        reference = write_metaimage(case.labels, orcascore.reference_path(out, case.case_id), **geometry)
        files.update(image=image.relative_to(out).as_posix(), reference=reference.relative_to(out).as_posix())
    intercept = RESCALE_INTERCEPT_BY_VENDOR[index % VENDORS + 1]
    if "dicom" in formats:
        folder = out / DICOM_DIR / case.case_id
        write_dicom_series(_superior_first(volume), folder, patient_id=case.case_id,
                           patient_name=volume.meta.patient["name"], study_uid=volume.meta.study_uid,
                           series_uid=volume.meta.series_uid, series_description=_description(case),
                           kvp=float(case.acquisition.kvp), slice_thickness_mm=case.acquisition.slice_thickness_mm,
                           rescale_intercept=intercept, rescale_slope=1.0,
                           uid_seed=f"tqgd-phantom/{case.case_id}/{case.seed}")
        files["dicom"] = folder.relative_to(out).as_posix()
    if montage:
        from tqgd.data.phantom.montage import save_montage

        picture = save_montage(case, out / PHANTOM_DIR / f"{case.case_id}_montage.png")
        files["montage"] = picture.relative_to(out).as_posix()
    sidecar = out / PHANTOM_DIR / f"{case.case_id}.json"
    files["sidecar"] = sidecar.relative_to(out).as_posix()
    write_json(sidecar, case_sidecar(case, files, set_seed, intercept if "dicom" in formats else None))
    return files


def _superior_first(volume: CTVolume) -> CTVolume:
    """The same scan with slices ordered head to feet (as scanners number them), geometry adjusted."""
    direction = volume.direction.copy()
    direction[:, 2] = -direction[:, 2]
    top = volume.index_to_patient(np.array([volume.shape[0] - 1, 0.0, 0.0]))
    return CTVolume(hu=volume.hu[::-1], spacing_mm=volume.spacing_mm, origin_mm=tuple(top), direction=direction,
                    meta=volume.meta)


def _description(case: PhantomCase) -> str:
    kind = "gated calcium scoring" if case.config.gated else "non-gated chest"
    return f"tqgd phantom {kind} {case.acquisition.slice_thickness_mm:g} mm"


def case_sidecar(case: PhantomCase, files: dict[str, str], set_seed: int | None = None,
                 rescale_intercept: float | None = None) -> dict:
    """The per-patient JSON: identity, geometry, scan parameters, heart boxes, lesions, distractors, arteries."""
    volume, acq = case.volume, case.acquisition
    stride = max(1, round(CENTRELINE_EXPORT_STEP_MM / CENTRELINE_STEP_MM))
    sidecar = {
        "case_id": case.case_id, "generator_version": case.config.generator_version, "seed": case.seed,
        "set_seed": set_seed,
        "gated": case.config.gated, "profile": case.config.profile.name, "files": files,
        "label_values": {str(k): v for k, v in orcascore.ARTERY_LABELS.items()},
        "geometry": {"shape_zyx": list(volume.shape), "spacing_mm": list(volume.spacing_mm),
                     "origin_mm": list(volume.origin_mm), "direction": volume.direction.flatten().tolist(),
                     "slice_thickness_mm": acq.slice_thickness_mm, "slice_spacing_mm": acq.slice_spacing_mm,
                     "slice_z_mm": [float(z) for z in acq.z_mm]},
        "acquisition": acq.to_dict(),
        "dicom": None if rescale_intercept is None else {
            "study_uid": volume.meta.study_uid, "series_uid": volume.meta.series_uid,
            "rescale_intercept": rescale_intercept, "rescale_slope": 1.0, "instance_order": "superior first"},
        "heart_boxes_xyxy": [list(box) if box is not None else None for box in case.heart_boxes],
        "lesions": [dict(lesion_id=i + 1, **lesion.to_dict()) for i, lesion in enumerate(case.lesions)],
        "distractors": [dict(distractor_id=i + 1, **d.to_dict()) for i, d in enumerate(case.distractors)],
        "arteries": {a.name: {"label": a.label, "length_mm": round(a.length_mm, 2),
                              "centreline_mm": [[round(float(v), 2) for v in p] for p in a.points_mm[::stride]]}
                     for a in case.arteries},
    }
    if case.realism is not None:  # legacy sidecars stay byte-identical
        sidecar["realism"] = case.realism
    return sidecar
