"""Tiling search per layer and engine over the levels the engine reads through
(:meth:`~perfsim.hardware.model.HwConfig.path`): the layer's einsum nest, the precision,
where its tensors live, each level's room for tiles, its buffers per operand and the machine's
rates go to the generic search of :mod:`perfsim.mapping.kernels.nest_search`, which caches its
tables and answers, so repeated layers (and repeated sweep points) cost nothing.

The shared SRAM's tiling decides the DRAM traffic and is searched first, as if the engine read
the SRAM directly (so a local level never changes a layer's DRAM bytes); a local level per
engine (a register file, an array's local buffer) is then tiled inside the SRAM's tiles. Each
level's pipeline (:func:`~perfsim.mapping.kernels.nest_kernels.pipeline_cycles`: its link
overlapped with compute by its buffers, or not with one buffer) is timed with the bytes
actually moved through it, and they nest: the SRAM's pipeline sees the engine busy for the
local level's whole pipeline time (when that exceeds the compute), so the layer is never
faster than any of its levels.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy as np

from perfsim.errors import InfeasibleError
from perfsim.hardware.model import Engine, HwConfig, LocalMemory
from perfsim.mapping.engines import SramBytes
from perfsim.mapping.kernels.kept_answers import answered
from perfsim.mapping.kernels.nest_search import (Buffers, Capacity, LevelTiling, LevelTraffic,
                                                 Rates, TilingLevel, kernels, least_moved_bytes,
                                                 levels_traffic, rank_one_level, rates_record,
                                                 search_levels)
from perfsim.mapping.lowering import Work
from perfsim.mapping.residency import Placement
from perfsim.workload.loopnest import LoopNest

CONV_TILE_DIMS = ("B", "G", "K", "C", "OY", "OX")
"""The dimensions convolution-like tiles are reported by (a recurrent cell's steps ``T`` as
OX)."""


@dataclass(frozen=True)
class LocalUse:
    """A local level below the shared SRAM as one layer uses it: its tiling, the bytes it
    fetches from the level above (``fill_bytes``, partial sums read back included) and writes
    back to it (``writeback_bytes``), and its pipeline time (``cycles``)."""

    name: str
    bytes_per_cycle: float
    tiling: LevelTiling
    fill_bytes: int
    writeback_bytes: int
    cycles: float

    def describe(self) -> str:
        return f"{self.name} " + " ".join(f"{d}{self.tiling.tiles[d]}"
                                          for d in self.tiling.order)


@dataclass(frozen=True)
class Tiling:
    """The chosen tiling of one layer on one engine and its DRAM traffic (bytes).

    ``tiles`` are the shared SRAM's: ``(tB, tG, tK, tC, tOY, tOX)`` for convolution-like work
    and ``(tG, chunks)`` for stream work; ``order`` names the tile-loop classes outermost
    first (``KCP`` ...; ``-`` for streams); ``working_set_bytes`` counts every buffer of every
    operand in the SRAM; ``locals`` are the local levels the engine reads through, innermost
    first; ``cycles`` is the overlapped time of the layer (before rounding);
    ``dram_link_cycles`` the DRAM channel's busy time, per-transfer costs included."""

    tiles: tuple[int, ...]
    order: str
    tile_count: int
    dram_read_weight_bytes: int
    dram_read_input_bytes: int
    dram_read_partial_bytes: int
    dram_write_bytes: int
    working_set_bytes: int
    cycles: float
    dram_link_cycles: float
    locals: tuple[LocalUse, ...] = ()

    @property
    def dram_read_bytes(self) -> int:
        return (self.dram_read_weight_bytes + self.dram_read_input_bytes
                + self.dram_read_partial_bytes)

    @cached_property  # written in every row of a layer that uses it
    def description(self) -> str:
        """The tiles and loop order in words, and each local level's."""
        if self.order == "-":
            shared = f"{self.tile_count} tiles of {self.tiles[0]} channels / {self.tiles[1]}"
        else:
            shared = (" ".join(f"{n}{t}" for n, t in zip(CONV_TILE_DIMS, self.tiles))
                      + f" order {self.order}")
        return "; ".join([shared] + [local.describe() for local in self.locals])


