"""The realistic phantom (default, generator version 2.0): the legacy patient plus what makes real scans hard.

Order of work, each new part on its own random stream (spawned after the six legacy streams, which keep their
roles: body, heart, scan, aortic-wall distractors and spikes, lesions, noise):

1. anatomy, arteries and scan geometry exactly as in legacy mode; the heart painted as myocardium with blood
   pools, a diaphragm over the liver and stomach domes, trabecular bone and lung texture (``detail``);
2. aortic wall plaques as in legacy mode; look-alikes with published per-patient rates (``lookalikes``); metal
   with the per-patient probabilities of ``PhantomConfig`` (``metal``); then the coronary lesions, which never
   touch anything placed before them (``calcium.fits``), so no look-alike or metal voxel can be labelled;
3. cardiac motion (non-gated), metal streaks by forward / back projection (``streaks``), band-pass FBP noise at
   the profile's standard deviation with a per-patient kernel (``fbp_noise``), noise spikes, integer HU;
4. truth: labels from the final image as in legacy mode; every other >130 HU voxel is listed in a distractor
   with its cause (look-alike or metal kind, ``bone``, ``streak``, ``noise``/``noise_spike`` or
   ``lesion_fragment``: a part of a lesion's support that noise cut off the labelled component).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage

from tqgd.data.phantom import anatomy, arteries as coronary, detail as anatomy_detail, heart as cardiac
from tqgd.data.phantom import lookalikes, metal
from tqgd.data.phantom.acquisition import sample_acquisition
from tqgd.data.phantom.calcium import CalcifiedObject
from tqgd.data.phantom.config import CALCIUM_KVP_FACTOR, CALCIUM_THRESHOLD_HU, MAX_HU, MIN_HU, PhantomConfig, Tissue
from tqgd.data.phantom.distractors import add_noise_spikes, draw_aortic_valve, draw_aortic_wall
from tqgd.data.phantom.fbp_noise import add_fbp_noise, sample_kernel
from tqgd.data.phantom.groups import Group, mark_group, metal_image, place_group
from tqgd.data.phantom.lesions import draw_lesion
from tqgd.data.phantom.streaks import add_streaks
from tqgd.data.phantom.truth import CalciumFacts, _facts, label_lesion, mark_bone, mark_distractor, mask_box, \
    spike_facts, union_box

#: Metal kinds and the PhantomConfig field holding each one's per-patient probability.
METAL_SHARE_FIELD = {"sternal_wire": "sternal_wire_share", "stent": "stent_share", "clip": "clip_share",
                     "lead": "lead_share"}
#: Tries to place one look-alike or metal object before giving up on it.
GROUP_ATTEMPTS = 25
#: A leftover >130 HU voxel is put down to streaks where they moved it by at least this much.
STREAK_CAUSE_HU = 30.0


def generate_realistic(seed: int, config: PhantomConfig, case_id: str):
    """One realistic patient (see the module docstring); deterministic in (seed, config)."""
    from tqgd.data.phantom.generate import PhantomCase, _label_of, _place, _render, _volume

    sequence = np.random.SeedSequence(int(seed))
    rng_body, rng_heart, rng_scan, rng_distractor, rng_lesion, rng_noise = [
        np.random.default_rng(s) for s in sequence.spawn(6)]
    rng_detail, rng_lookalike, rng_metal, rng_kernel, rng_streak = [
        np.random.default_rng(s) for s in sequence.spawn(5)]
    chest = anatomy.sample_chest(rng_body)
    heart = cardiac.sample_heart(rng_heart, chest)
    arteries = coronary.sample_arteries(rng_heart, heart)
    acq = sample_acquisition(rng_scan, config, heart, (float(heart.centre_mm[0]), float(heart.centre_mm[1])))
    factor = CALCIUM_KVP_FACTOR[acq.kvp]
    hd = anatomy_detail.sample_heart_detail(rng_detail, heart)
    kernel = sample_kernel(rng_kernel)
    hu, tissue, sac_boxes, motion = _render(chest, heart, arteries, acq, factor, (hd, rng_detail))

    occupancy = np.zeros(hu.shape, dtype=np.uint16)
    z_limits = (float(acq.z_mm[0]), float(acq.z_mm[-1]))
    bone = tissue == Tissue.BONE
    wall: list[CalcifiedObject] = []
    n_aortic = int(rng_distractor.integers(config.aortic_calcifications[0], config.aortic_calcifications[1] + 1))
    _place(lambda: draw_aortic_wall(rng_distractor, heart, chest, factor, z_limits), n_aortic, acq, hu, occupancy,
           motion, wall)
    groups: list[Group] = []

    def place(draw: Callable[[], Group | None], forbidden: np.ndarray | None = None) -> bool:
        group = place_group(draw, acq, hu, occupancy, motion, 1000 + len(groups), GROUP_ATTEMPTS, forbidden)
        if group is not None:
            groups.append(group)
        return group is not None

    def valve() -> Group:
        obj = draw_aortic_valve(rng_lookalike, heart, factor)
        return Group("aortic_valve", [obj], obj.density_hu, obj.size_mm)

    lookalike_draws = {
        "mitral_annulus": (lambda: lookalikes.draw_mitral_annulus(rng_lookalike, heart, arteries, factor), None),
        "aortic_valve": (valve, None),
        "aortic_root": (lambda: lookalikes.draw_aortic_root(rng_lookalike, heart, factor), None),
        "pericardium": (lambda: lookalikes.draw_pericardium(rng_lookalike, heart, arteries, factor), bone),
        "lymph_node": (lambda: lookalikes.draw_lymph_node(rng_lookalike, heart, factor),
                       bone | (tissue == Tissue.BLOOD) | (tissue == Tissue.LUNG)),
    }
    lookalike_record = {}
    for kind, (draw, forbidden) in lookalike_draws.items():
        share = lookalikes.LOOKALIKE_SHARE[kind] if config.lookalike_share is None else config.lookalike_share
        present = bool(rng_lookalike.random() < share)
        low, high = lookalikes.LOOKALIKE_COUNT[kind]
        count = int(rng_lookalike.integers(low, high + 1)) if present else 0
        placed = sum(place(draw, forbidden) for _ in range(count))
        lookalike_record[kind] = {"probability": share, "present": present, "placed": placed}
    metal_draws = {
        "sternal_wire": lambda: metal.draw_sternal_wires(rng_metal, chest, z_limits),
        "stent": lambda: metal.draw_stent(rng_metal, arteries, z_limits),
        "clip": lambda: metal.draw_clips(rng_metal, chest, heart, z_limits),
        "lead": lambda: metal.draw_leads(rng_metal, heart, z_limits),
    }
    metal_record = {}
    for kind, draw in metal_draws.items():
        probability = float(getattr(config, METAL_SHARE_FIELD[kind]))
        present = bool(rng_metal.random() < probability)
        placed = place(draw) if present else False
        metal_record[kind] = {"probability": probability, "present": present, "placed": int(placed)}

    lesion_objects: list[CalcifiedObject] = []
    n_lesions = int(rng_lesion.integers(config.lesions_per_patient[0], config.lesions_per_patient[1] + 1))
    _place(lambda: draw_lesion(rng_lesion, config.profile, arteries, factor, z_limits), n_lesions, acq, hu,
           occupancy, motion, lesion_objects, forbidden=bone)

    for k, field_k in enumerate(motion):
        if field_k is not None:
            field_k.apply(hu[k])
    metal_groups = [g for g in groups if g.kind in METAL_SHARE_FIELD]
    streaks = add_streaks(hu, metal_image(metal_groups, hu.shape), acq.pixel_spacing_mm, rng_streak) \
        if metal_groups else None
    add_fbp_noise(hu, acq.pixel_spacing_mm, acq.noise_std_hu, kernel, rng_noise)
    n_spikes = int(rng_distractor.integers(config.noise_spikes[0], config.noise_spikes[1] + 1))
    spikes = add_noise_spikes(rng_distractor, hu, tissue, occupancy, sac_boxes, n_spikes)
    np.clip(np.rint(hu, out=hu), MIN_HU, MAX_HU, out=hu)

    volume = _volume(hu, acq, case_id, seed)
    labels = np.zeros(hu.shape, dtype=np.uint8)
    distractor_ids = np.zeros(hu.shape, dtype=np.uint16)
    lesions = [facts for obj in lesion_objects
               if (facts := label_lesion(obj, _label_of(obj, arteries), volume, labels)) is not None]
    distractors: list[CalciumFacts] = []
    for obj in wall:
        if (facts := mark_distractor(obj, len(distractors) + 1, volume, distractor_ids)) is not None:
            distractors.append(facts)
    for group in groups:
        if (facts := mark_group(group, len(distractors) + 1, volume, distractor_ids)) is not None:
            distractors.append(facts)
    for position in spikes:
        distractors.append(spike_facts(position, volume, distractor_ids, len(distractors) + 1))
    bone_rim = ndimage.binary_dilation(bone, ndimage.generate_binary_structure(3, 1)[1:2])  # in-plane, 1 voxel
    distractors.extend(mark_bone(volume, bone_rim & (labels == 0), distractor_ids, len(distractors) + 1))
    distractors.extend(_leftovers(volume, labels, distractor_ids, lesion_objects, streaks, len(distractors) + 1))
    heart_boxes = [union_box(box, mask_box(labels[k] > 0)) for k, box in enumerate(sac_boxes)]
    realism = {"mode": "realistic", "noise_kernel": kernel.to_dict(), "anatomy": hd.to_dict(),
               "lookalikes": lookalike_record, "metal": metal_record}
    return PhantomCase(case_id=case_id, seed=int(seed), config=config, volume=volume, labels=labels,
                       heart_boxes=heart_boxes, lesions=lesions, distractors=distractors,
                       distractor_ids=distractor_ids, tissue=tissue, acquisition=acq, arteries=arteries,
                       realism=realism)


def _leftovers(volume, labels: np.ndarray, distractor_ids: np.ndarray, lesion_objects: list[CalcifiedObject],
               streaks: np.ndarray | None, number: int) -> list[CalciumFacts]:
    """One distractor per cause for the >130 HU voxels nothing else explains: lesion fragments, streaks, noise."""
    rest = (volume.hu > CALCIUM_THRESHOLD_HU) & (labels == 0) & (distractor_ids == 0)
    if not rest.any():
        return []
    fragment = np.zeros(rest.shape, dtype=bool)
    for obj in lesion_objects:
        fragment[obj.box] |= obj.support
    causes = {"lesion_fragment": rest & fragment}
    rest &= ~fragment
    if streaks is not None:
        causes["streak"] = rest & (np.abs(streaks) >= STREAK_CAUSE_HU)
        rest &= ~causes["streak"]
    causes["noise"] = rest
    out = []
    for kind, mask in causes.items():
        if mask.any():
            distractor_ids[mask] = number + len(out)
            out.append(_facts(kind, mask, (0, 0, 0), volume, float(volume.hu[mask].max()), 0.0))
    return out
