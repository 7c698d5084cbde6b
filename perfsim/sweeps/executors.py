"""Where a sweep's chunks run: in this process, in local worker processes, or on a Dask
cluster.

Every executor takes a function and the argument tuples of its calls (one call per chunk of
tasks, read lazily) and yields ``(chunk index, result)`` as calls finish, in any order. At most
a few chunks per worker are in flight, so a 100,000-point sweep never holds every future (or
every result) at once.

Local processes use :class:`concurrent.futures.ProcessPoolExecutor`: it starts in
milliseconds (forked workers share the parent's imported modules) and needs no scheduler
process, where a Dask ``LocalCluster`` costs seconds and a scheduler and nanny per worker.
By default (no number of workers asked for) a sweep runs its first chunks in its own process
and starts workers only once those took :data:`SERIAL_SECONDS` of CPU time: a small sweep never
pays for a pool, and a large one forks workers that inherit every table and cache the first
chunks made. That serial start is the process's, not each sweep's: once the chunks this process
has run took that long, its kernels are loaded and its tables made, and a later sweep starts on
workers at once.

Workers outlive the sweep that started them, as joblib's reusable executor keeps its own: a
sweep that completes leaves its pool to the next sweep of this process asking for as many
workers, whose chunks then find the tables and costs the workers made before (a second
ResNet-50 sweep at new bandwidths runs at the rate of a long sweep, rather than forking workers
that make them all again). Kept workers are shut down once idle for :data:`IDLE_WORKERS_S`,
when the process exits, or by :func:`stop_workers`; a pool is lent to one sweep at a time (a
sweep run meanwhile, from another thread, starts its own); a pool whose worker died while idle
is replaced. A worker is a copy of this process as it was when the pool started: a chunk brings
what it computes (the config, the tasks, a network shipped loaded), but a change this process
makes to perfsim's own modules later (a test's patch) is not seen by the workers already kept;
:func:`stop_workers` first. Workers die with the sweep's process: each asks the kernel for
SIGKILL when its parent dies (``PR_SET_PDEATHSIG``, Linux; elsewhere a thread watches the
parent) and ignores Ctrl-C (the sweep's process handles it); a sweep that stops on an error,
Ctrl-C or early (its caller closing :meth:`map`) shuts its pool down rather than keeping it.

A local chunk leaves its results in the cost model's caches, which live as long as their
process; Python's cyclic garbage collector would scan them again and again (18% of a ResNet-50
point's time, measured over 144 points in one process), so after each chunk they are moved out
of its reach (:func:`gc.freeze`: they are still freed when dropped, as nothing the model makes
is a cycle). A worker keeps them so until it dies; the sweep's own process until :meth:`map`
ends (:func:`gc.unfreeze`), when everything made meanwhile is the collector's again. While a
chunk runs the collector is paused: its passes over what the chunk makes find nothing, for
the same reason, and took 4% of a ResNet-50 point's time.

Dask is for more than one machine: ``Client(address)``, ``submit`` and ``wait``; a worker that
dies has its chunks rerun elsewhere by the Dask scheduler. A cluster left with no worker for
``no_worker_timeout_s`` and a lost scheduler raise :class:`ExecutorError` (the rows finished so
far stay on disk; the sweep resumes when run again).
"""

from __future__ import annotations

import concurrent.futures
import ctypes
import gc
import os
import signal
import sys
import threading
import time
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator

from perfsim.errors import PerfsimError

IN_FLIGHT_PER_WORKER = 2
SERIAL_SECONDS = 0.3
"""CPU seconds of chunks a local sweep runs in its own process before it starts workers
(module docstring): long enough for its first chunk to load the kernels (Numba initialising
its target takes 0.1-0.4 s, which each worker would pay again if forked before), then about
ten times what starting a pool of two workers costs once they are loaded (0.035 CPU-s, 0.02 s,
measured on 2 cores); one CPU-second before ran half of a 240-point ResNet-50 sweep on one
core."""
IDLE_WORKERS_S = 300.0
"""How long a pool a sweep leaves is kept for the next sweep of this process (module
docstring): joblib's reusable executor keeps idle workers as long. A kept worker holds its
caches, which are bounded: 66-68 MiB of PSS each after two 240-point ResNet-50 sweeps, 133
MiB after 20,072 AlexNet points (measured on 2 workers)."""
NO_WORKER_TIMEOUT_S = 60.0
"""How long a Dask sweep waits while its cluster has no worker before it stops."""
POLL_S = 1.0
"""How often a Dask sweep that waits for a chunk checks that the cluster still has workers."""
DASK_PROTOCOLS = ("tcp", "tls", "ucx", "ws", "wss")
"""The schemes of a Dask scheduler reachable from another process (not ``inproc``)."""
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


