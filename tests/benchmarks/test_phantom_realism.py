"""benchmarks/phantom_realism.py: the smoke run writes its block, and the component count finds every cause."""

from __future__ import annotations

import numpy as np
import phantom_realism
import pytest

from tqgd.data.phantom import PhantomConfig, generate_patient


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    work = tmp_path_factory.mktemp("realism")
    markdown = work / "BENCHMARKS.md"
    markdown.write_text("# Benchmarks\n\nprose kept\n")
    block = phantom_realism.main(["--work", str(work), "--smoke", "--update", str(markdown)])
    return work, markdown, block


def test_smoke_run_writes_every_table_into_its_block(smoke):
    work, markdown, block = smoke
    text = markdown.read_text()
    assert "prose kept" in text and "<!-- phantom_realism:begin -->" in text and block in text
    for heading in ("| blood pool | 35 to 45 |", "| myocardium |", "| NPS peak", "| **all** |", "| 0-10 |",
                    "| realistic | threshold + artery prior |", "| legacy | threshold |"):
        assert heading in block
    assert (work / "phantom_realism.json").is_file()


def test_smoke_run_measures_textbook_blood_and_fat_and_band_pass_noise(smoke):
    import json

    results = json.loads((smoke[0] / "phantom_realism.json").read_text())["results"]
    realistic_gated = next(r for r in results if r["realism"] == "realistic" and r["gated"])
    assert 35 <= realistic_gated["hu"]["blood pool"][0] <= 45
    assert realistic_gated["hu"]["blood pool"][0] < realistic_gated["hu"]["myocardium"][0] <= 50
    assert -120 <= realistic_gated["hu"]["fat"][0] <= -80
    assert realistic_gated["nps_peak_per_mm"][0] > 0.1
    assert "myocardium" not in next(r for r in results if r["realism"] == "legacy")["hu"]


def test_components_are_counted_by_cause_and_never_include_labelled_calcium():
    case = generate_patient(1, PhantomConfig(image_size=128, sternal_wire_share=1.0, stent_share=1.0, clip_share=1.0,
                                             lead_share=1.0))
    counts = phantom_realism.components_by_cause(case)
    assert "unattributed" not in counts  # realistic truth explains every bright voxel
    assert set(counts) & {"stent", "lead", "clip", "sternal_wire", "streak"}
    emptied = generate_patient(1, PhantomConfig(image_size=128))
    emptied.volume.hu[:] = np.where(emptied.labels > 0, emptied.volume.hu, 0.0)
    assert sum(phantom_realism.components_by_cause(emptied).values()) == 0
