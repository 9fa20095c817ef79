"""``tqgd phantom``: write a set of synthetic cardiac CT patients with known coronary calcium."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Optional

import typer


class Realism(str, Enum):
    """Which generator: the realistic default (version 2.0) or the byte-identical version-1.0 legacy one."""

    realistic = "realistic"
    legacy = "legacy"


class PhantomFormat(str, Enum):
    """Which files each patient gets: OrCaScore MetaImage layout, a DICOM series, or both."""

    orcascore = "orcascore"
    dicom = "dicom"
    both = "both"


def phantom(
    out: Path = typer.Argument(..., file_okay=False, help="New or empty folder for the set."),
    patients: int = typer.Option(4, "--patients", "-n", min=1, max=4000, help="Number of patients."),
    seed: int = typer.Option(0, "--seed", min=0,
                             help="Seed; the same seed and options give the same files, byte for byte."),
    gated: bool = typer.Option(True, "--gated/--non-gated",
                               help="ECG-gated calcium-scoring scans (OrCaScore-like) or non-gated chest scans "
                                    "(noisier, motion blur over the heart, smaller lesions: Concord-like)."),
    output_format: PhantomFormat = typer.Option(PhantomFormat.orcascore, "--format",
                                                help="orcascore: Images/ + Reference standard/ MetaImage; dicom: "
                                                     "DICOM/<ID>/IM0001.dcm ...; both."),
    image_size: int = typer.Option(512, "--image-size", min=64, max=1024,
                                   help="Slice size in pixels; smaller sizes keep anatomy in mm (larger pixels)."),
    montage: bool = typer.Option(False, "--montage", help="Also save phantom/<ID>_montage.png per patient."),
    overwrite: bool = typer.Option(False, "--overwrite",
                                   help="Write into a non-empty folder, replacing same-named files."),
    realism: Realism = typer.Option(Realism.realistic, "--realism",
                                    help="realistic: look-alikes (mitral annulus, aortic valve and root, pericardium, "
                                         "lymph nodes), metal with streaks, FBP-shaped noise, myocardium vs blood; "
                                         "legacy: the version-1.0 generator, byte-identical, to reproduce old tables."),
    metal_share: Optional[float] = typer.Option(None, "--metal-share", min=0.0, max=1.0,
                                                help="Per-patient probability of each kind of metal (sternal wires, "
                                                     "stents, clips, leads), e.g. 0.5 for a training set rich in "
                                                     "metal; default: 0.05, 0.06, 0.05, 0.03 (realistic mode)."),
    lookalike_share: Optional[float] = typer.Option(None, "--lookalike-share", min=0.0, max=1.0,
                                                    help="Per-patient probability of each kind of calcified "
                                                         "look-alike (mitral annulus, aortic valve and root, "
                                                         "pericardium, lymph nodes), e.g. 1 for a set to train a "
                                                         "lesion verifier on; default: the published rates "
                                                         "0.15, 0.25, 0.30, 0.02, 0.10 (realistic mode)."),
) -> None:
    """Generate synthetic non-contrast cardiac CT patients with known coronary calcium.

    Each patient has a chest, a heart in pericardial fat, the aorta, and calcified lesions on the LAD, LCX and RCA.
    Aortic wall and valve calcium, bone and noise spikes are also bright but are not labelled; the realistic
    default adds mitral annulus, aortic root, pericardial and lymph-node calcium, metal (sternal wires, stents,
    clips, leads) with streaks, and noise with a CT-like band-pass power spectrum, none of it labelled.
    Ground truth per patient goes to phantom/<ID>.json; phantom/phantom.json lists the set.

    Example: tqgd phantom phantom_set --patients 8 --seed 0 --non-gated --format both --montage
    """
    from dataclasses import replace

    import numpy as np
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
    from rich.table import Table

    from tqgd.data.phantom.config import PhantomConfig, with_metal_share
    from tqgd.data.phantom.layout import check_output_folder, write_phantom_set

    config = PhantomConfig(image_size=image_size, gated=gated, realism=realism.value)  # errors before any progress
    if metal_share is not None:
        if realism is not Realism.realistic:
            raise typer.BadParameter("the legacy generator has no metal; use --realism realistic",
                                     param_hint="--metal-share")
        config = with_metal_share(config, metal_share)
    if lookalike_share is not None:
        if realism is not Realism.realistic:
            raise typer.BadParameter("the legacy generator has no look-alikes; use --realism realistic",
                                     param_hint="--lookalike-share")
        config = replace(config, lookalike_share=lookalike_share)
    check_output_folder(out, overwrite)
    formats = ("orcascore", "dicom") if output_format is PhantomFormat.both else (output_format.value,)
    bars = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with bars:
        task = bars.add_task("patients", total=patients)

        def advance(case_id: str) -> None:
            bars.update(task, advance=1, description=f"patients ({case_id})")

        result = write_phantom_set(out, patients, seed, gated=gated, formats=formats, image_size=image_size,
                                   montage=montage, config=config, overwrite=overwrite, progress=advance)
    table = Table(title=f"phantom set: {out}", show_header=False)
    table.add_row("patients", f"{len(result.case_ids)} ({'gated' if gated else 'non-gated'}, {image_size} px, "
                              f"{', '.join(formats)}, {realism.value})")
    table.add_row("lesions", str(result.lesion_count))
    table.add_row("per-slice lesion area (px)", ", ".join(f"{k}: {v}" for k, v in result.area_buckets.items()))
    table.add_row("density weights (peak HU)", ", ".join(f"w{k}: {v}" for k, v in result.density_weights.items()))
    table.add_row("generation s / patient", f"{np.mean(result.generate_s):.2f}")
    table.add_row("writing s / patient", f"{np.mean(result.write_s):.2f}")
    table.add_row("set file", str(out / "phantom" / "phantom.json"))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Attach ``tqgd phantom``."""
    app.command("phantom")(phantom)