def pool_bytes(hw: HwConfig) -> int:
    """The SRAM bytes resident activations take theirs from: the shared pool, or (split SRAM)
    the ifmap buffer. What they leave, ``pool_bytes(hw) - resident_bytes``, is the *free*
    room that decides a layer's search (:func:`plan_tiling`), whatever the SRAM's size."""
    split = hw.sram.split_bytes
    return hw.sram.size_bytes if split is None else split[0]


def capacity(hw: HwConfig, work: Work, resident_bytes: int) -> Capacity:
    """The SRAM bytes free for ``work``'s tiles: one pool, or (split SRAM, SCALE-Sim's ifmap,
    filter and ofmap buffers) one per operand role; resident activations take theirs from the
    pool or the ifmap buffer. Stream work on split buffers keeps every tile in the smaller of
    the ifmap and ofmap buffers (as perfsim always has; the fidelity issue revisits it)."""
    return _capacity(hw.sram.size_bytes, hw.sram.split_bytes, work.reduces, resident_bytes)


@lru_cache(maxsize=4096)  # a sweep asks for a few rooms again and again: one record each
def _capacity(size_bytes: int, split: tuple[int, int, int] | None, reduces: bool,
              resident_bytes: int) -> Capacity:
    """:func:`capacity` of an SRAM of ``size_bytes`` (``split`` into buffers or not) for work
    that ``reduces`` or not."""
    if split is None:
        return Capacity(shared_bytes=size_bytes - resident_bytes)
    if not reduces:
        return Capacity(shared_bytes=min(split[0] - resident_bytes, split[2]))
    return Capacity(input_bytes=split[0] - resident_bytes, weight_bytes=split[1],
                    output_bytes=split[2])


def plan_tiling(layer_name: str, work: Work, hw: HwConfig, engine: Engine,
                placement: Placement, compute_cycles: int,
                engine_bytes: SramBytes) -> tuple[Tiling, int, float]:
    """The best tiling of ``work`` on ``engine``, which computes for ``compute_cycles`` and
    moves ``engine_bytes`` through the level it reads from, and the fewest and the most free
    bytes (:func:`pool_bytes` less the resident ones; the most may be infinite) with which
    the search makes this same choice; :class:`InfeasibleError` naming the layer and the
    bytes when some level fits nothing.

    More resident activations (or a smaller SRAM) leave less room, and the search makes the
    same choice with less room as long as its choice and the fastest tiling it weighed it
    against still fit (those are the only rows that decide it; rows that drop out lose to
    them already), and with more room until a tiling that did not fit could change it
    (:attr:`~perfsim.mapping.kernels.nest_search.LevelTraffic.more_room_bytes`): the schedule
    reuses the result over that range when it tries other placements, and other SRAM sizes
    (:mod:`perfsim.schedule.analytic`)."""
    resident = _resident(work, placement)
    # the fields of the search's Rates, in order: a tuple hashes and compares in C
    rate_values = (float(compute_cycles), float(engine_bytes.reads + engine_bytes.writes),
                   float(hw.sram.bandwidth_bytes_per_cycle), hw.dram_bytes_per_cycle,
                   float(hw.dram_latency_cycles), False, float(hw.sram.transfer_setup_cycles),
                   float(hw.dram.burst_bytes), tuple(map(float, engine_bytes.roles)),
                   hw.sram.port_bytes_per_cycle or (0.0, 0.0, 0.0))
    room = capacity(hw, work, placement.resident_bytes)
    found = _search(work, hw.precision, room, rate_values, Buffers.uniform(hw.sram.buffers),
                    resident)
    if found is None:
        raise InfeasibleError(_infeasible(layer_name, work, hw, placement))
    path = hw.path(engine)
    if len(path) == 2:
        return (found.tiling, *_free_range(hw, work, found.low, found.high))
    # a local level's search depends on the SRAM's room too: no reuse claimed
    rates = Rates(*rate_values)
    tiling = answered(("locals", work.nest, hw.precision, hw.sram, path, room, rates, resident),
                      _with_locals, layer_name, work, hw, path, room, rates, resident)
    free = pool_bytes(hw) - placement.resident_bytes
    return tiling, free, free


def least_dram_bytes(work: Work, hw: HwConfig, placement: Placement) -> int | None:
    """The fewest DRAM bytes (read and written) any SRAM tiling of ``work`` moves under
    ``placement``, whatever the room and rates: :func:`plan_tiling`'s choice for an engine
    reading the SRAM directly moves at least these. None when the search table they are read
    from has not been built (a bound is not worth building one)."""
    return least_moved_bytes(work.nest, hw.precision, _resident(work, placement))


