"""What a first run compiles: the CPU time Numba spends on each cost kernel of
``perfsim run NETWORK --hw HW`` with an empty Numba cache (issue 15: under 2 CPU-s in all).

    python benchmarks/bench_compile.py [NETWORK] [--hw matrix_engine]

Runs the command line in this process with ``NUMBA_CACHE_DIR`` set to a new empty directory
(and ``PERFSIM_CACHE_DIR`` too: no search answers kept from an earlier run), timing every
compile Numba reports (its ``numba:compile`` events): per function, its own CPU seconds (less
the functions it compiled on the way) and the whole, then the total and the run's CPU time. Numba's own helpers (array allocation, rounding) count with their names.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import os
import sys
import tempfile
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("network", nargs="?", default="mobilenet_v1")
    parser.add_argument("--hw", default="matrix_engine")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        os.environ["NUMBA_CACHE_DIR"] = cache  # read when numba is first imported, below
        os.environ["PERFSIM_CACHE_DIR"] = cache  # every search computed, every kernel run
        from numba.core import event

        whole: dict[str, float] = collections.defaultdict(float)
        own: dict[str, float] = collections.defaultdict(float)
        stack: list[list[float]] = []

        class Timer(event.Listener):
            def on_start(self, ev):
                stack.append([time.process_time(), 0.0])

            def on_end(self, ev):
                began, inner = stack.pop()
                spent = time.process_time() - began
                func = ev.data["dispatcher"].py_func
                name = f"{func.__module__.rsplit('.', 1)[-1]}.{func.__qualname__}"
                whole[name] += spent
                own[name] += spent - inner
                if stack:
                    stack[-1][1] += spent

        event.register("numba:compile", Timer())
        from perfsim.cli import main as cli

        start = time.process_time()
        with contextlib.redirect_stdout(io.StringIO()):
            cli(["run", args.network, "--hw", args.hw])
        run = time.process_time() - start
    print(f"perfsim run {args.network} --hw {args.hw}, empty Numba cache: {run:.2f} CPU-s, of "
          f"which compiling {sum(own.values()):.2f} CPU-s (target: < 2)")
    for name, seconds in sorted(own.items(), key=lambda item: -item[1]):
        print(f"  {seconds:6.2f} own  {whole[name]:6.2f} whole  {name}")


if __name__ == "__main__":
    sys.exit(main())