class ExecutorError(PerfsimError):
    """The workers or the cluster failed: a worker process died, the Dask scheduler was lost,
    or the cluster had no worker for too long."""


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


def _start_worker(parent_pid: int) -> None:
    """First thing in every local worker: die with the sweep's process, leave Ctrl-C to it
    (a terminal sends SIGINT to the whole process group), then warm up."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    else:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True).start()
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    warm_up()


def _kept(fn: Callable, *args):
    """``fn(*args)`` (a chunk), the cyclic garbage collector paused meanwhile, then what it
    made moved out of the collector's reach (module docstring)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        result = fn(*args)
    finally:
        if enabled:
            gc.enable()
    gc.freeze()
    return result


_cpu_seconds_here = 0.0
"""CPU seconds of the chunks this process has run itself, every sweep's: the serial start
(module docstring) is done once they reach a sweep's ``serial_seconds``."""


def _here(fn: Callable, args: tuple):
    """A chunk run in this process (:func:`_kept`), its CPU time counted in
    :data:`_cpu_seconds_here`."""
    global _cpu_seconds_here
    start = time.process_time()
    try:
        return _kept(fn, *args)
    finally:
        _cpu_seconds_here += time.process_time() - start


@contextmanager
def _kept_until_done():
    """Chunks run in this process: what they make leaves the collector's reach after each
    (:func:`_kept`) and comes back when the sweep is done, on every way out."""
    try:
        yield
    finally:
        gc.unfreeze()


def _watch_parent(parent_pid: int) -> None:
    while os.getppid() == parent_pid:
        time.sleep(POLL_S)
    os._exit(1)


