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
import itertools
import math
from typing import Mapping, NamedTuple

from perfsim.mapping.engines import (SramBytes, can_run, compute_cycles, engine_sram_bytes,
                                     model_of)
from perfsim.errors import ConfigError, InfeasibleError, WorkloadError
from perfsim.hardware.model import Engine, HwConfig
from perfsim.workload.network import Layer, Network
from perfsim.workload.ops import elems, pin_problem, pinned_engine
from perfsim.workload.passes import Fused
from perfsim.mapping.lowering import Work, lower
from perfsim.mapping.kernels.nest_tiling import CYCLE_TOLERANCE
from perfsim.mapping.residency import Placement, budget_ladder_bytes, plan
from perfsim.results import LayerResult, per_dram_byte_text
from perfsim.mapping.tiling import (Tiling, least_dram_bytes, plan_tiling, pool_bytes,
                                    sram_busy)

WELL_USED = 0.5
"""An engine doing at least this share of the work its busy cycles allow is well used."""


class LayerPlan(NamedTuple):
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
                pin: Mapping[str, str] | None = None, reasons: bool = True) -> list[LayerPlan]:
    """Every layer's :class:`LayerPlan`, in network order, under the placement of activations
    that makes the network fastest (``auto``, over the budgets of :func:`budget_ladder_bytes`,
    ranked as the tiling search ranks tilings: among the placements within
    :data:`CYCLE_TOLERANCE` of the least cycles, the fewest DRAM bytes) or with every
    activation in DRAM (``dram``).

    Placements are compared by their layers' costs alone (:class:`_Cost`: cycles and bytes);
    the rows, with their reasons in words, are written for the winning placement only.
    Without ``reasons`` a row's ``reason`` and ``tiling`` are empty, and its numbers the
    same."""
    pin = dict(pin or {})
    for key, engine_name in pin.items():
        hw.engine(engine_name)  # an unknown engine is a ConfigError naming the engines
        problem = pin_problem(key)
        if problem:
            raise WorkloadError(f"pin {key}={engine_name}: {problem}")
    layers = _layers_of(network)
    keys = _plan_keys(layers, hw, pin)
    budgets = budget_ladder_bytes(hw) if residency == "auto" else [0]
    costed, error, tried = [], None, set()
    least = math.inf
    last: list = [None] * len(keys)  # per layer, the cost found at the budget before
    # the most kept first (usually the fastest: the others then stop early), then the rest
    for budget in budgets[-1:] + budgets[:-1]:
        placed = _placements(layers, network, hw, budget)
        if placed.keep in tried:  # the same tensors kept as at another budget
            continue
        tried.add(placed.keep)
        try:
            costs = _costs_within(layers, keys, hw, placed.placements, pin,
                                  least * (1 + CYCLE_TOLERANCE), last, pool_bytes(hw))
        except InfeasibleError as err:  # resident tensors leave some layer too little room
            error = error or err
            continue
        if costs is not None:  # None: slower than the best already, beyond the tolerance
            cycles = sum(c.total for c in costs)
            least = min(least, cycles)
            costed.append((cycles, placed, costs))
    if not costed:
        raise error
    # as the tiling search ranks tilings: within the tolerance of the least cycles, the
    # fewest DRAM bytes, then the fewest cycles (the first tried on a tie)
    near = [(sum(c.dram_bytes for c in costs), cycles, i)
            for i, (cycles, _, costs) in enumerate(costed)
            if cycles <= least * (1 + CYCLE_TOLERANCE)]
    _, placed, costs = costed[min(near)[2]]
    return [_layer_plan(network, layers, entry, hw, placement, cost, reasons)
            for entry, placement, cost in zip(layers.entries, placed.placements, costs)]


