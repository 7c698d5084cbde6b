"""``simulate``: one network on one accelerator. No file I/O, no printing.

What is costed is the network in its causal form (recurrent layers split into their input
projection and their steps: :mod:`perfsim.workload.recurrence`) and, unless ``fuse=False``,
as its inference graph on the accelerator (:mod:`perfsim.mapping.fusion`). A batch may run as sub-batches, one after another, when that is faster (a batch so large that
its activations spill to DRAM can lose to smaller ones that stay on chip): every divisor of
the batch is tried with the analytic schedule and the fastest kept, so a batch is never slower
per image than batch 1 repeated. The rows are then one sub-batch's rows times the number of
sub-batches (:func:`perfsim.results.repeated`), and an event run repeats its timeline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Mapping

from perfsim.io.load import load_hw
from perfsim.errors import InfeasibleError, PerfsimError
from perfsim.hardware.model import HwConfig, check_costable
from perfsim.workload.network import Network
from perfsim.mapping.fusion import inference_graph
from perfsim.workload.recurrence import causal
from perfsim.workload.stats import uncosted
from perfsim.mapping import RESIDENCY_MODES
from perfsim.results import RunResult, repeated
from perfsim.schedule.analytic import LayerPlan, plan_layers
from perfsim.schedule import FIDELITIES, OVERLAPS
from perfsim.io.load import load_workload

def simulate(workload: Network | str | Path, hw: HwConfig | str | Path,
             batch: int | None = None, *, fidelity: str = "analytic",
             residency: str = "auto", pin: Mapping[str, str] | None = None,
             overlap: str = "graph", fuse: bool = True, compare_raw: bool = True,
             overlap_levels: bool = False, split_batch: bool = True, seq_len: int | None = None,
             phase: str | None = None, reasons: bool = True) -> RunResult:
    """Cost ``workload`` (a Network, zoo name or network file) on ``hw`` (a config, shipped
    name or YAML path) at ``batch`` (default: the network's own). ``seq_len`` and ``phase``
    set a zoo sequence model's tokens and phase, as for
    :func:`~perfsim.io.load.load_workload` (``simulate("gpt2", hw, phase="decode")``).

    ``fidelity`` is ``analytic`` (every layer costed alone, the default) or ``event`` (the
    simpy schedule of :mod:`perfsim.schedule.event`, with ``overlap`` ``none``, ``layer``
    or ``graph``; it also yields a timeline; with ``overlap_levels`` it also runs each level
    below ``overlap``, to say what each saved (``RunResult.overlap_cycles``: a simulation
    more per level, so left out unless asked for). ``residency`` is ``auto`` (activations
    stay in SRAM when they fit) or ``dram``; ``pin`` maps op kinds, or a kind's variant, to
    engine names (``{"conv": "mxu", "conv:depthwise": "vpu"}``; the variant wins) instead of
    the fastest engine; an unknown kind or engine is an error. ``fuse`` costs the inference
    graph (:func:`perfsim.mapping.fusion.inference_graph`: batch norm folded, element-wise ops
    in the output paths) and, with ``compare_raw``, the raw training graph too, analytically,
    to say what that saved (``RunResult.raw_graph_cycles``; it about doubles the work of a new
    hardware point, so sweeps, which do not report it, leave it out); ``fuse=False`` costs
    the raw graph, layer for layer. ``split_batch`` lets the batch run as the fastest sub-batches
    (module docstring); the run's ``options["sub_batch"]`` says which. ``reasons=False``
    leaves every row's ``reason`` and ``tiling`` empty, its numbers the same: writing them is
    about 5% of costing a new ResNet-50 point (0.14 of 0.65 ms for its 59 rows), and sweeps
    of totals do not report them; such rows are shared with the other runs that have them
    (:func:`perfsim.schedule.analytic._layer_plan`)."""
    if fidelity not in FIDELITIES:
        raise PerfsimError(f"fidelity must be one of {', '.join(FIDELITIES)}, got {fidelity!r}")
    if residency not in RESIDENCY_MODES:
        raise PerfsimError(f"residency must be one of {', '.join(RESIDENCY_MODES)}, got "
                           f"{residency!r}")
    if overlap not in OVERLAPS:
        raise PerfsimError(f"overlap must be one of {', '.join(OVERLAPS)}, got {overlap!r}")
    if isinstance(workload, Network):
        if seq_len is not None or phase is not None:
            raise PerfsimError(f"seq_len and phase choose how a zoo network is built; "
                               f"'{workload.name}' is given built (pass its name instead)")
        network = workload
    else:
        network = load_workload(workload, seq_len=seq_len, phase=phase)
    if batch is not None:
        network = network.with_batch(batch)
    network = causal(network)
    config = hw if isinstance(hw, HwConfig) else load_hw(hw)
    check_costable(config)
    raw = network
    if fuse:
        network = inference_graph(raw, config, pin)
    cycles, sub, plans = _fastest_sub_batch(network, config, residency, pin, split_batch,
                                            reasons)
    runs = network.batch // sub.batch
    raw_cycles = (_raw_cycles(raw, network, config, cycles, residency, pin, split_batch)
                  if fuse and compare_raw else None)
    options = {"graph": "inference" if fuse else "raw", "residency": residency,
               "pin": dict(pin or {}), "sub_batch": sub.batch}
    missing = uncosted(raw)[1]
    if fidelity == "analytic":
        return RunResult(network.name, config, network.batch, fidelity,
                         tuple(repeated(p.row, runs) for p in plans), options,
                         raw_graph_cycles=raw_cycles, uncosted_macs=missing)
    from perfsim.schedule.event import one_after_another, simulate_events  # simpy, pandas

    # "none" runs layer after layer: exactly the analytic cycles (tests hold the two equal).
    levels = {"none": runs * sum(p.row.total_cycles for p in plans)}
    below = OVERLAPS[1:OVERLAPS.index(overlap)] if overlap_levels else ()
    for level in below:
        levels[level] = runs * simulate_events(sub, config, plans, level, pin=pin).cycles
    result = simulate_events(sub, config, plans, overlap, pin=pin)
    levels[overlap] = runs * result.cycles
    result = one_after_another(result, runs)
    return RunResult(network.name, config, network.batch, fidelity, result.layers,
                     {**options, "overlap": overlap}, timeline=result.timeline,
                     overlap_cycles=levels, raw_graph_cycles=raw_cycles,
                     uncosted_macs=missing)


def _fastest_sub_batch(network: Network, config: HwConfig, residency: str,
                       pin: Mapping[str, str] | None, split: bool,
                       reasons: bool = True) -> tuple[int, Network, list[LayerPlan]]:
    """The analytic cycles of the batch, the network at the sub-batch whose runs, one after
    another, take the fewest (the whole batch on a tie), and its plans (their rows in words
    with ``reasons``)."""
    best = None
    sizes = [s for s in range(network.batch, 0, -1) if network.batch % s == 0] if split \
        else [network.batch]
    for size in sizes:
        sub = network if size == network.batch else network.with_batch(size)
        plans = plan_layers(sub, config, residency=residency, pin=pin,
                            reasons=reasons and len(sizes) == 1)
        cycles = network.batch // size * sum(p.row.total_cycles for p in plans)
        if best is None or cycles < best[0]:
            best = (cycles, sub, plans)
    cycles, sub, plans = best
    if reasons and len(sizes) > 1:  # the winner's rows in words (its costs are kept)
        plans = plan_layers(sub, config, residency=residency, pin=pin)
    return cycles, sub, plans


def _raw_cycles(raw: Network, network: Network, hw: HwConfig, cycles: int, residency: str,
                pin: Mapping[str, str] | None, split: bool) -> int | None:
    """The raw graph's analytic cycles, layer by layer and split into sub-batches as the
    inference graph ``network`` (which takes ``cycles``) may be; None when the raw graph
    cannot run on ``hw`` (it runs an op as a layer no engine there can run, or that does not
    fit)."""
    if network is raw:  # nothing folded or fused
        return cycles
    try:
        return _fastest_sub_batch(raw, hw, residency, pin, split, reasons=False)[0]
    except InfeasibleError:
        return None
