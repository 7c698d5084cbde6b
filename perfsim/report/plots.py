"""Report figures: ``DataFrame -> matplotlib.figure.Figure`` of a run's per-layer frame (the
frame of ``RunResult.to_frame()`` or ``layers.parquet``) and, where the machine matters, its
``hw_summary``.

Figures are built with ``matplotlib.figure.Figure`` directly: no pyplot, no global state, so
they work in scripts, tests and notebooks alike.
"""

from __future__ import annotations

import textwrap

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from perfsim.report.tables import (engine_utilization, has_event_columns, kind_shares,
                                   roofline_points, roofs, working_layers)
from perfsim.workload.ops import OTHER_KIND, reader_kind_order

KIND_PALETTE = ("#1f77b4", "#2ca02c", "#9467bd", "#d62728", "#ff7f0e", "#8c564b", "#e377c2",
                "#17becf", "#bcbd22", "#aec7e8", "#98df8a", "#c5b0d5", "#ff9896", "#ffbb78")
"""Colours of the kinds of layer in :func:`~perfsim.workload.ops.reader_kind_order`, in turn."""


def kind_color(kind: str) -> str:
    """One colour per kind of layer, the same in every figure; the "other" layers are grey."""
    order = reader_kind_order()
    if kind == OTHER_KIND or kind not in order:
        return "#7f7f7f"
    return KIND_PALETTE[order.index(kind) % len(KIND_PALETTE)]

BOUND_COLORS = {"compute": "#1f77b4", "utilization": "#ff7f0e", "memory": "#d62728",
                "none": "#7f7f7f"}
"""One colour per bound, the same in every figure."""

ENGINE_MARKERS = ("o", "s", "^", "D", "v", "P")


def run_label(frame: pd.DataFrame) -> str:
    """``network on hw, batch B`` from the frame's ``workload, hw, batch`` columns (empty
    when it has none)."""
    if not {"workload", "hw", "batch"} <= set(frame) or frame.empty:
        return ""
    row = frame.iloc[0]
    return f"{row['workload']} on {row['hw']}, batch {row['batch']}"


