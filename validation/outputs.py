"""What the suite writes: the comparison and sensitivity tables as CSV and Markdown, the parity
plot (model against published, log-log, the line y = x and each source's target band), and the
Markdown summary the runner prints for the README.

Figures are built with ``matplotlib.figure.Figure`` (no pyplot), as perfsim's reports are.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from perfsim.report.plots import count_text, place_labels

from validation.published import CaseFacts

PANEL_TITLES = {"eyeriss_jssc2017": "Eyeriss v1, AlexNet CONV1-5 (silicon, JSSC 2017)",
                "tpu_isca2017": "TPU v1, Table 3 (silicon, ISCA 2017)",
                "nvdla_primer": "NVDLA, ResNet-50 (an estimator, not silicon: primer)"}
METRIC_LABELS = {"latency_ms": "processing latency (ms)", "dram_mb": "DRAM accesses (MB)",
                 "tops": "TOPS", "fps": "frames/s"}
METRIC_MARKERS = {"latency_ms": "o", "dram_mb": "s", "tops": "D", "fps": "^"}
VERDICT_COLORS = {"yes": "#1f77b4", "no": "#d62728", "-": "#7f7f7f"}
"""A point's colour: within its target, outside it, or with no target."""
BAND_COLOR = "#2ca02c"


def number(value: float) -> str:
    """A model value to three significant figures: 16.4, 5.95, 0.872, 269."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    digits = max(0, 2 - int(math.floor(math.log10(abs(value)))))
    return f"{value:,.{digits}f}"


def percent(value: float | None) -> str:
    return "-" if value is None or pd.isna(value) else f"{value:+.1f}%"


def verdict(value) -> str:
    return "-" if value is None or pd.isna(value) else ("yes" if value else "no")


def cell(value) -> str:
    """A model cell: numbers to three significant figures, categories as they are."""
    return number(value) if isinstance(value, (int, float)) else str(value)


def published_cell(value) -> str:
    """A published cell as the source prints it (16.5, 9.7, 269)."""
    return f"{value:g}" if isinstance(value, (int, float)) else str(value)


def cases_markdown(cases: list[CaseFacts]) -> str:
    """The cases compared: each one's setup and source, and whether the source is silicon or
    an estimator."""
    table = pd.DataFrame({"case": [c.case for c in cases],
                          "kind": [c.source.kind if c.source.kind == "silicon"
                                   else f"**{c.source.kind}**, not silicon" for c in cases],
                          "published setup": [c.setup for c in cases],
                          "source": [f"[{c.source.key}]({c.source.link})" for c in cases]})
    return table.to_markdown(index=False) + "\n"


def comparison_markdown(frame: pd.DataFrame) -> str:
    """The comparison table as Markdown: case, metric, layers, published, model, error, target
    and whether it is met, and where the number is published (a dagger marks a value not
    re-checked against its source this round)."""
    shown = pd.DataFrame({
        "case": frame["case"], "metric": frame["metric"], "layers": frame["layers"],
        "unit": frame["unit"], "published": frame["published"].map(published_cell),
        "model": frame["model"].map(cell), "error": frame["error_pct"].map(percent),
        "target": frame["target_pct"].map(lambda t: "-" if t is None or pd.isna(t)
                                          else f"±{t:g}%"),
        "met": frame["within_target"].map(verdict),
        "source": [f"{where}{'' if rechecked else ' †'}"
                   for where, rechecked in zip(frame["where"], frame["rechecked"])]})
    return shown.to_markdown(index=False) + "\n"


def sensitivity_markdown(frame: pd.DataFrame, studies_why: dict[tuple[str, str], str]) -> str:
    """One table per case: a row per setting (the baseline marked), a column per published
    number, each cell the model's value and its error (a bound as the model has it)."""
    parts = []
    for case, rows in frame.groupby("case", sort=False):
        columns = list(dict.fromkeys(_column(r) for _, r in rows.iterrows()))
        table = []
        for (parameter, setting), group in rows.groupby(["parameter", "setting"], sort=False):
            line = {"parameter": parameter,
                    "value": f"**{setting}** (baseline)" if group["baseline"].iloc[0]
                    else setting}
            for _, r in group.iterrows():
                line[_column(r)] = (f"{cell(r['model'])} ({percent(r['error_pct'])})"
                                    if pd.notna(r["error_pct"]) else r["model"])
            table.append(line)
        parts.append(f"#### {case}\n\n" + pd.DataFrame(table, columns=["parameter", "value",
                                                                        *columns])
                     .fillna("-").to_markdown(index=False) + "\n")
        for parameter in dict.fromkeys(rows["parameter"]):
            parts.append(f"- `{parameter}`: {studies_why[(case, parameter)]}\n")
        parts.append("\n")
    return "".join(parts)


