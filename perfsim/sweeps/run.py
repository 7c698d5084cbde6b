"""``sweep``: hardware variants x workloads x batches (x a sequence model's lengths and phases),
evaluated in parallel, optionally into a resumable directory (:mod:`perfsim.sweeps.store`). No
printing: progress goes to a callback."""

from __future__ import annotations

import itertools
import json
import math
from contextlib import closing, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping, Sequence

import pandas as pd

from perfsim._version import __version__
from perfsim.io.load import is_network_file, load_hw, load_workload
from perfsim.hardware.loading import to_document
from perfsim.errors import PerfsimError, WorkloadError
from perfsim.hardware.model import HwConfig
from perfsim.workload.network import Network
from perfsim.mapping import RESIDENCY_MODES
from perfsim.schedule.analytic import reused_key_paths
from perfsim.sweeps import MAX_ROWS
from perfsim.sweeps.evaluate import (SEQUENCE_KEYS, NetworkFile, Task, Workload,
                                     evaluate_chunk, in_sweep_order, layers_in_order, point_id,
                                     totals_frame, workload_label, zoo_network)
from perfsim.sweeps.executors import Executor, ExecutorError, executor_for
from perfsim.sweeps.space import Space, check_values, points_of
from perfsim.sweeps.store import PART_ROWS, PART_SECONDS, SweepStore

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


class SweepTooLarge(PerfsimError):
    """A sweep of more rows than ``max_rows``, not confirmed."""


