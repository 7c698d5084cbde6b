"""Report tables: ``DataFrame -> DataFrame`` views of a run's per-layer frame (the frame of
``RunResult.to_frame()`` or ``layers.parquet``) and its ``hw_summary``.

Cycles are clock cycles, bytes are bytes, shares and utilisations are fractions in [0, 1].
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from perfsim.results import row_kind, view_rows
from perfsim.workload.ops import reader_kind_order



def layer_kinds(frame: pd.DataFrame) -> pd.Series:
    """Each layer's kind by :func:`perfsim.results.layer_kind` (depthwise conv, 1x1 conv,
    conv, fc, ...), indexed like ``frame``."""
    return pd.Series([row_kind(row) for row in frame.to_dict("records")], index=frame.index,
                     dtype=object)


def working_layers(frame: pd.DataFrame) -> pd.DataFrame:
    """The layers that run on an engine (not the input and views such as flatten), with a
    ``kind`` column and ``dram_bytes`` (read + written)."""
    rows = frame[frame["engine"] != "-"].copy()
    rows["kind"] = layer_kinds(rows)
    rows["dram_bytes"] = rows["dram_read_bytes"] + rows["dram_write_bytes"]
    return rows


def has_event_columns(frame: pd.DataFrame) -> bool:
    """Whether ``frame`` has the event schedule's ``queue_cycles`` and ``wait_cycles`` for
    every row (runs saved before they existed do not)."""
    return {"queue_cycles", "wait_cycles"} <= set(frame) and \
        frame[["queue_cycles", "wait_cycles"]].notna().all(axis=None)


def run_cycles(frame: pd.DataFrame) -> int:
    """The run's length in cycles: the last ``end_cycle`` minus the first ``start_cycle`` when
    every layer has them (event schedule, layers may overlap), else the sum of the layers'."""
    if {"start_cycle", "end_cycle"} <= set(frame) and \
            frame[["start_cycle", "end_cycle"]].notna().all(axis=None):
        return int(frame["end_cycle"].max() - frame["start_cycle"].min())
    return int(frame["total_cycles"].sum())


def run_view(frame: pd.DataFrame) -> pd.DataFrame:
    """A run's per-layer frame with :func:`~perfsim.results.view_rows`' columns: ``kind``
    (after ``op``), ``dram_bytes``, ``cycle_share`` and ``intensity``."""
    return pd.DataFrame(view_rows(frame.to_dict("records")), index=frame.index)


def layer_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The per-layer table of a report, in network order: kind, engine, MACs, cycles (total,
    compute, stall; in event runs also queued and waiting) and the total's share of the
    layers' cycles, utilisation, intensity (MACs or ops per DRAM byte), DRAM bytes, bound and
    its reason."""
    rows = run_view(working_layers(frame).drop(columns=["kind", "dram_bytes"]))
    event = ["queue_cycles", "wait_cycles"] if has_event_columns(rows) else []
    return rows[["layer", "kind", "engine", "macs", "total_cycles", "cycle_share",
                 "compute_cycles", "stall_cycles", *event, "utilization", "intensity",
                 "dram_bytes", "bound", "reason"]].reset_index(drop=True)


def kind_shares(frame: pd.DataFrame) -> pd.DataFrame:
    """Per kind of layer: layers, MACs and cycles and their shares of the run's, the engines
    used and the bound holding most of the kind's cycles; in the order of
    :func:`~perfsim.workload.ops.reader_kind_order`."""
    rows = working_layers(frame)
    macs = rows["macs"].sum() or 1
    cycles = rows["total_cycles"].sum() or 1
    out = []
    for kind, group in rows.groupby("kind", sort=False):
        by_bound = group.groupby("bound")["total_cycles"].sum()
        out.append({"kind": kind, "layers": len(group), "macs": int(group["macs"].sum()),
                    "cycles": int(group["total_cycles"].sum()),
                    "mac_share": group["macs"].sum() / macs,
                    "cycle_share": group["total_cycles"].sum() / cycles,
                    "engines": "/".join(sorted(group["engine"].unique())),
                    "main_bound": by_bound.idxmax()})
    table = pd.DataFrame(out)
    order = {kind: i for i, kind in enumerate(reader_kind_order())}
    return table.sort_values("kind", key=lambda s: s.map(order)).reset_index(drop=True)


def engine_utilization(frame: pd.DataFrame, hw_summary: dict) -> pd.DataFrame:
    """Per engine of ``hw_summary``: layers run, busy cycles (its layers' compute cycles) and
    their share of the run's cycles, MACs, and MAC-weighted utilisation (sum of utilisation
    times MACs over MACs; NaN for an engine that ran no MACs)."""
    rows = working_layers(frame)
    total = run_cycles(frame) or 1
    out = []
    for engine in hw_summary["engines"]:
        group = rows[rows["engine"] == engine["name"]]
        macs = int(group["macs"].sum())
        weighted = (group["utilization"] * group["macs"]).sum() / macs if macs else np.nan
        out.append({"engine": engine["name"], "kind": engine["kind"],
                    "peak_macs_per_cycle": engine["peak_macs_per_cycle"],
                    "layers": len(group), "busy_cycles": int(group["compute_cycles"].sum()),
                    "busy_share": group["compute_cycles"].sum() / total, "macs": macs,
                    "mac_weighted_utilization": weighted})
    return pd.DataFrame(out)


def roofs(hw_summary: dict) -> pd.DataFrame:
    """Each engine's roof: peak MACs per cycle, DRAM bytes per cycle, and the ridge point
    (MACs per DRAM byte) where ``intensity * DRAM bytes per cycle`` reaches the peak."""
    bandwidth = hw_summary["dram_bytes_per_cycle"]
    return pd.DataFrame([{"engine": e["name"], "peak_macs_per_cycle": e["peak_macs_per_cycle"],
                          "dram_bytes_per_cycle": bandwidth,
                          "ridge_macs_per_dram_byte": e["peak_macs_per_cycle"] / bandwidth}
                         for e in hw_summary["engines"]])


def roofline_points(frame: pd.DataFrame) -> pd.DataFrame:
    """The layers a roofline can place: those doing MACs, with their MACs per DRAM byte
    (``inf`` when they move no DRAM bytes: ``no_dram`` is then True), achieved MACs per cycle
    and cycles."""
    rows = working_layers(frame)
    rows = rows[rows["macs"] > 0]
    intensity = rows["macs"] / rows["dram_bytes"].where(rows["dram_bytes"] > 0, np.nan)
    return pd.DataFrame({"layer": rows["layer"], "kind": rows["kind"],
                         "engine": rows["engine"], "bound": rows["bound"],
                         "macs_per_dram_byte": intensity.fillna(np.inf),
                         "macs_per_cycle": rows["macs"] / rows["total_cycles"],
                         "total_cycles": rows["total_cycles"],
                         "no_dram": rows["dram_bytes"] == 0}).reset_index(drop=True)


def slowest_layers(frame: pd.DataFrame, count: int = 5) -> pd.DataFrame:
    """The ``count`` layers taking the most cycles, slowest first, with their reasons."""
    return layer_table(frame).nlargest(count, "total_cycles")[
        ["layer", "kind", "engine", "total_cycles", "cycle_share", "bound", "reason"]]
