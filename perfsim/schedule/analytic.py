"""The analytic schedule: every layer costed alone, in network order (DESIGN section 4).

For each layer: lower it, place its tensors (:mod:`perfsim.mapping.residency`), and on every engine
that can run it compute the cycles, the engine's SRAM accesses and the best tiling
(:mod:`perfsim.mapping.tiling`); keep the engine that finishes soonest (or the pinned one). The
layer's time is the tiling's overlapped pipeline time, so it is never below its roofline:
``total_cycles >= max(compute_cycles, DRAM bytes / DRAM bytes per cycle)``.

Where activations live is chosen by costing: with ``residency="auto"`` the network is costed
under the placement of every budget of :func:`perfsim.mapping.residency.budget_ladder_bytes`,
and of the placements within the tiling objective's tolerance of the fewest cycles, the one
moving the fewest DRAM bytes wins (a placement that trades many bytes for a few cycles is
not worth its energy, as for tilings).

The bound comes from the numbers: ``memory`` when moving the bytes (DRAM or SRAM) takes at
least as long as computing; otherwise ``utilization`` when the engine does less than half the
work its busy cycles could, else ``compute``.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import weakref
from dataclasses import dataclass
from typing import Mapping

from perfsim.mapping.engines import (SramBytes, can_run, compute_cycles, engine_sram_bytes,
                                     model_of)
from perfsim.errors import InfeasibleError, WorkloadError
from perfsim.hardware.model import Engine, HwConfig
from perfsim.workload.network import Layer, Network
from perfsim.workload.ops import elems, pin_problem, pinned_engine
from perfsim.workload.passes import Fused
from perfsim.mapping.lowering import Work, lower
from perfsim.mapping.kernels.nest_tiling import CYCLE_TOLERANCE
from perfsim.mapping.residency import Placement, budget_ladder_bytes, plan
from perfsim.results import LayerResult, per_dram_byte_text
from perfsim.mapping.tiling import Tiling, plan_tiling, sram_busy

WELL_USED = 0.5
"""An engine doing at least this share of the work its busy cycles allow is well used."""


@dataclass(frozen=True)
class LayerPlan:
    """What the analytic schedule decided for one layer: its ``row``, and the ``tiling`` and
    the engine's own SRAM bytes (``engine_sram_bytes``, read and written) behind it, under
    its ``placement``; views have no tiling. The event schedule runs these decisions rather
    than making them again."""

    row: LayerResult
    tiling: Tiling | None
    engine_sram_bytes: SramBytes
    placement: Placement


def schedule(network: Network, hw: HwConfig, *, residency: str = "auto",
             pin: Mapping[str, str] | None = None) -> list[LayerResult]:
    """Cost every layer of ``network`` on ``hw``."""
    return [p.row for p in plan_layers(network, hw, residency=residency, pin=pin)]


def plan_layers(network: Network, hw: HwConfig, *, residency: str = "auto",
                pin: Mapping[str, str] | None = None) -> list[LayerPlan]:
    """Every layer's :class:`LayerPlan`, in network order, under the placement of activations
    that makes the network fastest (``auto``, over the budgets of :func:`budget_ladder_bytes`,
    ranked as the tiling search ranks tilings: among the placements within
    :data:`CYCLE_TOLERANCE` of the least cycles, the fewest DRAM bytes) or with every
    activation in DRAM (``dram``)."""
    pin = dict(pin or {})
    for key, engine_name in pin.items():
        hw.engine(engine_name)  # an unknown engine is a ConfigError naming the engines
        problem = pin_problem(key)
        if problem:
            raise WorkloadError(f"pin {key}={engine_name}: {problem}")
    memory = _memory_key(hw)
    capable: dict[tuple, tuple[Engine, ...]] = {}
    layers = []  # (layer, its cache key but for its placement)
    for layer in network.layers:
        # what can_run reads of an op: its engine kinds, and whether it has an epilogue
        kinds = (layer.op.engine_kinds, isinstance(layer.op, Fused))
        if kinds not in capable:
            capable[kinds] = tuple(e for e in hw.engines if can_run(e, layer.op))
        layers.append((layer, _layer_key(network, layer, pin, capable[kinds], memory)))
    budgets = budget_ladder_bytes(hw) if residency == "auto" else [0]
    costed, error, tried = [], None, set()
    least = math.inf
    # the most kept first (usually the fastest: the others then stop early), then the rest
    for budget in budgets[-1:] + budgets[:-1]:
        placements = _placements(network, hw, budget)
        keep = tuple(p.output_location for p in placements.values())
        if keep in tried:  # the same tensors kept as at another budget
            continue
        tried.add(keep)
        try:
            plans = _plans_within(network, hw, layers, placements, pin,
                                  least * (1 + CYCLE_TOLERANCE))
        except InfeasibleError as err:  # resident tensors leave some layer too little room
            error = error or err
            continue
        if plans is not None:  # None: slower than the best already, beyond the tolerance
            cycles = sum(p.row.total_cycles for p in plans)
            least = min(least, cycles)
            costed.append((cycles, plans))
    if not costed:
        raise error
    # as the tiling search ranks tilings: within the tolerance of the least cycles, the
    # fewest DRAM bytes, then the fewest cycles (the first tried on a tie)
    near = [(sum(p.row.dram_read_bytes + p.row.dram_write_bytes for p in plans), cycles, i)
            for i, (cycles, plans) in enumerate(costed)
            if cycles <= least * (1 + CYCLE_TOLERANCE)]
    return costed[min(near)[2]][1]


def _plans_within(network: Network, hw: HwConfig, layers: list[tuple[Layer, _Prehashed]],
                  placements: dict[str, Placement], pin: dict[str, str],
                  cycles: float) -> list[LayerPlan] | None:
    """The layers' plans under ``placements``, or None as soon as they take more than
    ``cycles``."""
    plans, total = [], 0
    for layer, key in layers:
        planned = _cached_plan(network, layer, hw, placements[layer.name], pin, key)
        total += planned.row.total_cycles
        if total > cycles:
            return None
        plans.append(planned)
    return plans


LAYER_CACHE_ENTRIES = 8_000
"""Layers whose plans are kept for reuse (a few kB each); the cache starts over when full."""
_layer_cache: dict[tuple, list[tuple[int, int, LayerPlan]]] = {}
"""(layer key, input location, output location) -> the plans made, each with the range of
resident bytes it stands for."""
_placement_cache: dict[tuple, dict[str, Placement]] = {}
_work_cache: dict[tuple, Work] = {}


def _placements(network: Network, hw: HwConfig, budget_bytes: int) -> dict[str, Placement]:
    """:func:`perfsim.mapping.residency.plan`, cached by the network, the budget and the parts
    of the config it reads (the precision): sweep points that change anything else keep
    their placements."""
    key = (network, budget_bytes, hw.precision.activation_bytes)
    placements = _placement_cache.get(key)
    if placements is None:
        if len(_placement_cache) >= 256:
            _placement_cache.clear()
        placements = _placement_cache[key] = plan(network, hw, budget_bytes)
    return placements


def _lowered(network: Network, layer: Layer, in_shapes: tuple) -> Work:
    """:func:`perfsim.mapping.lowering.lower`, cached by what it reads: the layer, its shapes and
    the batch (no hardware)."""
    key = (layer, network.batch, in_shapes, network.out_shapes[layer.name])
    work = _work_cache.get(key)
    if work is None:
        if len(_work_cache) >= LAYER_CACHE_ENTRIES:
            _work_cache.clear()
        work = _work_cache[key] = lower(network, layer)
    return work


def cost_layer(network: Network, layer: Layer, hw: HwConfig, placement: Placement,
               pin: dict[str, str]) -> LayerResult:
    """One layer's cost: the row of :func:`plan_layer`."""
    return plan_layer(network, layer, hw, placement, pin).row


