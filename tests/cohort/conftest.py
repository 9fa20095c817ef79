"""Shared cohort test set-up: a mixed source tree of small phantom scans, tiny real weights, one local Ray instance.

Source (8 scans): four DICOM series (``site_a/``, ``site_b/P5``) and two MetaImage scans (``site_b/``) of
64 px phantom patients, a DICOM series with one slice's pixel data cut short (``site_a/broken``) and a series
relabelled MR (``site_b/mr``); plus a note file, which is not a scan. Weights: TQGDNet-n trained one epoch on 64 px
slices of the same phantom set (a few seconds), so the workers run the real model; ``--conf 0.001`` makes even this
model return boxes. Ray: started once for the session through ``tqgd.cohort.cluster.ray_session`` (the code a run
without ``--address`` uses) with 2 CPUs; every run in the tests joins it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

LOW_CONF = 0.001
#: The scans that must be scored, relative to the source folder (phantom IDs as write_phantom_set names them).
GOOD = ("site_a/TRV1P1", "site_a/TRV1P2", "site_a/TRV2P1", "site_b/P5", "site_b/TRV3P1CTI.mhd",
        "site_b/TRV3P2CTI.mhd")
GOOD_SCANS = len(GOOD)
BAD_SCANS = {"site_a/broken": "truncated", "site_b/mr": "'MR', expected 'CT'"}


@dataclass(frozen=True)
class CohortData:
    """The source tree, the weights, and the source-relative paths of the scans that must be scored."""

    source: Path
    weights: Path
    good: tuple[str, ...]


def _write_source(root: Path) -> tuple[Path, tuple[str, ...]]:
    import pydicom

    from tqgd.data.phantom.layout import write_phantom_set

    phantom = root / "phantom"
    write_phantom_set(phantom, GOOD_SCANS + 1, seed=11, image_size=64, formats=("orcascore", "dicom"))
    ids = sorted(p.name for p in (phantom / "DICOM").iterdir())
    source = root / "source"
    good = []
    for case in ids[:3]:
        shutil.copytree(phantom / "DICOM" / case, source / "site_a" / case)
        good.append(f"site_a/{case}")
    shutil.copytree(phantom / "DICOM" / ids[3], source / "site_b" / "P5")
    good.append("site_b/P5")
    for case in ids[4:6]:
        for suffix in (".mhd", ".zraw"):
            shutil.copy(phantom / "Images" / f"{case}CTI{suffix}", source / "site_b" / f"{case}CTI{suffix}")
        good.append(f"site_b/{case}CTI.mhd")
    broken = source / "site_a" / "broken"
    shutil.copytree(phantom / "DICOM" / ids[6], broken)
    cut = sorted(broken.iterdir())[3]
    cut.write_bytes(cut.read_bytes()[:-1000])
    mr = source / "site_b" / "mr"
    shutil.copytree(phantom / "DICOM" / ids[6], mr)
    for path in mr.iterdir():
        ds = pydicom.dcmread(path)
        ds.Modality = "MR"
        ds.save_as(path)
    (source / "notes.txt").write_text("not a scan\n")
    return source, tuple(sorted(good))


@pytest.fixture(scope="session")
def cohort_data(tmp_path_factory) -> CohortData:
    from tqgd.data.convert.orcascore import OrcaConvertOptions, convert_orcascore
    from tqgd.engine.train import train

    root = tmp_path_factory.mktemp("cohort")
    source, good = _write_source(root)
    dataset = convert_orcascore(root / "phantom", root / "ds", OrcaConvertOptions(folds=2, negatives="1")).out
    run = train(dataset / "orcascore.yaml", "tqgdnet-n", epochs=1, imgsz=64, batch=4, device="cpu",
                project=root / "runs", name="calcium", options={"workers": 0, "plots": False, "val": False})
    return CohortData(source=source, weights=Path(run.best), good=good)


@pytest.fixture(scope="session")
def local_ray():
    """A local Ray instance with 2 CPUs for the whole session (started as ``tqgd cohort run`` starts it)."""
    from tqgd.cohort.cluster import ray_session

    with ray_session(None, 2) as ray:
        yield ray