def _costs_within(layers: _Layers, keys: list[tuple[int, int, int]], hw: HwConfig,
                  placements: tuple[Placement, ...], pin: dict[str, str], cycles: float,
                  last: list, pool: int) -> list[_Cost] | None:
    """The layers' costs under ``placements``, or None as soon as they take more than
    ``cycles``. ``last`` holds per layer the ``(input location, output location, cached
    cost)`` (:func:`_cached_cost`) found at the budget tried before, which most layers keep
    (the placement ladder tries about ten budgets a point): it is taken again without a
    look-up while the placement's free bytes (``pool``, :func:`pool_bytes`, less its
    resident bytes) are within its range.

    The costs already made are summed first, with the least cycles each other layer can take
    (:func:`_floor_cycles`): a placement that cannot finish within ``cycles`` even so is
    dropped before any layer is costed for it (on ResNet-50, most of the budgets a sweep point
    tries). The others are then costed in network order, each replacing its floor."""
    costs: list = []
    missing = []
    total = 0  # the costs found and the floors of the others: never more than their costs
    for i, (entry, key, placement) in enumerate(zip(layers.entries, keys, placements)):
        found = last[i]
        free = pool - placement.resident_bytes
        if found is None or found[0] != placement.input_location \
                or found[1] != placement.output_location \
                or not found[2][0] <= free <= found[2][1]:
            where = _where(key, placement)
            known = _within(_cost_cache.get(where), free)  # made at another point or budget
            if known is None:
                floor = _floor_cycles(entry, key, hw, placement, pin, where)
                missing.append((i, floor, free))
                costs.append(None)
                total += floor
                if total > cycles:
                    return None
                continue
            found = last[i] = (placement.input_location, placement.output_location, known)
        cost = found[2][2]
        total += cost.total
        if total > cycles:
            return None
        costs.append(cost)
    for i, floor, free in missing:
        placement = placements[i]
        cost = _cached_cost(layers.entries[i], keys[i], hw, placement, pin, free)
        last[i] = (placement.input_location, placement.output_location, cost)
        total += cost[2].total - floor
        if total > cycles:
            return None
        costs[i] = cost[2]
    return costs


def _floor_cycles(entry: _Entry, key: tuple[int, int, int], hw: HwConfig,
                  placement: Placement, pin: dict[str, str], where: tuple) -> int:
    """The fewest cycles the layer can take under ``placement``, whatever the room: the
    fewest compute cycles of the engines that may run it and, when they all read the SRAM
    directly, the DRAM link's time for the fewest bytes any tiling moves
    (:func:`~perfsim.mapping.tiling.least_dram_bytes`, when its table is built). A layer
    never takes fewer cycles than it computes or than its link is busy
    (:func:`~perfsim.mapping.kernels.nest_kernels.pipeline_cycles`). Kept by ``where``, the
    layer's :func:`_where`."""
    floor = _floor_cache.get(where)
    if floor is not None:
        return floor
    floor = 0
    if entry.work.nest is not None:
        try:
            engines, figures, order = _engine_figures(entry, key[2], hw, pin)
        except InfeasibleError:  # no engine runs it: costing it, in order, says so
            return 0
        floor = figures[order[0]][0]  # the fewest compute cycles
        least = (least_dram_bytes(entry.work, hw, placement)
                 if all(len(hw.path(engine)) == 2 for engine in engines) else None)
        if least:
            # the link's cycles at the bandwidth, less more than the float rounding of the
            # link (relative) and of the cycles (5e-7) could take off
            link = least * (1.0 - 1e-9) / hw.dram_bytes_per_cycle - 1e-6
            floor = max(floor, math.ceil(link))
            _floor_cache.put(where, floor)  # without a table's bytes, found again later
    return floor


class _Cost(NamedTuple):
    """What a layer costs under one placement, before it is written as a row: the ``engine``
    that runs it (None for a view), its cycles (``total``, and ``compute`` with unlimited
    bandwidth), the engine's own SRAM bytes (``moved``), the ``tiling`` and its DRAM bytes;
    ``searched`` are the ``(total, engine, compute)`` of every engine whose tiling was
    searched, in the config's order (their notes go in the row's reason). It depends on the
    layer's op, shapes and batch, not on its name: layers alike share it."""

    engine: Engine | None
    total: int
    compute: int
    moved: SramBytes
    tiling: Tiling | None
    dram_bytes: int
    searched: tuple[tuple[int, Engine, int], ...]