def _column(row: pd.Series) -> str:
    """A sensitivity column: the published number it compares with."""
    where = "" if row["layers"] == "network" else f" {row['layers']}"
    return f"{row['metric']}{where} (published {published_cell(row['published'])})"


def parity_figure(frame: pd.DataFrame) -> Figure:
    """Model against published for every numeric row, one log-log panel per source: the line
    y = x, the source's target band shaded (±target), each point labelled and coloured by
    whether it meets its target."""
    numeric = frame[frame["error_pct"].notna()]
    keys = [k for k in PANEL_TITLES if k in set(numeric["source"])]
    fig = Figure(figsize=(5.6 * max(len(keys), 1), 5.8), layout="constrained")
    axes = fig.subplots(1, max(len(keys), 1), squeeze=False)[0]
    labels = []
    for ax, key in zip(axes, keys):
        rows = numeric[numeric["source"] == key]
        published = rows["published"].astype(float)
        model = rows["model"].astype(float)
        lo = min(published.min(), model.min()) / 2
        hi = max(published.max(), model.max()) * 2
        grid = np.geomspace(lo, hi, 50)
        for target in sorted(set(rows["target_pct"].dropna())):
            ax.fill_between(grid, grid * (1 - target / 100), grid * (1 + target / 100),
                            color=BAND_COLOR, alpha=0.15, linewidth=0,
                            label=f"target ±{target:g}%")
        ax.plot(grid, grid, color="black", linewidth=1, label="model = published")
        for metric, group in rows.groupby("metric", sort=False):
            colors = [VERDICT_COLORS[verdict(v)] for v in group["within_target"]]
            ax.scatter(group["published"].astype(float), group["model"].astype(float),
                       marker=METRIC_MARKERS[metric], c=colors, s=40, zorder=3,
                       edgecolors="black", linewidths=0.5)
            ax.scatter([], [], marker=METRIC_MARKERS[metric], c="white", edgecolors="black",
                       linewidths=0.5, label=METRIC_LABELS[metric])
        verdicts = {verdict(v) for v in rows["within_target"]}
        for text, shown in (("within target", "yes"), ("outside target", "no"),
                            ("no target", "-")):
            if shown in verdicts:
                ax.scatter([], [], marker="o", c=VERDICT_COLORS[shown], label=text)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(FuncFormatter(count_text))
        ax.set_xlabel(f"published ({_units(rows)})")
        ax.set_ylabel(f"perfsim ({_units(rows)})")
        ax.set_title(PANEL_TITLES[key], fontsize=10)
        ax.grid(True, which="both", linewidth=0.3, alpha=0.5)
        ax.legend(fontsize=7.5, loc="upper left")
        labels.append((ax, published, model, [(x, y, _point_label(r)) for x, y, (_, r) in
                                              zip(published, model, rows.iterrows())]))
    for ax, xs, ys, texts in labels:
        place_labels(fig, ax, xs, ys, texts, fontsize=7.5)
    return fig


def _units(rows: pd.DataFrame) -> str:
    return ", ".join(dict.fromkeys(rows["unit"]))


def _point_label(row: pd.Series) -> str:
    """``conv3``, ``CONV1-5 DRAM``, ``MLP0``, ``2048 MACs``: what tells a panel's points
    apart."""
    case = row["case"]
    if row["layers"] != "network":
        suffix = " DRAM" if row["metric"] == "dram_mb" else ""
        return f"{row['layers']}{suffix}"
    if case.startswith("nvdla_"):
        return f"{case.split('_')[1]} MACs"
    return case.split("_", 1)[1].upper()


def headline(frame: pd.DataFrame) -> list[str]:
    """One line per case of the comparison: each metric's error (layer by layer when
    published so), whether the trend and the bound are right, and how many targets are met."""
    lines = []
    for case, rows in frame.groupby("case", sort=False):
        parts = []
        for metric, group in rows.groupby("metric", sort=False):
            if metric.endswith(" trend") or metric == "bound":
                right = "right" if group["within_target"].iloc[0] else "wrong"
                parts.append(f"{metric} {right} ({group['model'].iloc[0]} against "
                             f"{group['published'].iloc[0]})")
            elif len(group) == 1:
                r = group.iloc[0]
                why = f"; {r['model_detail']}" if r["layers"] == "network" else ""
                parts.append(f"{metric} {cell(r['model'])} against "
                             f"{published_cell(r['published'])} ({percent(r['error_pct'])}"
                             f"{why})")
            else:
                parts.append(f"{metric} " + ", ".join(
                    f"{r['layers']} {percent(r['error_pct'])}" for _, r in group.iterrows()))
        judged = rows[rows["within_target"].notna()]
        met = int(judged["within_target"].astype(bool).sum())
        lines.append(f"- **{case}** ({rows['kind'].iloc[0]}): {'; '.join(parts)}. "
                     f"Targets met: {met} of {len(judged)}.")
    return lines
