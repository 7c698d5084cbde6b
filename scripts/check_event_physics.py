"""Check that event-schedule rows obey physics on every zoo network and shipped config, and
measure how far more DRAM bandwidth can slow an event run (issue 13).

    python scripts/check_event_physics.py [--networks N ...] [--configs HW ...]
                                          [--from-bandwidths F ...]

1. **Physics.** Every zoo network x every shipped config that the cost model can cost
   (``perfsim.hardware.model.uncostable_reason`` refuses the others) x every overlap level
   (``none``, ``layer``, ``graph``): each row's utilisation is at most 1, its cycles are not
   below its roofline, its span is its busy, queued and waiting cycles, its stall is its
   busy time less its compute (:func:`perfsim.schedule.event.physics_violations`). Every
   violation is printed; 0 are expected.
2. **More DRAM bandwidth.** The same pairs with the DRAM bandwidth doubled, from the shipped
   bandwidth times each ``--from-bandwidths`` factor (default 1: the shipped bandwidth
   against twice it): every run's rows are checked as above (overlap ``graph``, with the
   ``layer`` level run beside it: ``overlap_levels``; ``none`` is the analytic sum), and for
   each overlap level the runs that get slower are listed with the worst slow-downs.
   :data:`perfsim.schedule.event.DRAM_ANOMALY_TOLERANCE` is the documented bound per level
   (greedy list schedules are not monotone). Also listed: runs that take longer with overlap
   (``layer`` or ``graph``) than layer by layer at the shipped bandwidth (0 expected).

Exit status 1 when a row breaks physics, overlap costs time, or a slow-down exceeds the
tolerance. The default run takes about four minutes on the 2-core development machine; the
eight factors of the docstring of :mod:`perfsim.schedule.event` about thirteen.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time

from perfsim import load_hw, simulate
from perfsim.hardware.loading import shipped_config_names
from perfsim.hardware.model import HwConfig, uncostable_reason
from perfsim.schedule.event import DRAM_ANOMALY_TOLERANCE, OVERLAPS, physics_violations
from perfsim.workload.zoo import workload_names


def with_dram_scaled(hw: HwConfig, factor: float) -> HwConfig:
    """``hw`` with ``factor`` times its DRAM bandwidth (latency unchanged)."""
    dram = dataclasses.replace(hw.dram, bandwidth_gb_per_s=hw.dram.bandwidth_gb_per_s * factor)
    return dataclasses.replace(hw, name=f"{hw.name}+dram_x{factor:g}", dram=dram)


def costable_configs(names: list[str] | None) -> list[HwConfig]:
    out = []
    for name in names or shipped_config_names():
        hw = load_hw(name)
        reason = uncostable_reason(hw)
        if reason is None:
            out.append(hw)
        else:
            print(f"skipped {name}: {reason}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--networks", nargs="+", help="zoo names (default: the whole zoo)")
    parser.add_argument("--configs", nargs="+", help="shipped config names (default: all)")
    parser.add_argument("--from-bandwidths", nargs="+", type=float, default=[1.0],
                        metavar="F", help="double the DRAM bandwidth from F times the "
                        "shipped one (default: 1)")
    args = parser.parse_args()
    networks = args.networks or workload_names()
    configs = costable_configs(args.configs)
    factors = sorted((set(args.from_bandwidths) | {2 * f for f in args.from_bandwidths}) - {1.0})
    began = time.perf_counter()
    violations: list[str] = []
    rows = runs = 0
    # (slow-down, network, config, factor) per overlap level, when doubling slows the run
    slower: dict[str, list[tuple[float, str, str, float]]] = {level: [] for level in OVERLAPS}
    # (cost, network, config, level, its cycles, none's) when overlap takes longer than none
    overlap_costs: list[tuple[float, str, str, str, int, int]] = []
    for hw in configs:
        for network in networks:
            results = [simulate(network, hw, fidelity="event", overlap=level,
                                overlap_levels=True) for level in OVERLAPS]
            scaled = [simulate(network, with_dram_scaled(hw, f), fidelity="event",
                               overlap="graph", overlap_levels=True) for f in factors]
            for result in results + scaled:
                violations += physics_violations(result)
                rows += sum(r.engine != "-" for r in result.layers)
                runs += 1
            levels = results[-1].overlap_cycles
            overlap_costs += [(levels[level] / levels["none"] - 1, network, hw.name, level,
                               levels[level], levels["none"])
                              for level in OVERLAPS[1:] if levels[level] > levels["none"]]
            cycles = {1.0: results[-1].overlap_cycles,
                      **{f: r.overlap_cycles for f, r in zip(factors, scaled)}}
            for f in args.from_bandwidths:
                for level in OVERLAPS:
                    change = cycles[2 * f][level] / cycles[f][level] - 1
                    if change > 0:
                        slower[level].append((change, network, hw.name, f))
        print(f"{hw.name}: done ({time.perf_counter() - began:.0f} s)", file=sys.stderr,
              flush=True)
    print("\n".join(violations))
    print(f"physics: {len(violations)} violations in {rows:,} working rows of {runs} event "
          f"runs ({len(networks)} networks x {len(configs)} configs x overlap "
          f"{', '.join(OVERLAPS)}, and graph at DRAM bandwidth x "
          f"{', '.join(f'{f:g}' for f in factors)})")
    pairs = len(networks) * len(configs)
    print(f"overlap: {len(overlap_costs)} of {2 * pairs} runs at overlap layer or graph take "
          f"longer than layer by layer" + ("" if not overlap_costs else ", worst:"))
    for cost, network, hw_name, level, taken, alone in sorted(overlap_costs, reverse=True)[:8]:
        print(f"  {cost:+.6%} {network} on {hw_name}, overlap {level}: {taken:,} cycles "
              f"against {alone:,}")
    exceeded = []
    cases = pairs * len(args.from_bandwidths)
    for level in OVERLAPS:
        found = sorted(slower[level], reverse=True)
        tolerance = DRAM_ANOMALY_TOLERANCE[level]
        from_shipped = [case for case in found if case[3] == 1.0]
        print(f"twice the DRAM bandwidth, overlap {level}: {len(found)} of {cases} runs slower"
              + (f" ({len(from_shipped)} from the shipped bandwidth)" if 1.0 in
                 args.from_bandwidths else "")
              + f"; tolerance {tolerance:.1%}" + (", worst:" if found else ""))
        for change, network, hw_name, f in found[:8] + [c for c in from_shipped[:3]
                                                        if c not in found[:8]]:
            print(f"  {change:+.3%} {network} on {hw_name}, DRAM x{f:g} -> x{2 * f:g}")
        if found and found[0][0] > tolerance:
            exceeded.append(f"{level}: {found[0][0]:.3%} > {tolerance:.1%}")
    print("tolerance exceeded: " + "; ".join(exceeded) if exceeded
          else "every slow-down within the documented tolerance")
    return 1 if violations or overlap_costs or exceeded else 0


if __name__ == "__main__":
    sys.exit(main())