_VIEW_COST = _Cost(None, 0, 0, SramBytes(0, 0, 0, 0), None, 0, ())


class _Entry(NamedTuple):
    """A layer of a network as the schedule reads it, whatever the hardware: its work, the
    elements of its inputs and outputs (times batch) and of its weights, its parameters, and
    ``content``, the small integer standing for its op, shapes and batch (what its cost
    depends on besides the hardware and its placement)."""

    layer: Layer
    work: Work
    in_shapes: tuple
    in_elems: int
    out_elems: int
    weight_elems: int
    params: int
    content: int


class _Layers(NamedTuple):
    """A network's :class:`_Entry` per layer, its placements by ``(budget, activation
    bytes)`` (:func:`_placements`), its layers' own row fields (:func:`_own_fields`) and, by
    pin, its kinds of layer (:func:`_plan_keys`)."""

    entries: tuple[_Entry, ...]
    placements: dict
    own_fields: dict
    kinds: dict


class _Placed(NamedTuple):
    """The placement of every layer (network order) at one budget, and which outputs it keeps
    in SRAM (``keep``: budgets keeping the same ones place alike)."""

    placements: tuple[Placement, ...]
    keep: tuple[str, ...]


# Caches. A sweep costs one network on many configs: what depends on the network alone is
# worked out once per network (:func:`_layers_of`), what depends on a config once per config
# (:func:`_plan_keys`), a layer's engines and their own figures once per (content, capable
# engines and precision) (:func:`_engine_figures`), and a layer's cost once per (content, the
# parts of the config it reads, input and output location) and range of free SRAM bytes
# (:func:`_cached_cost`; the SRAM's size is not among those parts), with its floor
# (:func:`_floor_cycles`) and its row's fields (:func:`_row_fields`). Keys are small integers
# standing for the large values they were interned from (:func:`_intern`), so a lookup
# hashes a few integers, never a layer or a config.

LAYER_CACHE_ENTRIES = 8_000
"""Layer costs kept for reuse (a few kB each): the newest entries and those of the
generation before (:class:`_Generations`)."""
ROWS_KEPT = 2_048
"""Rows without reasons kept for reuse (a few kB each; :data:`_rows_cache`): a sweep reuses
them from its last few points, those at the SRAM sizes before."""
NETWORKS_KEPT = 32
"""Networks (and configs) whose derived data is kept, by identity."""


class _Generations:
    """A bounded cache that does not thrash: entries go into the current generation; when it
    holds ``size`` entries it becomes the old one (the older is dropped), and an entry found
    in the old generation moves to the current. What a sweep keeps using survives; what it
    stopped using goes after two generations. At most ``2 * size`` entries."""

    def __init__(self, size: int):
        self.size = size
        self.new: dict = {}
        self.old: dict = {}

    def get(self, key):
        value = self.new.get(key)
        if value is None:
            value = self.old.pop(key, None)
            if value is not None:
                self.put(key, value)
        return value

    def put(self, key, value) -> None:
        if len(self.new) >= self.size:
            self.old, self.new = self.new, {}
        self.new[key] = value

    def clear(self) -> None:
        self.new, self.old = {}, {}


