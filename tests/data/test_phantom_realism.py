"""The realistic phantom (generator 2.x) and the byte-identical legacy mode (generator 1.0).

Legacy hashes were computed with the generator at main d8eb0ab (before the realistic mode existed): arrays and
sidecar of single patients, and every file of a two-patient set, at 128 px, gated and non-gated.
"""

from __future__ import annotations

import functools
import hashlib
import json

import numpy as np
import pytest
from scipy import ndimage

from tqgd.data.phantom import GENERATOR_VERSION, PhantomConfig, generate_patient, write_phantom_set
from tqgd.data.phantom.config import CALCIUM_THRESHOLD_HU
from tqgd.data.phantom.fbp_noise import NoiseKernel, add_fbp_noise, measure_nps
from tqgd.data.phantom.layout import case_sidecar
from tqgd.data.phantom.lookalikes import LOOKALIKE_SHARE
from tqgd.errors import ConfigError

LEGACY = dict(image_size=128, realism="legacy")
ALL_METAL = dict(sternal_wire_share=1.0, stent_share=1.0, clip_share=1.0, lead_share=1.0)
METAL_KINDS = ("sternal_wire", "stent", "clip", "lead")
LOOKALIKE_KINDS = ("mitral_annulus", "aortic_valve", "aortic_root", "pericardium", "lymph_node")

