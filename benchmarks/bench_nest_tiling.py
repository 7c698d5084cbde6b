"""Benchmark: the one-level tiling search (einsum nests,
:mod:`perfsim.mapping.kernels.nest_search`) per distinct layer of a few zoo networks, warm
(compiled), with its caches cleared before every search, so each figure is what a new hardware
point pays for a layer it has not seen.

    python benchmarks/bench_nest_tiling.py [--networks resnet50 ...] [--repeats 5]

Prints, per network, the distinct tiled layers and the median seconds per layer summed over
them, split into the search table (every tiling's traffic: once per layer and precision) and
the ranking (once per capacity, buffer count and rate).
"""

from __future__ import annotations

import argparse
import statistics
import time

import perfsim
from perfsim.hardware.model import Precision
from perfsim.mapping.kernels import nest_search as ns
from perfsim.mapping.lowering import lower

PRECISION = Precision(activation_bytes=1, weight_bytes=1, accumulator_bytes=4)
CAPACITY = ns.Capacity(shared_bytes=2 * 1024 * 1024)
RATES = ns.Rates(10_000.0, 100_000.0, 128.0, 17.0, 120.0)


def search(nest, *, clear_tables: bool) -> None:
    if clear_tables:
        ns._table.cache_clear()
    ns.search_one_level(nest, PRECISION, CAPACITY, RATES)


def median_seconds(run, repeats: int) -> float:
    run()  # compile / warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", nargs="+",
                        default=["mobilenet_v1", "resnet50", "googlenet", "alexnet"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{'network':14} {'layers':>6} {'new table + rank s':>18} {'rank only s':>12}")
    for name in args.networks:
        network = perfsim.load_workload(name)
        nests = {work.nest: work.nest for layer in network.layers
                 for work in [lower(network, layer)] if work.nest is not None}
        full = sum(median_seconds(lambda: search(n, clear_tables=True), args.repeats)
                   for n in nests.values())
        rank = sum(median_seconds(lambda: search(n, clear_tables=False), args.repeats)
                   for n in nests.values())
        print(f"{name:14} {len(nests):6d} {full:18.4f} {rank:12.4f}")


if __name__ == "__main__":
    main()
