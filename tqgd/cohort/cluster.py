"""Ray for a cohort run: a quiet local instance, or an existing cluster; workers as Ray actors.

Without an address, Ray starts on this machine for the run and stops after it: ``num_cpus`` as asked, no dashboard,
no usage statistics, bound to 127.0.0.1, logs in a fresh temporary folder (deleted afterwards), so it works offline
and never meets another user's ``/tmp/ray``. ``auto`` joins the cluster this machine belongs to (``ray start``);
``ray://HOST:PORT`` connects through Ray Client (``pip install "ray[client]"``). On a cluster tqgd must be installed
on every node, and the scans and ``--out`` must be at the same paths everywhere (a shared filesystem).

Actors are made with ``max_restarts=0`` and ``max_task_retries=0``: when a worker dies, ``tqgd.cohort.run`` replaces
it and decides about the scan itself (bounded retries, exactly-once commit).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from typing import Any

from tqgd.errors import CohortError

#: Smallest object store Ray accepts is 75 MB; rows are small, so a local run keeps it small.
LOCAL_OBJECT_STORE_BYTES = 128 * 1024**2
#: Tries at starting Ray locally: Ray gives its raylet a fixed 30 s to register, which a machine busy with other
#: work can miss (seen here at load 5 on 2 cores); the processes of a failed try are stopped before the next.
LOCAL_START_TRIES = 3


@contextlib.contextmanager
def ray_session(address: str | None, num_cpus: int | None = None) -> Iterator[Any]:
    """Connected ``ray`` module: a new local instance (``address`` None, stopped afterwards), the cluster at
    ``address``, or the instance this process already joined (left running).

    Raises:
        CohortError: Ray cannot start or the cluster cannot be reached.
    """
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    import ray

    if ray.is_initialized():
        yield ray
        return
    temp_dir = None
    try:
        if address is None:
            temp_dir = _start_local(ray, num_cpus)
        else:
            ray.init(address=address, logging_level=logging.ERROR, log_to_driver=False)
    except Exception as exc:  # Ray raises ConnectionError, RuntimeError, ValueError ... for the same user mistake
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise CohortError(f"cannot start or reach {where} ({type(exc).__name__}: {exc}); check --address (auto needs "
                          "`ray start` on this machine, ray://HOST:PORT needs ray[client] and the head's client "
                          "port, usually 10001)") from exc
    try:
        yield ray
    finally:
        ray.shutdown()
        if temp_dir:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _start_local(ray: Any, num_cpus: int | None) -> str:
    """Start Ray on this machine (``LOCAL_START_TRIES`` tries); return its temporary folder."""
    failure: Exception | None = None
    for _ in range(LOCAL_START_TRIES):
        temp_dir = tempfile.mkdtemp(prefix="tqgd-ray-")  # short: Ray's socket paths must stay under 108 bytes
        try:
            ray.init(num_cpus=num_cpus, include_dashboard=False, _temp_dir=temp_dir, _node_ip_address="127.0.0.1",
                     object_store_memory=LOCAL_OBJECT_STORE_BYTES, logging_level=logging.ERROR, log_to_driver=False)
            return temp_dir
        except Exception as exc:
            failure = exc
            with contextlib.suppress(Exception):
                ray.shutdown()
            stop_children_using(temp_dir)
            shutil.rmtree(temp_dir, ignore_errors=True)
    raise failure  # type: ignore[misc]  (LOCAL_START_TRIES >= 1)


def stop_children_using(temp_dir: str) -> list[int]:
    """Kill this process's child processes whose command line names ``temp_dir`` (a failed Ray start's GCS, raylet
    and workers); return their process IDs."""
    import psutil

    stopped = []
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if any(temp_dir in part for part in child.cmdline()):
                child.kill()
                stopped.append(child.pid)
    return stopped


def default_workers(ray: Any, cpus_per_worker: float, gpus_per_worker: float) -> int:
    """As many workers as the cluster's GPUs (or, without ``gpus_per_worker``, CPUs) hold.

    Raises:
        CohortError: the cluster has fewer GPUs or CPUs than one worker asks for.
    """
    resources = ray.cluster_resources()
    kind, need = ("GPU", gpus_per_worker) if gpus_per_worker > 0 else ("CPU", cpus_per_worker)
    count = int(resources.get(kind, 0) // need)
    if count < 1:
        raise CohortError(f"the Ray cluster has {resources.get(kind, 0):g} {kind}(s), one worker asks for {need:g}; "
                          f"lower --{kind.lower()}s-per-worker or add {kind}s")
    return count


def actor_class(ray: Any, cpus_per_worker: float, gpus_per_worker: float) -> Any:
    """``ScanWorker`` as a Ray actor class with these resources, never restarted or retried by Ray itself."""
    from tqgd.cohort.worker import ScanWorker

    return ray.remote(num_cpus=cpus_per_worker, num_gpus=gpus_per_worker, max_restarts=0,
                      max_task_retries=0)(ScanWorker)


def worker_died_errors(ray: Any) -> tuple[type[BaseException], ...]:
    """Ray's errors meaning "the worker process (or its node) is gone", not "the scan raised"."""
    names = ("RayActorError", "WorkerCrashedError", "OutOfMemoryError", "NodeDiedError", "ObjectLostError",
             "OwnerDiedError")
    return tuple(getattr(ray.exceptions, name) for name in names if hasattr(ray.exceptions, name))