_cost_cache = _Generations(LAYER_CACHE_ENTRIES)
"""(content, config part, input location, output location) -> the costs made, each with the
range of free SRAM bytes it stands for."""
_floor_cache = _Generations(LAYER_CACHE_ENTRIES)
"""(content, config part, input location, output location) -> the layer's
:func:`_floor_cycles`."""
_figures_cache = _Generations(LAYER_CACHE_ENTRIES)
"""(content, engines part) -> the engines that may run the layer and their own figures
(:func:`_engine_figures`)."""
_fields_cache = _Generations(LAYER_CACHE_ENTRIES)
"""(id of a cost, reasons) -> the cost (its id stands for it only while it lives) and its
row's fields (:func:`_row_fields`)."""
_rows_cache = _Generations(ROWS_KEPT)
"""(id of an entry, input location, output location, id of a cost) -> the entry, the cost
(their ids stand for them only while they live) and the layer's row without reasons
(:func:`_layer_plan`)."""
_work_cache = _Generations(LAYER_CACHE_ENTRIES)
"""content -> the layer's :class:`Work` (lowering reads no hardware)."""
_interned: dict = {}
_networks: dict[int, tuple[Network, _Layers]] = {}
"""id(network) -> the network and its :class:`_Layers`."""
_configs: dict[int, tuple[HwConfig, int]] = {}
"""id(config) -> the config and its :func:`_memory_key`."""


def _intern(value) -> int:
    """A small integer standing for ``value`` (equal values, equal integers), hashed once.
    Integers are never reused: the table may be dropped (it is, past
    :data:`LAYER_CACHE_ENTRIES` values) and a value seen again gets a new one (its cached
    costs are then made again)."""
    number = _interned.get(value)
    if number is None:
        if len(_interned) >= LAYER_CACHE_ENTRIES:
            _interned.clear()
        number = _interned[value] = next(_numbers)
    return number


_numbers = itertools.count()


def _identity_cached(cache: dict, obj, make):
    """``make(obj)``, kept in ``cache`` while ``obj`` (a network or config: immutable) is one
    of the last :data:`NETWORKS_KEPT` seen; looked up by identity, so the object is never
    hashed (the cache holds it, so its identity is not reused meanwhile)."""
    found = cache.get(id(obj))
    if found is not None and found[0] is obj:
        return found[1]
    if len(cache) >= NETWORKS_KEPT:
        cache.clear()
    value = make(obj)
    cache[id(obj)] = (obj, value)
    return value


def _layers_of(network: Network) -> _Layers:
    """The :class:`_Layers` of ``network``, made once per network."""
    return _identity_cached(_networks, network, _make_layers)


def _make_layers(network: Network) -> _Layers:
    entries = []
    for layer in network.layers:
        in_shapes = network.in_shapes(layer)
        content = _intern((layer.op, network.batch, in_shapes, network.out_shapes[layer.name]))
        work = _work_cache.get(content)
        if work is None:
            work = lower(network, layer)
            _work_cache.put(content, work)
        entries.append(_Entry(
            layer, work, in_shapes, network.batch * sum(elems(s) for s in in_shapes),
            network.batch * sum(elems(s) for s in network.out_shapes[layer.name]),
            layer.op.weight_elems(in_shapes), layer.op.params(in_shapes), content))
    return _Layers(tuple(entries), {}, {}, {})


def _plan_keys(layers: _Layers, hw: HwConfig,
               pin: dict[str, str]) -> list[tuple[int, int, int]]:
    """Per layer, ``(content, config part, engines part)``: the engines part stands for the
    engines that can run the layer (and a pin) and the precision, what the engines' own
    figures read (:func:`_engine_figures`); the config part for those and the config's other
    parts a cost reads (:func:`_memory_key`). A sweep point that changes only the array keeps
    the config part of every layer no matrix engine can run; one that changes only memories
    keeps every engines part. The parts are made once per kind of layer (:func:`_kinds`,
    sorted out once per network and pin)."""
    pinned = tuple(sorted(pin.items()))
    kinds = layers.kinds.get(pinned)
    if kinds is None:
        distinct: dict[tuple, tuple] = {}
        for entry in layers.entries:
            op = entry.layer.op
            distinct.setdefault(_kinds(op, pin), (len(distinct), op))
        kinds = layers.kinds[pinned] = (
            tuple((op, kind) for kind, (_, op) in distinct.items()),
            tuple(distinct[_kinds(entry.layer.op, pin)][0] for entry in layers.entries))
    ops, index = kinds
    parts = [_parts(op, kind, hw) for op, kind in ops]
    return [(entry.content, *parts[i]) for entry, i in zip(layers.entries, index)]


