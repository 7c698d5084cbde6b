"""Hardware sweeps: grids of config variants x workloads x batches, in parallel (local
processes or a Dask cluster), streamed to resumable Parquet parts, with Pareto fronts and
plots of the results.

``sweep``, ``Progress`` and ``stop_workers`` (:func:`perfsim.sweeps.executors.stop_workers`:
the workers a sweep left for the next, shut down now) load their module on first use (PEP
562): the command line reads :data:`MAX_ROWS` without importing pandas and the cost model."""

from importlib import import_module

MAX_ROWS = 1_000_000
"""Rows a sweep makes without ``max_rows=None`` (``--yes``). Points stream to the workers and
rows to disk, but the final table is assembled in memory, about 1 KiB a row at its peak (so
~1 GiB here), and at 3-20 ms a row per core (LeNet-5 to ResNet-50 on ``matrix_engine``) a
million rows is hours of work: a grid with one list too many is caught before it starts."""

__all__ = ["MAX_ROWS", "Progress", "stop_workers", "sweep"]


def __getattr__(name: str):
    if name in ("Progress", "sweep"):
        return getattr(import_module("perfsim.sweeps.run"), name)
    if name == "stop_workers":
        return import_module("perfsim.sweeps.executors").stop_workers
    raise AttributeError(f"module 'perfsim.sweeps' has no attribute {name!r}")