def plan_layer(network: Network, layer: Layer, hw: HwConfig, placement: Placement,
               pin: dict[str, str]) -> LayerPlan:
    """One layer's plan, cached by exactly what it depends on: the layer, its shapes and
    batch, its placement, the engines that can run it (and a pin), the precision, memories,
    clock and energies. A sweep point that changes only the array reuses every vector-engine
    layer of the point before."""
    engines = tuple(e for e in hw.engines if can_run(e, layer.op))
    return _cached_plan(network, layer, hw, placement, pin,
                        _layer_key(network, layer, pin, engines, _memory_key(hw)))


class _Prehashed:
    """A value whose hash is computed once: a cache key part looked up once per layer."""

    __slots__ = ("value", "hash")

    def __init__(self, value: tuple):
        self.value = value
        self.hash = hash(value)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other) -> bool:
        return isinstance(other, _Prehashed) and self.value == other.value


_memory_keys: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _memory_key(hw: HwConfig) -> _Prehashed:
    """The parts of ``hw`` besides its engines that a layer's cost depends on (precision,
    memories, clock, energies), hashed once per config rather than once per layer."""
    key = _memory_keys.get(hw)
    if key is None:
        key = _memory_keys[hw] = _Prehashed((hw.precision, hw.memory_levels, hw.clock_ghz,
                                             hw.energy_pj))
    return key


