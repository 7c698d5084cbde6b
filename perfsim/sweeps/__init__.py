"""Hardware sweeps: grids of config variants x workloads x batches, in parallel (local
processes or a Dask cluster), streamed to resumable Parquet parts, with Pareto fronts and
plots of the results."""

from perfsim.sweeps.run import Progress, sweep

__all__ = ["Progress", "sweep"]
