"""Runs side by side (two accelerators, two batch sizes, two networks): totals and, when the
runs share layer names, cycles per layer, each with ratios to the first run; their figures
and the ``perfsim compare`` document."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from perfsim.errors import PerfsimError
from perfsim.report.document import Block, Document, Heading, Paragraph, Plot, Table, \
    write_document
from perfsim.report.plots import count_text
from perfsim.report.run_dir import SavedRun
from perfsim.report.tables import run_cycles, working_layers

RATIO_COLUMNS = ("time_ms", "time_per_sample_ms", "cycles", "macs", "dram_bytes", "energy_pj")
"""The totals that get a ``*_ratio`` column (each run's value over the first run's)."""

RUN_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")
RUN_MARKERS = ("o", "s", "^", "D", "v", "P", "X")


def compare_totals(frames: Mapping[str, pd.DataFrame],
                   hw_summaries: Mapping[str, dict]) -> pd.DataFrame:
    """One row per run (``frames`` and ``hw_summaries`` keyed by the same labels, first run
    first): MACs, cycles, time (ms at the run's clock) in all and per sample, MACs per cycle,
    utilisation of all engines' peak, DRAM bytes, energy (pJ; NaN without energy figures), and
    ``*_ratio`` columns: each run's value over the first run's."""
    rows = []
    for label, frame in frames.items():
        hw = hw_summaries[label]
        cycles = run_cycles(frame)
        macs = int(frame["macs"].sum())
        batch = int(frame["batch"].iloc[0]) if "batch" in frame else 1
        peak = sum(e["peak_macs_per_cycle"] for e in hw["engines"])
        energy = frame["energy_pj"].astype(float)
        time_ms = cycles / (hw["clock_ghz"] * 1e6)
        rows.append({"run": label,
                     **{c: frame[c].iloc[0] for c in ("workload", "hw", "batch", "fidelity")
                        if c in frame},
                     "macs": macs, "cycles": cycles, "time_ms": time_ms,
                     "time_per_sample_ms": time_ms / batch,
                     "macs_per_cycle": macs / cycles if cycles else np.nan,
                     "utilization": macs / (cycles * peak) if cycles else np.nan,
                     "dram_bytes": int((frame["dram_read_bytes"]
                                        + frame["dram_write_bytes"]).sum()),
                     "energy_pj": energy.sum() if energy.notna().all() else np.nan})
    table = pd.DataFrame(rows)
    for column in RATIO_COLUMNS:
        first = table[column].iloc[0]
        table[f"{column}_ratio"] = table[column] / first if first else np.nan
    return table


def compare_layers(frames: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Cycles per layer for the layers every run has (by name, in the first run's order):
    ``layer``, ``kind`` (in the first run), one ``{label}_cycles`` column per run and one
    ``{label}_cycles_ratio`` per run after the first. Empty unless the shared layers are at
    least half of every run's: two networks that merely both have an ``fc`` are not compared
    layer by layer."""
    labels = list(frames)
    works = {label: working_layers(frame).set_index("layer") for label, frame in frames.items()}
    first = works[labels[0]]
    shared = [name for name in first.index if all(name in works[l].index for l in labels)]
    if any(2 * len(shared) < len(work) for work in works.values()):
        shared = []
    table = pd.DataFrame({"layer": shared, "kind": first.loc[shared, "kind"].to_numpy()})
    for label in labels:
        table[f"{label}_cycles"] = works[label].loc[shared, "total_cycles"].to_numpy()
    for label in labels[1:]:
        base = table[f"{labels[0]}_cycles"].astype(float)
        table[f"{label}_cycles_ratio"] = table[f"{label}_cycles"] / base.where(base > 0)
    return table


def compare_totals_figure(totals: pd.DataFrame) -> Figure:
    """Time, time per sample and DRAM traffic per run (from :func:`compare_totals`), each bar
    labelled with its ratio to the first run; an axis spanning more than a decade is log."""
    panels = (("time_ms", "time (ms)", 1.0), ("time_per_sample_ms", "time per sample (ms)", 1.0),
              ("dram_bytes", "DRAM traffic (MB)", 1e-6))
    fig = Figure(figsize=(max(8.0, 1.2 * len(totals) * len(panels)), 4.2), layout="constrained")
    axes = fig.subplots(1, len(panels))
    x = np.arange(len(totals))
    colors = [RUN_COLORS[i % len(RUN_COLORS)] for i in range(len(totals))]
    for ax, (column, label, scale) in zip(axes, panels):
        values = totals[column].to_numpy(dtype=float) * scale
        bars = ax.bar(x, values, color=colors, edgecolor="black", linewidth=0.5)
        ratios = totals[f"{column}_ratio"]
        ax.bar_label(bars, labels=[f"{v:,.3g}\n({r:.3g}x)" for v, r in zip(values, ratios)],
                     fontsize=7, padding=2)
        positive = values[values > 0]
        if len(positive) and positive.max() / positive.min() > 10:
            ax.set_yscale("log")
            ax.set_ylim(positive.min() / 2, positive.max() * 6)
            label += " (log)"
        else:
            ax.set_ylim(0, max(values.max(), 1e-12) * 1.3)
        ax.yaxis.set_major_formatter(FuncFormatter(count_text))
        ax.set_ylabel(label)
        ax.set_xticks(x, totals["run"], rotation=30 if len(totals) > 2 else 0, ha="right"
                      if len(totals) > 2 else "center", fontsize=8)
        ax.set_xlabel("run")
    fig.suptitle("Runs side by side (ratio to the first run in brackets)", fontsize=10)
    return fig


def compare_layers_figure(layers: pd.DataFrame, labels: Sequence[str]) -> Figure:
    """Per shared layer (from :func:`compare_layers`), each run's cycles (log) and, for each
    run after the first, its ratio to the first run's cycles (log, 1 marked)."""
    height = max(3.5, 0.16 * len(layers) + 1.8)
    fig = Figure(figsize=(11, height), layout="constrained")
    cycles_ax, ratio_ax = fig.subplots(1, 2, sharey=True, width_ratios=(3, 2))
    y = np.arange(len(layers))
    for i, label in enumerate(labels):
        style = {"color": RUN_COLORS[i % len(RUN_COLORS)],
                 "marker": RUN_MARKERS[i % len(RUN_MARKERS)], "s": 22, "alpha": 0.85,
                 "linewidths": 0.3, "edgecolors": "black"}
        cycles_ax.scatter(layers[f"{label}_cycles"].where(layers[f"{label}_cycles"] > 0), y,
                          label=label, **style)
        if i:
            ratio_ax.scatter(layers[f"{label}_cycles_ratio"], y, **style)
    cycles_ax.set_xscale("log")
    cycles_ax.xaxis.set_major_formatter(FuncFormatter(count_text))
    cycles_ax.set_xlabel("cycles per layer (log)")
    cycles_ax.set_ylabel("layer (network order)")
    cycles_ax.set_yticks(y, layers["layer"], fontsize=7 if len(layers) > 40 else 9)
    cycles_ax.set_ylim(len(layers) - 0.4, -0.6)
    ratio_ax.set_xscale("log")
    ratio_ax.axvline(1.0, color="gray", linewidth=1)
    ratio_ax.set_ylabel("same layers as left", fontsize=8)
    ratio_ax.set_xlabel(f"cycles relative to {labels[0]} (log; 1 = same)")
    ratio_ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}x"))
    for ax in (cycles_ax, ratio_ax):
        ax.grid(True, axis="x", which="major", linewidth=0.4, alpha=0.5)
    fig.legend(loc="outside upper center", ncols=min(len(labels), 4), fontsize=8,
               frameon=False)
    return fig