def _layer_key(network: Network, layer: Layer, pin: dict[str, str],
               engines: tuple[Engine, ...], memory: _Prehashed) -> _Prehashed:
    """What a layer's plan depends on besides its placement: the layer, its shapes and batch,
    the ``engines`` that can run it (and a pin), and the ``memory`` key of the config."""
    return _Prehashed((layer, network.batch, network.in_shapes(layer),
                       network.out_shapes[layer.name], engines, pinned_engine(pin, layer.op),
                       memory))


def _cached_plan(network: Network, layer: Layer, hw: HwConfig, placement: Placement,
                 pin: dict[str, str], key: _Prehashed) -> LayerPlan:
    """:func:`plan_layer` with the layer's :func:`_layer_key` already worked out. A plan made
    beside fewer resident bytes is reused up to the resident bytes its tilings allow
    (:attr:`Tiling.max_resident_bytes`), so trying placements re-searches only the layers
    whose room really changes."""
    resident = placement.resident_bytes
    made = _layer_cache.get((key, placement.input_location, placement.output_location))
    for low, high, reused in made or ():
        if low <= resident <= high:
            return reused if reused.placement == placement else dataclasses.replace(
                reused, placement=placement)
    if made is None:
        if len(_layer_cache) >= LAYER_CACHE_ENTRIES:
            _layer_cache.clear()
        made = _layer_cache[key, placement.input_location, placement.output_location] = []
    planned, high = _plan(network, layer, hw, placement, pin)
    made.append((resident, high, planned))
    return planned