def _kinds(op, pin: dict[str, str]) -> tuple:
    """What :func:`can_run` reads of an op (its engine kinds, whether it has an epilogue), and
    its pin: layers alike in these have the same engines part (:func:`_plan_keys`)."""
    return (op.engine_kinds, isinstance(op, Fused), pinned_engine(pin, op))


def _parts(op, kinds: tuple, hw: HwConfig) -> tuple[int, int]:
    """The config part and the engines part (:func:`_plan_keys`) of ``op``, of ``kinds``."""
    capable = tuple(e for e in hw.engines if can_run(e, op))
    engines = _intern((capable, kinds[2], hw.precision))
    return _intern((engines, _memory_key(hw))), engines


def _plan_key(entry: _Entry, hw: HwConfig, pin: dict[str, str]) -> tuple[int, int, int]:
    """:func:`_plan_keys` of one layer."""
    op = entry.layer.op
    return (entry.content, *_parts(op, _kinds(op, pin), hw))


def _memory_key(hw: HwConfig) -> int:
    """The parts of ``hw`` besides its engines that a layer's cost depends on (precision,
    memories, clock, energies), interned once per config (:func:`_make_memory_key`)."""
    return _identity_cached(_configs, hw, _make_memory_key)


def _make_memory_key(hw: HwConfig) -> int:
    """:func:`_memory_key`, made. The shared SRAM's size is left out: a cost depends on it
    only through the free bytes its tiles have (:func:`pool_bytes` less the resident ones),
    which :func:`_cached_cost` looks costs up by, so sweep points that change only the SRAM's
    size reuse each other's costs (a split SRAM's buffers stay in)."""
    levels = tuple((type(level), *(getattr(level, f.name) for f in dataclasses.fields(level)
                                   if f.name != "size_kib"))
                   if level is hw.sram else level for level in hw.memory_levels)
    return _intern((hw.precision, levels, hw.clock_ghz, hw.energy_pj))


def reused_key_paths(hw: HwConfig) -> tuple[str, ...]:
    """The sweep key paths of ``hw`` whose values the cached layer costs are reused across:
    the shared SRAM's size, which :func:`_memory_key` leaves out. A sweep that varies them
    fastest finds the costs where it made them, in the same worker
    (:meth:`perfsim.sweeps.space.Space.in_order`); none for a config the model cannot cost
    (not one shared level), whose points are each refused."""
    try:
        sram = hw.sram
    except ConfigError:
        return ()
    return (f"memory.{sram.name}.size_kib",)


def _placements(layers: _Layers, network: Network, hw: HwConfig,
                budget_bytes: int) -> _Placed:
    """:func:`perfsim.mapping.residency.plan` in network order, cached with the network by the
    budget and the part of the config it reads (the precision): sweep points that change
    anything else keep their placements."""
    key = (budget_bytes, hw.precision.activation_bytes)
    placed = layers.placements.get(key)
    if placed is None:
        by_name = plan(network, hw, budget_bytes)
        placements = tuple(by_name[entry.layer.name] for entry in layers.entries)
        placed = layers.placements[key] = _Placed(
            placements, tuple(p.output_location for p in placements))
    return placed


def plan_layer(network: Network, index: int, hw: HwConfig, placement: Placement,
               pin: dict[str, str]) -> LayerPlan:
    """The plan of ``network``'s layer ``index`` (in network order) under ``placement``
    (from the same caches as :func:`plan_layers`)."""
    layers = _layers_of(network)
    entry = layers.entries[index]
    return _layer_plan(network, layers, entry, hw, placement,
                       _cached_cost(entry, _plan_key(entry, hw, pin), hw, placement, pin)[2])


