"""``simulate``: one network on one accelerator. No file I/O, no printing."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from perfsim.io.load import load_hw
from perfsim.errors import InfeasibleError, PerfsimError
from perfsim.hardware.model import HwConfig, check_costable
from perfsim.workload.network import Network
from perfsim.mapping.fusion import inference_graph
from perfsim.mapping.residency import RESIDENCY_MODES, plan
from perfsim.results import RunResult
from perfsim.schedule.analytic import plan_layers
from perfsim.schedule.event import OVERLAPS, simulate_events
from perfsim.io.load import load_workload

FIDELITIES = ("analytic", "event")


def simulate(workload: Network | str | Path, hw: HwConfig | str | Path,
             batch: int | None = None, *, fidelity: str = "analytic",
             residency: str = "auto", pin: Mapping[str, str] | None = None,
             overlap: str = "graph", fuse: bool = True,
             compare_raw: bool = True) -> RunResult:
    """Cost ``workload`` (a Network, zoo name or network file) on ``hw`` (a config, shipped
    name or YAML path) at ``batch`` (default: the network's own).

    ``fidelity`` is ``analytic`` (every layer costed alone, the default) or ``event`` (the
    simpy schedule of :mod:`perfsim.schedule.event`, with ``overlap`` ``none``, ``layer``
    or ``graph``; it also yields a timeline). ``residency`` is ``auto`` (activations stay in
    SRAM when they fit) or ``dram``; ``pin`` maps op kinds to engine names
    (``{"conv": "mxu"}``) instead of the fastest engine. ``fuse`` costs the inference graph
    (:func:`perfsim.mapping.fusion.inference_graph`: batch norm folded, element-wise ops in
    the output paths) and, with ``compare_raw``, the raw training graph too, analytically, to
    say what that saved (``RunResult.raw_graph_cycles``; it about doubles the work of a new
    hardware point, so sweeps, which do not report it, leave it out); ``fuse=False`` costs the
    raw graph, layer for layer."""
    if fidelity not in FIDELITIES:
        raise PerfsimError(f"fidelity must be one of {', '.join(FIDELITIES)}, got {fidelity!r}")
    if residency not in RESIDENCY_MODES:
        raise PerfsimError(f"residency must be one of {', '.join(RESIDENCY_MODES)}, got "
                           f"{residency!r}")
    if overlap not in OVERLAPS:
        raise PerfsimError(f"overlap must be one of {', '.join(OVERLAPS)}, got {overlap!r}")
    network = workload if isinstance(workload, Network) else load_workload(workload)
    if batch is not None:
        network = network.with_batch(batch)
    config = hw if isinstance(hw, HwConfig) else load_hw(hw)
    check_costable(config)
    raw = network
    if fuse:
        network = inference_graph(raw, config, pin)
    plans = plan_layers(network, config, residency=residency, pin=pin)
    layers = [p.row for p in plans]
    raw_cycles = (_raw_cycles(raw, network, config, layers, residency, pin)
                  if fuse and compare_raw else None)
    options = {"graph": "inference" if fuse else "raw", "residency": residency,
               "pin": dict(pin or {})}
    if fidelity == "analytic":
        return RunResult(network.name, config, network.batch, fidelity, tuple(layers),
                         options, raw_graph_cycles=raw_cycles)
    placements = plan(network, config, residency)
    # "none" runs layer after layer: exactly the analytic cycles (tests hold the two equal).
    levels = {"none": sum(r.total_cycles for r in layers)}
    result = None
    for level in OVERLAPS[1:OVERLAPS.index(overlap) + 1]:
        result = simulate_events(network, config, plans, placements, level, pin=pin)
        levels[level] = result.cycles
    if result is None:
        result = simulate_events(network, config, plans, placements, overlap, pin=pin)
    return RunResult(network.name, config, network.batch, fidelity, result.layers,
                     {**options, "overlap": overlap}, timeline=result.timeline,
                     overlap_cycles=levels, raw_graph_cycles=raw_cycles)


def _raw_cycles(raw: Network, network: Network, hw: HwConfig, layers: list,
                residency: str, pin: Mapping[str, str] | None) -> int | None:
    """The raw graph's analytic cycles, layer by layer, beside those of the inference graph
    ``network`` (its rows ``layers``); None when the raw graph cannot run on ``hw`` (it runs an
    op as a layer no engine there can run, or that does not fit)."""
    if network is raw:  # nothing folded or fused
        return sum(r.total_cycles for r in layers)
    try:
        return sum(p.row.total_cycles for p in plan_layers(raw, hw, residency=residency,
                                                            pin=pin))
    except InfeasibleError:
        return None