SEARCH_CACHE_ENTRIES = 16_384
"""One-level searches kept by :func:`_search` (a few kB each) before it starts over."""


class _Searched(NamedTuple):
    """A one-level search's choice as a :class:`Tiling`, and the lowest and highest rooms
    (:func:`_rooms`) under which the search makes it (:func:`_search`)."""

    low: tuple
    high: tuple
    tiling: Tiling


_searches: dict[tuple, list[_Searched]] = {}
"""(nest, precision, buffers, resident operands, rates, capacity kind) -> the searches made
(:func:`_search`)."""


def _rooms(room: Capacity) -> tuple[int, ...]:
    """A capacity as a vector: ``(shared,)`` or ``(input, weight, output)`` bytes."""
    if room.shared_bytes is not None:
        return (room.shared_bytes,)
    return (room.input_bytes, room.weight_bytes, room.output_bytes)  # type: ignore[return-value]


def _search(work: Work, precision, room: Capacity, rate_values: tuple, buffers: Buffers,
            resident: frozenset[str]) -> _Searched | None:
    """:func:`~perfsim.mapping.kernels.nest_search.search_one_level` of ``work``'s nest with
    the :class:`~perfsim.mapping.kernels.nest_search.Rates` of ``rate_values``, as a
    :class:`_Searched`; None when nothing fits. A search is reused for any room in the range
    of one made before: from the room its choice and the fastest tiling need (the same choice
    with less room, while both fit) to just below the room at which a tiling that did not fit
    could change it (:attr:`~perfsim.mapping.kernels.nest_search.LevelTraffic.more_room_bytes`):
    sweep points and placements that change only the room re-search nothing between."""
    rooms = _rooms(room)
    key = (work.nest, precision, buffers, resident, rate_values, len(rooms))
    made = _searches.get(key)
    if made:
        if len(rooms) == 1:
            shared = rooms[0]
            for entry in made:
                if entry.low[0] <= shared <= entry.high[0]:
                    return entry
        else:
            for entry in made:
                if all(lo <= r <= hi for lo, r, hi in zip(entry.low, rooms, entry.high)):
                    return entry
    found = rank_one_level(work.nest, precision, room, rates_record(rate_values),
                           buffers=buffers, resident=resident)
    if found is None:
        return None
    plan, cycles, link, fastest, more_room = found
    buffered = tuple(count * tile for count, tile in zip(buffers.array.tolist(),
                                                         plan.role_tile_bytes))
    needs = (buffered, fastest)
    low = ((max(sum(n) for n in needs),) if len(rooms) == 1 else
           tuple(max(n[role] for n in needs) for role in range(3)))
    high = tuple(math.inf if more is None else more - 1 for more in more_room)
    if made is None:
        if len(_searches) >= SEARCH_CACHE_ENTRIES:
            _searches.clear()
        made = _searches[key] = []
    entry = _Searched(low, high, _tiling(work.nest, plan.tiling, plan.tile_count,
                                         plan.role_moved_bytes, plan.output_partial_read_bytes,
                                         sum(buffered), cycles, link))
    made.append(entry)
    return entry


def _free_range(hw: HwConfig, work: Work, low: tuple, high: tuple) -> tuple[int, float]:
    """The fewest and the most free bytes (:func:`pool_bytes` less the resident ones) with
    which the SRAM's room (:func:`capacity`) stays within ``low .. high`` (:func:`_search`):
    the free bytes are the shared pool's room, or the ifmap buffer's (stream work on split
    buffers keeps its tiles within the ofmap buffer too, so once that caps the room, more
    free bytes change nothing)."""
    split = hw.sram.split_bytes
    if split is not None and not work.reduces and split[2] <= high[0]:
        return low[0], math.inf
    return low[0], high[0]


