"""Plots of sweep results: DataFrames in, :class:`matplotlib.figure.Figure` out (built
directly, no pyplot and no global state), axes labelled with units, logarithmic where the
values span decades."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

from perfsim.errors import PerfsimError
from perfsim.report.plots import count_text, place_labels
from perfsim.sweeps.pareto import pareto_front

LABELS = {
    "cycles": "cycles", "time_ms": "time per inference batch (ms)",
    "macs_per_cycle": "MACs per cycle", "utilization": "utilization (share of peak)",
    "peak_macs_per_cycle": "peak MACs per cycle (all engines)",
    "dram_bytes": "DRAM traffic (bytes)", "sram_bytes": "SRAM traffic (bytes)",
    "sram_size_bytes": "SRAM size (bytes)", "energy_pj": "energy (pJ)", "batch": "batch",
    "engines.mxu.rows": "array rows (PEs)", "engines.mxu.cols": "array columns (PEs)",
    "memory.sram.size_kib": "SRAM size (KiB)", "clock_ghz": "clock (GHz)",
    "memory.dram.bandwidth_gb_per_s": "DRAM bandwidth (GB/s)",
    "macs_per_dram_byte": "MACs per DRAM byte", "energy_mj": "energy per inference (mJ)",
}
"""Axis labels with units; any other column is labelled by its name (which carries its
unit)."""

GRID_TICKS = 12
"""A logarithmic axis with at most this many distinct values is ticked at each of them."""
DECADES = 10.0
"""Values spanning more than this ratio get a logarithmic axis or colour scale."""


def label(column: str) -> str:
    """An axis label with units for a sweep column."""
    return LABELS.get(column, column)


def _spans_decades(values) -> bool:
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    return len(values) > 1 and values.max() / values.min() > DECADES


def _check(frame: pd.DataFrame, columns: Sequence[str]) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise PerfsimError(f"no column {', '.join(missing)} in the sweep table (columns: "
                           f"{', '.join(map(str, frame.columns))})")


def heatmap(frame: pd.DataFrame, x: str, y: str, value: str, *, title: str = "",
            fmt: str = "{:.3g}") -> Figure:
    """A heatmap of ``value`` over a 2-D grid of ``x`` by ``y`` (one row per cell; an
    infeasible cell is blank), each cell annotated with its value; a logarithmic colour
    scale when the values span decades."""
    _check(frame, [x, y, value])
    if frame.duplicated([x, y]).any():
        raise PerfsimError(f"heatmap: several rows per ({x}, {y}) cell; select one workload "
                           f"and batch first")
    table = frame.pivot(index=y, columns=x, values=value).sort_index().sort_index(axis=1)
    data = table.to_numpy(dtype=float)
    finite = data[np.isfinite(data)]
    log = _spans_decades(finite)
    norm = (LogNorm(finite.min(), finite.max()) if log
            else Normalize(finite.min(), finite.max()))
    figure = Figure(figsize=(1.0 + 0.9 * data.shape[1], 1.2 + 0.55 * data.shape[0]),
                    layout="constrained")
    ax = figure.add_subplot()
    image = ax.imshow(np.ma.masked_invalid(data), origin="lower", aspect="auto",
                      cmap="viridis", norm=norm)
    ax.set_xticks(range(data.shape[1]), [f"{v:g}" for v in table.columns])
    ax.set_yticks(range(data.shape[0]), [f"{v:g}" for v in table.index])
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    for (i, j), v in np.ndenumerate(data):
        if np.isfinite(v):
            dark = norm(v) < 0.5
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")
    bar = figure.colorbar(image, ax=ax)
    bar.set_label(label(value) + (" (log scale)" if log else ""))
    if title:
        ax.set_title(title, fontsize=10)
    return figure


def pareto_scatter(frame: pd.DataFrame, x: str, y: str, *, by: str = "workload",
                   minimize_x: bool = True, minimize_y: bool = True, title: str = "",
                   annotate: Sequence[str] = ()) -> Figure:
    """Every feasible point of ``x`` against ``y``, one panel per value of ``by`` (e.g. per
    workload), with its Pareto front (direction per axis: ``minimize_x``, ``minimize_y``)
    drawn as a step line and its points labelled by the ``annotate`` columns; logarithmic
    axes where the values span decades."""
    _check(frame, [x, y, by, *annotate])
    ok = frame.dropna(subset=[x, y])
    groups = list(dict.fromkeys(ok[by]))
    if not groups:
        raise PerfsimError("pareto_scatter: no feasible point to plot")
    figure = Figure(figsize=(5.2 * len(groups), 4.4), layout="constrained")
    axes = figure.subplots(1, len(groups), squeeze=False)[0]
    fronts = []
    for ax, group in zip(axes, groups):
        rows = ok[ok[by] == group]
        ax.scatter(rows[x], rows[y], s=14, color="0.65", label="all points")
        front = pareto_front(rows, minimize=[c for c, m in ((x, minimize_x), (y, minimize_y))
                                             if m],
                             maximize=[c for c, m in ((x, minimize_x), (y, minimize_y))
                                       if not m]).sort_values(x)
        ax.step(front[x], front[y], where="post", color="tab:red", lw=1.2)
        ax.scatter(front[x], front[y], s=26, color="tab:red", zorder=3,
                   label=f"Pareto front ({len(front)} point{'s' if len(front) != 1 else ''})")
        fronts.append((ax, front))
        for axis, column in ((ax.xaxis, x), (ax.yaxis, y)):
            if _spans_decades(rows[column]):
                _log_axis(ax, axis, rows[column])
        ax.set_xlabel(label(x))
        ax.set_ylabel(label(y))
        ax.set_title(str(group), fontsize=10)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=7, loc="best",
                  title=f"labels: {', '.join(label(c) for c in annotate)}" if annotate
                  else None, title_fontsize=6.5)
    if title:
        figure.suptitle(title, fontsize=11)
    if annotate:  # after the layout is final: place_labels freezes it
        for ax, front in fronts:
            spots: dict[tuple, list[str]] = {}  # points on one spot share one label
            for _, row in front.iterrows():
                spots.setdefault((row[x], row[y]), []).append(
                    ", ".join(f"{row[c]:g}" for c in annotate))
            place_labels(figure, ax, front[x].to_numpy(float), front[y].to_numpy(float),
                         [(px, py, "; ".join(texts)) for (px, py), texts in spots.items()],
                         fontsize=6.5, color="tab:red")
    return figure


def _log_axis(ax, axis, values) -> None:
    """A logarithmic axis ticked at the grid's own values when there are few (a sweep's
    16, 32, 64, ...), else at decades; never the crowded minor labels."""
    if axis is ax.xaxis:
        ax.set_xscale("log")
    else:
        ax.set_yscale("log")
    distinct = sorted(set(np.asarray(values, dtype=float)))
    if len(distinct) <= GRID_TICKS:
        axis.set_ticks(distinct, [f"{v:g}" for v in distinct])
    else:
        axis.set_major_formatter(FuncFormatter(count_text))
    axis.set_minor_formatter(NullFormatter())


def batch_lines(frame: pd.DataFrame, y: str, *, by: str = "layer", x: str = "batch",
                title: str = "", reference: tuple[float, str] | None = None) -> Figure:
    """``y`` against ``x`` (batch by default), one line per value of ``by`` (e.g. per layer
    of a per-layer sweep), each marker coloured by the layer's bound where the frame has a
    ``bound`` column, and an optional horizontal ``reference`` line (value, label), such as
    the machine balance; logarithmic axes where the values span decades."""
    _check(frame, [x, y, by])
    figure = Figure(figsize=(6.4, 4.2), layout="constrained")
    ax = figure.add_subplot()
    colours = {"compute": "tab:green", "utilization": "tab:orange", "memory": "tab:blue"}
    for group, rows in frame.groupby(by, sort=False):
        rows = rows.sort_values(x)
        ax.plot(rows[x], rows[y], color="0.5", lw=1, label=None)
        ax.annotate(str(group), (rows[x].iloc[-1], rows[y].iloc[-1]), fontsize=7,
                    textcoords="offset points", xytext=(4, 0), va="center")
        if "bound" in rows:
            for bound, part in rows.groupby("bound"):
                ax.scatter(part[x], part[y], s=22, zorder=3,
                           color=colours.get(bound, "k"), label=f"{bound}-bound")
    if reference is not None:
        ax.axhline(reference[0], color="tab:red", ls="--", lw=1, label=reference[1])
    handles, names = ax.get_legend_handles_labels()
    unique = dict(zip(names, handles))
    if unique:
        ax.legend(unique.values(), unique.keys(), fontsize=7)
    if _spans_decades(frame[x]):
        ax.set_xscale("log", base=2)
    if _spans_decades(frame[y]):
        ax.set_yscale("log")
    ax.set_xlabel(label(x))
    ax.set_ylabel(label(y))
    ax.grid(True, which="major", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    return figure