def _plan(network: Network, layer: Layer, hw: HwConfig, placement: Placement,
          pin: dict[str, str]) -> tuple[LayerPlan, int]:
    """The layer's plan, and the most resident bytes under which it stands (every engine's
    tiling the same)."""
    in_shapes = network.in_shapes(layer)
    work = _lowered(network, layer, in_shapes)
    p = hw.precision
    in_elems = network.batch * sum(elems(s) for s in in_shapes)
    weights = layer.op.weight_elems(in_shapes)
    base = dict(
        layer=layer.name, op=layer.op.kind, out_shape=list(network.out_shapes[layer.name][0]),
        kernel=list(layer.op.kernel), groups=layer.op.groups, macs=work.macs, ops=work.ops,
        params=layer.op.params(in_shapes), in_bytes=in_elems * p.activation_bytes,
        out_bytes=network.batch * sum(elems(s) for s in network.out_shapes[layer.name])
        * p.activation_bytes,
        weight_bytes=weights * p.weight_bytes, in_location=placement.input_location,
        out_location=placement.output_location, fused=layer.fused)
    if work.nest is None:
        what = "network input, in DRAM" if not layer.inputs else "a view of its input"
        reason = (f"not costed: unsupported ONNX op {layer.op.onnx_op}"
                  if layer.op.kind == "placeholder" else f"none: {what}, no data moved")
        row = LayerResult(**base, engine="-", dram_read_bytes=0, dram_write_bytes=0,
                          sram_read_bytes=0, sram_write_bytes=0, compute_cycles=0,
                          memory_cycles=0, total_cycles=0, stall_cycles=0, utilization=0.0,
                          macs_per_dram_byte=None, bound="none", reason=reason,
                          energy_pj=0.0 if hw.energy_pj else None, tiling="-")
        return LayerPlan(row, None, SramBytes(0, 0, 0, 0), placement), sys.maxsize
    engines = candidate_engines(layer, hw, pin)
    best = None
    errors = []
    options = []
    for engine in engines:
        cycles = compute_cycles(engine, work)
        moved = engine_sram_bytes(engine, work, p, in_elems, weights)
        try:
            tiling = plan_tiling(layer.name, work, hw, engine, placement, cycles, moved)
        except InfeasibleError as err:
            errors.append(err)
            continue
        total = math.ceil(tiling.cycles)
        options.append((total, engine, cycles, tiling.max_resident_bytes))
        if best is None or total < best[0]:
            best = (total, engine, cycles, moved, tiling)
    if best is None:
        raise errors[0]
    total, engine, cycles, moved, tiling = best
    row = _row(base, work, hw, engine, total, cycles, moved, tiling)
    others = [note for t, e, c, _ in options if e is not engine
              for note in [model_of(e).unused_note(e, work, t, c)] if note]
    if others:  # say what the faster engine saved, e.g. a depthwise layer off the array
        row = dataclasses.replace(row, reason=f"{row.reason}; {'; '.join(others)}")
    # an engine that did not fit fits even less beside more resident bytes
    return (LayerPlan(row, tiling, moved, placement),
            min(high for *_, high in options))


def candidate_engines(layer: Layer, hw: HwConfig, pin: dict[str, str]) -> list[Engine]:
    """The engines that may run ``layer``: the pinned one for its op kind (or its variant,
    :func:`~perfsim.workload.ops.pinned_engine`), else every engine that can;
    :class:`InfeasibleError` when there is none."""
    kind = layer.op.kind
    pinned = pinned_engine(pin, layer.op)
    if pinned is not None:
        engine = hw.engine(pinned)
        if not can_run(engine, layer.op):
            raise InfeasibleError(f"layer '{layer.name}': op {kind} is pinned to engine "
                                  f"'{engine.name}', a {engine.kind} engine, which cannot run "
                                  f"it")
        return [engine]
    engines = [e for e in hw.engines if can_run(e, layer.op)]
    if not engines:
        raise InfeasibleError(f"layer '{layer.name}': accelerator '{hw.name}' has no engine "
                              f"that can run op {kind} (it runs on "
                              f"{' or '.join(sorted(layer.op.engine_kinds))} engines)")
    return engines


def _level_bytes(hw: HwConfig, reads: int, writes: int,
                 tiling: Tiling) -> list[tuple[str, float, int, int]]:
    """``(name, bytes per cycle, read bytes, written bytes)`` of every level the layer uses,
    innermost first. A level reads what the level below (or the engine) reads from it and what
    it writes back up; it writes what comes down from above and what the level below (or the
    engine) writes into it."""
    levels = []
    down, up = reads, writes  # bytes the engine (then each level) reads and writes below
    for use in tiling.locals:
        levels.append((use.name, use.bytes_per_cycle, down + use.writeback_bytes,
                       up + use.fill_bytes))
        down, up = use.fill_bytes, use.writeback_bytes
    dram_read, dram_write = tiling.dram_read_bytes, tiling.dram_write_bytes
    levels.append((hw.sram.name, hw.sram.bandwidth_bytes_per_cycle, down + dram_write,
                   up + dram_read))
    levels.append((hw.dram.name, hw.dram_bytes_per_cycle, dram_read, dram_write))
    return levels


def _energy(hw: HwConfig, work: int, levels: list[tuple[str, float, int, int]]) -> float:
    """Picojoules of the work and of every byte read or written at every level."""
    e = hw.energy_pj
    per_byte = dict(e.per_byte)  # type: ignore[union-attr]
    energy = work * e.mac  # type: ignore[union-attr]
    for name, _, read, written in levels:
        energy += (read + written) * per_byte[name]
    return energy