def _with_locals(layer_name: str, work: Work, hw: HwConfig, path: tuple, room: Capacity,
                 rates: Rates, resident: frozenset[str]) -> Tiling:
    """The local levels of ``path`` tiled inside the SRAM's tiling (the search ranks every
    level with the engine's bytes, so the SRAM's choice is the one-level search's), then every
    level re-timed with the bytes that cross it."""
    locals_ = path[:-2]
    levels = tuple(TilingLevel(level.name, level.bandwidth_bytes_per_cycle,
                               _local_capacity(level), buffers=Buffers.uniform(level.buffers),
                               transfer_setup_cycles=level.transfer_setup_cycles,
                               burst_bytes=level.burst_bytes)
                   for level in locals_) + (
        TilingLevel("sram", rates.level_bytes_per_cycle, room,
                    buffers=Buffers.uniform(hw.sram.buffers),
                    transfer_setup_cycles=rates.transfer_setup_cycles,
                    burst_bytes=hw.sram.burst_bytes),
        TilingLevel("dram", rates.above_bytes_per_cycle,
                    latency_cycles=rates.above_latency_cycles, burst_bytes=rates.burst_bytes))
    sram_at = len(locals_)
    plans = search_levels(work.nest, hw.precision, levels,
                          compute_cycles=rates.compute_cycles,
                          engine_bytes=[rates.engine_bytes] * (sram_at + 1),
                          homes={name: sram_at for name in resident})
    if plans is None:
        level = locals_[0]
        raise InfeasibleError(f"layer '{layer_name}' does not fit in memory level "
                              f"'{level.name}' ({level.size_bytes:,} bytes per {level.per}) "
                              f"even with its smallest tiles; use a larger {level.name} or "
                              f"fewer buffers")
    uses = tuple(LocalUse(level.name, level.bandwidth_bytes_per_cycle, plan.tiling,
                          plan.read_bytes, plan.write_bytes, plan.cycles)
                 for level, plan in zip(locals_, plans))
    below = uses[-1]
    sram = plans[sram_at]
    # The SRAM's pipeline, its engine busy for the local level's whole pipeline.
    retimed = dataclasses.replace(
        rates, compute_cycles=max([rates.compute_cycles] + [use.cycles for use in uses]),
        engine_bytes=float(below.fill_bytes + below.writeback_bytes))
    link = sram.link_cycles(retimed)
    cycles = float(kernels().pipeline_cycles(np.array(sram.role_moved_bytes), link,
                                             sram.tile_count, retimed.record[0]))
    return _tiling(work.nest, sram.tiling, sram.tile_count, sram.role_moved_bytes,
                   sram.operands["output"].partial_read_bytes, sram.working_set_bytes, cycles,
                   link, uses)


def sram_busy(hw: HwConfig, engine_bytes: SramBytes,
              tiling: Tiling) -> tuple[float, str, int, float]:
    """How long a layer keeps the SRAM's bandwidth busy: ``(cycles, what, bytes, bytes per
    cycle)`` of the engine's bytes (or its local level's fills and write-backs) with the
    DRAM traffic, over the bandwidth; with a port per buffer, of the busiest port."""
    below = tiling.locals[-1] if tiling.locals else None
    ports = hw.sram.port_bytes_per_cycle
    if below is not None or ports is None:
        through = (engine_bytes.reads + engine_bytes.writes if below is None
                   else below.fill_bytes + below.writeback_bytes)
        moved = through + tiling.dram_read_bytes + tiling.dram_write_bytes
        bw = hw.sram.bandwidth_bytes_per_cycle
        return moved / bw, "SRAM", moved, bw
    dram = (tiling.dram_read_input_bytes, tiling.dram_read_weight_bytes,
            tiling.dram_read_partial_bytes + tiling.dram_write_bytes)
    per_port = [(e + d, bw, name) for e, d, bw, name in
                zip(engine_bytes.roles, dram, ports, ("ifmap", "filter", "ofmap"))]
    moved, bw, name = max(per_port, key=lambda p: p[0] / p[1])
    return moved / bw, f"SRAM {name} port", moved, bw


def _local_capacity(level: LocalMemory) -> Capacity:
    """A local level's room for tiles: one pool, or one buffer per operand role."""
    split = level.split_bytes
    if split is None:
        return Capacity(shared_bytes=level.size_bytes)
    return Capacity(input_bytes=split[0], weight_bytes=split[1], output_bytes=split[2])


