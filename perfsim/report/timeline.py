"""The Gantt chart of an event run: what each engine and the DRAM channel did, and when.

Takes the timeline of :func:`perfsim.schedule.event.simulate_events` (``timeline.csv`` of a
saved event run: ``resource, kind, layer, tile, tiles, start_cycle, end_cycle``) and,
optionally, the run's per-layer frame to colour compute by kind of layer.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from perfsim.report.plots import count_text, kind_color, run_label
from perfsim.report.tables import layer_kinds

TRANSFER_COLORS = {"load": "#2f4f4f", "store": "#bc8f8f", "prefetch": "#e6c229"}
"""DRAM channel work by kind: a layer's own loads and stores, and prefetched weights."""


def gantt_figure(timeline: pd.DataFrame, layers: pd.DataFrame | None = None, *,
                 clock_ghz: float | None = None,
                 window: tuple[float, float] | None = None) -> Figure:
    """One row per resource (the DRAM channel on top, then each engine), a bar per piece of
    work from ``start_cycle`` to ``end_cycle``. Engine bars are coloured by the kind of
    layer when ``layers`` (the run's frame) is given; transfers by load, store or prefetch.
    ``window`` (cycles) zooms in; ``clock_ghz`` adds a time axis in microseconds."""
    if window is not None:
        lo, hi = window
        timeline = timeline[(timeline["end_cycle"] > lo) & (timeline["start_cycle"] < hi)]
    resources = ["dram"] + sorted(set(timeline["resource"]) - {"dram"})
    fig = Figure(figsize=(12, 1.2 + 0.9 * len(resources)), layout="constrained")
    ax = fig.add_subplot()
    kind_of = {}
    if layers is not None and not layers.empty:
        kind_of = dict(zip(layers["layer"], layer_kinds(layers)))
    used: dict[str, str] = {}
    named = 0
    x_range = window if window is not None else (
        0, float(timeline["end_cycle"].max()) if not timeline.empty else 1.0)
    for row_index, resource in enumerate(resources):
        rows = timeline[timeline["resource"] == resource]
        if resource == "dram":
            colors = rows["kind"].map(lambda kind: TRANSFER_COLORS.get(kind, "#7f7f7f"))
            for kind in rows["kind"].unique():
                used[f"DRAM {kind}"] = TRANSFER_COLORS.get(kind, "#7f7f7f")
        else:
            kinds = rows["layer"].map(lambda name: kind_of.get(name, "compute"))
            colors = kinds.map(lambda kind: "#1f77b4" if kind == "compute" else kind_color(kind))
            for kind in kinds.unique():
                used[f"compute: {kind}"] = "#1f77b4" if kind == "compute" else kind_color(kind)
        y = len(resources) - 1 - row_index
        spans = list(zip(rows["start_cycle"], rows["end_cycle"] - rows["start_cycle"]))
        ax.broken_barh(spans, (y - 0.38, 0.76), facecolors=list(colors), linewidth=0)
        if resource != "dram":
            named += _layer_names(ax, rows, y, x_range)
    ax.set_yticks(range(len(resources)), [r if r != "dram" else "DRAM channel"
                                          for r in reversed(resources)])
    ax.set_ylim(-0.6, len(resources) - 0.4)
    ax.set_ylabel("resource")
    ax.set_xlabel("cycle")
    ax.xaxis.set_major_formatter(count_text)
    if window is not None:
        ax.set_xlim(*window)
    elif not timeline.empty:
        ax.set_xlim(0, timeline["end_cycle"].max())
    if clock_ghz:
        top = ax.secondary_xaxis("top", functions=(lambda c: c / (clock_ghz * 1e3),
                                                   lambda us: us * clock_ghz * 1e3))
        top.set_xlabel("time (µs)")
    title = "Event schedule: engines and DRAM over time"
    if layers is not None and run_label(layers):
        title += f" ({run_label(layers)})"
    if window is not None:
        title += f", cycles {count_text(window[0])}–{count_text(window[1])}"
    if named:
        title += "\n(layers named where their bar has room; every layer in trace.json)"
    ax.set_title(title, fontsize=10)
    ax.legend(handles=[Patch(color=c, label=k) for k, c in used.items()],
              loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small", frameon=False)
    ax.grid(axis="x", alpha=0.3)
    return fig


CHAR_SHARE = 1 / 165
"""The share of the chart's time axis one character of a bar's layer name takes (6.5 pt
text on the 12-inch chart)."""


def _layer_names(ax, rows: pd.DataFrame, y: float, x_range: tuple[float, float]) -> int:
    """Write layer names on an engine's row: each layer's longest unbroken stretch of work
    (tiles back to back, no other layer's in between) gets its name when the name fits in it
    and clears the names already written; returns how many were written. Names are clipped to
    the axes, so a zoomed window never spills one outside it."""
    work = rows.sort_values("start_cycle")
    runs: list[list] = []  # [layer, start, end] of each unbroken stretch
    for layer, start, end in zip(work["layer"], work["start_cycle"], work["end_cycle"]):
        if runs and runs[-1][0] == layer:
            runs[-1][2] = max(runs[-1][2], end)
        else:
            runs.append([layer, start, end])
    longest: dict[str, tuple[float, float]] = {}
    for layer, start, end in runs:
        start, end = max(start, x_range[0]), min(end, x_range[1])
        best = longest.get(layer)
        if best is None or end - start > best[1] - best[0]:
            longest[layer] = (start, end)
    width = max(x_range[1] - x_range[0], 1)
    written: list[tuple[float, float]] = []
    for layer, (start, end) in sorted(longest.items(), key=lambda kv: kv[1][0] - kv[1][1]):
        need = (len(layer) + 2) * CHAR_SHARE * width
        middle = (start + end) / 2
        text = (middle - need / 2, middle + need / 2)
        if end - start >= need and all(text[1] <= a or b <= text[0] for a, b in written):
            ax.text(middle, y, layer, ha="center", va="center", fontsize=6.5, color="white",
                    clip_on=True)
            written.append(text)
    return len(written)


def busiest_window(timeline: pd.DataFrame, span_cycles: float) -> tuple[float, float]:
    """A window of ``span_cycles`` starting where the most engines (not the DRAM channel)
    first work at once: the place to zoom in to see layers running in parallel."""
    work = timeline[timeline["resource"] != "dram"]
    if work.empty:
        return (0.0, span_cycles)
    events = sorted([(s, 1) for s in work["start_cycle"]] + [(e, -1) for e in work["end_cycle"]])
    active = best = 0
    start = 0.0
    for cycle, step in events:
        active += step
        if active > best:
            best, start = active, cycle
    return (max(0.0, start - span_cycles / 4), max(0.0, start - span_cycles / 4) + span_cycles)


def both_busy_cycles(timeline: pd.DataFrame, first: str, second: str) -> int:
    """Cycles during which resources ``first`` and ``second`` (engines: their compute) both
    work: how much two engines really ran in parallel."""
    def spans(resource: str):
        rows = timeline[(timeline["resource"] == resource) & (timeline["kind"] == "compute")]
        return rows[["start_cycle", "end_cycle"]].sort_values("start_cycle").to_numpy()

    left, right = spans(first), spans(second)
    total, j = 0, 0
    for start, end in left:  # both lists are disjoint intervals in time order
        while j < len(right) and right[j][1] <= start:
            j += 1
        k = j
        while k < len(right) and right[k][0] < end:
            total += min(end, right[k][1]) - max(start, right[k][0])
            k += 1
    return int(total)
