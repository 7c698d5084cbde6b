"""Benchmark: full ResNet-50 evaluations per second in a hardware sweep, and the peak memory
of a long sweep (the whole process tree).

    python benchmarks/bench_sweep.py rate [--workers N] [--points 432] [--workload resnet50]
                                          [--per-layer] [--sram-only]
    python benchmarks/bench_sweep.py memory [--points 100000] [--workload alexnet] [--workers N]

``rate``: a grid over array size, SRAM size and DRAM bandwidth on ``matrix_engine`` (every
point a new hardware configuration, so nothing is served from a previous point's tiling
searches), ResNet-50 at batch 1, through ``perfsim.sweep`` with its default executor (or
``--workers``); prints the points per second of the sweep, the pool's start included, and the
CPU seconds of the process tree: first in this new process (imports, loading the kernels and
building the search tables included), then again at DRAM bandwidths 1% higher (new hardware, a
warm process that has run its serial start, on the workers the first sweep left: the steady
rate of a long sweep, and of a user's next sweep). ``memory``: a
sweep of that many points into a temporary directory (``--out``), sampling the resident memory
of this process and all its children every 0.5 s; prints the peaks of the summed RSS (which
counts the pages forked workers share with the parent once per process) and of the summed PSS
(shared pages split between their processes: the tree's real footprint), then the peak summed
PSS in each tenth of the run (flat, or growing with the points). ``--per-layer`` collects
every layer's row as well (``perfsim.sweep(..., per_layer=True)``). Targets: >= 1,000 ResNet-50
evaluations per second on 2 cores (issue 15; 100 in issue 7); 100,000 points with memory flat,
peak RSS under 1 GB. ``rate --sram-only`` varies the SRAM's size alone (``--points`` sizes from
256 KiB in steps of 20, then each 1 KiB larger): the points a layer's cost is reused across.
"""

from __future__ import annotations

import argparse
import math
import resource
import tempfile
import threading
import time
from pathlib import Path

import psutil

import perfsim


def grid(points: int) -> dict:
    """A rows x SRAM x bandwidth grid of at least ``points`` points (square arrays)."""
    rows = [8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512]
    sram = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768]
    bandwidth = [5, 10, 20, 30, 50, 100, 200, 400, 800]
    n_bw = 1
    while len(rows) * len(sram) * n_bw < points:
        n_bw += 1
    values = [round(5 * 1.01 ** i, 3) for i in range(n_bw)] if n_bw > len(bandwidth) \
        else bandwidth[:n_bw]
    return {"engines.mxu.rows": rows, "memory.sram.size_kib": sram,
            "memory.dram.bandwidth_gb_per_s": values}


def cpu_seconds() -> float:
    """CPU seconds (user and system) of this process and of its children: those that have
    ended, and those alive (the workers a sweep keeps for the next)."""
    me, ended = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                     resource.RUSAGE_CHILDREN))
    alive = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # ended meanwhile: counted in RUSAGE_CHILDREN once waited for
            continue
        alive += times.user + times.system
    return me.ru_utime + me.ru_stime + ended.ru_utime + ended.ru_stime + alive


def _executor_text(workers: int | None) -> str:
    return "the default executor" if workers is None else f"{workers} worker(s)"


def rate(workers: int | None, points: int, workload: str, per_layer: bool,
         sram_only: bool) -> None:
    if sram_only:
        g = {"memory.sram.size_kib": [256 + 20 * i for i in range(points)]}
    else:
        g = grid(points)
        g["engines.mxu.rows"] = g["engines.mxu.rows"][:6]
    total = math.prod(len(values) for values in g.values())
    who = _executor_text(workers)
    # first as a user's sweep starts (imports, kernels, tables); then the same grid at DRAM
    # bandwidths 1% higher (or SRAMs 1 KiB larger): every point new hardware again, the
    # process warm
    for when in ("in a new process", "then warm, at new hardware"):
        start, cpu = time.perf_counter(), cpu_seconds()
        frame = perfsim.sweep(workload, "matrix_engine", grid=g, executor=workers,
                              per_layer=per_layer)
        seconds, cpu = time.perf_counter() - start, cpu_seconds() - cpu
        ok = frame["point_id"].nunique() if per_layer else (frame["status"] == "ok").sum()
        print(f"{workload}, {when}: {total} hardware points ({ok} ok"
              f"{f', {len(frame):,} layer rows' if per_layer else ''}) with {who} in "
              f"{seconds:.2f} s: "
              f"{total / seconds:.1f} evaluations/s ({total / seconds / 1000:.3f} of the "
              f"1,000/s target); {cpu:.2f} CPU-s ({cpu / total * 1e3:.2f} ms per point)")
        if sram_only:
            g["memory.sram.size_kib"] = [size + 1 for size in g["memory.sram.size_kib"]]
        else:
            g["memory.dram.bandwidth_gb_per_s"] = [
                round(b * 1.01, 3) for b in g["memory.dram.bandwidth_gb_per_s"]]


def memory(points: int, workload: str, workers: int) -> None:
    g = grid(points)
    me = psutil.Process()
    peak = [0, 0]  # sum of RSS (counts pages forked workers share with the parent twice), PSS
    samples: list[tuple[float, int]] = []  # (seconds, summed PSS)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            try:
                info = [p.memory_full_info() for p in (me, *me.children(recursive=True))]
                peak[0] = max(peak[0], sum(i.rss for i in info))
                peak[1] = max(peak[1], sum(i.pss for i in info))
                samples.append((time.perf_counter() - start, sum(i.pss for i in info)))
            except psutil.Error:
                pass
            stop.wait(0.5)

    start = time.perf_counter()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    with tempfile.TemporaryDirectory() as out:
        frame = perfsim.sweep(workload, "matrix_engine", grid=g, executor=workers, out=out)
        parts = len(list((Path(out) / "parts").glob("totals-*.parquet")))
    seconds = time.perf_counter() - start
    stop.set()
    sampler.join()
    print(f"{workload}: {len(frame):,} points with {_executor_text(workers)} in {seconds:.0f} s "
          f"({len(frame) / seconds:.0f}/s), {parts} part files; peak memory of the process "
          f"tree: RSS summed {peak[0] / 2**20:,.0f} MiB, PSS summed {peak[1] / 2**20:,.0f} "
          f"MiB")
    # flat or growing: the peak summed PSS in each tenth of the run
    tenths = [max((m for t, m in samples if i * seconds / 10 <= t < (i + 1) * seconds / 10),
                  default=0) for i in range(10)]
    print("peak summed PSS per tenth of the run (MiB): "
          + ", ".join(f"{m / 2**20:,.0f}" for m in tenths))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("rate", "memory"))
    parser.add_argument("--workers", type=int,
                        help="worker processes (default: perfsim's default executor, every "
                             "core after a serial start; 1: in this process)")
    parser.add_argument("--points", type=int)
    parser.add_argument("--workload", help="default: resnet50 (rate), alexnet (memory)")
    parser.add_argument("--per-layer", action="store_true",
                        help="rate: collect every layer's row too")
    parser.add_argument("--sram-only", action="store_true",
                        help="rate: vary the SRAM's size alone (--points sizes)")
    args = parser.parse_args()
    if args.what == "rate":
        rate(args.workers, args.points or (400 if args.sram_only else 432),
             args.workload or "resnet50", args.per_layer, args.sram_only)
    else:
        memory(args.points or 100_000, args.workload or "alexnet", args.workers)


if __name__ == "__main__":
    main()
