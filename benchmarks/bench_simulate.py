"""Benchmark: warm in-process ``simulate`` per zoo network, and ``perfsim run`` end to end as
a user runs it: cold (an empty Numba cache and no kept search answers: every kernel compiles),
warm (both kept from the runs before), and with Numba's cache but no kept answers (a network
or config the command has not run before: the kernels load and run).

    python benchmarks/bench_simulate.py [--hw matrix_engine] [--repeats 5] [--cli-only]

Targets: ResNet-50 ``simulate`` <= 20 ms warm (issue 4); ``perfsim run mobilenet_v1`` < 0.5 s
warm and < 3 s cold (issue 15).
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


def time_cli(args: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU seconds (user and system) of ``python -m perfsim ARGS``."""
    before = os.times()
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "perfsim", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - start
    after = os.times()
    return wall, (after.children_user - before.children_user
                  + after.children_system - before.children_system)


def _text(times: list[tuple[float, float]]) -> str:
    walls, cpus = zip(*times)
    return (f"{min(walls):.2f}-{max(walls):.2f} s (median {statistics.median(walls):.2f}), "
            f"{statistics.median(cpus):.2f} CPU-s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hw", default="matrix_engine")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--cli-only", action="store_true",
                        help="only the command line's runs, not the zoo in process")
    args = parser.parse_args()

    if not args.cli_only:
        print(f"warm simulate on {args.hw} (median of {args.repeats}):")
        for name, seconds in time_simulate(workload_names(), args.hw, args.repeats):
            print(f"  {name:24s} {seconds * 1e3:8.2f} ms")

    command = ["run", "mobilenet_v1", "--hw", args.hw]
    with tempfile.TemporaryDirectory() as scratch:
        def env(numba: str, answers: str) -> dict:
            return dict(os.environ, NUMBA_CACHE_DIR=os.path.join(scratch, numba),
                        PERFSIM_CACHE_DIR=os.path.join(scratch, answers))

        cold = [time_cli(command, env(f"numba-{i}", f"answers-{i}"))
                for i in range(min(args.repeats, 3))]
        warm = [time_cli(command, env("numba-0", "answers-0")) for _ in range(args.repeats)]
        kernels = [time_cli(command, env("numba-0", f"new-answers-{i}"))
                   for i in range(args.repeats)]
    print(f"perfsim {' '.join(command)}:")
    print(f"  cold (empty Numba cache, no kept answers): {_text(cold)}  (target < 3 s)")
    print(f"  warm (both kept):                          {_text(warm)}  (target < 0.5 s)")
    print(f"  Numba's cache, no kept answers:            {_text(kernels)}")


if __name__ == "__main__":
    main()
