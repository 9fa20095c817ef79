"""``tqgd listen``: a DICOM node (C-STORE SCP) that scores each CT series it receives and sends the results on.

1. An instance arrives (C-STORE). It is refused with a failure status, and logged, when it cannot be decoded, lacks
   its UIDs or pixel data (0xC000, cannot understand) or is not CT (0xA900, does not match); the node keeps serving.
2. A CT instance is written durably (``series_store``) and only then answered with success (0x0000); a full disk
   answers 0xA700 (out of resources), so the sender keeps it and retries.
3. A series is complete when no instance of it has arrived for ``idle_timeout_s`` seconds. The worker thread then
   analyses it (``analysis``) and sends SEG, SR and SC to the destination; ``state.json`` records ``done``.
   Instances that arrive while it is analysed make the analysis stale: the series waits for another idle period.
4. A failed analysis is recorded (``failed``, with the error) and not retried; a failed send (``unsent``) is
   retried every ``retry_s`` seconds. A restart resumes every series left ``receiving`` or ``unsent``.
"""

from __future__ import annotations

import logging
import threading
import time
import traceback
from pathlib import Path

from tqgd.pacs.analysis import Analyser
from tqgd.pacs.files import is_uid
from tqgd.pacs.series_store import DONE, FAILED, RECEIVING, UNSENT, SeriesStore

log = logging.getLogger("tqgd.pacs.listen")

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
NOT_MATCHING = 0xA900  # Data Set does not match SOP Class (here: not CT)
CANNOT_UNDERSTAND = 0xC000
CT_SOP_CLASSES = ("1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.2.1")
DEFAULT_AET = "TQGD"
DEFAULT_PORT = 11112


def check_instance(ds, affected_uid: str) -> tuple[int, str]:
    """(status, reason) for a received dataset: SUCCESS and "" when it is a storable CT instance."""
    sop_uid = str(ds.get("SOPInstanceUID", ""))
    series_uid = str(ds.get("SeriesInstanceUID", ""))
    if not is_uid(sop_uid) or not is_uid(series_uid):
        return CANNOT_UNDERSTAND, f"invalid or missing SOPInstanceUID/SeriesInstanceUID ({sop_uid!r}, {series_uid!r})"
    if sop_uid != affected_uid:
        return CANNOT_UNDERSTAND, f"SOPInstanceUID {sop_uid} differs from the C-STORE request's {affected_uid}"
    modality, sop_class = str(ds.get("Modality", "")), str(ds.get("SOPClassUID", ""))
    if modality != "CT" or sop_class not in CT_SOP_CLASSES:
        return NOT_MATCHING, f"not CT (Modality {modality!r}, SOP class {sop_class}); only CT series are scored"
    if "PixelData" not in ds:
        return CANNOT_UNDERSTAND, "no Pixel Data"
    syntax = getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", None)
    if syntax is None or not syntax.is_compressed:  # uncompressed: the pixel bytes must all be there
        rows, columns = int(ds.get("Rows", 0)), int(ds.get("Columns", 0))
        expected = rows * columns * int(ds.get("BitsAllocated", 16)) // 8 * int(ds.get("NumberOfFrames", 1) or 1)
        if rows == 0 or columns == 0 or len(ds.PixelData) < expected:
            return CANNOT_UNDERSTAND, f"Pixel Data holds {len(ds.PixelData)} bytes, {rows}x{columns} needs {expected}"
    return SUCCESS, ""