def count_text(value: float, _position=None) -> str:
    """Tick text for counts spanning decades: 950, 12k, 3.4M, 2G."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= scale:
            return f"{value / scale:g}{suffix}"
    return f"{value:g}"


def roofline_figure(frame: pd.DataFrame, hw_summary: dict, *, label_count: int = 8) -> Figure:
    """Each layer doing MACs at (MACs per DRAM byte, achieved MACs per cycle), log-log,
    coloured by kind with a marker per engine, under each engine's roof
    ``min(peak, intensity * DRAM bytes per cycle)`` and its ridge point. The ``label_count``
    slowest layers are named. Layers that move no DRAM bytes (infinite intensity) are drawn in
    a shaded band at the right edge."""
    points = roofline_points(frame)
    roof = roofs(hw_summary)
    fig = Figure(figsize=(10, 6.2), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")
    finite = points.loc[~points["no_dram"], "macs_per_dram_byte"]
    ridges = roof["ridge_macs_per_dram_byte"]
    x_lo = min(finite.min() if len(finite) else 1.0, ridges.min()) / 4
    x_hi = max(finite.max() if len(finite) else 1.0, ridges.max()) * 4
    no_dram_x = x_hi * 3
    x_max = x_hi * 8 if points["no_dram"].any() else x_hi
    y_lo = (points["macs_per_cycle"].min() if len(points) else 1.0) / 3
    y_hi = roof["peak_macs_per_cycle"].max() * 3
    grid = np.geomspace(x_lo, x_hi, 200)
    for i, r in roof.iterrows():
        style = ("-", "--", "-.", ":")[i % 4]
        ax.plot(grid, np.minimum(r["peak_macs_per_cycle"], grid * r["dram_bytes_per_cycle"]),
                color="black", linestyle=style, linewidth=1.4,
                label=f"{r['engine']} roof: {r['peak_macs_per_cycle']:,.0f} MAC/cycle peak, "
                      f"{r['dram_bytes_per_cycle']:g} DRAM B/cycle")
        ax.plot([r["ridge_macs_per_dram_byte"]] * 2, [y_lo, r["peak_macs_per_cycle"]],
                color="gray", linestyle=":", linewidth=1)
    for ridge, group in roof.groupby("ridge_macs_per_dram_byte"):  # equal peaks share one
        ax.annotate(f"{', '.join(group['engine'])} ridge\n{ridge:,.0f} MAC/B", (ridge, y_lo),
                    xytext=(4, 4), textcoords="offset points", fontsize=8, color="dimgray",
                    va="bottom")
    engines = list(dict.fromkeys(e["name"] for e in hw_summary["engines"]))
    markers = {name: ENGINE_MARKERS[i % len(ENGINE_MARKERS)] for i, name in enumerate(engines)}
    xs = np.where(points["no_dram"], no_dram_x, points["macs_per_dram_byte"])
    for kind in reader_kind_order():
        for engine in engines:
            sel = ((points["kind"] == kind) & (points["engine"] == engine)).to_numpy()
            if sel.any():
                ax.scatter(xs[sel], points["macs_per_cycle"][sel], s=42, alpha=0.85,
                           color=kind_color(kind), marker=markers[engine],
                           edgecolors="black", linewidths=0.4, label=f"{kind} on {engine}",
                           zorder=3)
    if points["no_dram"].any():
        ax.axvspan(x_hi * 1.5, x_max, color="#eeeeee", zorder=0)
        ax.text(no_dram_x, y_hi / 1.3, "no DRAM\ntraffic\n(x = inf)", ha="center", va="top",
                fontsize=8, color="dimgray")
    ax.set_xlim(x_lo, x_max)
    ax.set_ylim(y_lo, y_hi)
    ax.set_xlabel("arithmetic intensity: MACs per DRAM byte (log)")
    ax.set_ylabel("achieved MACs per cycle (log)")
    ax.xaxis.set_major_formatter(FuncFormatter(count_text))
    ax.yaxis.set_major_formatter(FuncFormatter(count_text))
    ax.grid(True, which="major", linewidth=0.4, alpha=0.5)
    title = run_label(frame)
    ax.set_title(f"Roofline{': ' + title if title else ''}  ({len(points)} layers doing MACs; "
                 f"the {min(label_count, len(points))} slowest named)", fontsize=10)
    fig.legend(loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    slow = points.nlargest(label_count, "total_cycles")
    names: dict[tuple, list[str]] = {}  # layers drawn on the same spot share one label
    for i in slow.index:
        spot = (float(f"{xs[i]:.3g}"), float(f"{points.at[i, 'macs_per_cycle']:.3g}"))
        names.setdefault(spot, []).append(points.at[i, "layer"])
    place_labels(fig, ax, xs, points["macs_per_cycle"].to_numpy(),
                  [(x, y, ", ".join(layers)) for (x, y), layers in names.items()])
    return fig


def place_labels(fig: Figure, ax, xs, ys, labels, *, fontsize: float = 8,
                 color: str = "black") -> None:
    """Name points of ``ax`` without overlapping each other, any point or the axes edge.

    ``xs, ys`` are every point drawn (data coordinates, to keep clear of), ``labels`` the
    ``(x, y, text)`` to place. Labels sit under the points, so their boxes never hide one.
    Each label takes the first of rings of offsets (widening, with
    a leader line when far) that is free, else the least crowded one. The figure's layout is
    fixed first (and then frozen) so the positions are final."""
    fig.draw_without_rendering()
    fig.set_layout_engine("none")
    to_display = ax.transData.transform
    dots = to_display(np.column_stack([xs, ys]))
    taken: list = []
    inside = ax.get_window_extent()
    scale = fig.dpi / 72
    for x, y, text in labels:
        best, best_cost = None, None
        for radius in (7, 16, 28, 42, 58):
            for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1.3), (0, -1.3), (1.4, 0),
                           (-1.4, 0)):
                offset = (dx * radius, dy * radius)
                note = ax.annotate(
                    text, (x, y), xytext=offset, textcoords="offset points", fontsize=fontsize,
                    color=color,
                    ha="left" if dx > 0 else "right" if dx < 0 else "center",
                    va="bottom" if dy > 0 else "top" if dy < 0 else "center",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                          "alpha": 0.8},
                    arrowprops={"arrowstyle": "-", "color": "gray", "linewidth": 0.6}
                    if radius > 7 else None, zorder=2.5)  # under the points (zorder 3)
                box = note.get_window_extent().expanded(1.05, 1.1)
                cost = sum(_overlap(box, other) for other in taken)
                near = np.abs(dots - [box.x0 + box.width / 2, box.y0 + box.height / 2])
                cost += 40.0 * np.sum((near[:, 0] < box.width / 2 + 4 * scale)
                                      & (near[:, 1] < box.height / 2 + 4 * scale))
                if not (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0
                        and box.y1 <= inside.y1):
                    cost += 1e6
                if best_cost is None or cost < best_cost:
                    if best is not None:
                        best.remove()
                    best, best_cost = note, cost
                else:
                    note.remove()
                if best_cost == 0:
                    break
            if best_cost == 0:
                break
        taken.append(best.get_window_extent())


def _overlap(a, b) -> float:
    width = min(a.x1, b.x1) - max(a.x0, b.x0)
    height = min(a.y1, b.y1) - max(a.y0, b.y0)
    return max(width, 0) * max(height, 0)


STALL_COLOR = "#d9d9d9"
"""Memory stall: a layer's own transfers and latency that its compute does not hide."""
QUEUE_COLOR = "#9e9ac8"
"""Event runs: ready, but queued for a resource another layer holds (engine, DRAM, SRAM)."""
WAIT_COLOR = "#66c2a5"
"""Event runs: waiting for a producer's tiles."""