def run_labels(runs: Sequence[SavedRun]) -> list[str]:
    """Each run named by what tells it from the others: its hardware, network, batch or
    fidelity, those that differ between the runs (``matrix_engine``, ``hetero``; ``resnet50
    batch 8``); its directory's name when the runs differ in none of them (another option),
    or its path when two names are the same."""
    documents = [run.document for run in runs]
    keys = [key for key in ("network", "hw", "batch", "fidelity")
            if len({str(d.get(key)) for d in documents}) > 1]
    labels = [" ".join((f"batch {d[key]}" if key == "batch" else str(d[key])) for key in keys)
              for d in documents] if keys else []
    if keys and len(set(labels)) == len(labels):
        return labels
    names = [run.path.name if run.path else run.title for run in runs]
    if len(set(names)) == len(names):
        return names
    return [str(run.path) for run in runs]


def compare_document(runs: Sequence[SavedRun], *, labels: Sequence[str] | None = None,
                     title: str | None = None, intro: Sequence[Block] = ()) -> Document:
    """The comparison of ``runs`` (at least two) as a :class:`Document`; ``intro`` blocks
    come first."""
    if len(runs) < 2:
        raise PerfsimError("compare needs at least two runs")
    labels = list(labels or run_labels(runs))
    frames = dict(zip(labels, (run.layers for run in runs)))
    totals = compare_totals(frames, dict(zip(labels, (run.hw_summary for run in runs))))
    blocks: list[Block] = [*intro, Heading("Totals"),
                           Paragraph(" ".join(f"`{label}`: {run.title}."
                                              for label, run in zip(labels, runs))),
                           Plot("totals", compare_totals_figure(totals),
                                f"Time, time per sample and DRAM traffic of each run; in "
                                f"brackets, the ratio to the first run ({labels[0]})."),
                           Table(totals)]
    layers = compare_layers(frames)
    if len(layers):
        blocks += [Heading("Per layer"),
                   Plot("layers", compare_layers_figure(layers, labels),
                        f"Cycles of each of the {len(layers)} layers the runs share and, "
                        f"right, each run's cycles over {labels[0]}'s."),
                   Table(layers)]
    else:
        blocks.append(Paragraph("The runs share no layer names (or fewer than half of "
                                "them), so there is no per-layer comparison."))
    return Document(title or "perfsim compare: " + " vs ".join(labels), tuple(blocks))


def write_compare_report(runs: Sequence[SavedRun], out_dir: str | Path) -> list[Path]:
    """Write ``compare.html`` (self-contained), ``compare.md`` and its PNGs into
    ``out_dir``; returns the paths written."""
    return write_document(compare_document(runs), out_dir, "compare")