class Listener:
    """The node: a pynetdicom C-STORE SCP on ``host``:``port`` plus a worker thread (see the module docstring)."""

    def __init__(self, storage: Path, analyser: Analyser, destination, *, ae_title: str = DEFAULT_AET,
                 host: str = "127.0.0.1", port: int = DEFAULT_PORT, idle_timeout_s: float = 10.0,
                 poll_s: float = 0.5, retry_s: float = 30.0):
        self.store = SeriesStore(storage)
        self.analyser, self.destination = analyser, destination
        self.ae_title, self.host, self.port = ae_title, host, port
        self.idle_timeout_s, self.poll_s, self.retry_s = idle_timeout_s, poll_s, retry_s
        self._stop = threading.Event()
        self._server = None
        self._worker: threading.Thread | None = None
        self._next_send: dict[str, float] = {}

    # --- receiving -------------------------------------------------------------------------------------------
    def on_store(self, event) -> int:
        """EVT_C_STORE handler: success only once the instance is on disk (see the module docstring)."""
        affected = str(event.request.AffectedSOPInstanceUID)
        try:
            ds = event.dataset
            ds.file_meta = event.file_meta
            status, reason = check_instance(ds, affected)
        except Exception as exc:  # a broken object must not take the node down
            status, reason = CANNOT_UNDERSTAND, f"cannot decode the data set: {type(exc).__name__}: {exc}"
        if status != SUCCESS:
            log.warning("refused instance %s from %s: %s (status 0x%04X)", affected,
                        event.assoc.requestor.ae_title, reason, status)
            return status
        try:
            self.store.add(str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID), event.encoded_dataset())
        except OSError as exc:
            log.error("cannot store instance %s (%s); answered out of resources", affected, exc)
            return OUT_OF_RESOURCES
        return SUCCESS

    # --- processing ------------------------------------------------------------------------------------------
    def process(self, series_uid: str) -> None:
        """Analyse (when ``receiving``) and send (``unsent``) one idle series."""
        state = self.store.state(series_uid)
        folder = self.store.folder(series_uid)
        if state.get("status") == RECEIVING:
            started = time.monotonic()
            count = len(list(self.store.instances(series_uid).glob("*.dcm")))
            log.info("series %s: %d instances, idle for %gs: analysing", series_uid, count, self.idle_timeout_s)
            try:
                result = self.analyser.analyse(self.store.instances(series_uid), folder / "results")
            except Exception as exc:
                if self.store.changed_since(series_uid, started):
                    return  # more instances came: analyse again after the next idle period
                log.error("series %s: analysis failed: %s", series_uid, exc)
                self.store.set_state(series_uid, status=FAILED, error=f"{type(exc).__name__}: {exc}",
                                     traceback=traceback.format_exc(limit=5))
                return
            if self.store.changed_since(series_uid, started):
                log.info("series %s: instances arrived during the analysis; waiting for the series again", series_uid)
                return
            self.store.set_state(series_uid, status=UNSENT, instances=count, agatston=result.agatston,
                                 risk_category=result.risk_category, analysis_s=time.monotonic() - started,
                                 dicom=[str(p.relative_to(folder)) for p in result.dicom])
            state = self.store.state(series_uid)
        if state.get("status") == UNSENT:
            if time.monotonic() < self._next_send.get(series_uid, 0.0):
                return
            try:
                self.destination.store([folder / p for p in state["dicom"]])
            except Exception as exc:
                self._next_send[series_uid] = time.monotonic() + self.retry_s
                log.error("series %s: sending to %s failed (%s); retrying in %gs", series_uid,
                          self.destination.describe(), exc, self.retry_s)
                return
            self.store.set_state(series_uid, status=DONE, sent_to=self.destination.describe())
            log.info("series %s: results sent to %s (Agatston %.1f)", series_uid, self.destination.describe(),
                     state.get("agatston", float("nan")))

    def _work(self) -> None:
        while not self._stop.is_set():
            for series_uid in self.store.idle(self.idle_timeout_s):
                if self._stop.is_set():
                    break
                try:
                    self.process(series_uid)
                except Exception:  # the worker must outlive any one series
                    log.exception("series %s: unexpected error", series_uid)
            self._stop.wait(self.poll_s)

    # --- running ---------------------------------------------------------------------------------------------
    def start(self) -> None:
        """Start the SCP (non-blocking) and the worker."""
        from pynetdicom import AE, ALL_TRANSFER_SYNTAXES, AllStoragePresentationContexts, evt
        from pynetdicom.sop_class import Verification

        ae = AE(ae_title=self.ae_title)
        for context in AllStoragePresentationContexts:  # all classes: non-CT gets a logged refusal, not a reject
            syntaxes = ALL_TRANSFER_SYNTAXES if context.abstract_syntax in CT_SOP_CLASSES else None
            ae.add_supported_context(context.abstract_syntax, syntaxes)
        ae.add_supported_context(Verification)
        self._server = ae.start_server((self.host, self.port), block=False,
                                       evt_handlers=[(evt.EVT_C_STORE, self.on_store)])
        self._worker = threading.Thread(target=self._work, name="tqgd-listen-worker", daemon=True)
        self._worker.start()
        log.info("listening as %s on %s:%d; storage %s; %d unfinished series resumed", self.ae_title, self.host,
                 self.port, self.store.root, len(self.store.idle(0.0)))

    def stop(self) -> None:
        """Stop accepting, let the worker finish its current series."""
        self._stop.set()
        server, worker, self._server, self._worker = self._server, self._worker, None, None
        if server is not None:
            server.shutdown()
        if worker is not None:
            worker.join()

    def serve_forever(self) -> None:
        """Start, then block until interrupted (Ctrl-C or SIGTERM)."""
        import signal

        self.start()
        signal.signal(signal.SIGTERM, lambda *_: self._stop.set())
        try:
            while not self._stop.wait(1.0):
                pass
        except KeyboardInterrupt:
            log.info("interrupted")
        finally:
            self.stop()
