"""``sweep``: hardware variants x workloads x batches, evaluated in parallel, optionally into a
resumable directory (:mod:`perfsim.sweeps.store`). No printing: progress goes to a callback."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd

from perfsim._version import __version__
from perfsim.io.load import load_hw
from perfsim.hardware.loading import to_document
from perfsim.errors import ConfigError, PerfsimError
from perfsim.hardware.model import HwConfig
from perfsim.workload.network import Network
from perfsim.mapping.residency import RESIDENCY_MODES
from perfsim.sweeps.evaluate import (Task, Workload, evaluate_chunk, point_id, totals_frame,
                                     workload_label)
from perfsim.sweeps.executors import Executor, executor_for
from perfsim.sweeps.space import Point, check_values, points_of
from perfsim.sweeps.store import PART_ROWS, PART_SECONDS, SweepStore
from perfsim.io.load import load_workload

MAX_CHUNK_TASKS = 16
"""Tasks per chunk at most (a chunk is what a worker runs at a time: ~0.1-0.5 s of work)."""


@dataclass(frozen=True)
class Progress:
    """Where a sweep stands: rows ``done`` of ``total`` (``skipped`` of them found on disk
    from an earlier run) and Parquet ``parts`` written by this run."""

    done: int
    total: int
    skipped: int
    parts: int


def sweep(workloads: Workload | Sequence[Workload], hw: HwConfig | str | Path,
          grid: Mapping[str, Sequence] | None = None,
          points: Sequence[Mapping[str, object]] | None = None, *,
          batch: int | Sequence[int] = 1, mode: str = "product",
          executor: Executor | str | int | None = None, out: str | Path | None = None,
          per_layer: bool = False, residency: str = "auto", chunk_tasks: int | None = None,
          part_rows: int = PART_ROWS, part_seconds: float = PART_SECONDS,
          progress: Callable[[Progress], None] | None = None) -> pd.DataFrame:
    """Evaluate every hardware point of ``grid`` (key path -> values, crossed by ``mode``
    ``product`` or ``zip``) or of ``points`` (a list of {key path: value}) on each workload
    at each batch (an int or a list). Returns one row per (point, workload, batch): the
    varied key paths as columns, ``status`` (``ok`` / ``infeasible``) and ``reason``, and the
    totals of :data:`perfsim.sweeps.evaluate.TOTAL_COLUMNS`; with ``per_layer``, the per-layer
    rows instead (each with its point's id and parameters).

    ``executor``: None or ``"processes"`` (local processes, every core), a number of
    processes, ``"serial"``, a Dask scheduler address, or an executor object
    (:mod:`perfsim.sweeps.executors`). With ``out`` (a directory), rows stream to Parquet parts
    there and a rerun skips the points already done; the final table is also written to
    ``out/sweep.parquet`` and ``out/sweep.csv``. An unknown key path or a value invalid on
    its own is a :class:`~perfsim.errors.ConfigError`; values invalid only together make
    ``infeasible`` rows."""
    config = hw if isinstance(hw, HwConfig) else load_hw(hw)
    workload_list = _workloads(workloads)
    batches = _batches(batch)
    if residency not in RESIDENCY_MODES:
        raise PerfsimError(f"residency must be one of {', '.join(RESIDENCY_MODES)}, got "
                           f"{residency!r}")
    hw_points = points_of(grid, points, mode)
    check_values(config, hw_points)
    parameters = list(dict.fromkeys(k for p in hw_points for k in p))
    tasks = _tasks(hw_points, workload_list, batches)
    order = {t.point_id: i for i, t in enumerate(tasks)}
    runner = executor_for(executor)
    store = None
    done: set[str] = set()
    if out is not None:
        manifest = json.loads(json.dumps({
            "perfsim_version": __version__, "hw": to_document(config),
            "workloads": [workload_label(w) for w in workload_list], "batch": batches,
            "points": hw_points, "per_layer": per_layer, "residency": residency},
            default=str))
        store = SweepStore(out, manifest, parameters, part_rows, part_seconds)
        done = store.done()
    todo = [t for t in tasks if t.point_id not in done]
    skipped = len(tasks) - len(todo)
    size = chunk_tasks or _chunk_size(len(todo), getattr(runner, "count", None) or 4)
    jobs = ((config, todo[i:i + size], per_layer, residency)
            for i in range(0, len(todo), size))
    rows: list[dict] = []
    layer_rows: list[dict] = []
    finished = skipped
    if progress:
        progress(Progress(finished, len(tasks), skipped, 0))
    try:
        for _, results in runner.map(evaluate_chunk, jobs):
            for row, layers in results:  # type: ignore[union-attr]
                if store is not None:
                    store.add(row, layers)
                else:
                    rows.append(row)
                    layer_rows.extend(layers)
            finished += len(results)  # type: ignore[arg-type]
            if progress:
                progress(Progress(finished, len(tasks), skipped,
                                  store.parts_written if store else 0))
    except BaseException:
        if store is not None:  # keep what finished: a rerun resumes after it
            store.flush()
        raise
    if store is not None:
        totals, layers = store.finish(order, per_layer)
        if progress:
            progress(Progress(finished, len(tasks), skipped, store.parts_written))
        return layers if per_layer else totals  # type: ignore[return-value]
    totals = totals_frame(rows, parameters)
    totals = totals.iloc[totals["point_id"].map(order).argsort(kind="stable")] \
        .reset_index(drop=True)
    if not per_layer:
        return totals
    layers = pd.DataFrame(layer_rows)
    if len(layers):
        layers = layers.iloc[layers["point_id"].map(order).argsort(kind="stable")] \
            .reset_index(drop=True)
    return layers


def _workloads(workloads) -> list[Workload]:
    items = [workloads] if isinstance(workloads, (str, Path, Network)) else list(workloads)
    if not items:
        raise PerfsimError("a sweep needs at least one workload")
    for item in items:
        if not isinstance(item, Network):
            load_workload(item)  # an unknown name fails here, not in every worker
    return items


def _batches(batch) -> list[int]:
    values = [batch] if isinstance(batch, int) else list(batch)
    if not values or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1
                             for b in values):
        raise PerfsimError(f"batch must be a positive integer or a non-empty list of them, "
                           f"got {batch!r}")
    if len(set(values)) != len(values):
        raise PerfsimError(f"batch lists a value twice: {values}")
    return values


def _tasks(hw_points: list[Point], workloads: list[Workload], batches: list[int]
           ) -> list[Task]:
    tasks: list[Task] = []
    first: dict[str, int] = {}
    for index, point in enumerate(hw_points):
        key = json.dumps(point, sort_keys=True, default=str)
        if key in first:
            raise ConfigError(f"point {index} repeats point {first[key]}: {point}")
        first[key] = index
        for workload in workloads:
            for b in batches:
                tasks.append(Task(index, point_id(point, workload, b), point, workload, b))
    labels = [workload_label(w) for w in workloads]
    if len(set(labels)) != len(labels):
        raise PerfsimError(f"workloads lists a network twice: {labels}")
    return tasks


def _chunk_size(tasks: int, workers: int) -> int:
    """Enough chunks to keep every worker busy to the end (about 4 each), each at most
    :data:`MAX_CHUNK_TASKS`."""
    return max(1, min(MAX_CHUNK_TASKS, math.ceil(tasks / (4 * workers))))
