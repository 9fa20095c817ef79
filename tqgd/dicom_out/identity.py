"""Who made the result: the algorithm's name, version and fingerprint, and the UIDs derived from them.

The fingerprint is the SHA-256 of the weights file for ``tqgd detect`` and of the scored mask's voxels for
``tqgd score --mask`` (the mask is then the model's output tqgd was handed). It goes into the SEG's Algorithm
Identification and the SR's algorithm parameters, and into every UID (``derived_uid``).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from pydicom.uid import UID, generate_uid

#: Prefix of the hashed inputs of every derived UID (changing it would change every UID tqgd ever wrote).
UID_NAMESPACE = "tqgd-dicom-out/1"
_CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class AlgorithmIdentity:
    """Name, version and fingerprint of what produced the calcium voxels, plus the scoring conventions used."""

    name: str
    version: str
    fingerprint_kind: str  # "weights" | "mask" | "detections"
    fingerprint_sha256: str
    conventions: dict[str, Any] = field(default_factory=dict)

    @property
    def short(self) -> str:
        """First 16 hex digits of the fingerprint (for labels and descriptions)."""
        return self.fingerprint_sha256[:16]

    def parameters(self) -> dict[str, str]:
        """Algorithm parameters as DICOM writes them (strings): the fingerprint and the scoring conventions."""
        params = {f"{self.fingerprint_kind}_sha256": self.fingerprint_sha256}
        params.update({key: json.dumps(value, sort_keys=True) if not isinstance(value, str) else value
                       for key, value in sorted(self.conventions.items())})
        return params

    def uid_key(self) -> str:
        """What the UIDs depend on besides the source series: fingerprint, version and conventions."""
        return json.dumps([self.name, self.version, self.fingerprint_kind, self.fingerprint_sha256,
                           self.conventions], sort_keys=True, default=str)


def _version() -> str:
    import tqgd

    return tqgd.__version__


def file_sha256(path: str | Path) -> str:
    """SHA-256 hex digest of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def detector_identity(weights: str | Path, conventions: dict[str, Any] | None = None) -> AlgorithmIdentity:
    """The identity of ``tqgd detect`` with ``weights`` (fingerprint: the weights file's SHA-256)."""
    return AlgorithmIdentity(name="tqgd TQGDNet calcium detector", version=_version(), fingerprint_kind="weights",
                             fingerprint_sha256=file_sha256(weights), conventions=dict(conventions or {}))


def mask_identity(mask: np.ndarray, conventions: dict[str, Any] | None = None,
                  name: str = "tqgd calcium scoring of a given mask") -> AlgorithmIdentity:
    """The identity of ``tqgd score --mask`` (fingerprint: SHA-256 of the mask's shape and int32 voxels)."""
    values = np.ascontiguousarray(np.asarray(mask), dtype=np.int32)
    digest = hashlib.sha256(json.dumps(list(values.shape)).encode() + values.tobytes()).hexdigest()
    return AlgorithmIdentity(name=name, version=_version(), fingerprint_kind="mask", fingerprint_sha256=digest,
                             conventions=dict(conventions or {}))


def detections_identity(detections: str | Path, conventions: dict[str, Any] | None = None) -> AlgorithmIdentity:
    """The identity of ``tqgd score --detections`` (fingerprint: the detections.json file's SHA-256)."""
    return AlgorithmIdentity(name="tqgd TQGDNet calcium detector", version=_version(), fingerprint_kind="detections",
                             fingerprint_sha256=file_sha256(detections), conventions=dict(conventions or {}))


def source_key(sources) -> str:
    """The source's part of every derived UID: its SeriesInstanceUID and a hash of its SOPInstanceUIDs (a series
    that gains or loses instances gives new objects, never new content under old UIDs)."""
    instances = "\n".join(sorted(str(ds.SOPInstanceUID) for ds in sources))
    return f"{sources[0].SeriesInstanceUID}/{hashlib.sha256(instances.encode()).hexdigest()}"


def derived_uid(source: str, algorithm: AlgorithmIdentity, role: str) -> UID:
    """A UID that depends only on the source (``source_key``), the algorithm identity and ``role``."""
    return generate_uid(entropy_srcs=[UID_NAMESPACE, source, algorithm.uid_key(), role])
