"""A real Orthanc (Debian's ``orthanc`` + ``orthanc-dicomweb``) for the PACS tests, on 127.0.0.1 and free ports.

``start_orthanc`` writes a config into a temporary folder (storage and index there too), starts ``Orthanc`` and
waits for its REST API. The caller's DICOM node is declared under ``known_aets`` so C-GET/C-STORE from it and
C-STORE to it are allowed. Checks use Orthanc's REST API.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.dicom_out.phantom_series import need_tool

DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
ORTHANC_AET = "ORTHANC"
START_TIMEOUT_S = 60.0


START_ATTEMPTS = 3
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now and never handed out before in this process.

    The kernel may offer a just-closed port again, so two calls in a row could return the same number (CI once gave
    Orthanc's HTTP and DICOM servers one port); remembering what was handed out rules that out.
    """
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


@dataclass
class Orthanc:
    """A running Orthanc: its process, ports and REST helpers."""

    process: subprocess.Popen
    http_port: int
    dicom_port: int
    folder: Path

    @property
    def rest(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.rest}/dicom-web"

    def get(self, path: str):
        answer = requests.get(self.rest + path, timeout=30)
        answer.raise_for_status()
        return answer.json() if "json" in answer.headers.get("Content-Type", "") else answer.content

    def upload(self, files: list[Path]) -> None:
        for path in files:
            requests.post(self.rest + "/instances", data=path.read_bytes(), timeout=30).raise_for_status()

    def find_instances(self, **query: str) -> list[dict]:
        """Instances whose tags match ``query`` (Orthanc /tools/find, expanded)."""
        answer = requests.post(self.rest + "/tools/find", json={"Level": "Instance", "Query": query, "Expand": True},
                               timeout=30)
        answer.raise_for_status()
        return answer.json()

    def instance_file(self, orthanc_id: str) -> bytes:
        return self.get(f"/instances/{orthanc_id}/file")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class PortTaken(RuntimeError):
    """Orthanc exited because one of its ports was in use."""


def start_orthanc(folder: Path, known_aets: dict[str, int] | None = None) -> Orthanc:
    """Start Orthanc with its config, storage and log in ``folder``; fail or skip when it is not installed.

    A port taken by another process between choosing and binding it (parallel test workers) gets fresh ports and
    another try, up to ``START_ATTEMPTS``.
    """
    binary = need_tool("Orthanc", "orthanc")
    if not DICOMWEB_PLUGIN.is_file():
        need_tool("orthanc-dicomweb-plugin-missing", "orthanc-dicomweb")
    for attempt in range(1, START_ATTEMPTS + 1):
        try:
            return _start(binary, folder, known_aets)
        except PortTaken:
            if attempt == START_ATTEMPTS:
                raise


def _start(binary: str, folder: Path, known_aets: dict[str, int] | None) -> Orthanc:
    http_port, dicom_port = free_port(), free_port()
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "Name": "tqgd-test", "StorageDirectory": str(folder / "storage"), "IndexDirectory": str(folder / "index"),
        "HttpPort": http_port, "DicomPort": dicom_port, "DicomAet": ORTHANC_AET, "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False, "DicomCheckCalledAet": False, "DicomCheckModalityHost": False,
        "DicomAlwaysAllowEcho": True, "DicomAlwaysAllowStore": True, "DicomAlwaysAllowFind": True,
        "DicomAlwaysAllowGet": True, "DicomAlwaysAllowMove": True, "UnknownSopClassAccepted": True,
        "DicomModalities": {aet.lower(): [aet, "127.0.0.1", port] for aet, port in (known_aets or {}).items()},
        "Plugins": [str(DICOMWEB_PLUGIN)], "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StableAge": 1, "HttpTimeout": 60, "SaveJobs": False,
    }
    (folder / "orthanc.json").write_text(json.dumps(config, indent=2))
    log = open(folder / "orthanc.log", "wb")
    process = subprocess.Popen([binary, str(folder / "orthanc.json")], stdout=log, stderr=subprocess.STDOUT,
                               cwd=folder)
    server = Orthanc(process, http_port, dicom_port, folder)
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            text = (folder / "orthanc.log").read_text(errors="replace")
            error = PortTaken if "already in use" in text else RuntimeError
            raise error(f"Orthanc exited with {process.returncode}; log:\n{text[-3000:]}")
        try:
            server.get("/system")
            return server
        except requests.RequestException:
            time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"Orthanc did not answer on port {http_port} within {START_TIMEOUT_S:.0f}s; see "
                       f"{folder / 'orthanc.log'}")