def _tiling(nest: LoopNest, tiling: LevelTiling, tile_count: int,
            role_moved_bytes: tuple[int, int, int], output_partial_read_bytes: int,
            working_set_bytes: int, cycles: float, link: float,
            uses: tuple[LocalUse, ...] = ()) -> Tiling:
    """The :class:`Tiling` of the SRAM's ``tiling`` of ``nest``, its tiles named by the
    layer's dimensions, from its bytes per buffer role: the inputs' and the weights' (a
    layer's weights, their bias, a stream's per-group constants) are read; the output's are
    its partial sums read back and its writes."""
    tiles = tiling.tiles
    if nest.reduction_dims:
        named = {"OX": tiles.get("T", 1), **tiles}
        shape = tuple(named.get(d, 1) for d in CONV_TILE_DIMS)
        order = _class_order(tiling.order)
    else:
        shape, order = (tiles["G"], tiles["S"]), "-"
    inputs, weights, output = role_moved_bytes
    return Tiling(shape, order, tile_count, weights, inputs, output_partial_read_bytes,
                  output - output_partial_read_bytes, working_set_bytes, cycles, link, uses)


def _resident(work: Work, placement: Placement) -> frozenset[str]:
    """The operands that live in SRAM rather than DRAM (no traffic, and an input no tiles):
    the inputs when the layer's inputs do, the output when it does."""
    return _resident_operands(work.nest, placement.input_location != "dram",
                              placement.output_location != "dram")


@lru_cache(maxsize=4096)  # a few per nest: every tiling of a layer asks
def _resident_operands(nest: LoopNest, inputs: bool, output: bool) -> frozenset[str]:
    """:func:`_resident` of a nest whose ``inputs`` and ``output`` live on chip or not."""
    on_chip = {"input": inputs, "output": output}
    return frozenset(op.name for op in nest.operands if on_chip.get(op.role, False))


@lru_cache(maxsize=1024)  # one per loop order: a sweep asks for a few over and over
def _class_order(order: tuple[str, ...]) -> str:
    """A conv tiling's loop order (dimensions outermost first) as its order of loop classes:
    ``K`` (weights, outputs), ``C`` (weights, inputs), ``P`` (batch and output pixels: inputs,
    outputs); ``G`` indexes every operand and changes nothing."""
    letters = [{"K": "K", "C": "C", "G": ""}.get(d, "P") for d in order]
    return "".join(c for i, c in enumerate(letters) if c and c not in letters[:i])


def _smallest(work: Work, hw: HwConfig, placement: Placement) -> LevelTraffic:
    """The working sets of the smallest tiles: one iteration of every dimension a tiling
    cuts (the most parts of one cut into parts)."""
    einsum = work.nest
    tiles = {name: einsum.size(name) if einsum.dim(name).split == "parts" else 1
             for name in einsum.tiled_dims}
    levels = (TilingLevel("sram", hw.sram.bandwidth_bytes_per_cycle,
                          Capacity(shared_bytes=0), buffers=Buffers.uniform(hw.sram.buffers)),
              TilingLevel("dram", hw.dram_bytes_per_cycle))
    homes = {name: 0 for name in _resident(work, placement)}
    return levels_traffic(einsum, hw.precision, levels,
                          (LevelTiling(tiles, einsum.tiled_dims),), homes=homes)[0]


def _infeasible(layer_name: str, work: Work, hw: HwConfig, placement: Placement) -> str:
    smallest = _smallest(work, hw, placement)
    buffers = hw.sram.buffers
    if work.reduces:
        ws_i, ws_w, ws_o = smallest.buffered_role_bytes
        need = f"{ws_i + ws_w + ws_o:,} bytes (inputs {ws_i:,}, weights {ws_w:,}, " \
               f"outputs {ws_o:,})"
    else:
        need = f"{smallest.working_set_bytes:,} bytes"
    split, resident = hw.sram.split_bytes, placement.resident_bytes
    free_text = (f"{hw.sram.size_bytes - resident:,} bytes free" if split is None else
                 f"{split[0] - resident:,} / {split[1]:,} / {split[2]:,} bytes free in the "
                 f"ifmap / filter / ofmap buffers")
    fewer = "; or fewer memory.sram.buffers" if buffers > 2 else ""
    return (f"layer '{layer_name}' does not fit in SRAM: its smallest tiles need {need} "
            f"with {buffers} buffers per operand, {free_text} ({resident:,} bytes hold "
            f"resident activations); use a larger SRAM or residency 'dram'{fewer}")