def _bounded(submit: Callable, wait_one: Callable, jobs: Iterable[tuple], in_flight: int,
             result_of: Callable = lambda future: future.result()
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
        result = result_of(future)
        for next_index, args in jobs:
            pending[submit(args)] = next_index
            break
        yield index, result


@dataclass(frozen=True)
class Serial:
    """Every chunk in this process, one after another (for debugging and references)."""

    count = 1

    def map(self, fn: Callable, jobs: Iterable[tuple]) -> Iterator[tuple[int, object]]:
        with _kept_until_done():
            for index, args in enumerate(jobs):
                yield index, _here(fn, args)


@dataclass(frozen=True)
class Processes:
    """``workers`` local processes (default: every core), started once the chunks run in this
    process (this sweep's and earlier ones') took ``serial_seconds`` of CPU time (0: at once;
    module docstring)."""

    workers: int | None = None
    serial_seconds: float = 0.0

    def __post_init__(self):
        if self.workers is not None and self.workers < 1:
            raise PerfsimError(f"workers must be >= 1, got {self.workers}")

    @property
    def count(self) -> int:
        return self.workers or os.cpu_count() or 1

    def map(self, fn: Callable, jobs: Iterable[tuple]) -> Iterator[tuple[int, object]]:
        jobs = iter(jobs)
        done = 0
        with _kept_until_done():
            while _cpu_seconds_here < self.serial_seconds:  # the serial start
                args = next(jobs, None)
                if args is None:
                    return
                yield done, _here(fn, args)
                done += 1
            for index, result in self._pool_map(fn, jobs):
                yield done + index, result

    def _pool_map(self, fn: Callable, jobs: Iterable[tuple]) -> Iterator[tuple[int, object]]:
        pool = _take_workers(self.count)

        def wait_one(pending):
            done, _ = concurrent.futures.wait(
                pending, return_when=concurrent.futures.FIRST_COMPLETED)
            return next(iter(done))

        completed = False
        try:
            yield from _bounded(lambda args: pool.submit(_kept, fn, *args), wait_one, jobs,
                                IN_FLIGHT_PER_WORKER * self.count)
            completed = True
        except BrokenProcessPool:
            raise ExecutorError("a sweep worker process died (killed, or out of memory?)") \
                from None
        finally:  # kept for the next sweep once every chunk is done; else shut down
            if completed:
                _keep_workers(pool, self.count)
            else:
                pool.shutdown(wait=True, cancel_futures=True)


_kept_workers: tuple[concurrent.futures.ProcessPoolExecutor, int, threading.Timer] | None = None
"""The pool a completed sweep left (module docstring), its number of workers and the timer
that shuts it down once idle."""
_kept_lock = threading.Lock()


def _take_workers(count: int) -> concurrent.futures.ProcessPoolExecutor:
    """The kept pool if it has ``count`` workers and none has died, else a new one (the kept
    one shut down): this sweep's alone until it gives it back (:func:`_keep_workers`)."""
    kept = _taken()
    if kept is not None:
        pool, workers = kept
        if workers == count and _usable(pool):
            return pool
        pool.shutdown(wait=True, cancel_futures=True)
    return concurrent.futures.ProcessPoolExecutor(count, initializer=_start_worker,
                                                  initargs=(os.getpid(),))


def _taken() -> tuple[concurrent.futures.ProcessPoolExecutor, int] | None:
    """The kept pool and its number of workers, no longer kept (its idle timer stopped)."""
    global _kept_workers
    with _kept_lock:
        kept, _kept_workers = _kept_workers, None
    if kept is None:
        return None
    kept[2].cancel()
    return kept[0], kept[1]


def _usable(pool: concurrent.futures.ProcessPoolExecutor) -> bool:
    """Whether ``pool`` still takes calls: once a worker has died the pool refuses every call
    at once (its manager thread watches the workers), so a trivial one tells."""
    try:
        pool.submit(int)
    except BrokenProcessPool:
        return False
    return True


def _keep_workers(pool: concurrent.futures.ProcessPoolExecutor, count: int) -> None:
    """Keep ``pool`` (``count`` workers) for the next sweep, for :data:`IDLE_WORKERS_S` at
    most; a pool kept meanwhile by another sweep is shut down."""
    global _kept_workers
    timer = threading.Timer(IDLE_WORKERS_S, _retire, args=(pool,))
    timer.daemon = True  # never holds the process up at exit
    with _kept_lock:
        other, _kept_workers = _kept_workers, (pool, count, timer)
    timer.start()
    if other is not None:
        other[2].cancel()
        other[0].shutdown(wait=True)


def _retire(pool: concurrent.futures.ProcessPoolExecutor) -> None:
    """Shut ``pool`` down if it is still the one kept (the idle timer's call)."""
    global _kept_workers
    with _kept_lock:
        if _kept_workers is None or _kept_workers[0] is not pool:
            return
        _kept_workers = None
    pool.shutdown(wait=True)


def stop_workers() -> None:
    """Shut down the worker processes a sweep left for the next (module docstring) now,
    rather than once idle for :data:`IDLE_WORKERS_S`: their memory back at once."""
    kept = _taken()
    if kept is not None:
        kept[0].shutdown(wait=True)


def _forget_workers() -> None:
    """In a process forked from this one: the kept pool is this process's, not the child's
    (its threads and pipes are not the child's to use), and the lock is new (another thread
    may have held it at the fork)."""
    global _kept_workers, _kept_lock
    _kept_workers, _kept_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):  # where processes fork (not Windows)
    os.register_at_fork(after_in_child=_forget_workers)


@dataclass(frozen=True)
class Dask:
    """A Dask distributed cluster: its scheduler's ``address`` (``tcp://host:8786``), or a
    ``dask.distributed.Client`` already connected. A sweep stops with an
    :class:`ExecutorError` once the cluster has had no worker for ``no_worker_timeout_s``."""

    address: object
    no_worker_timeout_s: float = NO_WORKER_TIMEOUT_S

    def __post_init__(self):
        if isinstance(self.address, str):
            check_scheduler_address(self.address)
        if not self.no_worker_timeout_s > 0:
            raise PerfsimError(f"no_worker_timeout_s must be > 0, got "
                               f"{self.no_worker_timeout_s}")

    def map(self, fn: Callable, jobs: Iterable[tuple]) -> Iterator[tuple[int, object]]:
        from dask.distributed import Client

        client = self.address if isinstance(self.address, Client) else None
        own = client is None
        if own:
            try:
                client = Client(self.address, timeout="20s")
            except (OSError, TimeoutError) as err:
                raise ExecutorError(f"cannot reach the Dask scheduler at {self.address}: "
                                    f"{err}") from None
        cluster = _Cluster(client, client.scheduler.address, self.no_worker_timeout_s)
        try:
            try:
                client.run(warm_up)
                workers = max(1, len(client.nthreads()))
            except OSError as err:
                raise cluster.lost(err) from None
            yield from _bounded(lambda args: client.submit(fn, *args, pure=False),
                                cluster.wait_one, jobs, IN_FLIGHT_PER_WORKER * workers,
                                cluster.result_of)
        finally:
            if own:
                client.close()


