"""One sweep task, evaluated: a hardware point, a workload, a batch and, for a zoo sequence
model, its sequence settings (:data:`SEQUENCE_KEYS`) become one row of totals (and optionally
the run's per-layer rows).

This is what the executors run, in this process or in a worker: it loads nothing but a zoo
workload (once per process and batch) and never writes files; a network file is read once by
the sweep and shipped loaded (:class:`NetworkFile`), as a worker may not see the file. An
infeasible point (a layer that fits nowhere, values that are invalid together, or counts
beyond what perfsim can count: :func:`perfsim.results.check_result`) is a row with ``status``
and ``reason``, not an exception; so is a sequence length and phase that are valid alone but
not together (GPT-2's decode at a context of 1 token: no cache to read).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from perfsim.errors import ConfigError, InfeasibleError, LimitError, WorkloadError
from perfsim.hardware.model import HwConfig
from perfsim.workload.network import Network
from perfsim.results import RunResult, check_result
from perfsim.simulate import simulate
from perfsim.sweeps.space import Point, variant
from perfsim.io.load import load_workload

STATUSES = ("ok", "infeasible")
SEQUENCE_KEYS: dict[str, str] = {"seq_len": "Int64", "phase": "string"}
"""A zoo sequence model's settings a sweep may vary (:func:`perfsim.io.load.load_workload`'s
``seq_len`` and ``phase``), in the order rows list them, with their dtypes. Each is a column of
the rows only when the sweep gives it."""

TOTAL_COLUMNS: dict[str, str] = {
    "cycles": "Int64", "time_ms": "float64", "macs": "Int64", "ops": "Int64",
    "macs_per_cycle": "float64", "utilization": "float64", "peak_macs_per_cycle": "Int64",
    "dram_bytes": "Int64", "dram_read_bytes": "Int64", "dram_write_bytes": "Int64",
    "sram_bytes": "Int64", "sram_size_bytes": "Int64", "dram_bytes_per_cycle": "float64",
    "energy_pj": "float64", "compute_bound_cycles": "Int64",
    "utilization_bound_cycles": "Int64", "memory_bound_cycles": "Int64",
}
"""Totals per row and their dtypes (nullable: an infeasible point has none). ``sram_bytes``
is SRAM traffic (read + written), ``sram_size_bytes`` the SRAM's capacity; ``*_bound_cycles``
sum the cycles of the layers each bound limits."""

@dataclass(frozen=True)
class NetworkFile:
    """A network file read by the sweep's process, shipped to the workers as its loaded
    ``network``; its rows name it by ``label``, the path as given."""

    label: str
    network: Network


Workload = str | Path | Network | NetworkFile


@dataclass(frozen=True)
class Task:
    """One row to compute: the ``index``-th point of the sweep on ``workload`` at ``batch``
    with the ``sequence`` settings (pairs of a :data:`SEQUENCE_KEYS` key and its value; none
    when the sweep varies none); ``point_id`` is its stable identity (:func:`point_id`)."""

    index: int
    point_id: str
    point: Point
    workload: Workload
    batch: int
    sequence: tuple[tuple[str, object], ...] = ()


def workload_label(workload: Workload) -> str:
    """The name a workload goes by in rows: a network's name, a network file's path as given,
    else the text given."""
    if isinstance(workload, NetworkFile):
        return workload.label
    return workload.name if isinstance(workload, Network) else str(workload)


def point_id(point: Point, workload: Workload, batch: int,
             sequence: tuple[tuple[str, object], ...] = ()) -> str:
    """A stable hash (hex, 16 digits) of a point's parameters, workload, batch and sequence
    settings: the same in every process and run, independent of the order the parameters are
    given in (and, without sequence settings, what it was before sweeps had them)."""
    text = json.dumps({"point": point, "workload": workload_label(workload), "batch": batch,
                       **dict(sequence)}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@lru_cache(maxsize=64)
def zoo_network(workload: str, batch: int = 1,
                sequence: tuple[tuple[str, object], ...] = ()) -> Network:
    """The zoo network ``workload`` at ``batch`` with the ``sequence`` settings, built once
    per process (networks are immutable): every point of a sweep, and every sweep of the
    process, reads the same one."""
    return load_workload(workload, batch=batch, **dict(sequence))


def _batched(workload: Workload, batch: int,
             sequence: tuple[tuple[str, object], ...] = ()) -> Network:
    if isinstance(workload, NetworkFile):
        return workload.network.with_batch(batch)
    if isinstance(workload, Network):
        return workload.with_batch(batch)
    return zoo_network(str(workload), batch, sequence)


def evaluate(hw: HwConfig, task: Task, per_layer: bool = False,
             residency: str = "auto") -> tuple[dict, list[dict]]:
    """The totals row of ``task`` on its variant of ``hw`` and, with ``per_layer``, the rows
    of its layers (each carrying the point's identity and parameters)."""
    row: dict = {"point_id": task.point_id, "point": task.index,
                 "workload": workload_label(task.workload), "batch": task.batch,
                 **dict(task.sequence), **task.point, "hw": hw.name}
    try:
        config = variant(hw, task.point)
        network = _batched(task.workload, task.batch, task.sequence)
        run = _checked_run(network, config, residency, reasons=per_layer)
    except (InfeasibleError, ConfigError, LimitError, WorkloadError) as err:
        return {**row, "status": "infeasible", "reason": str(err)}, []
    t = run.totals
    by_bound = {bound: 0 for bound in ("compute", "utilization", "memory")}
    for layer in run.layers:
        if layer.bound in by_bound:
            by_bound[layer.bound] += layer.total_cycles
    row.update(status="ok", reason="", cycles=t["cycles"], time_ms=t["time_ms"],
               macs=t["macs"], ops=t["ops"], macs_per_cycle=t["macs_per_cycle"],
               utilization=t["utilization"], peak_macs_per_cycle=config.peak_macs_per_cycle,
               dram_bytes=t["dram_bytes"], dram_read_bytes=t["dram_read_bytes"],
               dram_write_bytes=t["dram_write_bytes"], sram_bytes=t["sram_bytes"],
               sram_size_bytes=config.sram.size_bytes,
               dram_bytes_per_cycle=config.dram_bytes_per_cycle, energy_pj=t["energy_pj"],
               **{f"{bound}_bound_cycles": cycles for bound, cycles in by_bound.items()})
    if not per_layer:
        return row, []
    identity = {"point_id": task.point_id, "point": task.index, **dict(task.sequence),
                **task.point}
    layers = [{**identity, **record} for record in run.records()]
    return row, layers


def _checked_run(network: Network, config: HwConfig, residency: str,
                 reasons: bool) -> RunResult:
    """The point's run, checked (:func:`check_result`). The sweep's rows do not report the raw
    graph's cycles, nor, without per-layer rows, the rows' reasons: neither is made. A count
    beyond perfsim's limits is refused with the layer's reason: the run is made again with
    its reasons for the message."""
    run = simulate(network, config, residency=residency, compare_raw=False, reasons=reasons)
    try:
        check_result(run)
    except LimitError:
        if reasons:
            raise
        return _checked_run(network, config, residency, reasons=True)
    return run


def evaluate_chunk(hw: HwConfig, tasks: list[Task], per_layer: bool = False,
                   residency: str = "auto") -> list[tuple[dict, list[dict]]]:
    """:func:`evaluate` over a chunk of tasks (the unit an executor ships to a worker)."""
    return [evaluate(hw, task, per_layer, residency) for task in tasks]


def totals_frame(rows: list[dict] | pd.DataFrame, parameters: list[str],
                 sequence: Sequence[str] = ()) -> pd.DataFrame:
    """Totals rows (dicts, or a frame of them) as a DataFrame with a fixed column order and
    dtypes, so parts written at different times (all infeasible, or none) concatenate to the
    same table; ``sequence`` names the :data:`SEQUENCE_KEYS` the sweep varies."""
    head = ["point_id", "point", "workload", "batch", *sequence, *parameters, "hw", "status",
            "reason"]
    columns = [*head, *TOTAL_COLUMNS]
    frame = (rows.reindex(columns=columns) if isinstance(rows, pd.DataFrame)
             else pd.DataFrame(rows, columns=columns))
    return frame.astype({"point": "int64", "batch": "int64", "status": "string",
                         "reason": "string", "workload": "string", "hw": "string",
                         "point_id": "string", **{k: SEQUENCE_KEYS[k] for k in sequence},
                         **TOTAL_COLUMNS})


def in_sweep_order(totals: pd.DataFrame, workloads: list[str], batches: list[int],
                   sequence: Mapping[str, Sequence] | None = None) -> pd.DataFrame:
    """Totals rows sorted as the sweep lists them: by point, then workload (as ordered in
    ``workloads``, their labels), then batch (as in ``batches``), then each sequence setting
    (as in ``sequence``, key -> values)."""
    axes = {"workload": workloads, "batch": batches, **(sequence or {})}
    keys = pd.DataFrame({"point": totals["point"].to_numpy(), **{
        key: totals[key].map({v: i for i, v in enumerate(values)}).to_numpy()
        for key, values in axes.items()}})
    order = keys.sort_values(["point", *axes], kind="stable").index
    return totals.iloc[order].reset_index(drop=True)


def layers_in_order(layers: pd.DataFrame, totals: pd.DataFrame) -> pd.DataFrame:
    """Per-layer rows sorted as their points are in ``totals`` (each point's layers keep their
    order)."""
    if not len(layers):
        return layers.reset_index(drop=True)
    position = layers["point_id"].map({p: i for i, p in enumerate(totals["point_id"])})
    return layers.iloc[position.argsort(kind="stable")].reset_index(drop=True)
