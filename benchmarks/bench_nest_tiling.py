"""Benchmark: the generic one-level tiling search (einsum nests,
:mod:`perfsim.mapping.kernels.nest_tiling`) against today's conv search
(:func:`perfsim.mapping.kernels.tiling.conv_table` + ``rank_conv``), warm (compiled), per
distinct conv layer of a few zoo networks.

    python benchmarks/bench_nest_tiling.py [--networks resnet50 ...] [--repeats 5]

Two comparisons, each the median seconds per layer summed over a network's layers:

* ``kernels``: the jitted kernels alone -- today's table, its ranking and the chosen
  tiling's traffic (inside ``rank_conv``), against ``level_table``, ``rank_table`` and
  ``level_traffic`` of the chosen tiling;
* ``api``: the Python entry points with their caches cleared, arrays packed and results
  built -- ``perfsim.mapping.tiling._search`` against ``nest_search.search_one_level``.

The target is new / old at most ~1.5.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

import perfsim
from perfsim.hardware.model import Precision
from perfsim.mapping import tiling as legacy_api
from perfsim.mapping.kernels import nest_search as ns
from perfsim.mapping.kernels import nest_tiling as kern
from perfsim.mapping.kernels import tiling as legacy
from perfsim.mapping.lowering import lower
from perfsim.workload.loopnest import from_legacy

PRECISION = (1, 1, 4, 1, 1)
CAPS = (2 * 1024 * 1024.0, -1.0, -1.0, -1.0)
MACHINE = (10_000.0, 100_000.0, 128.0, 17.0, 120.0)


def old_kernels(dims: np.ndarray) -> None:
    prec = np.array(PRECISION, dtype=np.int64)
    table = legacy.conv_table(dims, prec)
    legacy.rank_conv(table, dims, prec, np.array(CAPS), np.array(MACHINE))


def new_kernels(nest) -> None:
    packed = kern.pack_nest(nest)
    costs = ns.level_costs(nest, Precision(*PRECISION[:3]), 0, frozenset(ns.BUFFER_ROLES), {})
    values = np.ones((1, len(packed.dim_names)), dtype=np.int64)
    orders = np.zeros_like(values)
    table, candidates, counts = kern.level_table(
        packed.dims, packed.operands, packed.axes, packed.axis_of, packed.dim_axes,
        packed.classes, values, orders, 0, costs, packed.class_orders)
    row, _ = kern.rank_table(table, ns.Buffers().array,
                             ns.Capacity(shared_bytes=int(CAPS[0])).record,
                             ns.Rates(*MACHINE).record)
    for d in range(len(counts) - 1, -1, -1):
        values[0, d] = candidates[d, row % counts[d]]
        row //= counts[d]
    kern.level_traffic(packed.dims, packed.operands, packed.axes, packed.axis_of,
                       packed.dim_axes, values, packed.orders[:1], 0, costs)


def old_api(dims: tuple) -> None:
    legacy_api._conv_table.cache_clear()
    legacy_api._search.cache_clear()
    legacy_api._search("conv", dims, PRECISION, CAPS, MACHINE)


def new_api(nest) -> None:
    ns._table.cache_clear()
    ns.search_one_level.cache_clear()
    ns.search_one_level(nest, Precision(*PRECISION[:3]), ns.Capacity(shared_bytes=int(CAPS[0])),
                        ns.Rates(*MACHINE))


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
    totals = {"kernels": [0.0, 0.0], "api": [0.0, 0.0]}
    print(f"{'network':14} {'layers':>6} {'what':8} {'old s':>9} {'new s':>9} {'new/old':>8} "
          f"{'worst layer':>11}")
    for name in args.networks:
        network = perfsim.load_workload(name)
        nests = sorted({lower(network, layer).dims for layer in network.layers
                        if lower(network, layer).shape == "conv"})
        for what, old, new in (("kernels", old_kernels, new_kernels),
                               ("api", old_api, new_api)):
            old_total = new_total = worst = 0.0
            for dims in nests:
                nest = from_legacy("conv", dims)
                old_arg = np.array(dims, dtype=np.int64) if what == "kernels" else dims
                old_s = median_seconds(lambda: old(old_arg), args.repeats)
                new_s = median_seconds(lambda: new(nest), args.repeats)
                old_total += old_s
                new_total += new_s
                if old_s > 1e-4:  # ratios of microsecond layers are noise
                    worst = max(worst, new_s / old_s)
            totals[what][0] += old_total
            totals[what][1] += new_total
            print(f"{name:14} {len(nests):6d} {what:8} {old_total:9.4f} {new_total:9.4f} "
                  f"{new_total / old_total:8.2f} {worst:11.2f}")
    for what, (old_total, new_total) in totals.items():
        print(f"{'all':14} {'':6} {what:8} {old_total:9.4f} {new_total:9.4f} "
              f"{new_total / old_total:8.2f}")


if __name__ == "__main__":
    main()
