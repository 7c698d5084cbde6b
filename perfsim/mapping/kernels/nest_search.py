"""Tiling an einsum loop nest over a memory hierarchy: the Python side of
:mod:`perfsim.mapping.kernels.nest_tiling`.

Packs a :class:`~perfsim.workload.loopnest.LoopNest`, the precision, where operands live and
each level's capacity, buffers and rates into the kernels' record arrays, runs them, and
returns frozen results with units in their names. Tables are cached by nest and costs, so
every capacity, buffer count and rate a sweep tries only ranks them again.

Two entry points:

* :func:`search_one_level` -- today's case, one on-chip level below DRAM; it reproduced the
  conv-shaped search it replaced exactly. :func:`rank_one_level` is the same search giving
  its choice as the table's row (bytes per buffer role, no operand's traffic): what
  :func:`perfsim.mapping.tiling.plan_tiling` runs.
* :func:`search_levels` -- a hierarchy (:class:`TilingLevel`, innermost first, DRAM last),
  searched greedily from the outermost on-chip level inwards: that level's tiling is the
  one-level search (it decides the traffic to DRAM, the slowest link, which the objective
  ranks first), then each inner level searches its tiles inside the chosen outer tiles
  (traffic into a level depends on its own tiling and the tilings above it, never on the
  ones below). Every level's traffic is counted and reported.

:func:`levels_traffic` costs a given tiling of every level.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import NamedTuple

import numpy as np

from perfsim.errors import PerfsimError
from perfsim.hardware.model import OPERANDS, Precision
from perfsim.mapping.kernels import kept_answers
from perfsim.mapping.kernels import nest_tiling as kern
from perfsim.workload.loopnest import LoopNest

BUFFER_ROLES = OPERANDS
"""Roles with their own buffer, named as a hardware level's ``holds``: ``input``, ``weight``
(a nest's weights and their bias), ``output``."""


_kernels = None


def kernels():
    """:mod:`~perfsim.mapping.kernels.nest_kernels`, the jitted loops and their entry points,
    imported on first use: importing Numba and starting its CPU target take about 0.3 s, which
    a run whose searches are all answered from disk (:mod:`.kept_answers`) never pays. When
    Numba has no usable cache of a kernel every costed run calls
    (:data:`~.nest_kernels.SEARCH_KERNELS`: the first run after an install or an upgrade), it
    logs that it compiles them first (logger ``perfsim``, level INFO: the command line prints
    it)."""
    global _kernels
    if _kernels is None:
        from perfsim.mapping.kernels import nest_kernels

        if _cold(nest_kernels.SEARCH_KERNELS):
            import logging

            logging.getLogger("perfsim").info(
                "compiling the cost model's kernels with Numba (once after an install or "
                "upgrade; a few seconds)...")
        _kernels = nest_kernels
    return _kernels


def _cold(jitted) -> bool:
    """Whether Numba has no usable cache of one of the ``jitted`` kernels. Reads the caches'
    index files; never compiles."""
    for kernel in jitted:
        cache = getattr(kernel, "_cache", None)
        try:
            if cache is not None and not cache._cache_file._load_index():
                return True
        except (AttributeError, OSError):  # another Numba's layout: say nothing
            return False
    return False


@dataclass(frozen=True)
class Capacity:
    """Bytes a level offers tiles: one pool shared by all operands (``shared_bytes``), or one
    buffer per role (``input_bytes``, ``weight_bytes``, ``output_bytes``, SCALE-Sim's ifmap,
    filter and ofmap buffers). Negative values fit nothing."""

    shared_bytes: int | None = None
    input_bytes: int | None = None
    weight_bytes: int | None = None
    output_bytes: int | None = None

    def __post_init__(self):
        given = (self.input_bytes is not None) + (self.weight_bytes is not None) + (
            self.output_bytes is not None)
        if given != (0 if self.shared_bytes is not None else 3):
            raise PerfsimError("a capacity is shared_bytes, or input_bytes, weight_bytes and "
                               f"output_bytes, got {self}")

    @cached_property
    def record(self) -> np.ndarray:
        """The one-element :data:`~.nest_tiling.CAPACITY` array the kernels read."""
        if self.shared_bytes is None:
            row = (True, 0, (self.input_bytes, self.weight_bytes, self.output_bytes))
        else:
            row = (False, self.shared_bytes, (0, 0, 0))
        return np.array([row], dtype=kern.CAPACITY)


@dataclass(frozen=True)
class Buffers:
    """Tiles of each role a level holds at once: 2 is double buffering (the next tile loads
    while the current one computes)."""

    input: int = 2
    weight: int = 2
    output: int = 2

    def __post_init__(self):
        for role in BUFFER_ROLES:
            value = getattr(self, role)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise PerfsimError(f"buffers.{role} must be an integer >= 1, got {value!r}")

    @staticmethod
    @lru_cache(maxsize=None)
    def uniform(count: int) -> Buffers:
        """``count`` tiles of every role (one object per count: its arrays are made once)."""
        return Buffers(count, count, count)

    @cached_property
    def array(self) -> np.ndarray:
        """Counts per role, in :data:`BUFFER_ROLES` order, as the kernels read them."""
        return np.array([getattr(self, role) for role in BUFFER_ROLES], dtype=np.int64)


@dataclass(frozen=True)
class Rates:
    """What a level's tiling is timed with (:func:`~.nest_kernels.pipeline_cycles`): the
    engine's compute cycles, the bytes the engine (or the level below) moves through this
    level, this level's bandwidth, and the link from the level above (bytes per cycle, and
    latency in cycles); ``serial`` when the level has one buffer of some operand, so its
    transfers cannot overlap compute; each transfer over the link costs
    ``transfer_setup_cycles`` and moves whole bursts of ``burst_bytes``. A level whose
    buffers have a port each gives ``port_bytes_per_cycle`` (per role, summing to
    ``level_bytes_per_cycle``) and the engine's bytes per role, ``engine_role_bytes``."""

    compute_cycles: float
    engine_bytes: float
    level_bytes_per_cycle: float
    above_bytes_per_cycle: float
    above_latency_cycles: float = 0.0
    serial: bool = False
    transfer_setup_cycles: float = 0.0
    burst_bytes: float = 1.0
    engine_role_bytes: tuple[float, float, float] = (0.0, 0.0, 0.0)
    port_bytes_per_cycle: tuple[float, float, float] = (0.0, 0.0, 0.0)

    @cached_property
    def record(self) -> np.ndarray:
        """The one-element :data:`~.nest_tiling.RATES` array the kernels read."""
        return rates_record((self.compute_cycles, self.engine_bytes, self.level_bytes_per_cycle,
                             self.above_bytes_per_cycle, self.above_latency_cycles,
                             self.serial, self.transfer_setup_cycles, self.burst_bytes,
                             self.engine_role_bytes, self.port_bytes_per_cycle))


@lru_cache(maxsize=4096)  # a sweep ranks a layer at the same rates for each SRAM size
def rates_record(values: tuple) -> np.ndarray:
    """The :attr:`Rates.record` of a :class:`Rates` whose fields are ``values``, in order
    (what a caller ranking many rates makes without the object); one array for equal values,
    which the kernels only read."""
    return np.array([values], dtype=kern.RATES)


@dataclass(frozen=True)
class TilingLevel:
    """A memory level as the tiler sees it. ``capacity`` is None only for the outermost level
    (DRAM), which holds everything; ``holds`` names the roles it keeps tiles of (others pass
    through it from the level above); ``bytes_per_cycle`` and ``latency_cycles`` are its
    bandwidth and access latency; ``transfer_setup_cycles`` is paid per transfer into it and
    ``burst_bytes`` is the granularity of transfers out of it."""

    name: str
    bytes_per_cycle: float
    capacity: Capacity | None = None
    latency_cycles: float = 0.0
    holds: frozenset[str] = frozenset(BUFFER_ROLES)
    buffers: Buffers = field(default_factory=Buffers)
    transfer_setup_cycles: float = 0.0
    burst_bytes: float = 1.0

    def __post_init__(self):
        object.__setattr__(self, "holds", frozenset(self.holds))
        unknown = self.holds - set(BUFFER_ROLES)
        if unknown:
            raise PerfsimError(f"level {self.name}: holds unknown roles {sorted(unknown)}")


@dataclass(frozen=True)
class LevelTiling:
    """One level's tiling: per cut dimension its tile size (or, for a dimension split into
    parts, how many parts each tile of the level above is cut into), and the loop order of
    the cut dimensions, outermost first."""

    tiles: Mapping[str, int]
    order: tuple[str, ...]


@dataclass(frozen=True)
class OperandTraffic:
    """An operand at one level, in bytes: ``read_bytes`` fetched into the level from the
    nearest level above that holds it; ``partial_read_bytes`` partial sums read back (outputs);
    ``write_bytes`` written back up (partial sums at accumulator precision plus final values);
    ``working_set_bytes`` its buffers of the largest tile."""

    read_bytes: int
    partial_read_bytes: int
    write_bytes: int
    working_set_bytes: int


@dataclass(frozen=True)
class LevelTraffic:
    """A level's tiling and its traffic with the level above. ``tile_count`` tiles of this
    level run; ``cycles`` is the pipeline time the search ranked it by (None when costed
    without a search); ``role_moved_bytes`` and ``role_tile_bytes`` are the bytes moved and
    the single-buffered tile per buffer role (:data:`BUFFER_ROLES`), which its transfers are
    counted by (:func:`~.nest_kernels.link_cycles`); ``buffered_role_bytes`` the level's bytes
    per role, every buffer counted. A searched level also has ``fastest_role_bytes``, those
    of the fastest tiling the search weighed the choice against: the same search with less
    room, as long as both still fit, makes the same choice; and ``more_room_bytes``: the
    same search with more room, but less than that, makes the same choice (of one shared
    pool: the least room at which a tiling that did not fit could change the choice; of
    buffers per role: per role, the fewest buffered bytes of that role above its buffer),
    None where more room never changes it. It also has ``ranked_link_cycles``, its
    :meth:`link_cycles` at the rates it was ranked with."""

    level: str
    tiling: LevelTiling
    tile_count: int
    operands: Mapping[str, OperandTraffic]
    cycles: float | None = None
    role_moved_bytes: tuple[int, int, int] = (0, 0, 0)
    role_tile_bytes: tuple[int, int, int] = (0, 0, 0)
    buffered_role_bytes: tuple[int, int, int] = (0, 0, 0)
    fastest_role_bytes: tuple[int, int, int] | None = None
    more_room_bytes: tuple[int | None, ...] | None = None
    ranked_link_cycles: float | None = None

    def link_cycles(self, rates: Rates) -> float:
        """Cycles the link from the level above is busy with this level's transfers."""
        moved, tile = self._role_arrays
        return float(kernels().link_cycles(moved, tile, rates.record[0]))

    @cached_property
    def _role_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """:attr:`role_moved_bytes` and :attr:`role_tile_bytes` as the kernels read them."""
        return (np.array(self.role_moved_bytes, dtype=np.int64),
                np.array(self.role_tile_bytes, dtype=np.int64))

    @property
    def read_bytes(self) -> int:
        """Bytes into the level: fetches and partial sums read back."""
        return sum(t.read_bytes + t.partial_read_bytes for t in self.operands.values())

    @property
    def write_bytes(self) -> int:
        return sum(t.write_bytes for t in self.operands.values())

    @property
    def moved_bytes(self) -> int:
        return self.read_bytes + self.write_bytes

    @property
    def working_set_bytes(self) -> int:
        return sum(t.working_set_bytes for t in self.operands.values())


def _role(nest: LoopNest, name: str) -> str:
    """The buffer role (:data:`BUFFER_ROLES`) of a nest's operand."""
    role = nest.operand(name).role
    return "weight" if role in ("weights", "bias") else role


def level_costs(nest: LoopNest, precision: Precision, level: int, holds: frozenset[str],
                homes: Mapping[str, int]) -> np.ndarray:
    """:data:`~.nest_tiling.COST` records of the operands at on-chip ``level``: inputs move at
    activation precision, weights and biases at weight precision, outputs finally at activation
    and partially at accumulator precision; the output's tile buffer accumulates at
    accumulator precision when the nest reduces. An operand counts traffic into the level if
    the level holds its role and it lives above (``homes``: level it lives at; missing
    means DRAM); it takes a tile buffer then, and an output also at its home level."""
    made = _level_costs(nest, precision, level, frozenset(holds), tuple(sorted(homes.items())))
    # copied field by field into np.zeros: copying or assigning whole records (and zeros_like)
    # leave the padding between their fields unset, and the costs' bytes are a table's key (in
    # the process, and on disk: kept_answers)
    costs = np.zeros(made.shape, dtype=made.dtype)
    for name in kern.COST.names:
        costs[name] = made[name]
    return costs


@lru_cache(maxsize=4096)
def _level_costs(nest: LoopNest, precision: Precision, level: int, holds: frozenset[str],
                 homes: tuple[tuple[str, int], ...]) -> np.ndarray:
    """The memoised body of :func:`level_costs` (``homes`` as sorted items)."""
    costs = np.zeros(len(nest.operands), dtype=kern.COST)
    homes = dict(homes)
    for i, op in enumerate(nest.operands):
        role = _role(nest, op.name)
        element = precision.activation_bytes if role != "weight" else precision.weight_bytes
        buffer = (precision.accumulator_bytes if role == "output" and nest.reduction_dims
                  else element)
        home = homes.get(op.travels_with or op.name, kern.MAX_LEVELS)  # DRAM: above all
        held = role in holds
        costs[i] = (element, precision.accumulator_bytes, buffer, held and level < home,
                    held and (level < home or (role == "output" and level == home)))
    return costs


def _values(nest: LoopNest, tilings: Sequence[LevelTiling]) -> tuple[np.ndarray, np.ndarray]:
    tiled = nest.tiled_dims
    values = np.ones((len(tilings), len(tiled)), dtype=np.int64)
    orders = np.zeros((len(tilings), len(tiled)), dtype=np.int64)
    for j, tiling in enumerate(tilings):
        if set(tiling.tiles) != set(tiled) or sorted(tiling.order) != sorted(tiled):
            raise PerfsimError(f"a tiling gives every cut dimension ({', '.join(tiled)}) a "
                               f"value and a place in the order, got {tiling}")
        for d, name in enumerate(tiled):
            value = tiling.tiles[name]
            if not isinstance(value, (int, np.integer)) or value < 1:
                raise PerfsimError(f"tile of {name} must be an integer >= 1, got {value!r}")
            values[j, d] = value
        orders[j] = [tiled.index(name) for name in tiling.order]
    return values, orders


def _level_result(nest: LoopNest, name: str, tiling: LevelTiling, traffic: np.ndarray,
                  tiles: int, buffers: Buffers, cycles: float | None,
                  fastest_role_bytes: tuple[int, int, int] | None = None,
                  more_room_bytes: tuple[int | None, ...] | None = None,
                  ranked_link_cycles: float | None = None) -> LevelTraffic:
    operands = {}
    moved = dict.fromkeys(BUFFER_ROLES, 0)
    tile = dict.fromkeys(BUFFER_ROLES, 0)
    # as Python ints, read once (a field of a numpy record is slow to read)
    for op, (read, partial, write, tile_bytes) in zip(nest.operands, traffic.tolist()):
        role = _role(nest, op.name)
        operands[op.name] = OperandTraffic(read, partial, write,
                                           getattr(buffers, role) * tile_bytes)
        moved[role] += read + partial + write
        tile[role] += tile_bytes
    return LevelTraffic(name, tiling, int(tiles), operands, cycles,
                        tuple(moved[r] for r in BUFFER_ROLES),  # type: ignore[arg-type]
                        tuple(tile[r] for r in BUFFER_ROLES),  # type: ignore[arg-type]
                        tuple(getattr(buffers, r) * tile[r]  # type: ignore[arg-type]
                              for r in BUFFER_ROLES),
                        fastest_role_bytes, more_room_bytes, ranked_link_cycles)


def levels_traffic(nest: LoopNest, precision: Precision, levels: Sequence[TilingLevel],
                   tilings: Sequence[LevelTiling], *,
                   homes: Mapping[str, int] | None = None) -> tuple[LevelTraffic, ...]:
    """Traffic of every on-chip level (``levels[:-1]``, innermost first; ``tilings`` one per
    on-chip level) with the level above it. ``homes`` maps operand names to the level they
    live at (default the outermost)."""
    _check_levels(levels, tilings)
    values, orders = _values(nest, tilings)
    homes = dict(homes or {})
    results = []
    for k, tiling in enumerate(tilings):
        costs = level_costs(nest, precision, k, levels[k].holds, homes)
        traffic, tiles = kern.level_traffic(nest, values, orders, k, costs)
        results.append(_level_result(nest, levels[k].name, tiling, traffic, tiles,
                                     levels[k].buffers, None))
    return tuple(results)


def _check_levels(levels: Sequence[TilingLevel], tilings: Sequence[LevelTiling] | None):
    if len(levels) < 2 or len(levels) - 1 > kern.MAX_LEVELS:
        raise PerfsimError(f"a hierarchy has 2 to {kern.MAX_LEVELS + 1} levels (the last "
                           f"holding everything), got {len(levels)}")
    if any(level.capacity is None for level in levels[:-1]):
        raise PerfsimError("every level but the outermost has a capacity")
    if tilings is not None and len(tilings) != len(levels) - 1:
        raise PerfsimError(f"{len(levels) - 1} on-chip levels need as many tilings, got "
                           f"{len(tilings)}")


TABLE_CACHE_BYTES = 768 * 2**20
"""Bytes of search tables kept, the least recently used dropped first: a sweep of ResNet-50
over arrays, SRAMs and bandwidths uses about 70 MiB of them, one of five large networks
(ResNet-50, GoogLeNet, DenseNet-121, MobileNet V2, Inception-v4) about 550 MiB; a count of
tables would thrash on one network and overflow on another."""


SKYLINE_AFTER_RANKINGS = 4
"""Rankings of a table with all its rows; from the next on, a table is ranked by its skyline
(:func:`~.nest_kernels.skyline_rows`: the same choices, in about half the time on ResNet-50's
tables). Finding a skyline costs about 15 rankings, and its kernel 0.5 CPU-s to compile once
per install: a run ranks each table at most three times (GPT-2, BERT, ConvNeXt, DenseNet-121,
EfficientNet-B0, Inception-v4, MobileNet V1, ResNet-50 on ``matrix_engine``), so finds none; a
sweep ranks each hundreds of times, and its workers inherit the skylines its serial start
found."""


class _Held:
    """A table held by :class:`_Tables`: ``made`` (:func:`_make_table`), its bytes, the fewest
    bytes a row moves, the times it was ranked whole, and its skyline once found: ``(rows,
    their indices in the table)``."""

    __slots__ = ("made", "bytes", "least_moved_bytes", "rankings", "skyline")

    def __init__(self, made: tuple):
        self.made = made
        self.bytes = sum(array.nbytes for array in made)
        self.least_moved_bytes = int(made[0]["moved_bytes"].min())
        self.rankings = 0
        self.skyline: tuple[np.ndarray, np.ndarray] | None = None


class _Tables:
    """:func:`_make_table`, cached by its arguments up to :data:`TABLE_CACHE_BYTES` (skylines
    included)."""

    def __init__(self, limit_bytes: int):
        self.limit_bytes = limit_bytes
        self.tables: OrderedDict[tuple, _Held] = OrderedDict()
        self.bytes = 0

    def __call__(self, *key):
        return self._held(key).made

    def to_rank(self, key: tuple) -> tuple[np.ndarray, np.ndarray | None]:
        """The rows to rank of the table of ``key``, and their indices in the table (None:
        the whole table, in order): the whole table for its first
        :data:`SKYLINE_AFTER_RANKINGS` rankings, then its skyline."""
        held = self._held(key)
        if held.skyline is None:
            held.rankings += 1
            if held.rankings <= SKYLINE_AFTER_RANKINGS:
                return held.made[0], None
            table = held.made[0]
            rows = kernels().skyline_rows(table)
            held.skyline = (table[rows], rows)
            added = held.skyline[0].nbytes + rows.nbytes
            held.bytes += added
            self._grown(added)
        return held.skyline

    def least_moved_bytes(self, key: tuple) -> int | None:
        """The fewest bytes a row of the table of ``key`` moves; None when the table is not
        held (it is not built for this)."""
        held = self.tables.get(key)
        return None if held is None else held.least_moved_bytes

    def _held(self, key: tuple) -> _Held:
        found = self.tables.get(key)
        if found is not None:
            self.tables.move_to_end(key)
            return found
        held = self.tables[key] = _Held(_make_table(*key))
        self._grown(held.bytes)
        return held

    def _grown(self, added: int) -> None:
        """Count ``added`` bytes and drop the least recently used tables past the limit (never
        the last one used)."""
        self.bytes += added
        while self.bytes > self.limit_bytes and len(self.tables) > 1:
            self.bytes -= self.tables.popitem(last=False)[1].bytes

    def cache_clear(self) -> None:
        self.tables.clear()
        self.bytes = 0


def _make_table(nest: LoopNest, costs: bytes, values: bytes, orders: bytes, shape: tuple,
                k: int):
    """The search table of level ``k`` (cached, :data:`_table`: shared by every capacity,
    buffer count and rate); arguments are the arrays' bytes so that they hash."""
    values_array = np.frombuffer(values, np.int64).reshape(shape).copy()
    orders_array = np.frombuffer(orders, np.int64).reshape(shape).copy()
    return kernels().level_table(nest, values_array, orders_array, k,
                                 np.frombuffer(costs, kern.COST).copy())


_table = _Tables(TABLE_CACHE_BYTES)


def _search_at(nest: LoopNest, values: np.ndarray, orders: np.ndarray, k: int,
               costs: np.ndarray, capacity: Capacity, buffers: Buffers, rates: Rates):
    """Choose level ``k``'s tiling (levels above fixed in ``values``/``orders``, which get it
    filled in); returns (cycles, link cycles, tiling, the fastest fitting tiling's buffered
    bytes per role, :attr:`LevelTraffic.more_room_bytes`) or None when nothing fits."""
    key = (nest, costs.tobytes(), values.tobytes(), orders.tobytes(), values.shape, k)
    found = _rank(key, buffers, capacity, rates.record)
    if found is None:
        return None
    row, cycles, link, fastest, more = found
    table, candidates, counts = _table(*key)
    tiling = _decode(nest, table, candidates, counts, row, values, orders, k)
    return cycles, link, tiling, fastest, more


def _rank(key: tuple, buffers: Buffers, capacity: Capacity, rates_record: np.ndarray
          ) -> tuple[int, float, float, tuple, tuple] | None:
    """:func:`~.nest_kernels.rank_table` of the table of ``key`` (:data:`_table`; by its
    skyline once ranked often: :meth:`_Tables.to_rank`): the chosen row of the table, its
    cycles, its link's cycles, the fastest row's buffered bytes per role and
    :attr:`LevelTraffic.more_room_bytes`; None when no row fits. Answered from the kept
    answers when they are in force (:mod:`.kept_answers`)."""
    kept = kept_answers.active()
    if kept is None:
        return _rank_table(key, buffers, capacity, rates_record)
    # the records' values, not their bytes: the padding between their fields is not set
    return kept.answer(("rank", kept.table_name(key), kept_answers.canonical(buffers.array),
                        kept_answers.canonical(capacity.record),
                        kept_answers.canonical(rates_record)),
                       _rank_table, key, buffers, capacity, rates_record)


def _rank_table(key: tuple, buffers: Buffers, capacity: Capacity, rates_record: np.ndarray
                ) -> tuple[int, float, float, tuple, tuple] | None:
    """:func:`_rank` made by the kernel."""
    rows, index = _table.to_rank(key)
    row, cycles, link, fastest, more = kernels().rank_table(rows, buffers.array,
                                                            capacity.record, rates_record)
    if row < 0:
        return None
    return (int(row) if index is None else int(index[row]), float(cycles), float(link),
            fastest, _more_room(more))


def _decode(nest: LoopNest, table: np.ndarray, candidates: np.ndarray, counts: np.ndarray,
            row: int, values: np.ndarray, orders: np.ndarray, k: int) -> LevelTiling:
    """Row ``row`` of level ``k``'s table (:func:`~.nest_kernels.level_table`: the mixed-radix
    number of its candidates) as a tiling, also written into ``values[k]`` and
    ``orders[k]``."""
    packed = kern.pack_nest(nest)
    rest = row
    for d in range(len(counts) - 1, -1, -1):
        values[k, d] = candidates[d, rest % counts[d]]
        rest //= int(counts[d])
    orders[k] = packed.orders[table[row]["order"]]
    return LevelTiling({name: int(values[k, d]) for d, name in enumerate(packed.dim_names)},
                       tuple(packed.dim_names[d] for d in orders[k]))


def _more_room(more: list[int]) -> tuple[int | None, ...]:
    """:attr:`LevelTraffic.more_room_bytes` of a ranking's ``more``
    (:func:`~.nest_kernels.rank_table`: -1 where more room never changes the choice)."""
    return tuple(None if bytes_ < 0 else bytes_ for bytes_ in more)


def search_one_level(nest: LoopNest, precision: Precision, capacity: Capacity, rates: Rates,
                     *, buffers: Buffers = Buffers(),
                     resident: frozenset[str] = frozenset()) -> LevelTraffic | None:
    """The best tiling of one on-chip level below DRAM by the search's objective
    (:data:`~.nest_tiling.CYCLE_TOLERANCE`); None when no tiling fits. ``resident`` names
    operands that live on chip (an input there costs no traffic and no tile buffer; an output
    no traffic).

    What depends on the ranking alone is worked out here (:func:`_ranked`); the chosen row's
    tiling and traffic are kept (:func:`_one_level_row`)."""
    found = _ranked(nest, precision, capacity, rates.record, buffers, resident)
    if found is None:
        return None
    key, row, cycles, link, fastest, more = found
    base = _one_level_row(key, row, buffers)
    return LevelTraffic(base.level, base.tiling, base.tile_count, base.operands, cycles,
                        base.role_moved_bytes, base.role_tile_bytes, base.buffered_role_bytes,
                        fastest, more, link)


class ChosenRow(NamedTuple):
    """A one-level search's choice as its table row gives it, per buffer role
    (:data:`BUFFER_ROLES`) rather than per operand: its ``tiling`` and ``tile_count``, the
    bytes moved (``role_moved_bytes``: inputs and weights read; the output's partial sums
    read back and its writes) and the single-buffered tile bytes (``role_tile_bytes``) per
    role, and of the output's bytes the partial sums read back
    (``output_partial_read_bytes``)."""

    tiling: LevelTiling
    tile_count: int
    role_moved_bytes: tuple[int, int, int]
    role_tile_bytes: tuple[int, int, int]
    output_partial_read_bytes: int


def rank_one_level(nest: LoopNest, precision: Precision, capacity: Capacity,
                   rates_record: np.ndarray, *, buffers: Buffers = Buffers(),
                   resident: frozenset[str] = frozenset()
                   ) -> tuple[ChosenRow, float, float, tuple, tuple] | None:
    """:func:`search_one_level`'s choice as a :class:`ChosenRow`, then what the ranking adds
    (its cycles, its link's cycles, :attr:`LevelTraffic.fastest_role_bytes` and
    :attr:`LevelTraffic.more_room_bytes`); None when no tiling fits. ``rates_record`` is a
    :attr:`Rates.record`. Its bytes are the table's: no operand's traffic is worked out
    (:func:`search_one_level` works them out once per chosen row; a sweep's worker chooses
    rows its parent never chose)."""
    found = _ranked(nest, precision, capacity, rates_record, buffers, resident)
    if found is None:
        return None
    key, row, cycles, link, fastest, more = found
    return _one_level_choice(key, row), cycles, link, fastest, more


def _ranked(nest: LoopNest, precision: Precision, capacity: Capacity,
            rates_record: np.ndarray, buffers: Buffers, resident: frozenset[str]
            ) -> tuple[tuple, int, float, float, tuple, tuple] | None:
    """The one-level table's key (:func:`_one_level_key`, kept) and the ranking of its rows:
    the chosen row, its cycles, its link's cycles, the fastest row's buffered bytes per role
    and :attr:`LevelTraffic.more_room_bytes`; None when no row fits."""
    key = _one_level_key(nest, precision, resident)
    found = _rank(key, buffers, capacity, rates_record)
    return None if found is None else (key, *found)


def least_moved_bytes(nest: LoopNest, precision: Precision,
                      resident: frozenset[str] = frozenset()) -> int | None:
    """The fewest bytes any tiling of one on-chip level below DRAM moves over the link, at
    any capacity and rates (:func:`search_one_level`'s choice moves at least these); None when
    its table has not been built (or was dropped). While answers are kept
    (:mod:`.kept_answers`) they are always given, from the kept answer or the table, built if
    need be: a run then asks the same questions (costs the same placements) whether its answers
    were kept or not."""
    key = _one_level_key(nest, precision, resident)
    kept = kept_answers.active()
    if kept is None:
        return _table.least_moved_bytes(key)
    return kept.answer(("least", kept.table_name(key)), _least_built, key)


def _least_built(key: tuple) -> int:
    """The fewest bytes a row of the table of ``key`` moves, the table built if need be."""
    _table(*key)
    return _table.least_moved_bytes(key)


@lru_cache(maxsize=4096)
def _one_level_key(nest: LoopNest, precision: Precision, resident: frozenset[str]) -> tuple:
    """The :data:`_table` key of ``nest``'s one on-chip level below DRAM, ``resident``
    operands living there: (nest, costs, values, orders as bytes, their shape, level 0)."""
    costs = level_costs(nest, precision, 0, frozenset(BUFFER_ROLES),
                        {name: 0 for name in resident})
    values = np.ones((1, len(nest.tiled_dims)), dtype=np.int64)
    return nest, costs.tobytes(), values.tobytes(), np.zeros_like(values).tobytes(), \
        values.shape, 0


@lru_cache(maxsize=4096)
def _one_level_row(key: tuple, row: int, buffers: Buffers) -> LevelTraffic:
    """Row ``row`` of the one-level table ``key`` (:func:`_one_level_key`) as its tiling and
    traffic, without what a ranking adds (its cycles and bounds). Holds no table: evicting
    one from :data:`_table` frees it."""
    nest = key[0]
    table, candidates, counts = _table(*key)
    values = np.ones((1, len(nest.tiled_dims)), dtype=np.int64)
    orders = np.zeros_like(values)
    tiling = _decode(nest, table, candidates, counts, row, values, orders, 0)
    traffic, tiles = kern.level_traffic(nest, values, orders, 0,
                                        np.frombuffer(key[1], kern.COST))
    return _level_result(nest, "sram", tiling, traffic, tiles, buffers, None)


@lru_cache(maxsize=4096)
def _one_level_choice(key: tuple, row: int) -> ChosenRow:
    """Row ``row`` of the one-level table ``key`` (:func:`_one_level_key`) as a
    :class:`ChosenRow`, from the kept answers when they are in force (:mod:`.kept_answers`).
    Holds no table: evicting one from :data:`_table` frees it."""
    kept = kept_answers.active()
    if kept is None:
        return _chosen_row(key, row)
    return kept.answer(("choice", kept.table_name(key), row), _chosen_row, key, row)


def _chosen_row(key: tuple, row: int) -> ChosenRow:
    """:func:`_one_level_choice` read from the table."""
    nest = key[0]
    table, candidates, counts = _table(*key)
    values = np.ones((1, len(nest.tiled_dims)), dtype=np.int64)
    tiling = _decode(nest, table, candidates, counts, row, values, np.zeros_like(values), 0)
    entry = table[row]
    moved = tuple(entry["role_moved"].tolist())
    output = nest.operands.index(nest.output)  # the output role moves only the output
    partial = kern.output_partial_read_bytes(kern.pack_nest(nest).operands,
                                             np.frombuffer(key[1], kern.COST), output,
                                             moved[kern.ROLE_OUTPUT])
    return ChosenRow(tiling, int(entry["tile_count"]), moved,  # type: ignore[arg-type]
                     tuple(entry["tile_bytes"].tolist()),  # type: ignore[arg-type]
                     int(partial))


def search_levels(nest: LoopNest, precision: Precision, levels: Sequence[TilingLevel], *,
                  compute_cycles: float, engine_bytes: Sequence[float],
                  homes: Mapping[str, int] | None = None) -> tuple[LevelTraffic, ...] | None:
    """Greedy search over a hierarchy (module docstring): the outermost on-chip level first,
    each level timed with ``engine_bytes[k]`` (bytes the engine or the level below moves
    through it, as the caller estimates them) and the link from the level above; None when
    some level fits nothing. Returns every on-chip level's tiling and traffic, innermost
    first."""
    _check_levels(levels, None)
    on_chip = len(levels) - 1
    homes = dict(homes or {})
    values = np.ones((on_chip, len(nest.tiled_dims)), dtype=np.int64)
    orders = np.zeros_like(values)
    chosen: dict[int, tuple] = {}
    for k in range(on_chip - 1, -1, -1):
        costs = level_costs(nest, precision, k, levels[k].holds, homes)
        rates = Rates(compute_cycles, engine_bytes[k], levels[k].bytes_per_cycle,
                      levels[k + 1].bytes_per_cycle, levels[k + 1].latency_cycles,
                      serial=min(levels[k].buffers.array) == 1,
                      transfer_setup_cycles=levels[k].transfer_setup_cycles,
                      burst_bytes=levels[k + 1].burst_bytes)
        found = _search_at(nest, values, orders, k, costs, levels[k].capacity,
                           levels[k].buffers, rates)
        if found is None:
            return None
        chosen[k] = found
    results = []
    for k in range(on_chip):
        costs = level_costs(nest, precision, k, levels[k].holds, homes)
        traffic, tiles = kern.level_traffic(nest, values, orders, k, costs)
        cycles, link, tiling, fastest, more = chosen[k]
        results.append(_level_result(nest, levels[k].name, tiling, traffic, tiles,
                                     levels[k].buffers, cycles, fastest, more, link))
    return tuple(results)