#: (seed, gated) -> sha256[:16] of hu, labels, distractor_ids, tissue and the sidecar JSON, from main d8eb0ab.
LEGACY_CASE_HASHES = {
    (0, True): ("65ac8f690cc3e1f6", "701ea835f7597f6a", "d380d6f73bb61514", "90692c40f85a7f96", "ef5973081745c1ff"),
    (0, False): ("a05ee51bedc5675c", "7f97d7bd7144f520", "81e7c553d81fa261", "dc5457e8a4dfeb66", "4fcc924edc4c31c2"),
    (7, True): ("c73e843b98f8ed4f", "35e32dd835a0006c", "3c58bbfc904d30d6", "007c848f5d3ab9b1", "356bfaf8ef89e680"),
    (7, False): ("475356009a536508", "affcae4a6659354a", "f0bb8341a858ffb8", "b222ae0b83727a7e", "5d73a6414022756b"),
}
#: gated -> {file: sha256[:16]} of write_phantom_set(out, 2, seed=3, image_size=128) at main d8eb0ab.
LEGACY_SET_HASHES = {
    True: {"Images/TRV1P1CTI.mhd": "95983b4a8af43a8d", "Images/TRV1P1CTI.zraw": "96cb09696446cac2",
           "Images/TRV2P1CTI.mhd": "5d527c87e4dc7dbe", "Images/TRV2P1CTI.zraw": "b78109c1c262439d",
           "Reference standard/TRV1P1R.mhd": "06e73384bcc40024", "Reference standard/TRV1P1R.zraw": "a570a5d2e1e831b5",
           "Reference standard/TRV2P1R.mhd": "22f0148438ea2c2c", "Reference standard/TRV2P1R.zraw": "121661a0a77f0b8f",
           "phantom/TRV1P1.json": "addde480ebb03a4d", "phantom/TRV2P1.json": "63e52e4786e50a53",
           "phantom/phantom.json": "1d5ba28c12d006a6"},
    False: {"Images/TRV1P1CTI.mhd": "eb38da7078cd5569", "Images/TRV1P1CTI.zraw": "c395e56286229925",
            "Images/TRV2P1CTI.mhd": "c225ce9d44d008d7", "Images/TRV2P1CTI.zraw": "af4c132bb84467fe",
            "Reference standard/TRV1P1R.mhd": "cbbe7c4e3d63541e", "Reference standard/TRV1P1R.zraw": "942e09f5d2780fb6",
            "Reference standard/TRV2P1R.mhd": "bb2259315c54dc1f", "Reference standard/TRV2P1R.zraw": "80fa47915bed9afc",
            "phantom/TRV1P1.json": "5de118857f14145d", "phantom/TRV2P1.json": "bef186e143daaefc",
            "phantom/phantom.json": "3951d06537a4c260"},
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


def _case_hashes(case) -> tuple[str, ...]:
    sidecar = json.dumps(case_sidecar(case, {}), sort_keys=True).encode()
    return (_sha(case.volume.hu.tobytes()), _sha(case.labels.tobytes()), _sha(case.distractor_ids.tobytes()),
            _sha(case.tissue.tobytes()), _sha(sidecar))


@functools.lru_cache(maxsize=None)
def realistic(seed: int, gated: bool = True, all_metal: bool = False):
    return generate_patient(seed, PhantomConfig(image_size=128, gated=gated, **(ALL_METAL if all_metal else {})))


@pytest.mark.parametrize("seed, gated", sorted(LEGACY_CASE_HASHES))
def test_legacy_mode_gives_the_version_1_patient_byte_for_byte(seed, gated):
    assert _case_hashes(generate_patient(seed, PhantomConfig(gated=gated, **LEGACY))) == LEGACY_CASE_HASHES[seed, gated]


@pytest.mark.parametrize("gated", [True, False])
def test_legacy_mode_writes_the_version_1_files_byte_for_byte(tmp_path, gated):
    write_phantom_set(tmp_path, 2, 3, gated=gated, image_size=128, config=PhantomConfig(realism="legacy"))
    written = {p.relative_to(tmp_path).as_posix(): _sha(p.read_bytes()) for p in tmp_path.rglob("*") if p.is_file()}
    assert written == LEGACY_SET_HASHES[gated]
    assert json.loads((tmp_path / "phantom" / "phantom.json").read_text())["generator_version"] == "1.0"


def test_realistic_is_the_default_and_differs_from_legacy():
    assert PhantomConfig().realism == "realistic"
    assert _case_hashes(realistic(0)) != LEGACY_CASE_HASHES[0, True]
    with pytest.raises(ConfigError, match="realism must be one of legacy, realistic"):
        PhantomConfig(realism="real")
    with pytest.raises(ConfigError, match="stent_share .* must lie in"):
        PhantomConfig(stent_share=1.5)


@pytest.mark.parametrize("gated", [True, False])
def test_realistic_patient_is_deterministic_per_seed(gated):
    config = PhantomConfig(image_size=128, gated=gated, **ALL_METAL)
    first, second = generate_patient(4, config), generate_patient(4, config)
    assert _case_hashes(first) == _case_hashes(second)
    assert first.realism == second.realism
    assert _case_hashes(generate_patient(5, config)) != _case_hashes(first)


@pytest.mark.parametrize("seed, gated", [(0, True), (1, False), (2, True), (3, False)])
def test_no_lookalike_or_metal_voxel_is_labelled_and_every_bright_voxel_has_a_cause(seed, gated):
    case = realistic(seed, gated, all_metal=True)
    kinds = {d.kind for d in case.distractors}
    assert set(METAL_KINDS) & kinds, "all-metal patients must carry metal"
    for number, facts in enumerate(case.distractors, start=1):
        marked = case.distractor_ids == number
        assert marked.sum() == facts.voxel_count
        assert not (case.labels[marked] > 0).any(), f"{facts.kind} voxels carry a coronary label"
    bright = case.volume.hu > CALCIUM_THRESHOLD_HU
    assert np.array_equal(bright, (case.labels > 0) | (case.distractor_ids > 0))
    assert set(np.unique(case.labels)) <= {0, 1, 2, 3}


def test_stent_lies_in_its_artery_and_stays_unlabelled():
    case = realistic(1, True, all_metal=True)
    stents = [(i + 1, d) for i, d in enumerate(case.distractors) if d.kind == "stent"]
    assert stents, "stent_share=1 must place a stent"
    number, stent = stents[0]
    centreline = np.concatenate([a.points_mm for a in case.arteries])
    voxels = np.argwhere(case.distractor_ids == number)
    points = np.array([case.volume.index_to_patient(v.astype(float)) for v in voxels[::max(len(voxels) // 50, 1)]])
    distance = np.min(np.linalg.norm(points[:, None, :] - centreline[None, :, :], axis=2), axis=1)
    assert np.median(distance) < 3.0
    grown = ndimage.binary_dilation(case.distractor_ids == number)
    assert not (case.labels[grown] > 0).any()


def test_stent_is_a_tube_with_a_darker_lumen_not_a_solid_rod():
    """A gated stent at native pixels (0.40-0.55 mm) shows its strut ring: in each cross-section its centre
    is darker than its brightest voxel, as in real scans, where occlusive calcium is bright all through."""
    config = PhantomConfig(gated=True, stent_share=1.0, sternal_wire_share=0.0, clip_share=0.0, lead_share=0.0)
    case = generate_patient(2, config)
    number = next(i + 1 for i, d in enumerate(case.distractors) if d.kind == "stent")
    stent = case.distractor_ids == number
    drops = []
    for z in np.nonzero(stent.any(axis=(1, 2)))[0]:
        labelled, count = ndimage.label(stent[z])
        for k in range(1, count + 1):
            component = labelled == k
            if component.sum() >= 12:
                cy, cx = np.rint(ndimage.center_of_mass(component)).astype(int)
                drops.append(case.volume.hu[z][component].max() - case.volume.hu[z, cy, cx])
    assert len(drops) >= 3
    assert np.median(drops) > 400, f"stent cross-sections should be rings; peak - centre HU: {drops}"


def test_sidecar_records_per_patient_metal_probability_and_what_was_drawn():
    shares = dict(sternal_wire_share=1.0, stent_share=0.0, clip_share=1.0, lead_share=0.0)
    case = generate_patient(6, PhantomConfig(image_size=128, **shares))
    metal = case_sidecar(case, {})["realism"]["metal"]
    assert {k: v["probability"] for k, v in metal.items()} == {k.removesuffix("_share"): v for k, v in shares.items()}
    assert [metal[k]["present"] for k in METAL_KINDS] == [True, False, True, False]
    kinds = {d.kind for d in case.distractors}
    assert not {"stent", "lead"} & kinds
    assert {kind for kind in ("sternal_wire", "clip") if metal[kind]["placed"]} <= kinds
    none = generate_patient(6, PhantomConfig(image_size=128, **dict.fromkeys(shares, 0.0)))
    assert not set(METAL_KINDS) & {d.kind for d in none.distractors}


def test_metal_frequency_follows_the_configured_probability():
    config = PhantomConfig(image_size=64, lesions_per_patient=(0, 1), sternal_wire_share=0.5, stent_share=0.0,
                           clip_share=0.0, lead_share=0.0, clip_heart=True, scan_length_mm=(20.0, 20.0))
    present = [generate_patient(seed, config).realism["metal"]["sternal_wire"]["present"] for seed in range(40)]
    assert 10 <= sum(present) <= 30  # Binomial(40, 0.5): outside this range with p < 0.002


def test_lookalikes_are_listed_by_cause_with_their_probability():
    record = realistic(0).realism["lookalikes"]
    assert set(record) == set(LOOKALIKE_KINDS)
    assert all(0.0 < r["probability"] < 1.0 for r in record.values())
    placed = {}
    for seed in range(12):
        case = realistic(seed)
        for kind, r in case.realism["lookalikes"].items():
            if r["placed"]:
                placed[kind] = placed.get(kind, 0) + 1
                assert kind in {d.kind for d in case.distractors} or kind == "aortic_valve"
    assert placed, "twelve patients should hold at least one look-alike"


def test_lookalike_share_draws_every_kind_with_that_probability_and_records_it():
    default = realistic(3).realism["lookalikes"]
    assert {kind: r["probability"] for kind, r in default.items()} == LOOKALIKE_SHARE  # None: the published rates
    every = generate_patient(3, PhantomConfig(image_size=128, lookalike_share=1.0))
    record = every.realism["lookalikes"]
    assert {kind: r["probability"] for kind, r in record.items()} == dict.fromkeys(LOOKALIKE_KINDS, 1.0)
    assert all(r["present"] for r in record.values())
    placed = {kind for kind, r in record.items() if r["placed"] and kind != "aortic_valve"}
    assert placed and placed <= {d.kind for d in every.distractors}
    none = generate_patient(3, PhantomConfig(image_size=128, lookalike_share=0.0)).realism["lookalikes"]
    assert not any(r["present"] or r["placed"] for r in none.values())
    with pytest.raises(ConfigError, match="lookalike_share"):
        PhantomConfig(lookalike_share=1.5)


def test_fbp_noise_has_the_requested_std_and_a_band_pass_spectrum():
    rng = np.random.default_rng(0)
    kernel = NoiseKernel("standard", 0.9)
    hu = np.zeros((6, 256, 256), dtype=np.float32)
    add_fbp_noise(hu, 0.45, 15.0, kernel, rng)
    assert hu.std() == pytest.approx(15.0, rel=0.03)
    nps = measure_nps(hu, np.full(hu.shape, 3, dtype=np.uint8), 0.45, roi_px=32)
    values = np.array(nps["nps_hu2_mm2"])
    assert nps["peak_per_mm"] == pytest.approx(kernel.nps_peak_per_mm, abs=0.07)
    assert values[1] < 0.6 * values.max()  # little power at the lowest frequency, rising to a mid-frequency peak


@pytest.mark.parametrize("realism, band_pass", [("realistic", True), ("legacy", False)])
def test_measured_phantom_nps_peaks_at_a_mid_frequency_only_in_realistic_mode(realism, band_pass):
    case = generate_patient(2, PhantomConfig(realism=realism))  # 512 px: legacy's low-pass noise is resolved
    nps = measure_nps(case.volume.hu[::4], case.tissue[::4], case.acquisition.pixel_spacing_mm, roi_px=32)
    values = np.array(nps["nps_hu2_mm2"])
    assert nps["n_rois"] >= 20
    assert bool(values[1] < 0.85 * values.max()) is band_pass


def test_realistic_heart_has_myocardium_denser_than_blood_pool():
    case = realistic(3)
    myocardium = case.realism["anatomy"]["myocardium_hu"]
    assert 40.0 <= case.realism["anatomy"]["blood_hu"] < myocardium <= 52.0
    assert (case.tissue == 3).sum() > 0 and (case.tissue == 4).sum() > 0


def test_cli_realism_option_picks_the_generator(tmp_path, monkeypatch, capsys):
    from tests.helpers import run_tqgd

    for realism, version in (("legacy", "1.0"), ("realistic", GENERATOR_VERSION)):
        out = tmp_path / realism
        code, stdout, _ = run_tqgd(monkeypatch, capsys, "phantom", out, "-n", "1", "--image-size", "64",
                                   "--realism", realism)
        assert code == 0 and realism in stdout
        sidecar = json.loads((out / "phantom" / "TRV1P1.json").read_text())
        assert sidecar["generator_version"] == version and ("realism" in sidecar) is (realism == "realistic")
    code, _, _ = run_tqgd(monkeypatch, capsys, "phantom", tmp_path / "bad", "--realism", "fancy")
    assert code != 0


def test_cli_metal_share_sets_every_kind_and_is_recorded(tmp_path, monkeypatch, capsys):
    from tests.helpers import run_tqgd

    out = tmp_path / "metal"
    code, _, _ = run_tqgd(monkeypatch, capsys, "phantom", out, "-n", "1", "--image-size", "64", "--metal-share", "1")
    assert code == 0
    metal = json.loads((out / "phantom" / "TRV1P1.json").read_text())["realism"]["metal"]
    assert {kind: record["probability"] for kind, record in metal.items()} == dict.fromkeys(METAL_KINDS, 1.0)
    assert all(record["present"] for record in metal.values())
    code, _, stderr = run_tqgd(monkeypatch, capsys, "phantom", tmp_path / "legacy", "--realism", "legacy",
                               "--metal-share", "0.5")
    assert code != 0 and "legacy generator has no metal" in stderr
    assert not (tmp_path / "legacy").exists()


def test_cli_lookalike_share_sets_every_kind_and_is_recorded(tmp_path, monkeypatch, capsys):
    from tests.helpers import run_tqgd

    out = tmp_path / "lookalikes"
    code, _, _ = run_tqgd(monkeypatch, capsys, "phantom", out, "-n", "1", "--image-size", "64",
                          "--lookalike-share", "1")
    assert code == 0
    record = json.loads((out / "phantom" / "TRV1P1.json").read_text())["realism"]["lookalikes"]
    assert {kind: r["probability"] for kind, r in record.items()} == dict.fromkeys(LOOKALIKE_KINDS, 1.0)
    assert json.loads((out / "phantom" / "phantom.json").read_text())["options"]["lookalike_share"] == 1.0
    code, _, stderr = run_tqgd(monkeypatch, capsys, "phantom", tmp_path / "legacy", "--realism", "legacy",
                               "--lookalike-share", "0.5")
    assert code != 0 and "legacy generator has no look-alikes" in stderr
    assert not (tmp_path / "legacy").exists()
