"""Run the two example sweeps and write their tables, plots and reading into reports/sweeps/.

    python scripts/run_sweeps.py [--workers N]

1. ``sweep_array_dram.yaml``: square arrays of 16..512 x DRAM bandwidth 5..1000 GB/s on
   matrix_engine, MobileNet V1 and ResNet-50 at batch 1: heatmaps of time per workload, and
   Pareto scatters of time against peak MACs per cycle and against energy.
2. ``sweep_alexnet_batch.yaml``: AlexNet at batch 1..4096, per-layer rows: the bound,
   utilisation and MACs per DRAM byte of fc6 and fc7 per batch.

The sweeps' directories (parts and manifest) go to ``build/sweeps/`` (resumable: rerunning
skips what is done); the CSVs, PNGs and README.md to ``reports/sweeps/``. Every number in the
README is computed here from the tables.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

import perfsim
from perfsim.sweeps.pareto import pareto_front
from perfsim.sweeps.plots import batch_lines, heatmap, pareto_scatter
from perfsim.sweeps.spec import load_spec

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "reports" / "sweeps"
BUILD = ROOT / "build" / "sweeps"


def run(spec_name: str, workers: int | None, per_layer: bool = False) -> pd.DataFrame:
    spec = load_spec(ROOT / "workloads" / "examples" / "sweeps" / spec_name)
    return perfsim.sweep(list(spec.workloads), spec.hw, points=list(spec.points),
                         batch=list(spec.batch), executor=workers, per_layer=per_layer,
                         out=BUILD / spec_name.removesuffix(".yaml"))


def save(figure, name: str) -> str:
    figure.savefig(REPORT / name, dpi=130)
    return name


def array_dram(workers: int | None) -> list[str]:
    frame = run("sweep_array_dram.yaml", workers)
    frame = frame.rename(columns={"engines.mxu.rows": "array"}).drop(
        columns=["engines.mxu.cols"])
    frame.to_csv(REPORT / "array_dram.csv", index=False)
    lines = ["## Array size x DRAM bandwidth (MobileNet V1, ResNet-50, batch 1)", "",
             "`workloads/examples/sweeps/sweep_array_dram.yaml`: square weight-stationary arrays of 16x16 to "
             "512x512 on `matrix_engine` (8 MiB SRAM, 128-lane vector unit), DRAM from 5 to "
             f"1000 GB/s; {len(frame)} rows in `array_dram.csv`.", ""]
    bw = "memory.dram.bandwidth_gb_per_s"
    for workload, rows in frame.groupby("workload", sort=False):
        fig = heatmap(rows.rename(columns={"array": "array side (rows = columns, MACs)"}),
                      bw, "array side (rows = columns, MACs)", "time_ms",
                      title=f"{workload}, batch 1: time (ms) on matrix_engine variants")
        png = save(fig, f"heatmap_{workload}.png")
        base = rows[(rows["array"] == 128) & (rows[bw] == 30)].iloc[0]
        best = rows.loc[rows["time_ms"].idxmin()]
        big_bw = rows[rows[bw] == rows[bw].max()].set_index("array")["time_ms"]
        small_bw = rows[rows[bw] == rows[bw].min()].set_index("array")["time_ms"]
        at30 = rows[rows[bw] == 30].set_index("array")["time_ms"]
        lines += [f"### {workload}", "", f"![{workload} heatmap]({png})", "",
                  f"- The shipped point (128x128, 30 GB/s) takes {base['time_ms']:.3f} ms at "
                  f"{base['utilization']:.1%} of peak. The fastest point in the grid, "
                  f"{best['array']}x{best['array']} at {best[bw]:g} GB/s, takes "
                  f"{best['time_ms']:.3f} ms ({base['time_ms'] / best['time_ms']:.1f}x "
                  f"faster) at {best['utilization']:.1%} of its peak.",
                  f"- At {rows[bw].max():g} GB/s, growing the array from 16x16 to 512x512 "
                  f"(1024x the MACs) cuts the time {big_bw[16] / big_bw[512]:.1f}x; at "
                  f"{rows[bw].min():g} GB/s only {small_bw[16] / small_bw[512]:.1f}x. At "
                  f"30 GB/s, 256x256 is {at30[128] / at30[256]:.2f}x faster than 128x128 and "
                  f"512x512 {at30[128] / at30[512]:.2f}x.",
                  f"- Memory-bound layers take {rows['memory_bound_cycles'].sum() / rows['cycles'].sum():.0%} "
                  f"of all cycles over the grid; at 30 GB/s and 128x128, "
                  f"{base['memory_bound_cycles'] / base['cycles']:.0%}.", ""]
    fig = pareto_scatter(frame, "peak_macs_per_cycle", "time_ms",
                         annotate=["array", bw],
                         title="time against peak compute, batch 1: every point and the "
                               "Pareto front")
    lines += ["### Pareto fronts", "", f"![time vs peak]({save(fig, 'pareto_time_vs_peak.png')})",
              ""]
    fig = pareto_scatter(frame.assign(energy_mj=frame["energy_pj"] / 1e9), "energy_mj",
                         "time_ms", title="time against energy per inference, batch 1: "
                                          "every point and the Pareto front")
    lines += [f"![time vs energy]({save(fig, 'pareto_time_vs_energy.png')})", ""]
    for workload, rows in frame.groupby("workload", sort=False):
        front = pareto_front(rows, minimize=["time_ms", "peak_macs_per_cycle"])
        energy = pareto_front(rows, minimize=["time_ms", "energy_pj"])
        lines.append(
            f"- {workload}: {len(front)} of {len(rows)} points are on the time/peak front; "
            f"the smallest array on it reaching within 10% of the fastest time is "
            + _knee(front, rows) + ". " + _energy_front(energy))
    return lines + [""]


def _energy_front(energy) -> str:
    """The time/energy front in words: its points and the energies it spans."""
    low, high = energy["energy_pj"].min() / 1e9, energy["energy_pj"].max() / 1e9
    if len(energy) == 1:
        point = energy.iloc[0]
        return (f"The time/energy front is one point, {point['time_ms']:.3f} ms for "
                f"{low:.2f} mJ: the fastest point also spends the least energy (energy falls "
                f"with fewer DRAM bytes; the array size changes only the SRAM traffic here).")
    return (f"On the time/energy front: {len(energy)} points, from {low:.2f} mJ to "
            f"{high:.2f} mJ per inference (energy falls with fewer DRAM bytes; the array size "
            f"changes only the SRAM traffic here).")


def _knee(front: pd.DataFrame, rows: pd.DataFrame) -> str:
    fastest = rows["time_ms"].min()
    near = front[front["time_ms"] <= 1.1 * fastest].sort_values("peak_macs_per_cycle")
    row = near.iloc[0]
    return (f"{row['array']}x{row['array']} at {row['memory.dram.bandwidth_gb_per_s']:g} GB/s "
            f"({row['time_ms']:.3f} ms against {fastest:.3f} ms)")


def alexnet_batch(workers: int | None) -> list[str]:
    layers = run("sweep_alexnet_batch.yaml", workers, per_layer=True)
    fc = layers[layers["layer"].isin(["fc6", "fc7", "fc8"])][
        ["batch", "layer", "engine", "total_cycles", "compute_cycles", "utilization",
         "macs_per_dram_byte", "bound", "reason"]].reset_index(drop=True)
    fc.to_csv(REPORT / "alexnet_batch_fc.csv", index=False)
    totals = pd.read_csv(BUILD / "sweep_alexnet_batch" / "sweep.csv")
    totals.to_csv(REPORT / "alexnet_batch.csv", index=False)
    fig = batch_lines(fc, "utilization", title="AlexNet fc layers on matrix_engine: "
                                               "utilization by batch, coloured by bound")
    png1 = save(fig, "alexnet_fc_utilization.png")
    fig = batch_lines(fc, "macs_per_dram_byte", title="AlexNet fc layers on matrix_engine: "
                                                      "MACs per DRAM byte by batch",
                      reference=(16384 / 30, "machine balance (546 MAC/B)"))
    png2 = save(fig, "alexnet_fc_intensity.png")
    lines = ["## AlexNet batch 1 to 4096: when do fc6 and fc7 turn compute-bound?", "",
             "`workloads/examples/sweeps/sweep_alexnet_batch.yaml`: `matrix_engine` as shipped (128x128 array, "
             "30 GB/s: machine balance 16384 / 30 = 546 MAC per DRAM byte), per-layer rows; "
             "`alexnet_batch_fc.csv` has the fc rows, `alexnet_batch.csv` the totals.", "",
             f"![utilization]({png1})", "", f"![intensity]({png2})", ""]
    for layer in ("fc6", "fc7"):
        rows = fc[fc["layer"] == layer].set_index("batch")
        runs = []
        for batch, row in rows.iterrows():
            if not runs or runs[-1][0] != row["bound"]:
                runs.append([row["bound"], batch, batch])
            runs[-1][2] = batch
        text = "; ".join(f"{b}-bound at batch {lo}" + (f"-{hi}" if hi != lo else "")
                         for b, lo, hi in runs)
        util = ", ".join(f"{b}: {rows.loc[b, 'utilization']:.0%}"
                         for b in (128, 256, 512, 1024, 4096) if b in rows.index)
        lines.append(f"- **{layer}**: {text}. Utilization {util}; MACs per DRAM byte "
                     f"{rows.loc[1, 'macs_per_dram_byte']:.1f} at batch 1, "
                     f"{rows.loc[256, 'macs_per_dram_byte']:.0f} at 256.")
    t = totals.set_index("batch")
    lines += ["", f"- The whole network: {t.loc[1, 'time_ms']:.2f} ms at batch 1 "
              f"({t.loc[1, 'utilization']:.1%} of peak), "
              f"{t.loc[256, 'time_ms'] / 256:.3f} ms per image at 256 "
              f"({t.loc[256, 'utilization']:.1%}), {t.loc[4096, 'time_ms'] / 4096:.3f} ms per "
              f"image at 4096 ({t.loc[4096, 'utilization']:.1%}).",
              "- fc6's reason at batch 512: "
              f"`{fc[(fc['layer'] == 'fc6')].set_index('batch')['reason'].loc[512]}`; at "
              f"{fc['batch'].max()}: "
              f"`{fc[(fc['layer'] == 'fc6')].set_index('batch')['reason'].iloc[-1]}`.", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workers", type=int, help="local processes (default: every core)")
    args = parser.parse_args()
    REPORT.mkdir(parents=True, exist_ok=True)
    lines = ["# Example sweeps", "",
             "Generated by `python scripts/run_sweeps.py` from the specs in "
             "`workloads/examples/sweeps/`; every number below is computed from the CSVs beside "
             "this file. A heatmap shows one workload's time per inference over a 2-D grid of "
             "hardware (darker is faster); a Pareto scatter shows every point in grey and, in "
             "red, the points no other point beats on both axes: the only designs worth "
             "choosing between.", ""]
    lines += array_dram(args.workers)
    lines += alexnet_batch(args.workers)
    (REPORT / "README.md").write_text("\n".join(lines).rstrip() + "\n", encoding="utf-8")
    print(f"wrote {REPORT}")


if __name__ == "__main__":
    main()