def _cached_cost(entry: _Entry, key: tuple[int, int, int], hw: HwConfig, placement: Placement,
                 pin: dict[str, str], free: int | None = None) -> tuple[int, float, _Cost]:
    """:func:`_cost`, reused, with the fewest and the most free bytes (:func:`pool_bytes`
    less the resident ones: ``free``, given or worked out) it stands for: ``(low, high,
    cost)``. A cost stands for the range of free bytes its tilings allow
    (:func:`~perfsim.mapping.tiling.plan_tiling`), so trying placements, and SRAMs of other
    sizes, re-searches only the layers whose room really changes."""
    if free is None:
        free = pool_bytes(hw) - placement.resident_bytes
    where = _where(key, placement)
    made = _cost_cache.get(where)
    found = _within(made, free)
    if found is not None:
        return found
    if made is None:
        made = []
        _cost_cache.put(where, made)
    cost, low, high = _cost(entry, hw, placement, pin, key[2])
    made.append((low, high, cost))
    return made[-1]


def _where(key: tuple[int, int, int], placement: Placement) -> tuple:
    """What a layer's cost (and its floor) is kept by: its content, the config part and its
    input and output locations (:data:`_cost_cache`)."""
    return (key[0], key[1], placement.input_location, placement.output_location)


def _within(made: list | None, free: int) -> tuple[int, float, _Cost] | None:
    """The cost of ``made`` (:data:`_cost_cache`) whose range holds ``free`` bytes, or None."""
    for found in made or ():
        if found[0] <= free <= found[1]:
            return found
    return None


def _cost(entry: _Entry, hw: HwConfig, placement: Placement, pin: dict[str, str],
          engines_part: int | None = None) -> tuple[_Cost, int, float]:
    """The layer's cost on the engine that finishes it soonest (the first in the config's
    order on a tie), and the fewest and the most free bytes (:func:`pool_bytes` less the
    resident ones) with which it stands (every searched engine's tiling the same); the
    engines' own figures are reused by ``engines_part`` (:func:`_engine_figures`), or made
    afresh without it.

    Engines are searched in order of their compute cycles: an engine that computes for
    longer than another engine takes in all cannot win at any room where that one's tiling
    stands (a layer never takes fewer cycles than it computes), so its search is skipped
    when its model would not quote its time in the row (:attr:`EngineModel.quotes_unused`)."""
    work = entry.work
    if work.nest is None:
        return _VIEW_COST, -math.inf, math.inf
    layer = entry.layer
    engines, figures, order = _engine_figures(entry, engines_part, hw, pin)
    best = None  # (total, index)
    errors = []
    searched = {}
    for i in order:
        engine, (cycles, moved) = engines[i], figures[i]
        if best is not None and cycles > best[0] and not model_of(engine).quotes_unused:
            continue
        try:
            tiling, fewest, most = plan_tiling(layer.name, work, hw, engine, placement, cycles,
                                               moved)
        except InfeasibleError as err:
            errors.append((i, err))
            continue
        total = math.ceil(tiling.cycles)
        searched[i] = (total, tiling, fewest, most)
        if best is None or (total, i) < best:
            best = (total, i)
    if best is None:
        raise min(errors, key=lambda e: e[0])[1]
    total, i = best
    cycles, moved = figures[i]
    tiling = searched[i][1]
    cost = _Cost(engines[i], total, cycles, moved, tiling,
                 tiling.dram_read_bytes + tiling.dram_write_bytes,
                 tuple((s[0], engines[j], figures[j][0]) for j, s in sorted(searched.items())))
    # an engine that did not fit fits even less with fewer free bytes, but may fit with more
    free = pool_bytes(hw) - placement.resident_bytes
    high = min([s[3] for s in searched.values()] + [free] * bool(errors))
    return cost, max(s[2] for s in searched.values()), high