def _row(base: dict, work: Work, hw: HwConfig, engine: Engine, total: int,
         cycles: int, moved: SramBytes, tiling: Tiling) -> LayerResult:
    levels = _level_bytes(hw, moved.reads, moved.writes, tiling)
    *inner, (_, sram_bw, sram_read, sram_write), (_, _, dram_read, dram_write) = levels
    dram_bytes = dram_read + dram_write
    dram_cycles = tiling.dram_link_cycles  # bytes at the bandwidth, and per-transfer costs
    # the busiest on-chip level (or SRAM port), the innermost on a tie
    busy = [((read + written) / bw, f"local {name}", read + written, bw)
            for name, bw, read, written in inner] + [sram_busy(hw, moved, tiling)]
    on_chip_cycles, where, on_chip_bytes, bw = max(busy, key=lambda b: b[0])
    memory_cycles = math.ceil(max(dram_cycles, on_chip_cycles))
    done = model_of(engine).peak_work(work)
    peak = engine.peak_macs_per_cycle
    efficiency = done / (cycles * peak) if cycles else 0.0
    # the row's one utilisation, of its busy cycles: what the reason quotes as well (the bound
    # reads the compute cycles alone: stalls are memory's, not the shape's)
    utilization = done / (total * peak) if total else 0.0
    intensity = work.macs / dram_bytes if dram_bytes else math.inf
    balance = peak / hw.dram_bytes_per_cycle
    per_byte = per_dram_byte_text(work.macs, work.ops, dram_bytes)
    if max(dram_cycles, on_chip_cycles) >= cycles:
        bound = "memory"
        if dram_cycles >= on_chip_cycles:
            reason = (f"memory: DRAM {dram_cycles:,.0f} cycles >= compute {cycles:,} "
                      f"({per_byte}, machine balance {balance:,.0f} MAC/B; "
                      f"{_dominant(tiling, work)})")
        else:
            reason = (f"memory: {where} {on_chip_cycles:,.0f} cycles >= "
                      f"compute {cycles:,} ({on_chip_bytes:,} B at {bw:g} B/cycle)")
    elif efficiency < WELL_USED:
        bound = "utilization"
        reason = f"utilization: {model_of(engine).waste(engine, work, utilization)}"
    else:
        bound = "compute"
        reason = f"compute: {engine.name} {utilization:.1%} used ({per_byte})"
        note = model_of(engine).output_path_note(engine, work)
        if note:
            reason = f"{reason}; {note}"
    return LayerResult(
        **base, engine=engine.name, dram_read_bytes=dram_read, dram_write_bytes=dram_write,
        sram_read_bytes=sram_read, sram_write_bytes=sram_write, compute_cycles=cycles,
        memory_cycles=memory_cycles, total_cycles=total, stall_cycles=total - cycles,
        utilization=utilization, macs_per_dram_byte=intensity if dram_bytes else None,
        bound=bound, reason=reason,
        energy_pj=_energy(hw, work.macs + work.ops, levels) if hw.energy_pj else None,
        tiling=f"{engine.name}: {tiling.describe()}",
        local_bytes=tuple((n, r, w) for n, _, r, w in inner))




def _dominant(tiling: Tiling, work: Work) -> str:
    """The operand that moves the most DRAM bytes, and how often it is fetched."""
    parts = {"weights": tiling.dram_read_weight_bytes, "inputs": tiling.dram_read_input_bytes,
             "partial sums": tiling.dram_read_partial_bytes,
             "outputs": tiling.dram_write_bytes}
    name = max(parts, key=parts.get)  # type: ignore[arg-type]
    mb = parts[name] / 1e6
    if name == "weights" and work.reduces:
        reuse = work.macs / parts[name] if parts[name] else 0
        return f"weights {mb:,.2f} MB read, {reuse:,.1f} MAC per weight byte"
    return f"{name} {mb:,.2f} MB"
