"""Benchmark: warm in-process ``simulate`` per zoo network, and ``perfsim run`` end to end,
cold (empty Numba cache) and warm.

    python benchmarks/bench_simulate.py [--hw matrix_engine] [--repeats 5]

Targets (issue 4): ResNet-50 ``simulate`` <= 20 ms warm; ``perfsim run`` <= 2 s warm and
<= 5 s cold.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

from perfsim import load_hw, load_workload, simulate
from perfsim.workload.zoo import workload_names


def time_simulate(names: list[str], hw_name: str, repeats: int) -> list[tuple[str, float]]:
    """Median seconds of a warm ``simulate`` (network built, caches filled) per network."""
    hw = load_hw(hw_name)
    rows = []
    for name in names:
        network = load_workload(name)
        simulate(network, hw)  # fill the tiling cache and compile
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            simulate(network, hw)
            times.append(time.perf_counter() - start)
        rows.append((name, statistics.median(times)))
    return rows


def time_cli(args: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "perfsim", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hw", default="matrix_engine")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    print(f"warm simulate on {args.hw} (median of {args.repeats}):")
    for name, seconds in time_simulate(workload_names(), args.hw, args.repeats):
        print(f"  {name:24s} {seconds * 1e3:8.2f} ms")

    command = ["run", "mobilenet_v1", "--hw", args.hw]
    with tempfile.TemporaryDirectory() as cache:
        cold_env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        cold = time_cli(command, cold_env)
        warm = statistics.median(time_cli(command, cold_env) for _ in range(args.repeats))
    print(f"perfsim {' '.join(command)}: cold (empty Numba cache) {cold:.2f} s, "
          f"warm {warm:.2f} s")


if __name__ == "__main__":
    main()