def _engine_figures(entry: _Entry, engines_part: int | None, hw: HwConfig,
                    pin: dict[str, str]
                    ) -> tuple[list[Engine], list[tuple[int, SramBytes]], list[int]]:
    """The engines that may run the layer (:func:`candidate_engines`), each one's compute
    cycles and SRAM bytes, and their indices in order of compute cycles (the config's order
    on a tie); kept by the layer's content and ``engines_part`` (:func:`_plan_key`), unless
    it is None: what they read of the hardware (the engines and the precision) changes less
    often in a sweep than what a cost reads."""
    key = (entry.content, engines_part)
    found = None if engines_part is None else _figures_cache.get(key)
    if found is None:
        engines = candidate_engines(entry.layer, hw, pin)
        p = hw.precision
        figures = [(compute_cycles(e, entry.work),
                    engine_sram_bytes(e, entry.work, p, entry.in_elems, entry.weight_elems))
                   for e in engines]
        found = (engines, figures, sorted(range(len(engines)), key=lambda i: figures[i][0]))
        if engines_part is not None:
            _figures_cache.put(key, found)
    return found


def _layer_plan(network: Network, layers: _Layers, entry: _Entry, hw: HwConfig,
                placement: Placement, cost: _Cost, reasons: bool = True) -> LayerPlan:
    """The layer's :class:`LayerPlan`: its ``cost`` written as a row (its reason and tiling
    in words only with ``reasons``). A row without reasons is made once per layer, placement
    and cost (:data:`_rows_cache`) and shared by the runs that have it: they are a sweep's,
    which reads their totals and lets them go (a row is frozen, but its lists are lists). A
    cost stands for the parts of the config its row reads (:func:`_row_fields`), the
    precision among them (:func:`_own_fields`); a view's cost is one for every config, so its
    row is made afresh."""
    if reasons or cost.engine is None:
        return _make_layer_plan(network, layers, entry, hw, placement, cost, reasons)
    key = (id(entry), placement.input_location, placement.output_location, id(cost))
    found = _rows_cache.get(key)
    if found is not None and found[0] is entry and found[1] is cost:
        return LayerPlan(found[2], cost.tiling, cost.moved, placement)
    plan = _make_layer_plan(network, layers, entry, hw, placement, cost, reasons)
    _rows_cache.put(key, (entry, cost, plan.row))
    return plan


def _make_layer_plan(network: Network, layers: _Layers, entry: _Entry, hw: HwConfig,
                     placement: Placement, cost: _Cost, reasons: bool) -> LayerPlan:
    """:func:`_layer_plan`, made."""
    layer, work = entry.layer, entry.work
    own = _own_fields(layers, entry, hw, placement)
    # the row's lists are its own
    lists = {"out_shape": list(network.out_shapes[layer.name][0]),
             "kernel": list(layer.op.kernel)}
    if cost.engine is None:
        what = "network input, in DRAM" if not layer.inputs else "a view of its input"
        reason = (f"not costed: unsupported ONNX op {layer.op.onnx_op}"
                  if layer.op.kind == "placeholder" else f"none: {what}, no data moved")
        row = LayerResult.of(own, lists, dict(
            engine="-", dram_read_bytes=0, dram_write_bytes=0, sram_read_bytes=0,
            sram_write_bytes=0, compute_cycles=0, memory_cycles=0, total_cycles=0,
            stall_cycles=0, utilization=0.0, macs_per_dram_byte=None, bound="none",
            reason=reason, energy_pj=0.0 if hw.energy_pj else None, tiling="-"))
        return LayerPlan(row, None, cost.moved, placement)
    row = LayerResult.of(own, lists, _row_fields(work, hw, cost, reasons))
    return LayerPlan(row, cost.tiling, cost.moved, placement)


def _own_fields(layers: _Layers, entry: _Entry, hw: HwConfig, placement: Placement) -> dict:
    """The fields of the layer's row that are its own, but for its lists (``out_shape``,
    ``kernel``): its name, op, work, bytes at the precision, placement and the layers it
    absorbed; kept with the network's :class:`_Layers`."""
    p = hw.precision
    key = (id(entry), placement.input_location, placement.output_location,
           p.activation_bytes, p.weight_bytes)
    found = layers.own_fields.get(key)
    if found is None:
        layer, work = entry.layer, entry.work
        found = layers.own_fields[key] = dict(
            layer=layer.name, op=layer.op.kind, groups=layer.op.groups, macs=work.macs,
            ops=work.ops, params=entry.params, in_bytes=entry.in_elems * p.activation_bytes,
            out_bytes=entry.out_elems * p.activation_bytes,
            weight_bytes=entry.weight_elems * p.weight_bytes,
            in_location=placement.input_location, out_location=placement.output_location,
            fused=layer.fused)
    return found


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


