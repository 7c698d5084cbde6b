"""The event schedule (DESIGN section 5): tiles as simpy processes on shared resources.

Every layer keeps the engine, tiling and traffic the analytic schedule chose for it
(:mod:`perfsim.schedule.analytic`); this schedule decides *when* its work happens. The
resources are one DRAM channel (a :class:`simpy.PreemptiveResource` that every transfer
holds while it moves its bytes at the configured bandwidth; a layer's first request waits
the configured latency before it queues), one :class:`simpy.PriorityResource` per engine
(requests served in network order, then first come), and the SRAM's tile space as a
:class:`simpy.Container` of bytes in which a running layer holds its working set (every
buffer of every operand). Prefetches queue for the channel behind every layer's own
transfers, and give it up to any of them (then resume), so a prefetch never delays a layer;
layers' transfers never interrupt each other.

**A layer** of ``n`` equal tiles, each loading ``L``, storing ``S`` and keeping its engine
busy ``c`` cycles (compute, or the engine's SRAM traffic at the SRAM bandwidth if slower),
runs as the analytic pipeline does:

* prologue: the DRAM latency, then the first tile's load;
* ``n - 1`` steps: the engine computes tile ``i`` while the channel loads tile ``i + 1`` and
  stores an earlier tile's outputs (``L + S``). With double buffering
  (``memory.sram.buffers: 2``) a step's loads wait until the compute before it is done,
  since its buffers hold the tiles being computed; each further buffer lets them start one
  tile earlier. A step's compute waits for the previous step's transfers (its inputs, and
  room for its outputs).
* epilogue: the last tile's compute, then its store.

Alone, that is ``latency + L + (n - 1) max(L + S, c) + c + S`` whatever the buffers: exactly
the analytic pipeline time (:func:`perfsim.mapping.kernels.nest_kernels.pipeline_cycles`);
deeper buffers help only when something else holds the channel or the engine. (They also make
each tile smaller, since ``buffers`` copies of it must fit:
:func:`perfsim.mapping.tiling.plan_tiling`.) Every layer ends on a whole cycle, as analytic
rows are whole cycles.

**Coalescing.** The ``n - 1`` steps are equal, so runs of them are coalesced: at most
:data:`MAX_CHUNKS` chunks per layer, each of ``m`` consecutive steps, holding the channel for
``m (L + S)`` and the engine for ``m c`` (a chunk's loads may begin ``buffers - 2`` tiles
before the compute of the chunk before ends). Alone, ``m max(L + S, c)`` is what ``m``
separate steps take, so coalescing never changes an uncontended layer's cycles (a test
checks it); under contention it makes transfers coarser (another layer waits for a whole
chunk), which bounds the events per layer by ``4 * MAX_CHUNKS + 4`` whatever the number of
tiles (and a prefetch's pieces by one more than the transfers that interrupt it).

**Replaying what nothing can meet.** Chunks are simulated event by event only where
something else could meet them. At the start of a chunk, if the layer's chunks before are
done, it waits for no producer, nobody holds or queues for its engine, and nobody holds the
channel or queues for it ahead of the layer, then its chunks that end before anything else
is scheduled to happen, and before the tile a pipelined consumer waits for, can only run as
they would alone. The schedule computes them (:func:`_steady_steps`: the simulation's own float
sums, so the same times, busy intervals and timeline rows) and moves the clock past them in
one event. When a prefetch queues for the channel, only chunks whose transfers leave the
channel no free instant are replayed, and the channel is held through them, so the prefetch
gets it exactly when it would have. Where simpy's order among events at one instant would
decide something (two timeline rows that end together, a compute that ends just as the next
loads begin), the chunks are simulated. This matters: the results depend on that order (in
the zoo, reversing it changes most event results), and the replay keeps every event of the
other layers in the order it had. ``simulate_events(..., replay_alone=False)`` simulates
every chunk; tests hold the two schedules equal, rows and timeline.

**Overlap** (``overlap``), each level adding to the one before:

* ``none``: layers run one at a time in network order. Nothing contends, so every layer
  takes exactly its analytic cycles.
* ``layer``: neighbouring layers overlap. The next layer's first weight tile is prefetched
  (at low priority on the channel, which it gives up to any layer's transfer) while the
  current layer runs, when the SRAM has room;
  and a layer that only streams over its producer's output (activations, normalisation,
  element-wise math, local pooling, ...: :attr:`~perfsim.workload.ops.Op.tile_local`) runs
  tile by tile behind its producer, so the vector engine works while the matrix engine goes
  on. Each such chain runs as a group; groups run one after another.
* ``graph``: any layer runs as soon as its inputs are ready and its engine and SRAM allow,
  so independent branches (Inception modules, ResNeXt and DPN paths, fire expands) run
  concurrently on different engines, and time-share one engine chunk by chunk (earlier
  layers in network order first). A ready layer that more than one engine can run goes to
  the one that would finish it first, counting the engine time already given to each (the
  analytic choice on a tie), but never to one where it would move more DRAM bytes. Its row
  is then the analytic row of that engine.

A pipelined consumer loads its tile ``j`` once every producer has computed the same share
``(j + 1) / n`` of its own tiles: a model of tile order, not an exact map of which output
tile feeds which input tile. The SRAM tile space is the SRAM less the most activation bytes
the residency plan ever keeps resident; a layer whose working set is larger takes all of it.
A prefetch takes space only if it is free at once, and a layer that needs space takes back
that of prefetches not yet on the channel, so prefetching can never deadlock the schedule.

**Rows.** Every instant of a layer's span, from ``start_cycle`` (when it first holds SRAM:
for its prefetched first weight tile, or for its working set) to ``end_cycle`` (its last
store done, rounded up to a whole cycle), is exactly one of:

* *busy*: its own work occupies a resource, or its own DRAM request is in flight: its engine
  computes one of its tiles, the channel moves its bytes (its prefetch included), or the
  DRAM latency of its first request runs;
* *waiting* (``wait_cycles``): nothing of its own is busy, and it waits for a producer: to
  finish (a layer that reads whole tensors; with ``layer`` overlap, the layers before it in
  network order), or to compute the tiles its next tiles read (a pipelined layer);
* *queued* (``queue_cycles``): nothing of its own is busy, no producer holds it up, and it
  waits for a resource another layer holds: its engine, the DRAM channel, or SRAM space.

``total_cycles`` is its busy time, so ``end_cycle - start_cycle = total_cycles +
queue_cycles + wait_cycles`` exactly (the waits and queues are rounded down to whole cycles,
so a row's total is its busy time rounded up). ``stall_cycles = total_cycles -
compute_cycles``, as in analytic rows: the busy time beyond computing, spent on its own
memory (DRAM transfers and latency the compute does not hide, SRAM or local-level time
beyond the compute). ``utilization`` is of that busy time. Busy time holds all of the
layer's compute (at least ``compute_cycles``) and all of its transfers (its DRAM bytes at
the DRAM bandwidth), and the engine's steps hold its SRAM bytes at the SRAM bandwidth and
each local level's pipeline, so no row beats its roofline (:func:`row_roofline_cycles`) or
uses more than all of its engine (:func:`physics_violations` checks both). Alone (overlap
``none``) a layer is never queued or waiting: its row is its analytic row. Bound and reason
stay those of the layer alone.

**More bandwidth.** Alone, a layer is never slower with more DRAM bandwidth (its tiling is
the fastest at each bandwidth), so neither is overlap ``none``. The overlapped schedules are
greedy list schedules (layers served in network order, each engine and the channel given to
one layer's chunk at a time), and those can be slower with faster parts: Graham's scheduling
anomalies. ``python scripts/check_event_physics.py --from-bandwidths 0.5 0.5946 0.7071
0.8409 1 1.1892 1.4142 1.6818`` doubles the DRAM bandwidth from each of those multiples of
the shipped one, on every zoo network and costable shipped config (2,208 doublings per
level). With ``layer`` overlap 18 get slower, by at most 0.31% (DenseNet-121 on
``edge_npu``, x1.68 to x3.36); with ``graph`` 31, by at most 5.3% (GoogLeNet, torchvision's,
on ``edge_npu``, x1.68 to x3.36), and from the shipped bandwidth to twice it by 4.4% (DPN-92
on ``hetero``: the same engines for every layer and less busy time on each, but a branch
that becomes ready earlier takes the vector engine first, and a longer one waits behind it).
:data:`DRAM_ANOMALY_TOLERANCE` bounds what the tests allow, per level.

**Not modelled.** SRAM bandwidth shared between engines (each engine's steps include its own
SRAM time), DRAM read/write turnaround, and stores split from loads within a chunk's
transfer when the outputs are ready (they are one transfer, as in the analytic formula).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

import numpy as np
import pandas as pd
import simpy

from perfsim.errors import InfeasibleError
from perfsim.hardware.model import HwConfig
from perfsim.workload.network import Network
from perfsim.mapping.residency import Placement
from perfsim.mapping.tiling import sram_busy
from perfsim.results import LayerResult, RunResult, repeated
from perfsim.schedule import OVERLAPS
from perfsim.schedule.analytic import LayerPlan, candidate_engines, plan_layer

MAX_CHUNKS = 16
"""Steady pipeline steps of one layer are coalesced into at most this many events."""
DRAM_ANOMALY_TOLERANCE = MappingProxyType({"none": 0.0, "layer": 0.005, "graph": 0.06})
"""How much slower an event run at each overlap level may get when the DRAM bandwidth doubles:
scheduling anomalies (module docstring, *More bandwidth*; the worst measured are 0, 0.31% and
5.3%)."""
TIMELINE_COLUMNS = ("resource", "kind", "layer", "tile", "tiles", "start_cycle", "end_cycle")
"""Columns of the timeline: the resource (``dram`` or an engine), the kind of work
(``load``, ``store``, ``prefetch``, ``compute``), the layer, the first tile of the
coalesced run and how many tiles it covers, and the cycles it starts and ends at."""


@dataclass(frozen=True)
class TileWork:
    """One layer's work in the units the event schedule moves: ``tiles`` equal tiles, each
    loading for ``load_cycles``, storing for ``store_cycles`` and keeping ``engine`` busy
    for ``busy_cycles`` (all at the configured rates); ``weight_load_cycles`` of each load
    move its ``weight_tile_bytes`` of weights (prefetchable); ``latency_cycles`` is exposed
    once if any byte moves; ``working_set_bytes`` is its tile space, every buffer counted."""

    layer: str
    engine: str
    tiles: int
    load_cycles: float
    store_cycles: float
    busy_cycles: float
    weight_load_cycles: float
    latency_cycles: int
    working_set_bytes: int
    weight_tile_bytes: int

    @property
    def moves_bytes(self) -> bool:
        return self.load_cycles > 0 or self.store_cycles > 0


@dataclass(frozen=True)
class EventSchedule:
    """The outcome of one event simulation: the rows with their cycles, start and end, the
    timeline (:data:`TIMELINE_COLUMNS`) and the makespan in cycles."""

    layers: tuple[LayerResult, ...]
    timeline: pd.DataFrame
    cycles: int


def one_after_another(schedule: EventSchedule, runs: int) -> EventSchedule:
    """``schedule`` run ``runs`` times back to back: each layer spans from its start in the
    first run to its end in the last (the time between its runs waiting for producers), its
    timeline repeated at every run's offset."""
    if runs == 1:
        return schedule
    span = schedule.cycles
    layers = []
    for row in schedule.layers:
        again = repeated(row, runs)
        end = row.end_cycle + (runs - 1) * span
        # between its runs a layer waits for its producers of the next sub-batch
        layers.append(dataclasses.replace(
            again, end_cycle=end,
            wait_cycles=end - row.start_cycle - again.total_cycles - again.queue_cycles))
    timeline = pd.concat([schedule.timeline.assign(
        start_cycle=schedule.timeline["start_cycle"] + i * span,
        end_cycle=schedule.timeline["end_cycle"] + i * span) for i in range(runs)],
        ignore_index=True)
    return EventSchedule(tuple(layers), timeline, runs * span)