def sweep(workloads: Workload | Sequence[Workload], hw: HwConfig | str | Path,
          grid: Mapping[str, Sequence] | None = None,
          points: Sequence[Mapping[str, object]] | Space | None = None, *,
          batch: int | Sequence[int] = 1, seq_len: int | Sequence[int] | None = None,
          phase: str | Sequence[str] | None = None, mode: str = "product",
          executor: Executor | str | int | None = None, out: str | Path | None = None,
          per_layer: bool = False, residency: str = "auto", chunk_tasks: int | None = None,
          part_rows: int = PART_ROWS, part_seconds: float = PART_SECONDS,
          max_rows: int | None = MAX_ROWS,
          progress: Callable[[Progress], None] | None = None) -> pd.DataFrame:
    """Evaluate every hardware point of ``grid`` (key path -> values, crossed by ``mode``
    ``product`` or ``zip``) or of ``points`` (a list of {key path: value}, or a
    :class:`~perfsim.sweeps.space.Space`) on each workload at each batch (an int or a list),
    and, given ``seq_len`` (an int or a list) or ``phase`` (``prefill``, ``decode`` or a list),
    at each sequence length and phase of the zoo sequence models listed (every workload must
    take them). Returns one row per (point, workload, batch, sequence length, phase): the
    varied key paths as columns (and ``seq_len``, ``phase`` when given), ``status`` (``ok`` /
    ``infeasible``) and ``reason``, and the totals of
    :data:`perfsim.sweeps.evaluate.TOTAL_COLUMNS`; with ``per_layer``, the per-layer rows
    instead (each with its point's id and parameters). A length and phase valid alone but not
    together (``gpt2`` decode at a context of 1 token) make ``infeasible`` rows.

    ``executor``: None or ``"processes"`` (local processes, every core), a number of
    processes, ``"serial"``, a Dask scheduler address, or an executor object
    (:mod:`perfsim.sweeps.executors`). With ``out`` (a directory), rows stream to Parquet parts
    there and a rerun skips the points already done; the final table is also written to
    ``out/sweep.parquet`` and ``out/sweep.csv``. Points are made one at a time as chunks are
    sent, never listed whole. A sweep of more than ``max_rows`` rows (default
    :data:`MAX_ROWS`) raises :class:`SweepTooLarge` unless ``max_rows`` is None. An unknown key
    path or a value invalid on its own is a :class:`~perfsim.errors.ConfigError`; values
    invalid only together make ``infeasible`` rows."""
    config = hw if isinstance(hw, HwConfig) else load_hw(hw)
    workload_list = _workloads(workloads)
    labels = [workload_label(w) for w in workload_list]
    if len(set(labels)) != len(labels):
        raise PerfsimError(f"workloads lists a network twice: {labels}")
    batches = _batches(batch)
    sequence = _sequence(workload_list, seq_len, phase)
    if residency not in RESIDENCY_MODES:
        raise PerfsimError(f"residency must be one of {', '.join(RESIDENCY_MODES)}, got "
                           f"{residency!r}")
    space = points if isinstance(points, Space) and grid is None else \
        points_of(grid, points, mode)
    settings = math.prod(len(values) for values in sequence.values())
    total = len(space) * len(workload_list) * len(batches) * settings
    if max_rows is not None and total > max_rows:
        raise SweepTooLarge(f"this sweep makes {total:,} rows ({len(space):,} point(s) x "
                            f"{len(workload_list)} workload(s) x {len(batches)} batch(es)"
                            + "".join(f" x {len(v)} {k} value(s)" for k, v in sequence.items())
                            + f"), more than {max_rows:,}; confirm with --yes (max_rows=None "
                            f"from Python), or sweep fewer values")
    space.check_distinct()
    check_values(config, space)
    parameters = space.parameters
    runner = executor_for(executor)
    store = None
    if out is not None:
        manifest = json.loads(json.dumps({
            "perfsim_version": __version__, "hw": to_document(config), "workloads": labels,
            "batch": batches, **sequence, "points": space.document(), "per_layer": per_layer,
            "residency": residency}, default=str))
        store = SweepStore(out, manifest, parameters, labels, batches, part_rows,
                           part_seconds, sequence)
    with store or nullcontext():
        done = store.done if store is not None else set()
        todo = (t for t in _tasks(space, workload_list, batches, sequence,
                                  reused_key_paths(config))
                if t.point_id not in done)
        skipped = min(len(done), total)
        size = chunk_tasks or _chunk_size(total - skipped, getattr(runner, "count", None) or 4)
        jobs = ((config, chunk, per_layer, residency) for chunk in _chunks(todo, size))
        rows: list[dict] = []
        layer_rows: list[dict] = []
        finished = skipped
        if progress:
            progress(Progress(finished, total, skipped, 0))
        try:
            with closing(runner.map(evaluate_chunk, jobs)) as results_of_chunks:
                for _, results in results_of_chunks:
                    for row, layers in results:  # type: ignore[union-attr]
                        if store is not None:
                            store.add(row, layers)
                        else:
                            rows.append(row)
                            layer_rows.extend(layers)
                    finished += len(results)  # type: ignore[arg-type]
                    if progress:
                        progress(Progress(finished, total, skipped,
                                          store.parts_written if store else 0))
        except BaseException as err:
            if store is None:
                raise
            store.flush()  # keep what finished: a rerun resumes after it
            if isinstance(err, ExecutorError):
                raise ExecutorError(f"{err}; the {finished:,} rows finished are kept in "
                                    f"{out}: run the sweep again to resume") from None
            raise
        if store is not None:
            totals, layers = store.finish(per_layer)
            if progress:
                progress(Progress(finished, total, skipped, store.parts_written))
            return layers if per_layer else totals  # type: ignore[return-value]
    totals = in_sweep_order(totals_frame(rows, parameters, list(sequence)), labels, batches,
                            sequence)
    if not per_layer:
        return totals
    return layers_in_order(pd.DataFrame(layer_rows), totals)


def _workloads(workloads) -> list[Workload]:
    """The workloads, each checked here rather than in every worker; network files read
    once and shipped loaded (a worker may not see them)."""
    items = [workloads] if isinstance(workloads, (str, Path, Network)) else list(workloads)
    if not items:
        raise PerfsimError("a sweep needs at least one workload")
    out: list[Workload] = []
    for item in items:
        if isinstance(item, (Network, NetworkFile)):
            out.append(item)
        elif is_network_file(item):
            out.append(NetworkFile(str(item), load_workload(item)))
        else:
            zoo_network(str(item))  # an unknown name fails here, not in every worker
            out.append(item)
    return out