def _row_fields(work: Work, hw: HwConfig, cost: _Cost, reasons: bool) -> dict:
    """The fields of a row that follow from the layer's ``cost`` (on an engine) and ``work``
    and the parts of ``hw`` the cost was made for (every field but the layer's name, shapes
    and placement), with ``reasons`` or without: kept with the cost (:data:`_fields_cache`),
    as layers alike, and sweep points that reuse the cost, write the same."""
    found = _fields_cache.get((id(cost), reasons))
    if found is not None and found[0] is cost:
        return found[1]
    fields = _make_row_fields(work, hw, cost.engine, cost.total, cost.compute,  # type: ignore
                              cost.moved, cost.tiling, reasons)  # type: ignore[arg-type]
    others = [note for t, e, c in cost.searched if e is not cost.engine and reasons
              for note in [model_of(e).unused_note(e, work, t, c)] if note]
    if others:  # say what the faster engine saved, e.g. a depthwise layer off the array
        fields["reason"] = f"{fields['reason']}; {'; '.join(others)}"
    _fields_cache.put((id(cost), reasons), (cost, fields))
    return fields


def _make_row_fields(work: Work, hw: HwConfig, engine: Engine, total: int, cycles: int,
                     moved: SramBytes, tiling: Tiling, reasons: bool) -> dict:
    """:func:`_row_fields`, made (but for the notes of the engines not chosen)."""
    levels = _level_bytes(hw, moved.reads, moved.writes, tiling)
    *inner, (_, _, sram_read, sram_write), (_, _, dram_read, dram_write) = levels
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
    if max(dram_cycles, on_chip_cycles) >= cycles:
        bound = "memory"
    else:
        bound = "utilization" if efficiency < WELL_USED else "compute"
    reason = description = ""
    if reasons:
        per_byte = per_dram_byte_text(work.macs, work.ops, dram_bytes)
        if bound == "memory" and dram_cycles >= on_chip_cycles:
            balance = peak / hw.dram_bytes_per_cycle
            reason = (f"memory: DRAM {dram_cycles:,.0f} cycles >= compute {cycles:,} "
                      f"({per_byte}, machine balance {balance:,.0f} MAC/B; "
                      f"{_dominant(tiling, work)})")
        elif bound == "memory":
            reason = (f"memory: {where} {on_chip_cycles:,.0f} cycles >= "
                      f"compute {cycles:,} ({on_chip_bytes:,} B at {bw:g} B/cycle)")
        elif bound == "utilization":
            reason = f"utilization: {model_of(engine).waste(engine, work, utilization)}"
        else:
            reason = f"compute: {engine.name} {utilization:.1%} used ({per_byte})"
            note = model_of(engine).output_path_note(engine, work)
            if note:
                reason = f"{reason}; {note}"
        description = f"{engine.name}: {tiling.description}"
    return dict(
        engine=engine.name, dram_read_bytes=dram_read, dram_write_bytes=dram_write,
        sram_read_bytes=sram_read, sram_write_bytes=sram_write, compute_cycles=cycles,
        memory_cycles=memory_cycles, total_cycles=total, stall_cycles=total - cycles,
        utilization=utilization,
        macs_per_dram_byte=work.macs / dram_bytes if dram_bytes else None,
        bound=bound, reason=reason,
        energy_pj=_energy(hw, work.macs + work.ops, levels) if hw.energy_pj else None,
        tiling=description, local_bytes=tuple((n, r, w) for n, _, r, w in inner))


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
