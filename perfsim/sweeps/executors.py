"""Where a sweep's chunks run: in this process, in local worker processes, or on a Dask
cluster.

Every executor takes a function and the argument tuples of its calls (one call per chunk of
tasks) and yields ``(chunk index, result)`` as calls finish, in any order. At most a few
chunks per worker are in flight, so a 100,000-point sweep never holds every future (or every
result) at once.

Local processes use :class:`concurrent.futures.ProcessPoolExecutor`: it starts in
milliseconds (forked workers share the parent's imported modules) and needs no scheduler
process, where a Dask ``LocalCluster`` costs seconds and a scheduler and nanny per worker.
Dask is for more than one machine: ``Client(address)``, ``submit`` and ``as_completed``; a
worker that dies has its chunks rerun elsewhere by the Dask scheduler.
"""

from __future__ import annotations

import concurrent.futures
import os
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from perfsim.errors import PerfsimError

IN_FLIGHT_PER_WORKER = 2


def warm_up() -> None:
    """Load the Numba kernels (compiled once, cached on disk) before the first chunk, so each
    worker pays for it once, at start."""
    from perfsim.hardware.model import Dram, HwConfig, MatrixEngine, Precision, Sram, VectorEngine
    from perfsim.workload.builder import NetworkBuilder
    from perfsim.simulate import simulate

    b = NetworkBuilder("warm_up", (4, 8, 8))
    x = b.add("conv", "input", name="conv", out_channels=4, kernel=3, padding=1)
    x = b.add("relu", x, name="relu")
    b.add("global_avg_pool", x, name="pool")
    hw = HwConfig("warm_up", 1.0, Precision(), (MatrixEngine("mxu", 4, 4),
                                               VectorEngine("vpu", 4)),
                  Sram(64, 64), Dram(10))
    simulate(b.build(), hw)


def _bounded(submit: Callable, wait_one: Callable, jobs: Iterable[tuple], in_flight: int
             ) -> Iterator[tuple[int, object]]:
    """Keep ``in_flight`` jobs submitted; yield (index, result) as each finishes."""
    jobs = iter(enumerate(jobs))
    pending: dict = {}
    for index, args in jobs:
        pending[submit(args)] = index
        if len(pending) >= in_flight:
            break
    while pending:
        future = wait_one(pending)
        index = pending.pop(future)
        result = future.result()
        for next_index, args in jobs:
            pending[submit(args)] = next_index
            break
        yield index, result


@dataclass(frozen=True)
class Serial:
    """Every chunk in this process, one after another (for debugging and references)."""

    count = 1

    def map(self, fn: Callable, jobs: Iterable[tuple]) -> Iterator[tuple[int, object]]:
        for index, args in enumerate(jobs):
            yield index, fn(*args)


@dataclass(frozen=True)
class Processes:
    """``workers`` local processes (default: every core)."""

    workers: int | None = None

    def __post_init__(self):
        if self.workers is not None and self.workers < 1:
            raise PerfsimError(f"workers must be >= 1, got {self.workers}")

    @property
    def count(self) -> int:
        return self.workers or os.cpu_count() or 1

    def map(self, fn: Callable, jobs: Iterable[tuple]) -> Iterator[tuple[int, object]]:
        with concurrent.futures.ProcessPoolExecutor(self.count, initializer=warm_up) as pool:
            def wait_one(pending):
                done, _ = concurrent.futures.wait(
                    pending, return_when=concurrent.futures.FIRST_COMPLETED)
                return next(iter(done))

            yield from _bounded(lambda args: pool.submit(fn, *args), wait_one, jobs,
                                IN_FLIGHT_PER_WORKER * self.count)


@dataclass(frozen=True)
class Dask:
    """A Dask distributed cluster: its scheduler's ``address`` (``tcp://host:8786``), or a
    ``dask.distributed.Client`` already connected."""

    address: object

    def map(self, fn: Callable, jobs: Iterable[tuple]) -> Iterator[tuple[int, object]]:
        from dask.distributed import Client, as_completed

        client = self.address if isinstance(self.address, Client) else None
        own = client is None
        if own:
            try:
                client = Client(self.address, timeout="20s")
            except (OSError, TimeoutError) as err:
                raise PerfsimError(f"cannot reach the Dask scheduler at {self.address}: "
                                   f"{err}") from None
        try:
            client.run(warm_up)
            workers = max(1, len(client.scheduler_info()["workers"]))
            finished = as_completed()

            def submit(args):
                future = client.submit(fn, *args, pure=False)
                finished.add(future)
                return future

            yield from _bounded(submit, lambda pending: next(finished), jobs,
                                IN_FLIGHT_PER_WORKER * workers)
        finally:
            if own:
                client.close()


Executor = Serial | Processes | Dask


def executor_for(spec: Executor | str | int | None) -> Executor:
    """An executor from a short description: None or ``"processes"`` (every core), an int
    (that many processes), ``"serial"``, or a Dask scheduler address (``tcp://...``)."""
    if spec is None or spec == "processes":
        return Processes()
    if isinstance(spec, (Serial, Processes, Dask)):
        return spec
    if isinstance(spec, int) and not isinstance(spec, bool):
        return Serial() if spec == 1 else Processes(spec)
    if spec == "serial":
        return Serial()
    if isinstance(spec, str) and "://" in spec:
        return Dask(spec)
    raise PerfsimError(f"executor must be 'serial', 'processes', a number of processes or a "
                       f"Dask scheduler address (tcp://host:port), got {spec!r}")