def _batches(batch) -> list[int]:
    values = [batch] if isinstance(batch, int) else list(batch)
    if not values or not all(isinstance(b, int) and not isinstance(b, bool) and b >= 1
                             for b in values):
        raise PerfsimError(f"batch must be a positive integer or a non-empty list of them, "
                           f"got {batch!r}")
    if len(set(values)) != len(values):
        raise PerfsimError(f"batch lists a value twice: {values}")
    return values


def _sequence_settings(seq_len, phase) -> dict[str, list]:
    """The sequence settings a sweep is given, as :data:`~perfsim.sweeps.evaluate.
    SEQUENCE_KEYS` -> list of values (only those given, in that order); a value given twice,
    or an empty list, is a :class:`PerfsimError`."""
    given = {key: ([value] if isinstance(value, (int, str)) else list(value))
             for key, value in zip(SEQUENCE_KEYS, (seq_len, phase)) if value is not None}
    for key, values in given.items():
        if not values:
            raise PerfsimError(f"{key} must be a value or a non-empty list of them")
        if len(set(map(str, values))) != len(values):
            raise PerfsimError(f"{key} lists a value twice: {values}")
    return given


def check_sequence_value(workloads: Sequence[Workload], sequence: dict[str, list], key: str,
                         value) -> None:
    """A :class:`PerfsimError` saying what is wrong unless every workload (a zoo sequence
    model, by name) builds with ``key`` = ``value`` and at least one value of each other
    sequence setting (values valid only apart make infeasible rows, not an error)."""
    others = {k: v for k, v in sequence.items() if k != key}
    for workload in workloads:
        if isinstance(workload, (Network, NetworkFile)):
            raise PerfsimError(f"{key} applies to zoo sequence models given by name, not to "
                               f"{workload_label(workload)}")
        problem = None
        for combo in itertools.product(*others.values()):
            try:
                load_workload(str(workload), **{key: value, **dict(zip(others, combo))})
                break
            except WorkloadError as err:
                problem = problem or str(err)
        else:
            raise PerfsimError(str(problem))


def _sequence(workloads: list[Workload], seq_len, phase) -> dict[str, list]:
    """The sequence settings swept (:func:`_sequence_settings`), every value checked on its
    own (:func:`check_sequence_value`)."""
    given = _sequence_settings(seq_len, phase)
    for key, values in given.items():
        for value in values:
            try:
                check_sequence_value(workloads, given, key, value)
            except PerfsimError as err:
                raise PerfsimError(f"{key} {value!r}: {err}") from None
    return given


def _tasks(space: Space, workloads: list[Workload], batches: list[int],
           sequence: dict[str, list] | None = None,
           fastest: Sequence[str] = ()) -> Iterator[Task]:
    """Every task of the sweep, made as they are asked for: in order, but for the key paths
    ``fastest`` of a grid, which vary fastest (:meth:`Space.in_order`; the rows are put in
    order at the end)."""
    keys = list(sequence or {})
    for index, point in space.in_order(fastest):
        for workload in workloads:
            for b in batches:
                for values in itertools.product(*(sequence or {}).values()):
                    settings = tuple(zip(keys, values))
                    yield Task(index, point_id(point, workload, b, settings), point, workload,
                               b, settings)


def _chunks(tasks: Iterable[Task], size: int) -> Iterator[list[Task]]:
    tasks = iter(tasks)
    while chunk := list(itertools.islice(tasks, size)):
        yield chunk


def _chunk_size(tasks: int, workers: int) -> int:
    """Enough chunks to keep every worker busy to the end (about 4 each), each at most
    :data:`MAX_CHUNK_TASKS`."""
    return max(1, min(MAX_CHUNK_TASKS, math.ceil(tasks / (4 * workers))))
