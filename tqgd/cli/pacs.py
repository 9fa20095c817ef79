"""``tqgd pacs run`` (pull a study from a PACS, score it, push SEG/SR/SC back) and ``tqgd listen`` (a DICOM node)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

pacs_app = typer.Typer(help="PACS round trips: pull CT from a PACS, score it, store DICOM results back.",
                       no_args_is_help=True)

Method = Annotated[str, typer.Option("--method", help="detect (TQGDNet, --weights or the shipped/demo weights) or "
                                                      "threshold (every voxel >= 130 HU in the scan: checks the PACS "
                                                      "plumbing without weights; NOT a calcium score).")]
Weights = Annotated[Path | None, typer.Option("--weights", exists=True, dir_okay=False,
                                                 help="Calcium detector weights for --method detect.")]
HeartWeights = Annotated[Path | None, typer.Option("--heart-weights", exists=True, dir_okay=False,
                                                      help="Heart detector weights for --method detect.")]
Device = Annotated[str | None, typer.Option("--device", help="cpu, 0, ... (default: ultralytics' choice).")]


def make_pacs(url: str | None, aet: str | None, host: str | None, port: int | None, calling_aet: str, what: str):
    """A ``DicomWebPacs`` for ``url`` or a ``DimsePacs`` for ``aet``/``host``/``port``; usage error otherwise."""
    from tqgd.pacs.dicomweb import DicomWebPacs
    from tqgd.pacs.dimse import DimsePacs

    dimse = [v for v in (aet, host, port) if v is not None]
    if url is not None and not dimse:
        return DicomWebPacs(url)
    if url is None and len(dimse) == 3:
        return DimsePacs(aet, host, port, calling_aet=calling_aet)  # type: ignore[arg-type]
    raise typer.BadParameter(f"give the {what} either as a DICOMweb URL or as AE title, host and port (all three)")


@pacs_app.command("run")
def run(study: Annotated[str, typer.Option("--study", help="StudyInstanceUID to fetch and score.")],
        url: Annotated[str | None, typer.Option("--url", help="DICOMweb root, e.g. http://pacs:8042/dicom-web.")]
        = None,
        aet: Annotated[str | None, typer.Option("--aet", help="The PACS's AE title (DIMSE).")] = None,
        host: Annotated[str | None, typer.Option("--host", help="The PACS's host (DIMSE).")] = None,
        port: Annotated[int | None, typer.Option("--port", help="The PACS's DICOM port (DIMSE).")] = None,
        calling_aet: Annotated[str, typer.Option("--calling-aet", help="tqgd's own AE title (DIMSE).")] = "TQGD",
        series: Annotated[list[str] | None, typer.Option("--series", help="Only this SeriesInstanceUID "
                                                                             "(repeatable); default: every CT "
                                                                             "series of the study.")] = None,
        out: Annotated[Path, typer.Option("--out", "-o", file_okay=False, help="Work folder: fetched series, "
                                                                               "results, pacs_run.json.")]
        = Path("runs/pacs"),
        method: Method = "detect", weights: Weights = None, heart_weights: HeartWeights = None,
        device: Device = None) -> None:
    """Fetch a study's CT series from a PACS, detect and score calcium, and store SEG, SR and SC back.

    DICOMweb: QIDO-RS finds the CT series, WADO-RS fetches them, STOW-RS stores the results. DIMSE: C-FIND, C-GET
    (the PACS sends the images on the same association) and C-STORE. The results carry the study's patient and
    study modules; OUT keeps the fetched series, score.json, report.png and pacs_run.json (UIDs, numbers, timings).

    Example: tqgd pacs run --url http://localhost:8042/dicom-web --study 1.2.840... --weights best.pt
    """
    from rich.console import Console

    from tqgd.io import check_writable
    from tqgd.pacs.analysis import make_analyser
    from tqgd.pacs.roundtrip import run_round_trip

    console = Console()
    pacs = make_pacs(url, aet, host, port, calling_aet, "PACS")
    check_writable(out)
    analyser = make_analyser(method, weights, heart_weights, device)
    if method == "threshold":
        console.print("[bold red]--method threshold scores every voxel >= 130 HU (bone included): a plumbing "
                      "check, not a calcium score[/bold red]")

    def report(trip) -> None:
        t = trip.seconds
        console.print(f"series {trip.series_uid}: {trip.instances} instances, Agatston {trip.agatston:.1f} "
                      f"({trip.risk_category}); stored {', '.join(trip.stored)} on {pacs.describe()}; "
                      f"fetch {t['fetch']:.1f}s, analyse {t['analyse']:.1f}s, store {t['store']:.1f}s")

    trips = run_round_trip(pacs, study, analyser, out, series_uids=series or None, on_series=report)
    console.print(f"{len(trips)} series done; record in {out / 'pacs_run.json'}")


def listen(storage: Annotated[Path, typer.Option("--storage", file_okay=False,
                                                 help="Folder for received series, their state and results "
                                                      "(kept across restarts).")],
           port: Annotated[int, typer.Option("--port", help="DICOM port to listen on.")] = 11112,
           host: Annotated[str, typer.Option("--host", help="Address to listen on (0.0.0.0: every interface).")]
           = "127.0.0.1",
           ae_title: Annotated[str, typer.Option("--aet", help="This node's AE title.")] = "TQGD",
           idle_timeout: Annotated[float, typer.Option("--idle-timeout", min=0.1,
                                                       help="A series is complete after this many seconds "
                                                            "without a new instance.")] = 10.0,
           dest_url: Annotated[str | None, typer.Option("--dest-url", help="Send results by STOW-RS here "
                                                                           "(DICOMweb root).")] = None,
           dest_aet: Annotated[str | None, typer.Option("--dest-aet", help="Send results by C-STORE to this AE "
                                                                           "title ...")] = None,
           dest_host: Annotated[str | None, typer.Option("--dest-host", help="... at this host ...")] = None,
           dest_port: Annotated[int | None, typer.Option("--dest-port", help="... and port.")] = None,
           retry: Annotated[float, typer.Option("--retry-s", min=0.1, help="Seconds between tries to send "
                                                                            "results the destination refused.")]
           = 30.0,
           method: Method = "detect", weights: Weights = None, heart_weights: HeartWeights = None,
           device: Device = None) -> None:
    """Run a DICOM node: receive CT series by C-STORE, score each once complete, send SEG, SR and SC on.

    Every instance is on disk before its success status goes back; non-CT and broken objects are logged and
    refused with a failure status while the node keeps serving; unfinished series resume after a restart.

    Example: tqgd listen --storage /var/lib/tqgd --port 11112 --dest-aet PACS --dest-host pacs --dest-port 104
    """
    import logging

    from tqgd.io import check_writable
    from tqgd.pacs.analysis import make_analyser
    from tqgd.pacs.listen import Listener

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
    destination = make_pacs(dest_url, dest_aet, dest_host, dest_port, ae_title, "destination (--dest-...)")
    check_writable(storage)
    analyser = make_analyser(method, weights, heart_weights, device)
    if method == "threshold":
        logging.getLogger("tqgd.pacs.listen").warning("--method threshold scores every voxel >= 130 HU (bone "
                                                      "included): a plumbing check, not a calcium score")
    Listener(storage, analyser, destination, ae_title=ae_title, host=host, port=port, idle_timeout_s=idle_timeout,
             retry_s=retry).serve_forever()


def register(app: typer.Typer) -> None:
    """Attach ``tqgd pacs run`` and ``tqgd listen``."""
    app.add_typer(pacs_app, name="pacs")
    app.command("listen")(listen)