class _Cluster:
    """Waiting on a Dask cluster without hanging: every wait is bounded by :data:`POLL_S`,
    after which the cluster must still have a worker (or get one back within
    ``no_worker_timeout_s``) and a scheduler."""

    def __init__(self, client, where: str, no_worker_timeout_s: float):
        self.client = client
        self.where = where
        self.no_worker_timeout_s = no_worker_timeout_s
        self.alone_since: float | None = None

    def lost(self, cause: object) -> ExecutorError:
        reason = type(cause).__name__ if isinstance(cause, BaseException) else cause
        return ExecutorError(f"lost the Dask scheduler at {self.where} ({reason})")

    def wait_one(self, pending):
        """The first of ``pending`` to finish."""
        from dask.distributed import wait

        while True:
            try:
                done, _ = wait(list(pending), timeout=POLL_S, return_when="FIRST_COMPLETED")
            except TimeoutError:
                self.check()
                continue
            except OSError as err:
                raise self.lost(err) from None
            except concurrent.futures.CancelledError:  # cancelled as the wait ran (newer Dask)
                raise self.lost("its chunks were cancelled") from None
            future = next(iter(done))
            if future.status == "cancelled":  # the client cancels every chunk when it is lost
                raise self.lost("its chunks were cancelled")
            return future

    def result_of(self, future):
        """A finished chunk's result, fetched from its worker (recomputed elsewhere if that
        worker has died since). A chunk's own error is raised as itself."""
        while True:
            try:
                return future.result(timeout=POLL_S)
            except (concurrent.futures.CancelledError, OSError) as err:
                if future.status == "error":
                    raise
                if not isinstance(err, TimeoutError):
                    raise self.lost(err) from None
            self.check()

    def check(self) -> None:
        """An :class:`ExecutorError` if the scheduler is gone or there has been no worker for
        ``no_worker_timeout_s``."""
        try:
            workers = self.client.nthreads()
        except OSError as err:
            raise self.lost(err) from None
        now = time.monotonic()
        if workers or self.alone_since is None:
            self.alone_since = None if workers else now
        elif now - self.alone_since >= self.no_worker_timeout_s:
            raise ExecutorError(f"the Dask cluster at {self.where} has had no worker for "
                                f"{self.no_worker_timeout_s:g} s; start workers, then run the "
                                f"sweep again")


Executor = Serial | Processes | Dask


def check_scheduler_address(address: str) -> None:
    """A :class:`PerfsimError` unless ``address`` has the form ``tcp://host:port`` (or
    another scheme of :data:`DASK_PROTOCOLS`)."""
    scheme, sep, rest = address.partition("://")
    host, _, port = rest.rpartition(":")
    if sep and scheme in DASK_PROTOCOLS and host and port.isdigit() and 0 < int(port) < 65536:
        return
    hint = (f"; did you mean tcp://{address}?" if not sep and address.rpartition(":")[2]
            .isdigit() else "")
    raise PerfsimError(f"{address!r} is not a Dask scheduler address: expected "
                       f"tcp://host:port ({', '.join(p + '://' for p in DASK_PROTOCOLS)} are "
                       f"accepted; inproc:// reaches only its own process){hint}")


def executor_for(spec: Executor | str | int | None) -> Executor:
    """An executor from a short description: None or ``"processes"`` (every core, after a
    serial start), an int (that many processes, at once), ``"serial"``, or a Dask scheduler
    address (``tcp://...``)."""
    if spec is None or spec == "processes":
        return Processes(serial_seconds=SERIAL_SECONDS)
    if isinstance(spec, (Serial, Processes, Dask)):
        return spec
    if isinstance(spec, int) and not isinstance(spec, bool):
        return Serial() if spec == 1 else Processes(spec)
    if spec == "serial":
        return Serial()
    if isinstance(spec, str):
        return Dask(spec)
    raise PerfsimError(f"executor must be 'serial', 'processes', a number of processes or a "
                       f"Dask scheduler address (tcp://host:port), got {spec!r}")