def tile_work(hw: HwConfig, plan: LayerPlan) -> TileWork:
    """The tiles of a layer as the analytic schedule planned them."""
    row, tiling = plan.row, plan.tiling
    if tiling is None:
        return TileWork(row.layer, "-", 0, 0.0, 0.0, 0.0, 0.0, 0, 0, 0)
    n = tiling.tile_count
    read, write = tiling.dram_read_bytes, tiling.dram_write_bytes
    # the channel's time per byte, with the transfers' setup and burst rounding spread over them
    per_byte = tiling.dram_link_cycles / (read + write) if read + write else 0.0
    # As perfsim.mapping.kernels.nest_kernels.pipeline_cycles: the engine is busy computing, or
    # moving its own (or its local level's) and the DMA's bytes through SRAM (its busiest
    # port) if that is slower, or running its local level's pipeline (perfsim.mapping.tiling)
    # if that is.
    sram_cycles = sram_busy(hw, plan.engine_sram_bytes, tiling)[0]
    busy = max([float(row.compute_cycles), sram_cycles]
               + [use.cycles for use in tiling.locals])
    return TileWork(row.layer, row.engine, n, read * per_byte / n, write * per_byte / n,
                    busy / n, tiling.dram_read_weight_bytes * per_byte / n,
                    hw.dram_latency_cycles, tiling.working_set_bytes,
                    -(-tiling.dram_read_weight_bytes // n))


def simulate_events(network: Network, hw: HwConfig, plans: list[LayerPlan], overlap: str, *,
                    pin: Mapping[str, str] | None = None, max_chunks: int = MAX_CHUNKS,
                    replay_alone: bool = True) -> EventSchedule:
    """Run the event schedule of ``network`` with the analytic ``plans`` (their placements
    and the analytic ``pin``); ``max_chunks`` bounds the events per layer, and
    ``replay_alone=False`` simulates the steady steps of layers alone rather than replaying
    them (the same schedule: see *Replaying what nothing can meet* above)."""
    if overlap not in OVERLAPS:
        raise ValueError(f"overlap must be one of {OVERLAPS}, got {overlap!r}")
    choices = []
    for index, plan in enumerate(plans):
        options = [(plan.row, tile_work(hw, plan))]
        if overlap == "graph" and plan.row.engine != "-":
            options += _other_engines(network, index, hw, plan.placement, plan.row,
                                      dict(pin or {}))
        choices.append(options)
    resident = max((p.placement.resident_bytes for p in plans), default=0)
    run = _Simulation(network, hw, choices, overlap, max_chunks, replay_alone,
                      tile_space_bytes=max(1, hw.sram.size_bytes - resident))
    run.env.run()
    stuck = [r.work.layer for r in run.runs if not r.done.triggered]
    if stuck or run.sram.level != run.sram.capacity:  # a bug: report it, never a wrong result
        raise RuntimeError(f"event schedule of {network.name} on {hw.name} (overlap "
                           f"{overlap}) stopped with layers unfinished: {stuck[:5]} and "
                           f"{run.sram.capacity - run.sram.level} SRAM bytes held")
    out = [_event_row(layer_run) for layer_run in run.runs]
    timeline = _timeline_frame(run.timeline)
    cycles = max((r.end_cycle for r in out), default=0)
    return EventSchedule(tuple(out), timeline, cycles)


def _timeline_frame(rows: list[tuple]) -> pd.DataFrame:
    """The timeline's ``rows`` as a frame of :data:`TIMELINE_COLUMNS`, built column by column
    (the names as text, the rest as int64): given rows, pandas infers each column's type
    from its objects, which took a third longer."""
    if not rows:
        return pd.DataFrame([], columns=list(TIMELINE_COLUMNS))
    return pd.DataFrame({name: np.array(values, dtype=object if i < 3 else np.int64)
                         for i, (name, values) in enumerate(zip(TIMELINE_COLUMNS, zip(*rows)))})


def _event_row(run: _LayerRun) -> LayerResult:
    """The layer's analytic row with its event times (module docstring, *Rows*): its span,
    split into busy, queued and waiting cycles."""
    row, start, end = run.row, run.start_cycle, run.end_cycle
    busy = _covered(run.busy, start, end)
    # Waiting counts only where nothing of its own is busy; the rest of the span is queued.
    wait = math.floor(_covered(run.busy + run.waits, start, end) - busy)
    queue = math.floor(max(0.0, end - start - busy - wait))
    total = end - start - queue - wait  # >= busy: the floors only round busy time up
    # ``row.utilization * row.total_cycles`` is the work done over the engine's peak, in
    # cycles; it fits in ``compute_cycles <= total``, so the utilisation stays <= 1.
    utilization = row.utilization * row.total_cycles / total if total else 0.0
    return dataclasses.replace(
        row, total_cycles=total, stall_cycles=total - row.compute_cycles,
        utilization=utilization, start_cycle=start, end_cycle=end, queue_cycles=queue,
        wait_cycles=wait)


def _covered(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Cycles of ``[lo, hi]`` that at least one of ``intervals`` (start, end) covers."""
    covered, reach = 0.0, lo
    for start, end in sorted(intervals):
        start, end = max(start, reach), min(end, hi)
        if end > start:
            covered += end - start
            reach = end
    return covered


def row_roofline_cycles(row: LayerResult, hw: HwConfig) -> float:
    """The fewest cycles ``row``'s work can take on ``hw`` (DESIGN section 4): its compute
    cycles, and the bytes it moves at each level (DRAM, the SRAM, each local level of
    ``local_bytes``) over that level's bandwidth in bytes per cycle."""
    rates = {level.name: level.bandwidth_bytes_per_cycle for level in hw.memory_levels
             if level is not hw.dram}
    return max([float(row.compute_cycles),
                (row.dram_read_bytes + row.dram_write_bytes) / hw.dram_bytes_per_cycle,
                (row.sram_read_bytes + row.sram_write_bytes) / hw.sram.bandwidth_bytes_per_cycle]
               + [(read + written) / rates[name] for name, read, written in row.local_bytes])


ROOFLINE_SLACK_CYCLES = 1e-3
"""How far below its roofline a row may seem to be: float rounding of the simulated times
(sums of tile times) and of the tiler's pipeline times (6 decimals), far below a cycle."""


def physics_violations(result: RunResult) -> list[str]:
    """What in ``result``'s rows breaks physics, one line each (empty when nothing does): a
    utilisation above 1, cycles below the row's roofline (:func:`row_roofline_cycles`), and
    for event rows a negative queue or wait, ``stall_cycles != total_cycles -
    compute_cycles``, ``end_cycle - start_cycle != total_cycles + queue_cycles +
    wait_cycles``, or a last end other than the run's cycles."""
    where = f"{result.network} on {result.hw.name} ({result.fidelity}" + (
        f", overlap {result.options['overlap']})" if "overlap" in result.options else ")")
    out = []
    for row in result.layers:
        if row.engine == "-":
            continue
        name = f"{where}: {row.layer}"
        if row.utilization > 1:
            out.append(f"{name}: utilization {row.utilization:.4f} > 1")
        roofline = row_roofline_cycles(row, result.hw)
        if row.total_cycles < roofline - ROOFLINE_SLACK_CYCLES:
            out.append(f"{name}: {row.total_cycles:,} cycles below its roofline "
                       f"{roofline:,.1f}")
        if row.stall_cycles != row.total_cycles - row.compute_cycles:
            out.append(f"{name}: stall {row.stall_cycles:,} != total {row.total_cycles:,} - "
                       f"compute {row.compute_cycles:,}")
        if result.fidelity != "event":
            continue
        if row.queue_cycles < 0 or row.wait_cycles < 0:
            out.append(f"{name}: queue {row.queue_cycles} or wait {row.wait_cycles} < 0")
        span = row.end_cycle - row.start_cycle
        if span != row.total_cycles + row.queue_cycles + row.wait_cycles:
            out.append(f"{name}: span {span:,} != total {row.total_cycles:,} + queue "
                       f"{row.queue_cycles:,} + wait {row.wait_cycles:,}")
    if result.fidelity == "event" and result.layers:
        last = max(r.end_cycle for r in result.layers)
        if last != result.totals["cycles"]:
            out.append(f"{where}: last end {last:,} != run cycles {result.totals['cycles']:,}")
    return out


def _other_engines(network: Network, index: int, hw: HwConfig, placement: Placement,
                   row: LayerResult, pin: dict[str, str]) -> list[tuple[LayerResult, TileWork]]:
    """Layer ``index`` costed on each other engine that can run it, where its tiles fit and
    it moves no more DRAM bytes than on its own engine (the channel is everyone's: more
    bytes would slow the layers beside it)."""
    layer = network.layers[index]
    options = []
    dram_bytes = row.dram_read_bytes + row.dram_write_bytes
    for engine in candidate_engines(layer, hw, pin):
        if engine.name == row.engine:
            continue
        try:
            other = plan_layer(network, index, hw, placement, {layer.op.kind: engine.name})
        except InfeasibleError:
            continue
        if other.row.dram_read_bytes + other.row.dram_write_bytes <= dram_bytes:
            options.append((other.row, tile_work(hw, other)))
    return options


class _LayerRun:
    """The mutable state of one layer during a simulation: ``options`` are its (row, work)
    on each engine that can run it, the analytic choice first; ``row`` and ``work`` are the
    one it runs with."""

    def __init__(self, env: simpy.Environment, options: list[tuple[LayerResult, TileWork]],
                 index: int):
        self.options = options
        self.row, self.work = options[0]
        self.index = index  # network order: the priority of its requests
        self.started = env.event()
        self.done = env.event()
        self.tiles_done = 0
        # Consumers waiting for its tiles: (tiles they need done, the event they wait on),
        # in the order they began to wait.
        self.waiters: list[tuple[int, simpy.Event]] = []
        self.start_cycle = 0
        self.end_cycle = 0
        self.prefetched: simpy.Event | None = None  # the prefetch of the first weight tile
        self.prefetched_cycles = 0.0  # its transfer time
        self.prefetch_moving = False  # its bytes are on the channel (it can't be revoked)
        self.prefetch_bytes = 0  # SRAM the prefetch holds until the layer claims its own
        self.prefetch_since: float | None = None  # when the prefetch took its SRAM
        self.prefetch_busy: list[tuple[float, float]] = []  # its latency, until it moves
        # (start, end) of its own work (compute, transfers, latency) and of its waits for
        # producers: its row's busy and waiting cycles (module docstring, *Rows*).
        self.busy: list[tuple[float, float]] = []
        self.waits: list[tuple[float, float]] = []


class _Simulation:
    """One network's event simulation: its resources, its layers' processes, the timeline."""

    def __init__(self, network: Network, hw: HwConfig,
                 choices: list[list[tuple[LayerResult, TileWork]]], overlap: str,
                 max_chunks: int, replay_alone: bool, tile_space_bytes: int):
        self.env = env = simpy.Environment()
        self.overlap = overlap
        self.max_chunks = max_chunks
        self.replay_alone = replay_alone
        self.buffers = hw.sram.buffers
        self.dram = simpy.PreemptiveResource(env, capacity=1)
        self.engines = {e.name: simpy.PriorityResource(env, capacity=1) for e in hw.engines}
        self.sram = simpy.Container(env, capacity=tile_space_bytes, init=tile_space_bytes)
        self.timeline: list[tuple] = []
        self.runs = [_LayerRun(env, options, i) for i, options in enumerate(choices)]
        # When each engine would be free of the engine time given to it so far (for
        # choosing engines in graph overlap).
        self.committed = {e.name: 0.0 for e in hw.engines}
        by_name = {r.work.layer: r for r in self.runs}
        # Views alias their input: a consumer of a view depends on what the view reads.
        source: dict[str, list[_LayerRun]] = {}
        self.producers: dict[str, list[_LayerRun]] = {}
        for layer in network.layers:
            producers = []
            for name in layer.sources:
                producers.extend(source.get(name, [by_name[name]]))
            self.producers[layer.name] = list(dict.fromkeys(producers))
            if layer.op.view and layer.inputs:
                source[layer.name] = self.producers[layer.name]
        self.pipelined = {layer.name: overlap != "none" and layer.op.tile_local
                          and bool(self.producers[layer.name])
                          for layer in network.layers}
        env.process(self._drive())

    # --------------------------------------------------------------------- network order

    def _drive(self):
        """Start the layers as the overlap level allows."""
        env = self.env
        if self.overlap == "graph":
            # A layer that does not stream behind another prefetches once its producers run.
            for run in self.runs:
                producers = self.producers[run.work.layer]
                if run.work.tiles and producers and not self.pipelined[run.work.layer]:
                    env.process(self._prefetch(env.all_of([p.started for p in producers]),
                                               run))
            for run in self.runs:
                env.process(self._layer(run))
            yield env.all_of([r.done for r in self.runs])
            return
        groups = self._groups()
        heads = [next((r for r in g if r.work.tiles), None) for g in groups]
        for i, group in enumerate(groups):
            for run in group:
                env.process(self._layer(run))
            following = next((h for h in heads[i + 1:] if h is not None), None)
            if self.overlap == "layer" and following is not None:
                env.process(self._prefetch(env.all_of([r.started for r in group]), following))
            yield env.all_of([r.done for r in group])

    def _groups(self) -> list[list[_LayerRun]]:
        """Layers in network order as groups that run together: one layer each, except that
        with ``layer`` overlap a pipelined layer reading from the group joins it."""
        groups: list[list[_LayerRun]] = []
        for run in self.runs:
            name = run.work.layer
            if (groups and self.pipelined[name]
                    and any(p in groups[-1] for p in self.producers[name])):
                groups[-1].append(run)
            else:
                groups.append([run])
        return groups

    def _prefetch(self, trigger: simpy.Event, after: _LayerRun):
        """Prefetch ``after``'s first weight tile once ``trigger`` fires (its producers, or
        its group's layers, have started), if SRAM has room then.

        A prefetch never waits for space. A layer that needs space takes back the space of
        prefetches still queued for the channel (:meth:`_revoke_prefetches`); one that has
        moved its bytes keeps them: ``after``'s producers run, so it starts, and gives the
        space back before it claims its own, without waiting in the SRAM queue."""
        yield trigger
        nbytes = after.work.weight_tile_bytes
        if (not nbytes or after.started.triggered or after.prefetched is not None
                or self.sram.get_queue or self.sram.level < nbytes):
            return
        # The space is free and nobody queues for it, so the get succeeds at once: book it
        # to ``after`` now, before any other process runs.
        space = self.sram.get(nbytes)
        after.prefetch_bytes = nbytes
        after.prefetched = finished = self.env.event()
        after.prefetched_cycles = after.work.weight_load_cycles
        after.prefetch_since = self.env.now
        yield space
        start = self.env.now
        yield self.env.timeout(after.work.latency_cycles)  # the request, off the channel
        after.prefetch_busy = [(start, self.env.now)]
        left = after.work.weight_load_cycles
        while left > 1e-9 and after.prefetched is finished:  # not revoked while it queued
            # Priorities from len(self.runs) on mark prefetches (:meth:`_transfer`).
            with self.dram.request(priority=len(self.runs) + after.index,
                                   preempt=False) as req:
                start = None
                try:
                    yield req
                    if after.prefetched is not finished:
                        break
                    if not after.prefetch_moving:
                        after.prefetch_moving = True
                        after.busy += after.prefetch_busy
                    start = self.env.now
                    yield self.env.timeout(left)
                    left = 0.0  # not ``left -= elapsed``: at large times that can stay > 0
                except simpy.Interrupt:  # a layer's transfer took the channel: resume later
                    if start is not None:
                        left -= self.env.now - start
                if start is not None and self.env.now > start:
                    after.busy.append((start, self.env.now))
                    self._record("dram", "prefetch", after.work.layer, 0, 1, start)
        finished.succeed()

    def _revoke_prefetches(self):
        """Give back the SRAM of prefetches still waiting for the channel: their layers
        load those weights themselves."""
        for run in self.runs:
            if run.prefetch_bytes and not run.prefetch_moving:
                nbytes, run.prefetch_bytes = run.prefetch_bytes, 0
                run.prefetched, run.prefetched_cycles = None, 0.0
                # It did nothing for the layer: its span starts when the layer claims SRAM.
                run.prefetch_since, run.prefetch_busy = None, []
                yield self.sram.put(nbytes)

    # --------------------------------------------------------------------------- a layer

    def _layer(self, run: _LayerRun):
        env, work = self.env, run.work
        producers = self.producers[work.layer]
        pipelined = self.pipelined[work.layer]
        yield env.all_of([p.started if pipelined else p.done for p in producers])
        # Until now it was not ready: its producers (with ``layer`` overlap, the layers before
        # it in network order) were at work. That is in its span only if a prefetch began it.
        run.waits.append((0.0, env.now))
        self._choose_engine(run)
        work = run.work
        claim = min(work.working_set_bytes, self.sram.capacity) if work.tiles else 0
        yield from self._release_prefetch_space(run)
        if claim:
            if self.sram.level < claim:
                yield from self._revoke_prefetches()
            yield self.sram.get(claim)
        yield from self._to_whole_cycle()
        run.start_cycle = round(env.now)
        if run.prefetch_since is not None:
            run.start_cycle = min(run.start_cycle, math.floor(run.prefetch_since))
        run.started.succeed()
        if work.tiles:
            yield from self._tiles(run, producers if pipelined else [])
        yield from self._release_prefetch_space(run)
        if claim:
            yield self.sram.put(claim)
        yield from self._to_whole_cycle()
        run.end_cycle = round(env.now)
        run.done.succeed()

    def _choose_engine(self, run: _LayerRun) -> None:
        """Give a ready layer the engine that would finish it first: after the engine time
        of the work already given to it, the layer's own cycles (the analytic choice when
        they tie); ``graph`` only offers more than one."""
        now = self.env.now

        def finish(option: tuple[LayerResult, TileWork]) -> float:
            row, _ = option
            return max(now, self.committed.get(row.engine, now)) + row.total_cycles

        run.row, run.work = min(run.options, key=finish)
        if run.row.engine in self.committed:
            busy = run.work.busy_cycles * run.work.tiles
            self.committed[run.row.engine] = max(now, self.committed[run.row.engine]) + busy

    def _release_prefetch_space(self, run: _LayerRun):
        """The prefetched tile's SRAM becomes part of the layer's own working set."""
        if run.prefetch_bytes:
            nbytes, run.prefetch_bytes = run.prefetch_bytes, 0
            yield self.sram.put(nbytes)

    def _to_whole_cycle(self):
        """Layers start and end on whole cycles, as analytic rows count whole cycles."""
        whole = math.ceil(round(self.env.now, 6))
        if whole > self.env.now:
            yield self.env.timeout(whole - self.env.now)

    def _tiles(self, run: _LayerRun, producers: list[_LayerRun]):
        env, w = self.env, run.work
        n = w.tiles
        # Prologue: the latency and the first tile's load, less what was prefetched.
        yield from self._wait_for(run, producers, 1 / n)
        first = w.load_cycles
        if run.prefetched is not None:
            yield run.prefetched
            # The engine chosen later may tile differently: count what its first tile needs.
            first -= min(run.prefetched_cycles, w.weight_load_cycles)
        if first > 1e-9 or (w.moves_bytes and run.prefetched is None):
            start = env.now
            yield env.timeout(w.latency_cycles)
            run.busy.append((start, env.now))
            yield from self._transfer(run, [("load", first)], 0, 1)
        # The steady steps, in chunks: chunk i's transfers load its tiles (and store the
        # outputs of chunk i-1) while chunk i's compute works through the tiles loaded
        # just before, as they arrive. A chunk's loads wait for their producers' tiles and
        # until the compute before has at most `buffers - 2` tiles to go (free buffers); its
        # compute waits for them to begin and for the previous chunk's transfers.
        sizes = _chunk_sizes(n - 1, self.max_chunks)
        chunks = _ChunkEvents(env, len(sizes))
        env.process(self._chunk_transfers(run, producers, sizes, chunks))
        yield env.process(self._chunk_computes(run, sizes, chunks))
        yield chunks.moved[-1]
        # Epilogue: the last tile's compute and store.
        yield from self._compute(run, w.busy_cycles, n - 1, 1)
        self._progress(run, n)
        yield from self._transfer(run, [("store", w.store_cycles)], n - 1, 1)

    def _chunk_transfers(self, run: _LayerRun, producers: list[_LayerRun], sizes: list[int],
                         chunks: _ChunkEvents):
        w, i, step = run.work, 1, 1
        began, moved, freed, computed = chunks.began, chunks.moved, chunks.freed, chunks.computed
        resumed = False  # at a chunk the replay stopped before: its waits are over
        while i <= len(sizes):
            size = sizes[i - 1]
            last = step + size - 1  # loads tiles step..last
            if not resumed:
                yield from self._wait_for(run, producers, (last + 1) / w.tiles)
                yield freed[i - 1]
                replay = self._alone(run, producers, sizes[i - 1:], step, chunks)
                if replay is not None:  # nothing can meet these chunks: replayed, not simulated
                    yield from self._replay(run, replay, chunks, i)
                    if chunks.resume > len(sizes):
                        return
                    i, step, resumed = chunks.resume, chunks.resume_tile, True
                    continue
            resumed = False
            began[i].succeed()
            load, store = size * w.load_cycles, size * w.store_cycles
            if computed[i - 1].triggered:  # the outputs to store are there: one transfer
                yield from self._transfer(run, [("load", load), ("store", store)], step, size)
            else:
                yield from self._transfer(run, [("load", load)], step, size)
                yield computed[i - 1]
                yield from self._transfer(run, [("store", store)], step, size)
            moved[i].succeed()
            i, step = i + 1, last + 1

    def _chunk_computes(self, run: _LayerRun, sizes: list[int], chunks: _ChunkEvents):
        w, i, step = run.work, 1, 1
        slack = self.buffers - 2  # tiles the loads may run ahead of compute, beyond one
        while i <= len(sizes):
            yield chunks.moved[i - 1] & chunks.began[i]
            if chunks.resume > i:  # chunks i.. were replayed: go on where the replay stopped
                i, step = chunks.resume, chunks.resume_tile
                continue
            size = sizes[i - 1]
            yield from self._compute(run, size * w.busy_cycles, step - 1, size,
                                     freed=(chunks.freed[i], max(0, size - slack) * w.busy_cycles))
            chunks.computed[i].succeed()
            self._progress(run, step + size - 1)
            i, step = i + 1, step + size

    def _alone(self, run: _LayerRun, producers: list[_LayerRun], sizes: list[int], step: int,
               chunks: _ChunkEvents) -> _SteadySteps | None:
        """As many of the chunks ``sizes`` left of ``run``'s steady steps (from tile
        ``step`` on) as nothing can meet, as they run alone (:func:`_steady_steps`), or None
        if not one (module docstring, *Replaying what nothing can meet*). Nothing can meet
        them when its chunks before are done, it waits for no producer, nobody holds or
        queues for its engine, nobody holds the channel, and nobody queues for it ahead of
        this layer; then the chunks that end before the first event of anyone else that is
        not inert (nothing waits on it, or it releases a resource nobody queues for) and
        before the tile a consumer waits for, with no instant between them at which the
        channel is free if anyone queues for it (:meth:`_replay` holds it for them)."""
        engine = self.engines[run.work.engine]
        if (not self.replay_alone or not chunks.computed[
                len(chunks.began) - 1 - len(sizes)].triggered  # the chunk before these
                or any(not p.done.triggered for p in producers)
                or engine.users or engine.put_queue or self.dram.users
                or any(req.priority <= run.index for req in self.dram.put_queue)):
            return None
        queued = bool(self.dram.put_queue)  # they get the channel only when it is free
        own = {id(event) for events in (chunks.began, chunks.moved, chunks.freed,
                                         chunks.computed) for event in events}
        horizon = math.inf
        for time, _, _, event in self.env._queue:  # simpy's schedule: (time, priority, id, event)
            if time < horizon and event.callbacks and id(event) not in own and not (
                    isinstance(event, simpy.resources.resource.Release)
                    and event.callbacks == [event.resource._trigger_put]
                    and (not event.resource.put_queue or event.resource is self.dram)):
                horizon = time
        needed = min((need for need, _ in run.waiters), default=math.inf)
        return _steady_steps(run.work, sizes, self.buffers - 2, self.env.now, step, horizon,
                             needed, gapless=queued)

    def _replay(self, run: _LayerRun, replay: _SteadySteps, chunks: _ChunkEvents, i: int):
        """Replay ``run``'s chunks ``replay.sizes`` from chunk ``i`` on: their timeline rows,
        busy intervals and progress, then the clock moved to where they end, holding the
        channel throughout if anyone queues for it. Then wake the compute waiting for chunk
        ``i`` to go on with the chunk the replay stopped before (or to stop), and mark the
        chunk before that done."""
        self.timeline += replay.records
        run.busy += replay.busy
        run.tiles_done = replay.resume_tile - 1
        chunks.resume, chunks.resume_tile = i + len(replay.sizes), replay.resume_tile
        if self.dram.put_queue:
            with self.dram.request(priority=run.index, preempt=False) as req:
                yield req
                yield self.env.timeout(replay.delay_cycles)
        elif replay.delay_cycles:
            yield self.env.timeout(replay.delay_cycles)
        chunks.began[i].succeed()
        before = chunks.resume - 1
        for events in (chunks.moved, chunks.freed, chunks.computed):
            if not events[before].triggered:
                events[before].succeed()

    def _wait_for(self, run: _LayerRun, producers: list[_LayerRun], share: float):
        """Wait until every producer has computed ``share`` of its tiles: woken by the
        producer's progress only once it has (:meth:`_progress`)."""
        since = self.env.now
        for p in producers:
            need = min(p.work.tiles, math.ceil(share * p.work.tiles - 1e-9))
            if p.tiles_done < need and not p.done.triggered:
                reached = self.env.event()
                p.waiters.append((need, reached))
                yield reached | p.done
        if self.env.now > since:
            run.waits.append((since, self.env.now))

    def _progress(self, run: _LayerRun, tiles_done: int) -> None:
        """``run`` has computed ``tiles_done`` tiles: wake the consumers that waited for
        no more, in the order they began to wait (the others sleep on: a wake that finds
        too few tiles would only cost events)."""
        run.tiles_done = tiles_done
        if run.waiters:
            waiting = []
            for need, reached in run.waiters:
                if need <= tiles_done:
                    reached.succeed()
                else:
                    waiting.append((need, reached))
            run.waiters = waiting

    def _transfer(self, run: _LayerRun, parts: list[tuple[str, float]], tile: int,
                  tiles: int):
        """Hold the DRAM channel for ``parts`` (kind, cycles) one after another."""
        if sum(c for _, c in parts) <= 1e-9:
            return
        work = run.work
        # A prefetch on the channel gives it up at once; another layer's transfer does not.
        prefetching = any(user.priority >= len(self.runs) for user in self.dram.users)
        with self.dram.request(priority=run.index, preempt=prefetching) as req:
            yield req
            for kind, cycles in parts:
                if cycles > 0:
                    start = self.env.now
                    yield self.env.timeout(cycles)
                    run.busy.append((start, self.env.now))
                    self._record("dram", kind, work.layer, tile, tiles, start)

    def _compute(self, run: _LayerRun, cycles: float, tile: int, tiles: int,
                 freed: tuple[simpy.Event, float] | None = None):
        """Hold the layer's engine for ``cycles``; ``freed`` = (event, cycles in) fires that
        event that far into the work (when buffers free up), or at once."""
        work = run.work
        with self.engines[work.engine].request(priority=run.index) as req:
            if cycles > 0:
                yield req
            start = self.env.now
            first = cycles if freed is None else min(max(freed[1], 0.0), cycles)
            if first > 0:
                yield self.env.timeout(first)
            if freed is not None:
                freed[0].succeed()
            if cycles - first > 0:
                yield self.env.timeout(cycles - first)
            if cycles > 0:
                run.busy.append((start, self.env.now))
                self._record(work.engine, "compute", work.layer, tile, tiles, start)

    def _record(self, resource: str, kind: str, layer: str, tile: int, tiles: int,
                start: float) -> None:
        self.timeline.append((resource, kind, layer, tile, tiles, round(start),
                              round(self.env.now)))


class _ChunkEvents:
    """The events of one layer's steady chunks, for ``chunks`` chunks: chunk ``i``'s loads
    began (``began[i]``), its transfers are done (``moved[i]``), its compute has freed the
    buffers the next loads need (``freed[i]``) and is done (``computed[i]``); index 0 is the
    prologue, done. After a replay (:meth:`_Simulation._replay`), ``resume`` is the chunk
    it stopped before (past the last if it replayed them all) and ``resume_tile`` that
    chunk's first tile."""

    def __init__(self, env: simpy.Environment, chunks: int):
        prologue = env.event().succeed()
        self.began, self.moved, self.freed, self.computed = ([prologue] + [
            env.event() for _ in range(chunks)] for _ in range(4))
        self.resume = 0
        self.resume_tile = 0


@dataclass(frozen=True)
class _SteadySteps:
    """Chunks ``sizes`` of a layer's steady steps as they run alone: their timeline rows and
    busy intervals in the order the simulation makes them, the tile the next chunk begins
    with (``resume_tile``) and the delay from their start to where the simulation goes on:
    the next chunk's start, or the end of the last chunk's transfers and compute."""

    sizes: list[int]
    records: list[tuple]
    busy: list[tuple[float, float]]
    resume_tile: int
    delay_cycles: float


def _steady_steps(work: TileWork, sizes: list[int], slack: int, start: float, step: int,
                  horizon: float, needed: float, gapless: bool) -> _SteadySteps | None:
    """The first of the chunks ``sizes`` of ``work``'s steady steps from tile ``step`` on,
    begun at ``start`` with the chunks before done, as
    :meth:`_Simulation._chunk_transfers` and :meth:`_Simulation._chunk_computes` run them
    when nothing else holds the channel or the engine: the same float sums, so the same
    times. As many as end before ``horizon``, leave fewer than ``needed`` tiles done (a
    consumer waits for that many: the chunk that gets there wakes it), and leave the
    simulation a chunk to go on with whose start does not depend on simpy's order among
    events at one instant (the compute before it is done, its outputs there); with
    ``gapless`` only chunks whose transfers follow each other without a free instant of the
    channel, and never the last. None if not one, where two of their timeline rows end at
    one instant (simpy's order then), or where no delay from ``start`` lands exactly on
    their end."""
    if work.busy_cycles <= 0:
        return None
    records: list[tuple[float, tuple]] = []  # (end, timeline row)
    busy: list[tuple[float, float]] = []

    def hold(resource: str, kind: str, tile: int, tiles: int, begin: float,
             cycles: float) -> float:
        end = begin + cycles
        busy.append((begin, end))
        records.append((end, (resource, kind, work.layer, tile, tiles, round(begin),
                              round(end))))
        return end

    def transfer(parts: list[tuple[str, float]], tile: int, tiles: int,
                 begin: float) -> float:
        if sum(c for _, c in parts) <= 1e-9:
            return begin
        for kind, cycles in parts:
            if cycles > 0:
                begin = hold("dram", kind, tile, tiles, begin, cycles)
        return begin

    moved = freed = computed = start  # the chunk before's, as events: done at ``start``
    computed_with_freed = True  # its compute's end came in the same step as its ``freed``
    stop = None  # (chunks, time, rows, busy intervals, tile) where the simulation goes on
    for count, size in enumerate(sizes):
        began = max(moved, freed)  # the loads wait for the previous transfers and buffers
        settled = computed < began or (computed == began and computed_with_freed)
        if count:
            if began >= horizon or (gapless and not (settled and began == moved > freed)):
                break
            if settled:
                stop = (count, began, len(records), len(busy), step)
        if step + size - 1 >= needed:
            break  # its compute wakes a consumer: simulated
        if computed == began and not computed_with_freed:
            break  # whether its outputs are there yet is simpy's order at the instant
        load, store = size * work.load_cycles, size * work.store_cycles
        if settled:  # the outputs to store are there: one transfer
            moved = transfer([("load", load), ("store", store)], step, size, began)
        else:
            loaded = transfer([("load", load)], step, size, began)
            moved = transfer([("store", store)], step, size, max(loaded, computed))
        cycles = size * work.busy_cycles
        first = min(max(max(0, size - slack) * work.busy_cycles, 0.0), cycles)
        begin = max(computed, began)  # after its own compute before, once its loads began
        freed = begin + first if first > 0 else begin
        computed_with_freed = not cycles - first > 0
        computed = freed + (cycles - first) if not computed_with_freed else freed
        busy.append((begin, computed))
        records.append((computed, (work.engine, "compute", work.layer, step - 1, size,
                                   round(begin), round(computed))))
        step += size
    else:
        end = max(moved, computed)
        if not gapless and end < horizon:
            stop = (len(sizes), end, len(records), len(busy), step)
    if stop is None:
        return None
    count, end, rows, intervals, step = stop
    ends = sorted(end for end, _ in records[:rows])
    if any(a == b for a, b in zip(ends, ends[1:])):
        return None  # two rows end at one instant: their order is simpy's
    delay = end - start
    if start + delay != end:
        return None
    return _SteadySteps(sizes[:count], [row for _, row in sorted(records[:rows],
                                                              key=lambda r: r[0])],
                        busy[:intervals], step, delay)


def _chunk_sizes(steps: int, chunks: int) -> list[int]:
    """``steps`` split into at most ``chunks`` runs whose sizes differ by at most one."""
    count = min(steps, chunks)
    if count <= 0:
        return []
    base, extra = divmod(steps, count)
    return [base + 1] * extra + [base] * (count - extra)

