"""Event-schedule benchmarks (issues 5 and 15): the event schedule's time against the analytic
path's, wall time of ``--fidelity event`` end to end, and what overlap and parallel branches
are worth.

    python benchmarks/bench_event.py [--hw matrix_engine] [--networks googlenet ...] [--zoo]
    python benchmarks/bench_event.py --ratio-only

0. Per zoo network (or ``--networks``), warm in one process (network and config built,
   caches filled by a first call): ``simulate(network, hw)`` analytic and
   ``simulate(network, hw, fidelity="event")`` (overlap ``graph``, which also runs ``layer``
   for the speed-ups it reports), CPU time, the least of a few runs each; prints both and
   their ratio (target: <= 20x on every network), then the worst ratio.
1. ``perfsim run resnet50 --hw matrix_engine.yaml --fidelity event`` end to end, as a
   subprocess (interpreter start, imports, Numba cache load, analytic pass, the event
   simulations: ``graph`` also runs ``layer`` to report the speed-ups), best and worst of a
   few runs; and ``simulate(...)`` alone in a warm process per overlap level.
2. GoogLeNet on ``hetero``: cycles at each overlap level, the share of the run during which
   both engines compute at once (from the timeline), and the events simulated.
3. With ``--zoo``: every zoo network on every shipped config at each overlap level, listing
   the pairs where ``graph`` or ``layer`` takes longer than ``none`` or ``graph`` longer than
   ``layer`` (about 1.5 minutes).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time

from perfsim import load_hw, load_workload, simulate
from perfsim.hardware.loading import shipped_config_names
from perfsim.hardware.model import uncostable_reason
from perfsim.report.timeline import both_busy_cycles
from perfsim.schedule.event import OVERLAPS
from perfsim.workload.zoo import workload_names


def least_cpu_seconds(run, repeats: int) -> float:
    """The least CPU time (``time.process_time``) of ``repeats`` calls of ``run``, after one
    call that fills the caches."""
    run()
    times = []
    for _ in range(repeats):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def event_ratios(networks: list[str], hw_name: str) -> None:
    """Warm analytic and event ``simulate`` per network and their ratio (item 0 above)."""
    hw = load_hw(hw_name)
    worst = (0.0, "")
    print(f"warm simulate on {hw_name}, least CPU time of several runs:")
    for name in networks:
        network = load_workload(name)
        analytic = least_cpu_seconds(lambda: simulate(network, hw), 7)
        event = least_cpu_seconds(lambda: simulate(network, hw, fidelity="event"), 3)
        worst = max(worst, (event / analytic, name))
        print(f"  {name:24s} analytic {analytic * 1e3:8.2f} ms  event {event * 1e3:8.1f} ms  "
              f"{event / analytic:6.1f}x", flush=True)
    print(f"worst event/analytic ratio: {worst[0]:.1f}x ({worst[1]}; target <= 20x)")


def end_to_end(args: list[str], repeats: int = 3) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as scratch:
        for _ in range(repeats):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-m", "perfsim", *args], cwd=scratch, check=True,
                           stdout=subprocess.DEVNULL)
            times.append(time.perf_counter() - start)
    return times


def warm(network: str, hw: str, overlap: str, repeats: int = 5) -> float:
    simulate(network, hw, fidelity="event", overlap=overlap)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        simulate(network, hw, fidelity="event", overlap=overlap)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def zoo_levels() -> None:
    pairs = slower = anomalies = 0
    costable = [n for n in shipped_config_names() if uncostable_reason(load_hw(n)) is None]
    for hw in costable:  # not yet eyeriss_rs: two on-chip levels
        for network in workload_names():
            levels = simulate(network, hw, fidelity="event", overlap="graph").overlap_cycles
            pairs += 1
            if max(levels["layer"], levels["graph"]) > levels["none"]:
                slower += 1
                print(f"  slower than none: {network} on {hw}: {levels}")
            if levels["graph"] > levels["layer"]:
                anomalies += 1
                print(f"  graph {levels['graph'] / levels['layer'] - 1:+.3%} over layer: "
                      f"{network} on {hw}")
    print(f"{pairs} (network, config) pairs: {slower} slower with overlap than without, "
          f"{anomalies} slower with graph than with layer")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--zoo", action="store_true", help="also check every zoo network on "
                        "every shipped config")
    parser.add_argument("--hw", default="matrix_engine", help="config of the ratios")
    parser.add_argument("--networks", nargs="+", default=None,
                        help="networks of the ratios (default: the zoo)")
    parser.add_argument("--ratio-only", action="store_true", help="only the ratios")
    args = parser.parse_args()
    zoo = args.zoo
    event_ratios(args.networks or workload_names(), args.hw)
    if args.ratio_only:
        return
    times = end_to_end(["run", "resnet50", "--hw", "matrix_engine.yaml", "--fidelity", "event"])
    print(f"perfsim run resnet50 --hw matrix_engine.yaml --fidelity event: "
          f"{min(times):.2f}-{max(times):.2f} s end to end ({len(times)} runs)")
    for level in OVERLAPS:
        print(f"  simulate(resnet50, matrix_engine, event, overlap={level}) warm: "
              f"{warm('resnet50', 'matrix_engine', level) * 1e3:.0f} ms")
    cycles = {}
    for level in OVERLAPS:
        result = simulate("googlenet", "hetero", fidelity="event", overlap=level)
        cycles[level] = result.totals["cycles"]
        together = both_busy_cycles(result.timeline, "mxu", "vpu")
        print(f"googlenet on hetero, overlap {level}: {cycles[level]:,} cycles; both engines "
              f"compute during {together:,} cycles ({together / cycles[level]:.1%}); "
              f"{len(result.timeline):,} timeline events")
    print(f"  speed-up over --overlap none: layer {cycles['none'] / cycles['layer']:.3f}x, "
          f"graph {cycles['none'] / cycles['graph']:.3f}x")
    engines = result.to_frame()
    on = engines[engines["engine"] != "-"].groupby("engine")["macs"].sum()
    print("  graph: MACs per engine " + ", ".join(f"{e} {m / on.sum():.0%}"
                                                 for e, m in on.items()))
    if zoo:
        zoo_levels()


if __name__ == "__main__":
    main()
