"""``generate_patient(seed, config)``: one synthetic non-contrast cardiac CT with its ground truth.

Order of work (each step has its own random stream, so changing one part leaves the others' draws alone):
anatomy and scan geometry -> slices painted -> aortic/valve calcification and coronary lesions voxelised with
partial volume (rejected when they would touch another object or bone, or stay invisible) -> cardiac motion
(non-gated) -> noise -> noise spikes -> integer HU -> labels and facts measured on the final image.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tqgd.data.phantom import anatomy, arteries as coronary, detail as anatomy_detail, heart as cardiac
from tqgd.data.phantom.acquisition import Acquisition, MotionField, add_noise, motion_field, sample_acquisition
from tqgd.data.phantom.arteries import Artery
from tqgd.data.phantom.calcium import CalcifiedObject, commit, expected_peak_hu, fits, voxelise
from tqgd.data.phantom.config import CALCIUM_KVP_FACTOR, CALCIUM_THRESHOLD_HU, MAX_HU, MIN_HU, PhantomConfig, Tissue
from tqgd.data.phantom.distractors import add_noise_spikes, draw_aortic_valve, draw_aortic_wall
from tqgd.data.phantom.lesions import draw_lesion
from tqgd.data.phantom.truth import (
    CalciumFacts, label_lesion, mark_bone, mark_distractor, mask_box, spike_facts, union_box,
)
from tqgd.data.volume import CTVolume, ScanMetadata

#: Candidate draws allowed per object before giving up on it (crowded arteries, invisible specks).
ATTEMPTS_PER_OBJECT = 40
#: A placed object must reach this many noise standard deviations above 130 HU before noise (visibility).
VISIBILITY_MARGIN_STD = 1.0


@dataclass
class PhantomCase:
    """One generated patient.

    Attributes:
        volume: CT in integer HU (float32 (Z, Y, X)), geometry in ``volume.spacing_mm`` / ``origin_mm``.
        labels: uint8 (Z, Y, X), OrCaScore values (0 background, 1 LAD, 2 LCX, 3 RCA).
        heart_boxes: per slice, (x0, y0, x1, y1) pixel-edge box of the pericardial sac, or None above/below it.
        lesions: facts per labelled lesion, in label-component order of placement.
        distractors: facts per calcified non-coronary object (aortic wall/valve, noise spikes, bone).
        distractor_ids: uint16 (Z, Y, X), i + 1 on the >130 HU voxels of ``distractors[i]``.
        tissue: uint8 (Z, Y, X) ``Tissue`` codes of the noise-free anatomy.
        realism: None in legacy mode; in realistic mode the per-patient draws listed in the sidecar's ``realism``.
    """

    case_id: str
    seed: int
    config: PhantomConfig
    volume: CTVolume
    labels: np.ndarray
    heart_boxes: list[tuple[int, int, int, int] | None]
    lesions: list[CalciumFacts]
    distractors: list[CalciumFacts]
    distractor_ids: np.ndarray
    tissue: np.ndarray
    acquisition: Acquisition
    arteries: tuple[Artery, ...]
    realism: dict | None = None  # realistic mode: kernel, anatomy values, look-alike and metal draws (sidecar)


def _render(chest: anatomy.Chest, heart: cardiac.Heart, arteries: tuple[Artery, ...], acq: Acquisition,
            bone_factor: float, detail: tuple[anatomy_detail.HeartDetail, np.random.Generator] | None = None
            ) -> tuple[np.ndarray, np.ndarray, list, list[MotionField | None]]:
    """Paint every slice: (HU, tissue, sac boxes, motion fields). ``detail`` (realistic mode: heart detail and its
    random stream) adds the diaphragm, myocardium, blood pools and tissue textures; None paints the legacy slices."""
    grid, edge = acq.grid, acq.edge_mm
    base, base_tissue, cavity = anatomy.render_chest_base(chest, grid, edge)
    hu = np.empty((acq.n_slices, grid.size, grid.size), dtype=np.float32)
    tissue = np.empty(hu.shape, dtype=np.uint8)
    boxes, motion = [], []
    for k, z in enumerate(acq.z_mm):
        image, codes = base.copy(), base_tissue.copy()
        if detail is not None:
            anatomy_detail.paint_diaphragm(chest, image, codes, cavity, grid, float(z), edge)
        anatomy.paint_chest_soft(chest, image, codes, cavity, grid, float(z), edge, float(heart.centre_mm[2]))
        if detail is None:
            sac = cardiac.paint_heart(heart, image, codes, grid, float(z), edge)
        else:
            sac = cardiac.paint_heart(heart, image, codes, grid, float(z), edge, detail[0].myocardium_hu, Tissue.MUSCLE)
            anatomy_detail.paint_blood_pools(detail[0], image, codes, grid, float(z), edge)
        coronary.paint_arteries(arteries, image, codes, grid, float(z), acq.slice_thickness_mm, edge)
        anatomy.paint_posterior_mediastinum(chest, image, codes, grid, edge)
        anatomy.paint_bones(chest, image, codes, grid, float(z), edge, bone_factor)
        if detail is not None:
            anatomy_detail.add_textures(image, codes, acq.pixel_spacing_mm, bone_factor, detail[1])
        hu[k], tissue[k] = image, codes
        boxes.append(mask_box(sac >= 0.5))
        motion.append(motion_field(acq, k, sac))
    return hu, tissue, boxes, motion


def _place(draw, count: int, acq: Acquisition, hu: np.ndarray, occupancy: np.ndarray, motion: list,
           placed: list[CalcifiedObject], forbidden: np.ndarray | None = None) -> None:
    """Draw, voxelise and commit up to ``count`` objects from ``draw()`` (returns a candidate or None)."""
    needed_peak = CALCIUM_THRESHOLD_HU + VISIBILITY_MARGIN_STD * acq.noise_std_hu
    goal = len(placed) + count
    for _ in range(count * ATTEMPTS_PER_OBJECT):
        if len(placed) == goal:
            return
        obj = draw()
        if obj is None or not voxelise(obj, acq, motion) or not obj.support.any():
            continue
        if expected_peak_hu(obj, hu) < needed_peak or not fits(obj, occupancy, forbidden):
            continue
        placed.append(obj)
        commit(obj, len(placed), hu, occupancy)


def generate_patient(seed: int, config: PhantomConfig | None = None, case_id: str | None = None) -> PhantomCase:
    """Generate one patient deterministically from ``seed`` (same seed and config -> identical arrays).

    ``config.realism`` "realistic" (default) hands over to ``realistic.generate_realistic``; "legacy" runs the
    version-1.0 generator below, unchanged, so its output stays byte-identical."""
    config = config or PhantomConfig()
    case_id = case_id or f"PHANTOM{seed}"
    if config.realism == "realistic":
        from tqgd.data.phantom.realistic import generate_realistic

        return generate_realistic(seed, config, case_id)
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(6)]
    rng_body, rng_heart, rng_scan, rng_distractor, rng_lesion, rng_noise = streams
    chest = anatomy.sample_chest(rng_body)
    heart = cardiac.sample_heart(rng_heart, chest)
    arteries = coronary.sample_arteries(rng_heart, heart)
    acq = sample_acquisition(rng_scan, config, heart, (float(heart.centre_mm[0]), float(heart.centre_mm[1])))
    factor = CALCIUM_KVP_FACTOR[acq.kvp]
    hu, tissue, sac_boxes, motion = _render(chest, heart, arteries, acq, factor)

    occupancy = np.zeros(hu.shape, dtype=np.uint16)
    z_limits = (float(acq.z_mm[0]), float(acq.z_mm[-1]))
    objects: list[CalcifiedObject] = []
    n_aortic = int(rng_distractor.integers(config.aortic_calcifications[0], config.aortic_calcifications[1] + 1))
    _place(lambda: draw_aortic_wall(rng_distractor, heart, chest, factor, z_limits), n_aortic, acq, hu, occupancy,
           motion, objects)
    n_valve = int(rng_distractor.integers(config.valve_calcifications[0], config.valve_calcifications[1] + 1))
    _place(lambda: draw_aortic_valve(rng_distractor, heart, factor), n_valve, acq, hu, occupancy, motion, objects)
    n_distractor_objects = len(objects)
    n_lesions = int(rng_lesion.integers(config.lesions_per_patient[0], config.lesions_per_patient[1] + 1))
    _place(lambda: draw_lesion(rng_lesion, config.profile, arteries, factor, z_limits), n_lesions, acq, hu,
           occupancy, motion, objects, forbidden=tissue == Tissue.BONE)

    for k, field_k in enumerate(motion):
        if field_k is not None:
            field_k.apply(hu[k])
    add_noise(hu, acq, rng_noise)
    n_spikes = int(rng_distractor.integers(config.noise_spikes[0], config.noise_spikes[1] + 1))
    spikes = add_noise_spikes(rng_distractor, hu, tissue, occupancy, sac_boxes, n_spikes)
    np.clip(np.rint(hu, out=hu), MIN_HU, MAX_HU, out=hu)

    volume = _volume(hu, acq, case_id, seed)
    labels = np.zeros(hu.shape, dtype=np.uint8)
    distractor_ids = np.zeros(hu.shape, dtype=np.uint16)
    lesions = [facts for obj in objects[n_distractor_objects:]
               if (facts := label_lesion(obj, _label_of(obj, arteries), volume, labels)) is not None]
    distractors: list[CalciumFacts] = []
    for obj in objects[:n_distractor_objects]:
        if (facts := mark_distractor(obj, len(distractors) + 1, volume, distractor_ids)) is not None:
            distractors.append(facts)
    for position in spikes:
        distractors.append(spike_facts(position, volume, distractor_ids, len(distractors) + 1))
    distractors.extend(mark_bone(volume, tissue == Tissue.BONE, distractor_ids, len(distractors) + 1))
    heart_boxes = [union_box(box, mask_box(labels[k] > 0)) for k, box in enumerate(sac_boxes)]
    return PhantomCase(case_id=case_id, seed=int(seed), config=config, volume=volume, labels=labels,
                       heart_boxes=heart_boxes, lesions=lesions, distractors=distractors,
                       distractor_ids=distractor_ids, tissue=tissue, acquisition=acq, arteries=arteries)


def _label_of(obj: CalcifiedObject, arteries: tuple[Artery, ...]) -> int:
    return next(a.label for a in arteries if a.name == obj.artery)


def _volume(hu: np.ndarray, acq: Acquisition, case_id: str, seed: int) -> CTVolume:
    """Wrap the HU array with its geometry and scanner metadata (deterministic UIDs from the seed)."""
    from pydicom.uid import generate_uid

    grid = acq.grid
    entropy = ["tqgd-phantom", case_id, str(seed)]
    meta = ScanMetadata(source=Path(f"phantom/{case_id}.json"), format="phantom", has_hu=True, kvp=float(acq.kvp),
                        slice_thickness_mm=acq.slice_thickness_mm, slice_spacing_mm=acq.slice_spacing_mm,
                        modality="CT", study_uid=generate_uid(entropy_srcs=[*entropy, "study"]),
                        series_uid=generate_uid(entropy_srcs=[*entropy, "series"]),
                        frame_of_reference_uid=generate_uid(entropy_srcs=[*entropy, "frame"]),
                        scan_id=case_id, patient={"name": f"PHANTOM^{case_id}", "id": case_id})
    return CTVolume(hu=hu, spacing_mm=(acq.slice_spacing_mm, grid.spacing_mm, grid.spacing_mm),
                    origin_mm=(grid.x0_mm, grid.y0_mm, float(acq.z_mm[0])), direction=np.eye(3), meta=meta)
