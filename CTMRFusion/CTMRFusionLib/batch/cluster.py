"""The Dask engine: a ``LocalCluster`` of worker processes by default, or an existing cluster by address.

ITK and torch threads are set per case so that, on every host, Dask task slots × threads per case = cores: a
worker host with 16 cores running 4 workers × 2 threads gives each case 2 threads.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from CTMRFusionLib.core.errors import InvalidInputError
from CTMRFusionLib.core.threads import available_cores

#: Cores per case when the local cluster's size is not given.
CORES_PER_CASE = 2
#: How long to wait for an existing scheduler to answer, in seconds.
CONNECT_TIMEOUT_S = 30
#: A task whose worker dies is run again once (Dask's own rescheduling); then it fails with KilledWorker.
ALLOWED_FAILURES = 1


@dataclass
class Engine:
    """A connected Dask client; ``cluster`` is the LocalCluster this run started (None for an existing one)."""

    client: object
    cluster: object | None

    @property
    def dashboard(self) -> str | None:
        return self.cluster.dashboard_link if self.cluster is not None else None

    def close(self) -> None:
        self.client.close()
        if self.cluster is not None:
            self.cluster.close()


def start(scheduler: str | None = None, workers: int | None = None, threads_per_worker: int | None = None) -> Engine:
    """Connect to ``scheduler`` (an address such as ``tcp://host:8786``) or start a local cluster of ``workers``
    processes with ``threads_per_worker`` task slots each.

    Defaults: 1 slot per worker and one worker per :data:`CORES_PER_CASE` cores, so each case registers with
    that many ITK threads. On 2 cores, 1 worker × 2 threads and 2 workers × 1 thread gave the same throughput
    (docs/benchmarks.md, cohort throughput); the first needs half the memory.
    """
    try:
        import dask  # noqa: PLC0415 - the batch engine is optional for the rest of the package
        from distributed import Client, LocalCluster  # noqa: PLC0415
    except ImportError as error:
        raise InvalidInputError(f"batch needs Dask distributed ({error}); pip install 'dask[distributed]'") from None
    if scheduler:
        if workers or threads_per_worker:
            raise InvalidInputError("--workers and --threads-per-worker set up a local cluster; not with --scheduler")
        try:
            return Engine(Client(scheduler, timeout=CONNECT_TIMEOUT_S), None)
        except (OSError, TimeoutError, ValueError) as error:
            raise InvalidInputError(f"cannot reach the Dask scheduler at {scheduler}: {error}") from None
    threads_per_worker = threads_per_worker or 1
    workers = workers or max(1, available_cores() // (threads_per_worker * CORES_PER_CASE))
    if workers < 1 or threads_per_worker < 1:
        raise InvalidInputError("--workers and --threads-per-worker must be at least 1")
    with dask.config.set({"distributed.scheduler.allowed-failures": ALLOWED_FAILURES}):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=threads_per_worker,
            processes=True,
            silence_logs=logging.ERROR,
        )
    return Engine(Client(cluster), cluster)


def threads_per_case(client) -> dict[str, int]:
    """Worker address → threads for each case it runs: the host's cores shared among the host's task slots."""
    workers = client.scheduler_info(n_workers=-1)["workers"]
    cores = client.run(available_cores)
    slots_per_host: dict[str, int] = {}
    for info in workers.values():
        slots_per_host[info["host"]] = slots_per_host.get(info["host"], 0) + int(info["nthreads"])
    return {
        address: max(1, int(cores.get(address, 1)) // max(1, slots_per_host[info["host"]]))
        for address, info in workers.items()
    }