def cycles_figure(frame: pd.DataFrame, *, max_layers: int = 90) -> Figure:
    """Per-layer cycles in network order, each bar stacked: compute cycles (coloured by the
    layer's bound), then memory stall cycles (its own transfers and latency beyond the
    compute: compute + stall = ``total_cycles``, its own busy time). Event runs add the
    cycles it was ready but queued for a resource another layer held, then the cycles it
    waited for a producer (the whole bar is its span, ``end_cycle - start_cycle``). With more
    than ``max_layers`` layers only the ``max_layers`` with the most busy time are drawn, and
    the title says what they hold."""
    rows = working_layers(frame)
    shown = rows.nlargest(max_layers, "total_cycles").sort_index() \
        if len(rows) > max_layers else rows
    event = has_event_columns(shown)
    height = max(3.5, 0.15 * len(shown) + 1.6)
    fig = Figure(figsize=(10, height), layout="constrained")
    ax = fig.add_subplot()
    y = np.arange(len(shown))
    colors = shown["bound"].map(BOUND_COLORS).fillna("#7f7f7f")
    ax.barh(y, shown["compute_cycles"], color=colors, height=0.8)
    left = shown["compute_cycles"] + shown["stall_cycles"]
    ax.barh(y, shown["stall_cycles"], left=shown["compute_cycles"], color=STALL_COLOR,
            hatch="///", edgecolor="#9a9a9a", linewidth=0, height=0.8)
    if event:
        ax.barh(y, shown["queue_cycles"], left=left, color=QUEUE_COLOR, height=0.8)
        ax.barh(y, shown["wait_cycles"], left=left + shown["queue_cycles"], color=WAIT_COLOR,
                height=0.8)
    ax.set_yticks(y, [f"{layer} [{engine}]" for layer, engine in
                      zip(shown["layer"], shown["engine"])], fontsize=7 if len(shown) > 40 else 9)
    ax.set_ylim(len(shown) - 0.4, -0.6)
    ax.xaxis.set_major_formatter(FuncFormatter(count_text))
    ax.set_xlabel("cycles per layer: compute + memory stall = its busy time (total)"
                  + ("; + queued + waiting = its span (end - start)" if event else ""))
    ax.set_ylabel("layer [engine], in network order")
    ax.grid(True, axis="x", linewidth=0.4, alpha=0.5)
    handles = [ax.bar(0, 0, color=BOUND_COLORS[b], label=f"compute cycles, {b}-bound layer")
               for b in ("compute", "utilization", "memory") if (shown["bound"] == b).any()]
    handles.append(ax.bar(0, 0, color=STALL_COLOR, hatch="///", edgecolor="#9a9a9a",
                          linewidth=0, label="memory stall (its own transfers and latency)"))
    if event:
        handles.append(ax.bar(0, 0, color=QUEUE_COLOR, label="queued: ready, but its engine, "
                                                             "the DRAM channel or SRAM is busy"))
        handles.append(ax.bar(0, 0, color=WAIT_COLOR, label="waiting for a producer's tiles"))
    # Below the axes: above them, constrained layout lets a legend cover the title.
    fig.legend(handles=handles, loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    title = run_label(frame)
    what = (f"the {len(shown)} busiest of {len(rows)} layers, "
            f"{shown['total_cycles'].sum() / max(rows['total_cycles'].sum(), 1):.0%} of the busy "
            f"cycles" if len(shown) < len(rows) else f"{len(rows)} layers")
    ax.set_title(f"Cycles per layer{': ' + title if title else ''} ({what})", fontsize=10)
    return fig


def kind_share_figure(frame: pd.DataFrame) -> Figure:
    """Per kind of layer, its share of the MACs beside its share of the cycles: a kind whose
    cycle bar towers over its MAC bar (depthwise, fc) costs more time than its work."""
    shares = kind_shares(frame)
    fig = Figure(figsize=(9, 4.8), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(shares))
    width = 0.38
    macs = ax.bar(x - width / 2, shares["mac_share"], width, color="#bdbdbd",
                  edgecolor="black", linewidth=0.5, label="share of MACs")
    cycles = ax.bar(x + width / 2, shares["cycle_share"], width,
                    color=[kind_color(k) for k in shares["kind"]], edgecolor="black",
                    linewidth=0.5, label="share of cycles (colour: kind)")
    for bars in (macs, cycles):
        ax.bar_label(bars, labels=[f"{v:.1%}" if v < 0.1 else f"{v:.0%}"
                                   for v in bars.datavalues], fontsize=8, padding=2)
    ax.set_xticks(x, [textwrap.fill(f"{k} ({n} layer{'s' if n > 1 else ''})", 16)
                      for k, n in zip(shares["kind"], shares["layers"])], fontsize=8)
    ax.set_ylim(0, min(1.0, shares[["mac_share", "cycle_share"]].to_numpy().max() * 1.18))
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("share of the run's MACs / cycles (%)")
    ax.set_xlabel("kind of layer")
    ax.legend(loc="upper right", fontsize=8)
    title = run_label(frame)
    ax.set_title(f"Share of MACs vs share of cycles{': ' + title if title else ''}",
                 fontsize=10)
    return fig


def engine_figure(frame: pd.DataFrame, hw_summary: dict) -> Figure:
    """Per engine: the share of the run's cycles it computes (busy) and its MAC-weighted
    utilisation while it does (how much of its peak its layers use)."""
    table = engine_utilization(frame, hw_summary)
    fig = Figure(figsize=(7, 3.8), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(table))
    width = 0.38
    busy = ax.bar(x - width / 2, table["busy_share"], width, color="#6baed6",
                  edgecolor="black", linewidth=0.5, label="busy: share of the run's cycles")
    used = ax.bar(x + width / 2, table["mac_weighted_utilization"].fillna(0), width,
                  color="#fd8d3c", edgecolor="black", linewidth=0.5,
                  label="MAC-weighted utilisation of its peak")
    for bars, values in ((busy, table["busy_share"]), (used, table["mac_weighted_utilization"])):
        ax.bar_label(bars, labels=["no MACs" if v != v else f"{v:.1%}" if v < 0.1
                                   else f"{v:.0%}" for v in values], fontsize=8, padding=2)
    ax.set_xticks(x, [f"{r.engine} ({r.kind})\npeak {r.peak_macs_per_cycle:,} MAC/cycle"
                      for r in table.itertuples()], fontsize=8)
    ax.set_ylim(0, 1.1)
    ax.yaxis.set_major_formatter(PercentFormatter(1.0))
    ax.set_ylabel("share (%)")
    ax.set_xlabel("engine")
    fig.legend(loc="outside lower center", ncols=2, fontsize=8, frameon=False)
    title = run_label(frame)
    ax.set_title(f"Engine use{': ' + title if title else ''}", fontsize=10)
    return fig
