"""Regenerate the showcases in ``reports/`` (except ``reports/sweeps/``): their Markdown,
self-contained HTML and PNGs, every number in their text computed here from the runs.

    python scripts/make_showcases.py            # writes into reports/ beside this script
    python scripts/make_showcases.py --out DIR

Showcases: MobileNet V1 on three accelerators; AlexNet's FC layers as the batch grows; the
whole zoo on matrix_engine.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

import perfsim
from perfsim.hardware.loading import resolve_hw_path
from perfsim.report.compare import compare_document, compare_totals
from perfsim.report.document import Document, Heading, Paragraph, Plot, Table, write_document
from perfsim.report.plots import (BOUND_COLORS, count_text, kind_share_figure, place_labels,
                                  roofline_figure)
from perfsim.report.run_dir import load_run
from perfsim.report.tables import kind_shares, roofs, working_layers
from perfsim.report.saved_run import save_run
from perfsim.storage import write_text_atomic
from perfsim.workload.zoo import workload_names

ENGINE_CONFIGS = ("matrix_engine", "vector_engine", "hetero")
BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
FC_LAYERS = ("fc6", "fc7", "fc8")
ZOO_HW = "matrix_engine"
LANDMARKS = ("alexnet", "vgg16", "resnet50", "googlenet", "squeezenet1_0", "densenet121",
             "inception_v3")
"""Networks the zoo figure always names."""
DEPTHWISE_HEAVY_SHARE = 0.10
"""A network is depthwise-heavy when its depthwise layers take at least this share of its
cycles."""


def simulate(network: str, hw: str, batch: int = 1) -> perfsim.results.RunResult:
    return perfsim.simulate(perfsim.load_workload(network, batch=batch), perfsim.load_hw(hw))


def pct(value: float) -> str:
    return f"{value:.1%}" if value < 0.1 else f"{value:.0%}"


def kind_row(frame: pd.DataFrame, kind: str, hw_summary: dict) -> dict:
    """A kind's shares (from :func:`kind_shares`) and engines; its MAC-weighted utilisation
    (mean of the layers' utilisation weighted by MACs) and ``peak_share``, its MACs over its
    cycles times its engines' peaks (a cycle-weighted mean)."""
    rows = working_layers(frame)
    rows = rows[rows["kind"] == kind]
    peaks = {e["name"]: e["peak_macs_per_cycle"] for e in hw_summary["engines"]}
    shares = kind_shares(frame).set_index("kind")
    return {**shares.loc[kind].to_dict(),
            "utilization": (rows["utilization"] * rows["macs"]).sum() / rows["macs"].sum(),
            "peak_share": rows["macs"].sum() / (rows["total_cycles"]
                                                * rows["engine"].map(peaks)).sum()}


# (a) MobileNet V1 on three accelerators -------------------------------------------------------

def engines_showcase(out: Path, scratch: Path) -> dict:
    runs = []
    for hw in ENGINE_CONFIGS:
        result = simulate("mobilenet_v1", hw)
        save_run(result, scratch / hw, hw_path=resolve_hw_path(hw), source="mobilenet_v1",
                 command=["perfsim", "run", "mobilenet_v1", "--hw", hw, "--out", hw])
        runs.append(load_run(scratch / hw))
    frames = {run.document["hw"]: run.layers for run in runs}
    totals = compare_totals(frames, {run.document["hw"]: run.hw_summary for run in runs})
    t = totals.set_index("run")
    hws = {run.document["hw"]: run.hw_summary for run in runs}
    dw = {hw: kind_row(frame, "depthwise conv", hws[hw]) for hw, frame in frames.items()}
    pw = {hw: kind_row(frame, "1x1 conv", hws[hw]) for hw, frame in frames.items()}
    fastest = t["time_ms"].idxmin()
    hetero_mxu = working_layers(frames["hetero"])
    hetero_dw_on_mxu = hetero_mxu[(hetero_mxu["kind"] == "depthwise conv")
                                  & (hetero_mxu["engine"] == "mxu")]
    vec = working_layers(frames["vector_engine"])
    vec_dw = vec[vec["kind"] == "depthwise conv"]
    vec_dw_dram = vec_dw[vec_dw["reason"].str.startswith("memory: DRAM")]
    vec_dw_sram = vec_dw[vec_dw["reason"].str.startswith("memory: SRAM")]
    intro = [
        Paragraph("The same network, MobileNet V1 at batch 1, on three shipped accelerators: "
                  "`matrix_engine` (a TPU-like 128x128 weight-stationary array beside a "
                  "128-lane vector unit), `vector_engine` (a 256-lane SIMD/DSP-style engine and "
                  "no array) and `hetero` (a 64x64 array and a 4096-lane vector engine of equal "
                  "peak). Reproduce with `perfsim run mobilenet_v1 --hw HW --out HW` for each, "
                  "then `perfsim compare matrix_engine vector_engine hetero --out DIR`."),
        Paragraph("**Totals.** " + "; ".join(
            f"`{hw}` {t.at[hw, 'time_ms']:.3f} ms ({t.at[hw, 'time_ms_ratio']:.2f}x of "
            f"matrix_engine), {t.at[hw, 'macs_per_cycle']:,.0f} MAC/cycle = "
            f"{pct(t.at[hw, 'utilization'])} of its peak" for hw in ENGINE_CONFIGS)
            + f". `{fastest}` is the fastest. The peaks differ (matrix_engine "
            f"{sum(e['peak_macs_per_cycle'] for e in runs[0].hw_summary['engines']):,} "
            f"MAC/cycle, vector_engine "
            f"{sum(e['peak_macs_per_cycle'] for e in runs[1].hw_summary['engines']):,}, hetero "
            f"{sum(e['peak_macs_per_cycle'] for e in runs[2].hw_summary['engines']):,}), so "
            "the time is the number to compare; the utilisation says how much of what was "
            "bought is used."),
        Paragraph("**Depthwise layers.** They hold "
                  f"{pct(dw['matrix_engine']['mac_share'])} of the MACs. On `matrix_engine` "
                  f"they run on its {dw['matrix_engine']['engines']} and take "
                  f"{pct(dw['matrix_engine']['cycle_share'])} of the cycles at "
                  f"{pct(dw['matrix_engine']['utilization'])} MAC-weighted utilisation "
                  f"(their MACs over their cycles at the unit's peak: "
                  f"{pct(dw['matrix_engine']['peak_share'])}): the "
                  "small vector unit is well used, but it is small, while the array cannot "
                  "take them (a depthwise layer reduces over only 3x3 = 9 array rows with one "
                  "filter per group). On `hetero` the 4096-lane engine runs them at "
                  f"{pct(dw['hetero']['utilization'])} (MACs over cycles at peak: "
                  f"{pct(dw['hetero']['peak_share'])}) and they take "
                  f"{pct(dw['hetero']['cycle_share'])} of a much shorter run"
                  + (f" ({len(hetero_dw_on_mxu)} of them end up on its array)"
                     if len(hetero_dw_on_mxu) else "")
                  + f" (on its {dw['hetero']['engines']}). On `vector_engine` they take "
                  f"{pct(dw['vector_engine']['cycle_share'])} "
                  f"of the cycles at {pct(dw['vector_engine']['utilization'])}; "
                  f"{len(vec_dw_dram)} of its {len(vec_dw)} depthwise layers are DRAM-bound ("
                  + ", ".join(f"{r.layer} {r.macs_per_dram_byte:.1f} MAC/B"
                              for r in vec_dw_dram.itertuples())
                  + f" against a machine balance of "
                  f"{roofs(hws['vector_engine'])['ridge_macs_per_dram_byte'].iloc[0]:.0f}): "
                  "their input maps come from DRAM, since its 512 KiB SRAM does not keep "
                  "them"
                  + (f", and {len(vec_dw_sram)} ("
                     + ", ".join(vec_dw_sram["layer"]) + ") is SRAM-bandwidth-bound"
                     if len(vec_dw_sram) else "") + "."),
        Paragraph("**Pointwise (1x1) layers.** They hold "
                  f"{pct(pw['matrix_engine']['mac_share'])} of the MACs. The array does them "
                  f"in {pct(pw['matrix_engine']['cycle_share'])} of matrix_engine's cycles "
                  f"({pct(pw['matrix_engine']['utilization'])} MAC-weighted utilisation: the "
                  "late 14x14 and 7x7 layers leave most of a 128x128 array idle at batch 1); "
                  f"on `hetero` they run on its {pw['hetero']['engines']} and take "
                  f"{pct(pw['hetero']['cycle_share'])} of its cycles at "
                  f"{pct(pw['hetero']['utilization'])}. Without an array, `vector_engine` "
                  f"spends {pct(pw['vector_engine']['cycle_share'])} of its (much longer) run "
                  "on them: there the pointwise layers, not the depthwise ones, are where "
                  "the time goes."),
        Paragraph("**Reading the rooflines.** Each point is a layer; the slanted line is "
                  "DRAM bandwidth, the flat one the engine's peak, one roof per engine. On "
                  "matrix_engine the depthwise layers (red squares) sit on the vector unit's "
                  "low roof, far right: plenty of reuse, too few lanes. On vector_engine the "
                  "memory-bound ones sit on the slanted roof at the far left. The share "
                  "figures put each kind's share of the MACs beside its share of the cycles."),
    ]
    document = compare_document(runs, labels=list(ENGINE_CONFIGS),
                                title="MobileNet V1 on three accelerators", intro=intro)
    extra = []
    for run in runs:
        hw = run.document["hw"]
        extra += [Heading(f"{hw}", 3),
                  Plot(f"roofline_{hw}", roofline_figure(run.layers, run.hw_summary),
                       f"Roofline of MobileNet V1 on {hw}."),
                  Plot(f"kinds_{hw}", kind_share_figure(run.layers),
                       f"Share of MACs against share of cycles per kind of layer on {hw}.")]
    document = Document(document.title, (*document.blocks, Heading("Each accelerator"),
                                         *extra))
    write_document(document, out, out.name)
    return {"time_ms": t["time_ms"].to_dict(), "fastest": fastest}


# (b) AlexNet's FC layers as the batch grows ---------------------------------------------------

def fc_batch_table(hw: str) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Per batch and FC layer: MACs per DRAM byte, MACs per cycle, utilisation, bound and
    cycles per sample; per batch: the whole network's and the FC layers' cycles per sample."""
    rows, nets = [], []
    hw_summary = None
    for batch in BATCHES:
        result = simulate("alexnet", hw, batch)
        hw_summary = result.hw.summary()
        frame = result.to_frame().set_index("layer")
        for layer in FC_LAYERS:
            r = frame.loc[layer]
            rows.append({"batch": batch, "layer": layer,
                         "macs_per_dram_byte": r["macs_per_dram_byte"],
                         "macs_per_cycle": r["macs"] / r["total_cycles"],
                         "utilization": r["utilization"], "bound": r["bound"],
                         "cycles_per_sample": r["total_cycles"] / batch,
                         "weight_fetches": r["dram_read_bytes"] / r["weight_bytes"],
                         "tiling": r["tiling"], "reason": r["reason"]})
        fc_cycles = frame.loc[list(FC_LAYERS), "total_cycles"].sum()
        nets.append({"batch": batch, "network_cycles_per_sample":
                     result.totals["cycles"] / batch, "fc_cycles_per_sample": fc_cycles / batch,
                     "fc_cycle_share": fc_cycles / result.totals["cycles"]})
    return pd.DataFrame(rows), pd.DataFrame(nets), hw_summary


def fc_roofline_figure(fc: pd.DataFrame, hw_summary: dict) -> Figure:
    """The FC layers' path on the array's roofline as the batch grows."""
    mxu = roofs(hw_summary).set_index("engine").loc["mxu"]
    fig = Figure(figsize=(9, 5.6), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")
    grid = np.geomspace(0.5, 2000, 200)
    ax.plot(grid, np.minimum(mxu["peak_macs_per_cycle"], grid * mxu["dram_bytes_per_cycle"]),
            color="black", label=f"mxu roof: {mxu['peak_macs_per_cycle']:,.0f} MAC/cycle, "
                                 f"{mxu['dram_bytes_per_cycle']:g} DRAM B/cycle")
    ax.axvline(mxu["ridge_macs_per_dram_byte"], color="gray", linestyle=":", linewidth=1)
    ax.text(mxu["ridge_macs_per_dram_byte"] * 1.08, 1.3,
            f"ridge {mxu['ridge_macs_per_dram_byte']:,.0f} MAC/B", fontsize=8, color="dimgray")
    styles = {"fc6": ("o", "-", 9), "fc7": ("s", "--", 5), "fc8": ("^", ":", 7)}
    for layer, (marker, line, size) in styles.items():
        rows = fc[fc["layer"] == layer]
        ax.plot(rows["macs_per_dram_byte"], rows["macs_per_cycle"], linestyle=line,
                color="gray", linewidth=0.8, zorder=2)
        ax.scatter(rows["macs_per_dram_byte"], rows["macs_per_cycle"], marker=marker,
                   s=size ** 2, c=rows["bound"].map(BOUND_COLORS), edgecolors="black",
                   linewidths=0.4, zorder=3)
    for layer, (marker, line, size) in styles.items():
        ax.scatter([], [], marker=marker, s=size ** 2, color="white", edgecolors="black",
                   label=layer)
    for bound in ("memory", "utilization", "compute"):
        ax.scatter([], [], marker="s", s=40, color=BOUND_COLORS[bound], label=f"{bound}-bound")
    ax.set_xlim(0.5, 2000)
    ax.set_ylim(1, mxu["peak_macs_per_cycle"] * 3)
    ax.set_xlabel("MACs per DRAM byte (log)")
    ax.set_ylabel("achieved MACs per cycle (log)")
    ax.xaxis.set_major_formatter(FuncFormatter(count_text))
    ax.yaxis.set_major_formatter(FuncFormatter(count_text))
    ax.grid(True, linewidth=0.4, alpha=0.5)
    ax.set_title("AlexNet fc6, fc7, fc8 on matrix_engine as the batch B grows "
                 "(fc6 and fc7 coincide)", fontsize=10)
    fig.legend(loc="outside lower center", ncols=4, fontsize=8, frameon=False)
    fc6 = fc[fc["layer"] == "fc6"]
    place_labels(fig, ax, fc["macs_per_dram_byte"].to_numpy(), fc["macs_per_cycle"].to_numpy(),
                 [(r.macs_per_dram_byte, r.macs_per_cycle, f"B={r.batch}")
                  for r in fc6.itertuples()])
    return fig


def fc_batch_figure(fc: pd.DataFrame, nets: pd.DataFrame) -> Figure:
    """Left: FC utilisation per batch, coloured by bound. Right: cycles per sample of the FC
    layers and of the whole network."""
    fig = Figure(figsize=(11, 4.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    offsets = {"fc6": -0.12, "fc7": 0.0, "fc8": 0.12}
    for layer, shift in offsets.items():
        rows = fc[fc["layer"] == layer]
        x = np.log2(rows["batch"]) + shift
        left.bar(x, rows["utilization"], width=0.12, color=rows["bound"].map(BOUND_COLORS),
                 edgecolor="black", linewidth=0.3)
    for bound in ("memory", "utilization", "compute"):
        left.bar(0, 0, color=BOUND_COLORS[bound], label=f"{bound}-bound")
    left.set_xticks(np.log2(BATCHES), [str(b) for b in BATCHES], fontsize=8)
    left.set_yscale("log")
    left.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=1))
    left.set_xlabel("batch (log2; bars fc6, fc7, fc8 left to right)")
    left.set_ylabel("utilisation of the 128x128 array (%, log)")
    left.legend(loc="upper left", fontsize=8)
    left.set_ylim(0.001, 1)
    right.loglog(nets["batch"], nets["network_cycles_per_sample"], "o-", label="whole network")
    right.loglog(nets["batch"], nets["fc_cycles_per_sample"], "s--", label="fc6+fc7+fc8")
    right.set_xticks(BATCHES, [str(b) for b in BATCHES], fontsize=8)
    right.minorticks_off()
    right.yaxis.set_major_formatter(FuncFormatter(count_text))
    right.set_xlabel("batch (log)")
    right.set_ylabel("cycles per sample (log)")
    right.grid(True, linewidth=0.4, alpha=0.5)
    right.legend(fontsize=8)
    return fig


def alexnet_showcase(out: Path, hw: str = "matrix_engine") -> dict:
    fc, nets, hw_summary = fc_batch_table(hw)
    fc6 = fc[fc["layer"] == "fc6"].set_index("batch")
    first_not_memory = fc6.index[fc6["bound"] != "memory"].min()
    first_compute = fc6.index[fc6["bound"] == "compute"].min()
    last_memory = fc6.index[fc6["bound"] == "memory"].max()
    ridge = roofs(hw_summary).set_index("engine").at["mxu", "ridge_macs_per_dram_byte"]
    n = nets.set_index("batch")
    speedup = n.at[1, "network_cycles_per_sample"] / n.at[BATCHES[-1],
                                                         "network_cycles_per_sample"]
    blocks = [
        Paragraph("AlexNet's fully connected layers hold most of its weights (fc6 alone is "
                  "9216 x 4096 = 37.7 M of them) and use each weight once per sample. At "
                  "batch B, a weight fetched from DRAM serves B MACs, so the arithmetic "
                  f"intensity of fc6 and fc7 is about B MACs per DRAM byte against the array's "
                  f"ridge point of {ridge:,.0f}. Reproduce any point with "
                  "`perfsim run alexnet --hw matrix_engine --batch B`."),
        Paragraph(f"**What the numbers say.** fc6 is memory-bound from batch 1 "
                  f"({fc6.at[1, 'macs_per_dram_byte']:.1f} MAC/B, "
                  f"{pct(fc6.at[1, 'utilization'])} of the array) through batch {last_memory} "
                  f"({fc6.at[last_memory, 'macs_per_dram_byte']:.0f} MAC/B, "
                  f"{pct(fc6.at[last_memory, 'utilization'])}). At batch {first_not_memory} "
                  f"it is {fc6.at[first_not_memory, 'bound']}-bound at "
                  f"{pct(fc6.at[first_not_memory, 'utilization'])}: DRAM is no longer the "
                  "limit, but the weight-stationary array refills its weights for every "
                  "fold of 256 samples and the fill and drain eat most of the time. From "
                  f"batch {first_compute} it is compute-bound "
                  f"({pct(fc6.at[first_compute, 'utilization'])}; "
                  f"{pct(fc6.at[BATCHES[-1], 'utilization'])} at {BATCHES[-1]}). fc7 follows "
                  "fc6 to within a rounding, and fc8 (1000 outputs) nearly so."),
        Paragraph("**A detail the picture shows.** At batch "
                  f"{first_compute} fc6 reaches only "
                  f"{fc6.at[first_compute, 'macs_per_dram_byte']:.0f} MAC per DRAM byte, "
                  f"below the ridge ({ridge:,.0f}), yet it is compute-bound: its achieved "
                  f"{fc6.at[first_compute, 'macs_per_cycle']:,.0f} MAC/cycle is far under the "
                  "peak, so at that speed the array needs bytes more slowly than DRAM "
                  "delivers them. The bound comes from comparing cycles, not from which side "
                  "of the ridge a layer sits on. Its intensity also stops growing there: at "
                  f"batch {BATCHES[-1]} its tiling is `{fc6.at[BATCHES[-1], 'tiling']}` and it "
                  f"reads {fc6.at[BATCHES[-1], 'weight_fetches']:.2f} times its weight bytes "
                  "from DRAM (the weights once per tile of samples, plus its input, which no "
                  "longer stays on chip)."),
        Paragraph(f"**For the whole network,** cycles per sample fall from "
                  f"{n.at[1, 'network_cycles_per_sample']:,.0f} at batch 1 to "
                  f"{n.at[BATCHES[-1], 'network_cycles_per_sample']:,.0f} at {BATCHES[-1]} "
                  f"({speedup:.1f}x "
                  "the throughput). The FC layers take "
                  f"{pct(n.at[1, 'fc_cycle_share'])} of the cycles at batch 1 and "
                  f"{pct(n.at[BATCHES[-1], 'fc_cycle_share'])} at {BATCHES[-1]}."),
        Heading("The FC layers on the roofline"),
        Plot("roofline", fc_roofline_figure(fc, hw_summary),
             "Each marker is one FC layer at one batch size (labels: fc6's batch), coloured "
             "by its bound. The points climb the slanted DRAM roof as the batch doubles, "
             "then leave it."),
        Heading("Utilisation and time per sample"),
        Plot("batch", fc_batch_figure(fc, nets),
             "Left: utilisation of the array per FC layer and batch, coloured by bound. "
             "Right: cycles per sample of the FC layers and of the whole network."),
        Table(fc.drop(columns=["reason", "tiling"]),
              "Per batch and FC layer (weight_fetches: DRAM bytes read over weight bytes):"),
        Table(nets, "Per batch, the whole network:"),
        Table(fc[fc["layer"] == "fc6"][["batch", "tiling", "reason"]],
              "fc6's tiling and reason at each batch:"),
    ]
    write_document(Document("AlexNet's FC layers as the batch grows", tuple(blocks)), out,
                   out.name)
    return {"first_not_memory": int(first_not_memory), "first_compute": int(first_compute)}


# (c) The zoo on one accelerator ---------------------------------------------------------------

def zoo_table(hw: str) -> tuple[pd.DataFrame, dict]:
    rows = []
    hw_summary = None
    for name in workload_names():
        result = simulate(name, hw)
        hw_summary = result.hw.summary()
        shares = kind_shares(result.to_frame()).set_index("kind")
        dw = shares.loc["depthwise conv"] if "depthwise conv" in shares.index else None
        t = result.totals
        rows.append({"network": name, "macs": t["macs"], "time_ms": t["time_ms"],
                     "macs_per_cycle": t["macs_per_cycle"], "utilization": t["utilization"],
                     "depthwise_mac_share": 0.0 if dw is None else dw["mac_share"],
                     "depthwise_cycle_share": 0.0 if dw is None else dw["cycle_share"]})
    table = pd.DataFrame(rows)
    table["depthwise_heavy"] = table["depthwise_cycle_share"] >= DEPTHWISE_HEAVY_SHARE
    return table.sort_values("utilization", ascending=False).reset_index(drop=True), hw_summary


def zoo_figure(zoo: pd.DataFrame, hw_summary: dict) -> Figure:
    """MACs against time, log-log, one point per network; diagonals of equal utilisation.
    Named: the depthwise-heavy networks, the three best and worst used, and a few
    landmarks (:data:`LANDMARKS`); the rest would crowd the labels into illegibility."""
    labelled = set(zoo.loc[zoo["depthwise_heavy"], "network"]) | set(LANDMARKS) \
        | set(zoo["network"].head(3)) | set(zoo["network"].tail(3))
    peak = sum(e["peak_macs_per_cycle"] for e in hw_summary["engines"])
    macs_per_ms = peak * hw_summary["clock_ghz"] * 1e6
    fig = Figure(figsize=(11, 8), layout="constrained")
    ax = fig.add_subplot()
    ax.set_xscale("log")
    ax.set_yscale("log")
    x_lo, x_hi = zoo["macs"].min() / 3, zoo["macs"].max() * 3
    grid = np.geomspace(x_lo, x_hi, 50)
    for share, style in ((1.0, "-"), (0.3, "--"), (0.1, "-."), (0.03, ":")):
        ax.plot(grid, grid / (macs_per_ms * share), color="gray", linestyle=style,
                linewidth=0.9, zorder=1, label=f"{share:.0%} of peak")
    heavy = zoo["depthwise_heavy"]
    ax.scatter(zoo.loc[~heavy, "macs"], zoo.loc[~heavy, "time_ms"], s=30, color="#1f77b4",
               edgecolors="black", linewidths=0.4, zorder=3, label="other networks")
    ax.scatter(zoo.loc[heavy, "macs"], zoo.loc[heavy, "time_ms"], s=60, marker="D",
               color="#d62728", edgecolors="black", linewidths=0.4, zorder=3,
               label=f"depthwise-heavy (depthwise layers >= {DEPTHWISE_HEAVY_SHARE:.0%} of "
                     "cycles)")
    ax.set_xlim(x_lo, x_hi)
    ax.set_ylim(zoo["time_ms"].min() / 3, zoo["time_ms"].max() * 3)
    ax.set_xlabel("MACs per inference at batch 1 (log)")
    ax.set_ylabel("time per inference (ms, log)")
    ax.xaxis.set_major_formatter(FuncFormatter(count_text))
    ax.grid(True, linewidth=0.4, alpha=0.4)
    ax.set_title(f"The zoo on {hw_summary['name']} at batch 1 ({len(zoo)} networks; "
                 "diagonals: equal utilisation of all engines' peak; "
                 f"{len(labelled)} named, all in the table)", fontsize=10)
    fig.legend(loc="outside lower center", ncols=6, fontsize=8, frameon=False)
    named = zoo[zoo["network"].isin(labelled)]
    place_labels(fig, ax, zoo["macs"].to_numpy(), zoo["time_ms"].to_numpy(),
                 [(r.macs, r.time_ms, r.network) for r in named.itertuples()], fontsize=8)
    return fig


def zoo_showcase(out: Path, hw: str = ZOO_HW) -> dict:
    zoo, hw_summary = zoo_table(hw)
    heavy = zoo[zoo["depthwise_heavy"]]
    rest = zoo[~zoo["depthwise_heavy"]]
    with_dw = zoo[zoo["depthwise_mac_share"] > 0]
    best, worst = zoo.iloc[0], zoo.iloc[-1]
    largest = next(zoo.loc[[zoo["macs"].idxmax()]].itertuples())
    by = zoo.set_index("network")
    blocks = [
        Paragraph(f"Every network of the zoo ({len(zoo)}, `perfsim list`) at batch 1 on "
                  f"`{hw}`: its MACs against its time. A network on the solid diagonal would "
                  "keep every engine busy on useful MACs; each dashed diagonal below is a "
                  "smaller share of the peak. Reproduce a point with "
                  f"`perfsim run NET --hw {hw}`."),
        Paragraph(f"**What the numbers say.** Utilisation ranges from {pct(best['utilization'])}"
                  f" (`{best['network']}`) to {pct(worst['utilization'])} "
                  f"(`{worst['network']}`), median {pct(zoo['utilization'].median())}. "
                  f"{len(heavy)} networks are depthwise-heavy (their depthwise layers take at "
                  f"least {DEPTHWISE_HEAVY_SHARE:.0%} of the cycles): "
                  + ", ".join(f"`{r.network}` ({pct(r.depthwise_mac_share)} of MACs, "
                              f"{pct(r.depthwise_cycle_share)} of cycles)"
                              for r in heavy.itertuples())
                  + f". Their median utilisation is {pct(heavy['utilization'].median())} "
                  f"against {pct(rest['utilization'].median())} for the others: they sit "
                  "left of the pack and far above the solid diagonal: few MACs, done slowly. "
                  f"{len(with_dw)} networks have depthwise layers at all."),
        Paragraph(f"**Same time, very different work.** `mobilenet_v1` does "
                  f"{by.at['mobilenet_v1', 'macs'] / 1e9:.2f} GMAC in "
                  f"{by.at['mobilenet_v1', 'time_ms']:.2f} ms, `resnet18` "
                  f"{by.at['resnet18', 'macs'] / 1e9:.2f} GMAC in "
                  f"{by.at['resnet18', 'time_ms']:.2f} ms: "
                  f"{by.at['resnet18', 'macs'] / by.at['mobilenet_v1', 'macs']:.1f}x the MACs "
                  f"for {by.at['resnet18', 'time_ms'] / by.at['mobilenet_v1', 'time_ms']:.1f}x"
                  " the time: counting MACs predicts little on an accelerator whose array "
                  "idles on depthwise and small late layers. The best used are "
                  + ", ".join(f"`{r.network}` ({pct(r.utilization)})"
                              for r in zoo.head(3).itertuples())
                  + f"; the largest, `{largest.network}` ({largest.macs / 1e9:.1f} GMAC), "
                  f"ranks {int(largest.Index) + 1} of {len(zoo)} by utilisation "
                  f"({pct(largest.utilization)})."),
        Plot("macs_vs_time", zoo_figure(zoo, hw_summary),
             "One point per network: MACs at batch 1 against time, log-log. Red diamonds are "
             "depthwise-heavy networks; the further a point sits above the solid diagonal, "
             "the less of the peak it uses. Named: the depthwise-heavy networks, the three "
             "best and worst used, and a few landmarks; every network is in the table."),
        Table(zoo, "Every network, best utilisation first:"),
    ]
    write_document(Document(f"The zoo on {hw}", tuple(blocks)), out, out.name)
    return {"heavy": heavy["network"].tolist()}


def index() -> str:
    return "\n".join([
        "# Reports",
        "",
        "Worked examples of perfsim's reports, generated by `scripts/make_showcases.py` "
        "(`python scripts/make_showcases.py` regenerates every file here except `sweeps/`). "
        "Each has a Markdown page with its pictures and a self-contained HTML page (open it "
        "offline; nothing is fetched). The numbers in the text are computed by the script "
        "from the runs.",
        "",
        "| showcase | Markdown | HTML |",
        "|---|---|---|",
        "| MobileNet V1 on `matrix_engine`, `vector_engine` and `hetero`: where the depthwise "
        "and pointwise layers go | [mobilenet_engines.md](mobilenet_engines/mobilenet_engines.md)"
        " | [mobilenet_engines.html](mobilenet_engines/mobilenet_engines.html) |",
        "| AlexNet's fc6, fc7 and fc8 as the batch grows from 1 to 1024: memory-, then "
        "utilisation-, then compute-bound "
        "| [alexnet_fc_batch.md](alexnet_fc_batch/alexnet_fc_batch.md)"
        " | [alexnet_fc_batch.html](alexnet_fc_batch/alexnet_fc_batch.html) |",
        f"| The whole zoo on `{ZOO_HW}`: MACs against time, depthwise-heavy networks marked "
        "| [zoo_matrix_engine.md](zoo_matrix_engine/zoo_matrix_engine.md) "
        "| [zoo_matrix_engine.html](zoo_matrix_engine/zoo_matrix_engine.html) |",
        "",
        "Hardware sweeps (grids of accelerator variants, Pareto fronts) are in "
        "[sweeps/](sweeps/README.md).",
        "",
        "For your own run: `perfsim run NET --hw HW --report DIR`, or `perfsim report RUN_DIR` "
        "for a run saved with `--out`, and `perfsim compare RUN_A RUN_B --out DIR` "
        "(see the README's Reports section).",
        "",
    ])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent.parent / "reports",
                        help="the reports folder (default: the checkout's reports/)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        engines = engines_showcase(args.out / "mobilenet_engines", Path(scratch))
    alexnet = alexnet_showcase(args.out / "alexnet_fc_batch")
    zoo = zoo_showcase(args.out / "zoo_matrix_engine")
    write_text_atomic(args.out / "README.md", index())
    print(f"mobilenet_v1 time (ms): {engines['time_ms']}; alexnet fc6 leaves memory-bound at "
          f"batch {alexnet['first_not_memory']}, compute-bound from "
          f"{alexnet['first_compute']}; depthwise-heavy: {', '.join(zoo['heavy'])}")


if __name__ == "__main__":
    main()
