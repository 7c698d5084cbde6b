"""Traffic of a tiling of any einsum loop nest through a memory hierarchy, and the search for
the best tiling, with their ``_ref`` specifications. The per-dimension summaries are plain
Python, built once per nest and cached; only the loops over every tiling (the table's rows,
their ranking and timing) are Numba-jitted, in :mod:`~perfsim.mapping.kernels.nest_kernels`
(imported on first use: :func:`~perfsim.mapping.kernels.nest_search.kernels`).

The nest is a :class:`perfsim.workload.loopnest.LoopNest`; nothing here knows a convolution.
Levels are numbered innermost first; the outermost (``L``, DRAM) holds everything. A tiling
gives every on-chip level ``j < L`` a value per cut dimension -- a tile size, or for a
dimension split into parts the number of parts -- that cuts each tile of level ``j + 1`` into
tiles of level ``j`` (inner tiles nest in outer ones; edge tiles are shorter), and a loop order
of the dimensions. The loops of all levels, outermost level first, walk the work.

**Fetches.** Each level keeps one tile of each operand (plus its prefetch buffers) and fetches
it from the level above when it changes. With the loops of one level over one tile of the
level above, an operand's tile is re-fetched once per iteration of every loop that does not
index it, outside its innermost indexing loop of more than one trip; and a tile covering its
parent's whole extent along the operand's dimensions is kept across consecutive parent tiles
that share it. Summed over every tile of the level above, both rules are products of
per-dimension sums (:func:`dim_summary`, :func:`_runs`): exact with edge tiles, halos and
parts, and never a walk over the tiles. Fetched elements times the element size are the
bytes read into a level; windows fetch exactly the in-bounds elements their outputs read
(halos re-fetched by neighbours, padding never); a bias travels with its weights tile that
starts at index 0 of the weights' other dimensions.

**Outputs.** An output tile visited ``r`` times writes ``r - 1`` partial sums (accumulator
precision) and reads ``r - 1`` back, plus its final value once (activation precision): with
``F`` output elements fetched and ``E`` distinct, ``F - E`` partial reads and writes.

**Working set**: per operand, the largest tile times its buffer element size; the caller
multiplies by the buffer count (``buffers`` per role), so the table is shared by every count.
An operand resident at a level (its home) costs no traffic there and above, and an input
resident there needs no tile buffer; an output keeps its accumulation buffer.

**Time** of a level's tiling: ``n`` tiles whose loads and stores keep the link from the level
above busy ``T`` cycles (``moved`` bytes at its bandwidth, rounded up to whole bursts, plus a
setup per transfer, one transfer per tile of each role: :func:`~.nest_kernels.link_cycles`)
overlap the engine's compute (or the level's own bandwidth if slower) ``C`` by buffering:
``(T + C)/n + (n - 1)/n * max(T, C)`` plus the link latency
(:func:`~.nest_kernels.pipeline_cycles`); with one buffer, ``T + C``.

**Search** (:func:`~.nest_kernels.level_table` then :func:`~.nest_kernels.rank_table`) at one
level, with the tilings of the levels above fixed: every combination of candidate values
(:func:`candidate_values`) in the nest's dimension order (first dimension outermost), each
with the loop order that moves the fewest bytes (first on ties); then, of the fitting rows
within :data:`CYCLE_TOLERANCE` of the least cycles, the one that moves the fewest bytes, then
has the fewest tiles, then the fewest cycles, first on ties.
Ranking by cycles alone picked tiny tiles whenever compute hid their traffic (a tile costs
nothing then), inflating every byte count behind it.
Loop orders permute the nest's loop classes (:func:`loop_classes`): dimensions that index the
same operands are interchangeable, and classes indexing every operand go outermost.
"""

from __future__ import annotations

import itertools
import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from perfsim.workload.loopnest import LoopNest, Plain, Spread, Window

MAX_LEVELS = 8
"""On-chip levels a tiling may have (the record arrays below are sized by it)."""
MAX_CANDIDATES = 64
"""Candidate values per dimension and level (2^63 bounds every size)."""
CYCLE_TOLERANCE = 0.01
"""The search's objective: least cycles, then, among tilings within this fraction of the
least, the fewest bytes moved into the level (traffic to the slower level above, and so its
energy), then the fewest tiles (the least per-transfer overhead, and the most room for the
levels inside), then the fewest cycles; first found on ties."""

SPLIT_HALVES, SPLIT_PARTS, SPLIT_SINGLE = 0, 1, 2
SPLIT_CODES = {"halves": SPLIT_HALVES, "parts": SPLIT_PARTS, "single": SPLIT_SINGLE}
ROLE_INPUT, ROLE_WEIGHTS, ROLE_OUTPUT = 0, 1, 2
ROLE_CODES = {"input": ROLE_INPUT, "weights": ROLE_WEIGHTS, "bias": ROLE_WEIGHTS,
              "output": ROLE_OUTPUT}
"""Buffer role of each operand role: a bias shares its weights' buffer."""
AXIS_PLAIN, AXIS_WINDOW, AXIS_SPREAD, AXIS_FIRST = 0, 1, 2, 3
"""How an axis reads a tile of its dimension: its span; the in-bounds elements its windows
read; its own length cut in the same parts; 1 element for the tile starting at 0, else none
(a bias along its weights' other dimensions)."""

DIM = np.dtype([("size", np.int64), ("split", np.int64)], align=True)
"""A cut dimension (dimensions split "whole" are folded into :data:`OPERAND`)."""
OPERAND = np.dtype([("role", np.int64), ("whole_elements", np.int64),
                    ("elements", np.int64)], align=True)
"""``whole_elements``: elements per point times the extents of the axes along uncut dimensions;
``elements``: distinct elements (used for outputs)."""
AXIS = np.dtype([("operand", np.int64), ("dim", np.int64), ("kind", np.int64),
                 ("extent", np.int64), ("stride", np.int64), ("dilation", np.int64),
                 ("window", np.int64), ("pad_before", np.int64)], align=True)
"""An operand's axis along a cut dimension ``dim``; ``extent`` is the tensor axis length
(windows: the input size; spread: its own length), ``window`` the filter size."""
COST = np.dtype([("element_bytes", np.int64), ("partial_bytes", np.int64),
                 ("buffer_bytes", np.int64), ("fetched", np.bool_), ("buffered", np.bool_)],
                align=True)
"""An operand at one level: bytes per element moved (finals), per partial sum, per element of
its tile buffer; whether its traffic into the level counts, whether it takes a tile buffer."""
CAPACITY = np.dtype([("split", np.bool_), ("shared_bytes", np.int64),
                     ("role_bytes", np.int64, (3,))], align=True)
"""Bytes for tiles: one pool (``shared_bytes``) or one per role (``role_bytes``)."""
RATES = np.dtype([("compute_cycles", np.float64), ("engine_bytes", np.float64),
                  ("level_bytes_per_cycle", np.float64), ("above_bytes_per_cycle", np.float64),
                  ("above_latency_cycles", np.float64), ("serial", np.bool_),
                  ("transfer_setup_cycles", np.float64), ("burst_bytes", np.float64),
                  ("engine_role_bytes", np.float64, (3,)),
                  ("port_bytes_per_cycle", np.float64, (3,))],
                 align=True)
"""Engine cycles, bytes the engine moves through the level, the level's bandwidth, the link
from the level above (bandwidth, latency), whether transfers wait for compute (a level with
one buffer of some operand cannot load the next tile while the current one computes), the
link's cost per transfer (setup cycles, and the burst its bytes are rounded up to); and, for a
level whose buffers have a port each (``port_bytes_per_cycle`` per role, zeros when they
share one), the engine's bytes per role."""
ROW = np.dtype([("moved_bytes", np.int64), ("tile_count", np.int64), ("order", np.int64),
                ("tile_bytes", np.int64, (3,)), ("role_moved", np.int64, (3,))], align=True)
"""A tiling in :func:`~.nest_kernels.level_table`: bytes its best order moves, tiles, that
order, the single-buffered tile bytes per role, and the bytes moved per role."""
TRAFFIC = np.dtype([("read_bytes", np.int64), ("partial_read_bytes", np.int64),
                    ("write_bytes", np.int64), ("tile_bytes", np.int64)], align=True)
"""An operand's bytes into a level (reads), partial sums read back, bytes written back, and
its single-buffered tile."""
TERM_ROLE, TERM_WHOLE, TERM_FETCHED, TERM_PER_FETCHED, TERM_FIXED, TERM_TILE = range(6)
"""Columns of :func:`operand_terms`, what the table kernel reads of an operand at one level:
its buffer role, whole elements (:data:`OPERAND`), whether its traffic counts
(:data:`COST`), the bytes it moves per element fetched and whatever the fetches
(:func:`_moved_line`), and what its tile's bytes are its axes' largest extents times
(:func:`_tile_scale`)."""
FACTOR_OUTSIDE, FACTOR_INSIDE, FACTOR_MULTI, FACTOR_TOP, FACTOR_LARGEST = range(5)
"""The last index of :func:`dim_factors`: an operand's factors of a dimension in
:func:`_runs`, and in the products over its axes of their top and largest extents."""

# ----------------------------------------------------------------------------- tiles
# Plain Python: a dimension's summaries depend on the nest and the values above only, are
# cached, and cost little beside what compiling them in Numba cost (about 2.5 CPU-s).


def candidate_values(extent: int, split: int) -> tuple[int, ...]:
    """Values a level may give a dimension whose largest tile above spans ``extent``, in
    search order: tile sizes ``ceil(extent / 2^i)`` ascending (halves), part counts 1, 2,
    4, ... up to ``extent`` (parts), or 1 (single)."""
    if split == SPLIT_SINGLE:
        return (1,)
    if split == SPLIT_PARTS:
        found = []
        parts = 1
        while parts <= extent:
            found.append(parts)
            parts *= 2
        return tuple(found)
    found = []  # halving from the whole extent: found in descending order, returned ascending
    parts = 1
    while True:
        t = -(-extent // parts)
        if not found or t != found[-1]:
            found.append(t)
        if t == 1:
            break
        parts *= 2
    return tuple(reversed(found))


def _share(extent: int, parts: int, i: int) -> int:
    """Length of part ``i`` when ``extent`` is cut into ``parts`` parts of ``ceil`` size."""
    size = -(-extent // parts)
    return min(size, max(0, extent - i * size))


def _children(length: int, split: int, value: int) -> int:
    """How many tiles ``value`` cuts a tile of ``length`` into (parts: ``value``, some empty)."""
    if split == SPLIT_PARTS:
        return value
    return -(-length // value)


def _child(start: int, length: int, split: int, value: int, i: int) -> tuple[int, int]:
    """(start, length) of child ``i`` of a tile ``[start, start + length)``."""
    if split == SPLIT_PARTS:
        return start + i * -(-length // value), _share(length, value, i)
    return start + i * value, min(value, length - i * value)


def window_extent(start: int, count: int, stride: int, kernel: int, dilation: int, pad: int,
                  size: int) -> int:
    """In-bounds elements of an axis of ``size`` that outputs ``[start, start + count)`` read
    through windows ``stride * o + dilation * f - pad``, ``f < kernel``."""
    if count <= 0:
        return 0
    if dilation == 1 and stride <= kernel:  # windows overlap or touch: one span
        lo = start * stride - pad
        hi = (start + count - 1) * stride - pad + kernel
        return max(0, min(hi, size) - max(lo, 0))
    if dilation == 1:  # disjoint windows: each its own clipped span
        total = 0
        for o in range(start, start + count):
            lo = o * stride - pad
            total += max(0, min(lo + kernel, size) - max(lo, 0))
        return total
    return len({r for o in range(start, start + count) for f in range(kernel)
                if 0 <= (r := o * stride - pad + f * dilation) < size})


def _axis_extent(axis: tuple, start: int, length: int, parent_extent: int, value: int,
                 i: int) -> int:
    """Extent of an axis (an :data:`AXIS` record as a tuple) on child ``i`` (span ``[start,
    start + length)``) of a tile whose extent on that axis is ``parent_extent``."""
    _, _, kind, extent, stride, dilation, window, pad = axis
    if kind == AXIS_PLAIN:
        return length
    if kind == AXIS_WINDOW:
        return window_extent(start, length, stride, window, dilation, pad, extent)
    if kind == AXIS_SPREAD:
        return _share(parent_extent, value, i)
    return 1 if start == 0 else 0


def _largest_tile(size: int, split: int, column: tuple[int, ...]) -> int:
    """Span of the largest tile of a dimension cut by ``column`` (its values at the levels
    above, innermost first; the first tile is the largest)."""
    length = size
    for value in reversed(column):
        length = -(-length // value) if split == SPLIT_PARTS else min(length, value)
    return length


def _segments(start: int, length: int, split: int, value: int, parent_extents: list[int],
              axes: list[tuple]) -> list[int]:
    """Runs ``[marks[i], marks[i + 1])`` of children of a tile ``[start, start + length)``
    (extents ``parent_extents`` per axis) that are alike, and so have alike subtrees: same
    length and extents, and none but the first starting where its parent starts; the marks,
    ascending. A window's extent depends on where a child lies only when some of its windows
    cross the axis's edge: a child whose windows all land inside reads as many elements as
    any other of its length, so only the children near the edges stand alone. A tile has a few
    runs however many children it has."""
    n = _children(length, split, value)
    step = -(-length // value) if split == SPLIT_PARTS else value  # a whole child's length
    whole = length // step if length > 0 else 0
    marks = {0, n, min(1, n), min(whole, n), min(whole + 1, n)}  # a bias's first tile at 0
    inside_from, inside_to = 0, n  # children whose windows all land inside the axis
    for (_, _, kind, extent, stride, dilation, window, pad), e in zip(axes, parent_extents):
        if kind == AXIS_SPREAD:
            full = e // -(-e // value) if e > 0 else 0
            marks.update((min(full, n), min(full + 1, n)))
        elif kind == AXIS_WINDOW:
            # child i starts at start + i * step: its first window starts inside when
            # (start + i * step) * stride >= pad, its last ends inside when start + i * step
            # <= last, the last output whose window ends inside, less the child's length - 1
            first_output = -(-pad // stride)
            last = (extent + pad - (window - 1) * dilation - 1) // stride - (step - 1)
            inside_from = max(inside_from, -(-(first_output - start) // step))
            inside_to = min(inside_to, (last - start) // step + 1)
    if inside_from < inside_to:
        marks.update(range(min(inside_from, n)))
        marks.update(range(max(inside_to, 0), n + 1))
        marks.add(inside_from)
    elif any(axis[2] == AXIS_WINDOW for axis in axes):
        marks.update(range(n + 1))
    return sorted(marks)


class DimSummary(NamedTuple):
    """A cut dimension's tiles summarised for :func:`_runs` (:func:`dim_summary`), indexed by
    absolute level, ``MAX_LEVELS (+ 1)`` long and zero outside the levels summarised."""

    trips: tuple[int, ...]
    """``trips[j]``: its level-``j`` tiles summed over the tiles of level ``j + 1``."""
    count: tuple[int, ...]
    """``count[j]``: its tiles at level ``j``."""
    extent_sum: tuple[tuple[int, ...], ...]
    """``extent_sum[s][2 * j + state]``, for its axis in slot ``s`` (``dim_axes[d]``): over the
    level-``j + 1`` tiles cut in one (``state = 0``) or several (``1``) tiles at level ``j``,
    the sum of the extents of those children whose subtree down to level ``k`` is one tile."""
    top: tuple[int, ...]
    """Per slot, the whole extent if the whole dimension is one tile down to ``k``, else 0."""
    max_extent: tuple[int, ...]
    """Per slot, the largest extent at level ``k``."""


@lru_cache(maxsize=4096)
def _dim_spec(nest: LoopNest, d: int) -> tuple[int, int, tuple[tuple, ...]]:
    """Size and split of cut dimension ``d`` and its axes (:data:`AXIS` records as tuples)."""
    packed = pack_nest(nest)
    size, split = packed.dims[d].tolist()
    return size, split, tuple(packed.axes[a].tolist() for a in packed.dim_axes[d].tolist()
                              if a >= 0)


@lru_cache(maxsize=65536)
def dim_summary(nest: LoopNest, d: int, k: int, column: tuple[int, ...]) -> DimSummary:
    """Summarise cut dimension ``d`` of ``nest`` cut by ``column[j - k]`` at levels ``k <= j <
    L = k + len(column)`` (cached: summaries depend on neither costs, capacities nor rates).

    Builds the tree of its tiles (level ``L`` is the whole dimension) with each axis's
    extent per tile, marks the tiles whose subtree down to level ``k`` is one tile, and sums.
    Alike siblings (:func:`_segments`) have alike subtrees: the tree keeps one node per run of
    them, with the run's ``weight``."""
    size, split, axes = _dim_spec(nest, d)
    levels = k + len(column)
    # the root: the whole dimension, as the one child of a notional parent
    start, length, weight = [0], [size], [1]
    extent = [[axis[3] if axis[2] == AXIS_SPREAD else _axis_extent(axis, 0, size, 0, 1, 0)
               for axis in axes]]
    first, runs_of, children = [0], [0], [0]
    offset, nodes = [0] * (levels + 1), [0] * (levels + 1)
    nodes[levels] = 1
    for j in range(levels - 1, k - 1, -1):
        offset[j] = len(start)
        value = column[j - k]
        for parent in range(offset[j + 1], offset[j + 1] + nodes[j + 1]):
            children[parent] = _children(length[parent], split, value)
            marks = _segments(start[parent], length[parent], split, value,
                              extent[parent], axes)
            first[parent] = len(start)
            runs_of[parent] = len(marks) - 1
            for r in range(len(marks) - 1):
                i = marks[r]
                s0, n0 = _child(start[parent], length[parent], split, value, i)
                start.append(s0)
                length.append(n0)
                weight.append(weight[parent] * (marks[r + 1] - i))
                extent.append([_axis_extent(axis, s0, n0, e, value, i)
                               for axis, e in zip(axes, extent[parent])])
                first.append(0)
                runs_of.append(0)
                children.append(0)
        nodes[j] = len(start) - offset[j]
    # A tile is kept across its parents' iterations only if its subtree is one tile down to k.
    single = [True] * len(start)
    for j in range(k + 1, levels + 1):
        for node in range(offset[j], offset[j] + nodes[j]):
            single[node] = children[node] == 1 and single[first[node]]
    count = [0] * (MAX_LEVELS + 1)
    trips = [0] * MAX_LEVELS
    for j in range(k, levels + 1):
        count[j] = sum(weight[offset[j]:offset[j] + nodes[j]])
    sums = [[0] * (2 * MAX_LEVELS) for _ in axes]
    for j in range(k, levels):
        tiles = 0
        for parent in range(offset[j + 1], offset[j + 1] + nodes[j + 1]):
            tiles += weight[parent] * children[parent]
            at = 2 * j + (1 if children[parent] > 1 else 0)
            for node in range(first[parent], first[parent] + runs_of[parent]):
                if single[node]:
                    for s, e in enumerate(extent[node]):
                        sums[s][at] += weight[node] * e
        trips[j] = tiles
    level_k = extent[offset[k]:offset[k] + nodes[k]]
    return DimSummary(tuple(trips), tuple(count), tuple(map(tuple, sums)),
                      tuple(extent[0]) if single[0] else (0,) * len(axes),
                      tuple(map(max, zip((0,) * len(axes), *level_k))))


@lru_cache(maxsize=16384)
def _dim_columns(nest: LoopNest, d: int, k: int, above: tuple[int, ...]):
    """The candidate values of cut dimension ``d`` at level ``k`` (``above``: its values at the
    levels above, innermost first) and their :func:`dim_summary` fields stacked, one column per
    candidate: ``trips`` and ``count`` (candidates, levels), ``extent_sum`` (slots,
    candidates, levels, 2), ``top`` and ``max_extent`` (slots, candidates). Cached: do not
    modify them."""
    size, split, _ = _dim_spec(nest, d)
    found = candidate_values(_largest_tile(size, split, above), split)
    summaries = [dim_summary(nest, d, k, (value,) + above) for value in found]
    slots = len(summaries[0].top)

    def stack(field, shape):
        return np.array([getattr(s, field) for s in summaries], dtype=np.int64).reshape(
            (len(found), slots) + shape).swapaxes(0, 1)

    return (np.array(found, dtype=np.int64),
            np.array([s.trips for s in summaries], dtype=np.int64),
            np.array([s.count for s in summaries], dtype=np.int64),
            stack("extent_sum", (MAX_LEVELS, 2)), stack("top", ()), stack("max_extent", ()))


def _fill_summary(packed, d: int, col: int, summary: DimSummary, trips, count, extent_sum,
                  top, max_extent) -> None:
    """Writes ``summary`` of dimension ``d`` into column ``col`` of the kernels' arrays
    (``trips[d, col, j]``, ``count[d, col, j]``, ``extent_sum[a, col, j, state]``,
    ``top[a, col]``, ``max_extent[a, col]`` for each axis ``a`` along ``d``)."""
    trips[d, col] = summary.trips
    count[d, col] = summary.count
    for s, a in enumerate(packed.dim_axes[d].tolist()[:len(summary.top)]):
        extent_sum[a, col].flat = summary.extent_sum[s]  # (MAX_LEVELS, 2), row by row
        top[a, col] = summary.top[s]
        max_extent[a, col] = summary.max_extent[s]


# ----------------------------------------------------------------------------- fetch counts


def dim_factors(axis_of, j: int, trips, count, extent_sum, top, max_extent):
    """Each operand's factors of each cut dimension, per column of the summaries of
    :func:`dim_summary` (``trips``, ``count``, ``extent_sum``, ``top``, ``max_extent``: every
    axis and dimension at once, as :func:`~.nest_kernels.level_table` lays them out): an array
    (operands, dimensions, columns, 5) indexed last by :data:`FACTOR_OUTSIDE` ...
    :data:`FACTOR_LARGEST`.

    Its factors in :func:`_runs` at level ``j``, summed over the tiles of level ``j + 1``: a
    dimension indexing the operand gives its extents (of all tiles; of the tiles with one
    child; with several); one that does not gives its trips and its tile count (and is never
    the innermost indexing loop). Its factors in the products over its axes: the extent of its
    axis along the dimension at the level summarised (the top extent, for the elements fetched
    once for the whole run; the largest, for its tile), or 1 where it has none.

    A factor depends on its dimension's column alone: worked out here for every column at once,
    the kernels multiply them per row (a loop working them out is Numba compiling it on a
    first run)."""
    n_axes, n_dims = extent_sum.shape[0], trips.shape[0]
    # the factors of each axis, then of each dimension for the operands without an axis on it
    factors = np.ones((n_axes + n_dims,) + trips.shape[1:2] + (5,), dtype=np.int64)
    along, across = factors[:n_axes], factors[n_axes:]
    one, several = extent_sum[:, :, j, 0], extent_sum[:, :, j, 1]
    along[:, :, FACTOR_OUTSIDE] = one + several
    along[:, :, FACTOR_INSIDE] = one
    along[:, :, FACTOR_MULTI] = several
    along[:, :, FACTOR_TOP] = top
    along[:, :, FACTOR_LARGEST] = max_extent
    across[:, :, FACTOR_OUTSIDE] = trips[:, :, j]
    across[:, :, FACTOR_INSIDE] = count[:, :, j + 1]
    across[:, :, FACTOR_MULTI] = 0
    return factors[np.where(axis_of >= 0, axis_of, n_axes + np.arange(n_dims))]


def _runs(orders, o: int, outside, inside, multi, op: int) -> int:
    """Elements operand ``op`` fetches by one level's loops over every tile of the level
    above, for the tiles that do not stay. ``orders[o]`` lists the loops outermost first; a
    loop is a dimension, or a loop class (its dimensions' factors multiplied: all index the
    operand or none do, and within a class the sum telescopes to the product). Row ``op`` of
    the arrays holds each loop's factors (:func:`dim_factors`).

    Summed over the innermost indexing loop ``q`` of more than one trip: loops outside ``q``
    contribute all their trips (re-fetches of the non-indexing ones, extents of the indexing
    ones), ``q`` its extents, loops inside ``q`` one trip (indexing loops of one trip,
    non-indexing loops once per tile). Evaluated inside out, Horner-fashion, branch-free."""
    total = 0
    suffix = 1
    for p in range(orders.shape[1] - 1, -1, -1):
        g = orders[o, p]
        total = multi[op, g] * suffix + outside[op, g] * total
        suffix *= inside[op, g]
    return total


def _bytes_moved(operand: tuple, cost: tuple, fetched: int):
    """(reads, partial reads, writes) of an operand (its :data:`OPERAND` and :data:`COST`
    records as tuples) when it fetches ``fetched`` elements."""
    role, _, elements = operand
    element_bytes, partial_bytes, _, counted, _ = cost
    if not counted:
        return 0, 0, 0
    if role == ROLE_OUTPUT:
        partial = (fetched - elements) * partial_bytes
        return 0, partial, elements * element_bytes + partial
    return fetched * element_bytes, 0, 0


def _moved_line(operand: tuple, cost: tuple) -> tuple[int, int]:
    """(bytes per element fetched, bytes whatever the fetches) of an operand (records as
    tuples): the bytes it moves, read and written (:func:`_bytes_moved`), are affine in the
    elements it fetches, so their sums at 0 and 1 give them, and the table kernel moves an
    operand's bytes with one multiply and add (the same integers: the sums are a polynomial
    in the fetches)."""
    fixed = sum(_bytes_moved(operand, cost, 0))
    return sum(_bytes_moved(operand, cost, 1)) - fixed, fixed


def output_partial_read_bytes(operands, costs, op: int, moved: int) -> int:
    """The partial sums output ``op`` reads back when it moves ``moved`` bytes in all, read
    and written (:func:`_bytes_moved`: it writes its final values and, beside them, as many
    partial-sum bytes as it reads back)."""
    if not costs[op]["fetched"]:
        return 0
    return (moved - operands[op]["elements"] * costs[op]["element_bytes"]) // 2


def _tile_scale(operand: tuple, cost: tuple) -> int:
    """What the bytes of an operand's single-buffered tile (records as tuples) are the product
    of its axes' largest extents (:data:`FACTOR_LARGEST`) times: its whole elements times its
    buffer's bytes per element, or 0 if it takes no buffer."""
    return operand[1] * cost[2] if cost[4] else 0


def operand_terms(operands, costs) -> np.ndarray:
    """What the table kernel (:func:`~.nest_kernels._rows`) reads of each operand at a level,
    its :data:`OPERAND` and :data:`COST` records turned into a row of :data:`TERM_ROLE` ...
    :data:`TERM_TILE` (int64)."""
    return np.array([(operand[0], operand[1], cost[3], *_moved_line(operand, cost),
                      _tile_scale(operand, cost))
                     for operand, cost in zip(operands.tolist(), costs.tolist())],
                    dtype=np.int64).reshape(-1, 6)



def level_traffic(nest: LoopNest, values, orders, k: int, costs):
    """Traffic into level ``k`` of the tiling ``values[j, d]`` / ``orders[j]`` (dimension
    indices, outermost first) of levels ``k <= j < L``: one :data:`TRAFFIC` record per
    operand (cached: do not modify it), and the number of level-``k`` tiles."""
    return _level_traffic(nest, values[k:].tobytes(), orders[k:].tobytes(), values.shape[1],
                          costs.tobytes())


@lru_cache(maxsize=65536)
def _level_traffic(nest: LoopNest, values: bytes, orders: bytes, n_dims: int, costs: bytes):
    """:func:`level_traffic` of the levels from ``k`` up (renumbered from 0), the arrays as
    bytes so that they hash: a sweep's points choose the same tilings again and again."""
    values = np.frombuffer(values, np.int64).reshape(-1, n_dims)
    orders = np.frombuffer(orders, np.int64).reshape(-1, n_dims)
    costs = np.frombuffer(costs, COST)
    packed = pack_nest(nest)
    operands, axis_of = packed.operands, packed.axis_of
    n_axes = packed.axes.shape[0]
    trips = np.zeros((n_dims, 1, MAX_LEVELS), dtype=np.int64)
    count = np.zeros((n_dims, 1, MAX_LEVELS + 1), dtype=np.int64)
    extent_sum = np.zeros((n_axes, 1, MAX_LEVELS, 2), dtype=np.int64)
    top = np.zeros((n_axes, 1), dtype=np.int64)
    max_extent = np.zeros((n_axes, 1), dtype=np.int64)
    for d in range(n_dims):
        _fill_summary(packed, d, 0, dim_summary(nest, d, 0, tuple(values[:, d].tolist())),
                      trips, count, extent_sum, top, max_extent)
    # the factors of every dimension's one column, per level: (operands, dimensions, 5)
    factors = [dim_factors(axis_of, j, trips, count, extent_sum, top, max_extent)[:, :, 0]
               for j in range(values.shape[0])]
    out = np.zeros(operands.shape[0], dtype=TRAFFIC)
    for op, (operand, cost) in enumerate(zip(operands.tolist(), costs.tolist())):
        fetched = np.prod(factors[0][op, :, FACTOR_TOP])  # fetched once for the whole run
        for j, level in enumerate(factors):
            fetched += _runs(orders, j, level[:, :, FACTOR_OUTSIDE], level[:, :, FACTOR_INSIDE],
                             level[:, :, FACTOR_MULTI], op)
        fetched *= operand[1]
        out[op] = (*_bytes_moved(operand, cost, fetched),
                   _tile_scale(operand, cost) * np.prod(factors[0][op, :, FACTOR_LARGEST]))
    tiles = 1
    for d in range(n_dims):
        tiles *= count[d, 0, 0]
    return out, int(tiles)


# ----------------------------------------------------------------------------- loop classes


def loop_classes(nest: LoopNest) -> tuple[tuple[tuple[str, ...], ...], int]:
    """The nest's loop classes (cut dimensions that index the same operands, a bias counting as
    its weights), in order of first appearance with the sequential dimension's and the classes
    that index every operand first; and how many of those lead. Loops of one class are
    interchangeable at a level: the same operands change tile with each of them."""
    owners = [op for op in nest.operands if op.role != "bias"]
    everything = frozenset(op.name for op in owners)
    groups: dict[frozenset, list[str]] = {}
    steps = [d for d in nest.tiled_dims if d == nest.sequential]
    for d in nest.tiled_dims:
        if d not in steps:
            groups.setdefault(frozenset(op.name for op in owners if d in op.dims), []).append(d)
    # a sequential dimension is a class of its own, outermost: one step after another
    lead = [tuple(steps)] * bool(steps) + [tuple(g) for s, g in groups.items()
                                           if s == everything]
    rest = [tuple(g) for s, g in groups.items() if s != everything]
    return tuple(lead + rest), len(lead)


def search_orders(nest: LoopNest) -> tuple[tuple[str, ...], ...]:
    """The loop orders the search tries (cut dimensions, outermost first): the classes that
    index every operand lead, the others in every permutation, in lexicographic order of
    their first appearance."""
    classes, lead = loop_classes(nest)
    head = tuple(d for c in classes[:lead] for d in c)
    return tuple(head + tuple(d for c in perm for d in c)
                 for perm in itertools.permutations(classes[lead:]))


class PackedNest(NamedTuple):
    """A nest as the kernels read it (arrays in nest order; do not modify them)."""

    dims: np.ndarray
    """:data:`DIM` per cut dimension."""
    operands: np.ndarray
    """:data:`OPERAND` per operand."""
    axes: np.ndarray
    """:data:`AXIS` per operand axis along a cut dimension (a bias has one along each of its
    weights' cut dimensions)."""
    axis_of: np.ndarray
    """``axis_of[op, d]``: the axis of operand ``op`` along cut dimension ``d``, or -1."""
    dim_axes: np.ndarray
    """``dim_axes[d]``: the axes along cut dimension ``d``, padded with -1."""
    classes: np.ndarray
    """``classes[d]``: the loop class (:func:`loop_classes`) of cut dimension ``d``."""
    class_orders: np.ndarray
    """``class_orders[o]``: the classes of search order ``o``, outermost first."""
    indexing: np.ndarray
    """``indexing[op, c]``: 1 if loop class ``c`` indexes operand ``op`` (its dimensions all do,
    or none does), else 0."""
    orders: np.ndarray
    """``orders[o]``: :func:`search_orders` as cut-dimension indices."""
    dim_names: tuple[str, ...]
    operand_names: tuple[str, ...]


@lru_cache(maxsize=1024)
def pack_nest(nest: LoopNest) -> PackedNest:
    """The arrays of ``nest`` (cached: nests are immutable)."""
    tiled = nest.tiled_dims
    index = {d: i for i, d in enumerate(tiled)}
    dims = np.zeros(len(tiled), dtype=DIM)
    for i, d in enumerate(tiled):
        dims[i] = (nest.size(d), SPLIT_CODES[nest.dim(d).split])
    operands = np.zeros(len(nest.operands), dtype=OPERAND)
    axis_rows = []
    axis_of = np.full((len(nest.operands), len(tiled)), -1, dtype=np.int64)
    for o, op in enumerate(nest.operands):
        whole = op.elements_per_point
        if op.travels_with:  # along its weights' axes, one element only on their first tile
            host = nest.operand(op.travels_with)
            axes = [a if a.dim in op.dims else None for a in host.axes]
        else:
            axes = list(op.axes)
        for position, axis in enumerate(axes):
            dim = (axis.out if isinstance(axis, Window) else
                   host.axes[position].dim if axis is None else axis.dim)
            if dim not in index:
                whole *= nest.axis_elements(axis) if axis is not None else 1
                continue
            if axis is None:
                row = (o, index[dim], AXIS_FIRST, 1, 1, 1, 1, 0)
            elif isinstance(axis, Plain):
                row = (o, index[dim], AXIS_PLAIN, nest.size(dim), 1, 1, 1, 0)
            elif isinstance(axis, Spread):
                row = (o, index[dim], AXIS_SPREAD, axis.size, 1, 1, 1, 0)
            else:
                row = (o, index[dim], AXIS_WINDOW, axis.size, axis.stride, axis.dilation,
                       nest.size(axis.filter), axis.pad_before)
            axis_of[o, index[dim]] = len(axis_rows)
            axis_rows.append(row)
        operands[o] = (ROLE_CODES[op.role], whole, nest.elements(op.name))
    axes_array = np.array(axis_rows, dtype=AXIS)
    widest = max([sum(1 for r in axis_rows if r[1] == d) for d in range(len(tiled))] + [1])
    dim_axes = np.full((len(tiled), widest), -1, dtype=np.int64)
    for d in range(len(tiled)):
        found = [a for a, r in enumerate(axis_rows) if r[1] == d]
        dim_axes[d, :len(found)] = found
    groups, lead = loop_classes(nest)
    classes = np.array([next(c for c, g in enumerate(groups) if d in g) for d in tiled],
                       dtype=np.int64)
    class_orders = np.array([list(range(lead)) + [lead + c for c in perm] for perm in
                             itertools.permutations(range(len(groups) - lead))],
                            dtype=np.int64).reshape(-1, len(groups))
    indexing = np.zeros((len(nest.operands), len(groups)), dtype=np.int64)
    for d in range(len(tiled)):
        indexing[:, classes[d]] = axis_of[:, d] >= 0
    orders = np.array([[index[d] for d in order] for order in search_orders(nest)],
                      dtype=np.int64).reshape(-1, len(tiled))
    return PackedNest(dims, operands, axes_array, axis_of, dim_axes, classes, class_orders,
                      indexing, orders, tiled, tuple(op.name for op in nest.operands))


# ----------------------------------------------------------------------------- references


def _cut(start: int, length: int, split: str, value: int) -> list[tuple[int, int]]:
    """The tiles one level cuts ``[start, start + length)`` into (spans, in order)."""
    if split == "parts":
        size = math.ceil(length / value)
        return [(start + i * size, min(size, max(0, length - i * size)))
                for i in range(value)]
    return [(s, min(value, start + length - s)) for s in range(start, start + length, value)]


def _span(nest: LoopNest, dim: str, path: tuple[int, ...], tilings) -> tuple[int, int]:
    """The span of the tile reached by ``path`` (child indices, outermost level first)."""
    d = nest.dim(dim)
    start, length = 0, d.size
    for depth, i in enumerate(path):
        level = len(tilings) - 1 - depth
        start, length = _cut(start, length, d.split, tilings[level][dim])[i]
    return start, length


def _spread_length(extent: int, path: tuple[int, ...], dim: str, tilings) -> int:
    """A spread axis's length on the tile reached by ``path``: its own extent cut in parts."""
    for depth, i in enumerate(path):
        extent = _cut(0, extent, "parts", tilings[len(tilings) - 1 - depth][dim])[i][1]
    return extent


def window_extent_ref(start: int, count: int, stride: int, kernel: int, dilation: int,
                      pad: int, size: int) -> int:
    """The specification of :func:`window_extent`: the set of elements the windows of outputs
    ``[start, start + count)`` land on, kept if inside the axis."""
    rows = {o * stride + f * dilation - pad for o in range(start, start + count)
            for f in range(kernel)}
    return len({r for r in rows if 0 <= r < size})


def tile_elements_ref(nest: LoopNest, name: str, paths: dict, tilings) -> int:
    """Elements of operand ``name``'s tile where each cut dimension is at ``paths[dim]``: the
    product over its axes of the elements they hold, windows counting the distinct in-bounds
    elements their outputs read; a bias has elements only on its weights' tile starting at 0
    along the weights' other dimensions."""
    op = nest.operand(name)

    def span(dim):
        if nest.dim(dim).split == "whole":
            return 0, nest.size(dim)
        return _span(nest, dim, paths[dim], tilings)

    count = op.elements_per_point
    for axis in op.axes:
        if isinstance(axis, Plain):
            count *= span(axis.dim)[1]
        elif isinstance(axis, Spread):
            count *= _spread_length(axis.size, paths[axis.dim], axis.dim, tilings)
        else:
            o0, n = span(axis.out)
            count *= window_extent_ref(o0, n, axis.stride, nest.size(axis.filter),
                                       axis.dilation, axis.pad_before, axis.size)
    if op.travels_with:
        for dim in nest.operand(op.travels_with).dims:
            if dim not in op.dims and span(dim)[0] != 0:
                return 0
    return count


def levels_traffic_ref(nest: LoopNest, tilings, orders, costs):
    """The specification of :func:`level_traffic` at every level at once: walk the loops of
    all levels (``tilings[j]`` maps each cut dimension to its value at on-chip level ``j``,
    innermost first; ``orders[j]`` lists the cut dimensions outermost first), keep one tile
    per operand per level, fetch it when it changes, and count. ``costs[j][op]`` is the
    :data:`COST` record of operand ``op`` (nest order) at level ``j``.

    Returns, per level, ``(per-operand (reads, partial reads, writes, tile bytes), tiles)``."""
    levels = len(tilings)
    tiled = nest.tiled_dims
    names = [op.name for op in nest.operands]
    keys = {}
    for op in nest.operands:
        host = nest.operand(op.travels_with) if op.travels_with else op
        keys[op.name] = tuple(d for d in tiled if d in host.dims)
    resident = [{n: None for n in names} for _ in range(levels)]
    fetched = [{n: 0 for n in names} for _ in range(levels)]
    largest = [{n: 0 for n in names} for _ in range(levels)]
    runs: list[dict] = [{} for _ in range(levels)]
    partial_reads = [{n: 0 for n in names} for _ in range(levels)]
    tiles = [0] * levels

    def visit(paths):
        for j in range(levels):
            at_level = {d: paths[d][:levels - j] for d in tiled}
            for name in names:
                tile = tuple(at_level[d] for d in keys[name])
                size = tile_elements_ref(nest, name, at_level, tilings)
                largest[j][name] = max(largest[j][name], size)
                if resident[j][name] != tile:
                    resident[j][name] = tile
                    fetched[j][name] += size
                    seen = runs[j].get((name, tile), 0)
                    if seen:  # its partial sums went up last time: read them back
                        partial_reads[j][name] += size
                    runs[j][(name, tile)] = seen + 1

    def walk(j, paths):
        spans = {d: _span(nest, d, paths[d], tilings) for d in tiled}
        pieces = [range(len(_cut(*spans[d], nest.dim(d).split, tilings[j][d])))
                  for d in orders[j]]
        for combo in itertools.product(*pieces):
            tiles[j] += 1
            inner = dict(paths)
            for d, i in zip(orders[j], combo):
                inner[d] = paths[d] + (i,)
            if j == 0:
                visit(inner)
            else:
                walk(j - 1, inner)

    walk(levels - 1, {d: () for d in tiled})
    results = []
    for j in range(levels):
        per_op = []
        for index, op in enumerate(nest.operands):
            cost = costs[j][index]
            tile = int(cost["buffer_bytes"]) * largest[j][op.name] if cost["buffered"] else 0
            if not cost["fetched"]:
                per_op.append((0, 0, 0, tile))
            elif op.role == "output":
                partial = partial_reads[j][op.name] * int(cost["partial_bytes"])
                final = nest.elements(op.name) * int(cost["element_bytes"])
                per_op.append((0, partial, final + partial, tile))
            else:
                per_op.append((fetched[j][op.name] * int(cost["element_bytes"]), 0, 0, tile))
        results.append((per_op, tiles[j]))
    return results


def candidate_values_ref(extent: int, split: str) -> list[int]:
    """The specification of :func:`candidate_values`."""
    if split == "single":
        return [1]
    if split == "parts":
        return [2 ** i for i in range(extent.bit_length()) if 2 ** i <= extent]
    return sorted({math.ceil(extent / 2 ** i) for i in range(extent.bit_length() + 1)})


def link_cycles_ref(role_moved, role_tile_bytes, rates) -> float:
    """The specification of :func:`~.nest_kernels.link_cycles`: a transfer per tile of each
    role, each paying its setup and carrying whole bursts."""
    transfers, padded = 0, 0
    for moved, tile in zip(role_moved, role_tile_bytes):
        if moved <= 0:
            continue
        count = math.ceil(moved / tile) if tile > 0 else 1
        per_transfer = moved / count
        burst = rates["burst_bytes"]
        transfers += count
        padded += count * math.ceil(per_transfer / burst) * burst if burst > 1 else moved
    return padded / rates["above_bytes_per_cycle"] + transfers * rates["transfer_setup_cycles"]


def pipeline_cycles_ref(role_moved, link: float, tile_count: int, rates) -> float:
    """The specification of :func:`~.nest_kernels.pipeline_cycles`: walk ``n`` equal tiles
    through load, compute and store stages with one transfer link and add up the time; the
    level's time is its bytes over its bandwidth, or its busiest port's."""
    step = link / tile_count
    moved_bytes = sum(role_moved)
    if rates["port_bytes_per_cycle"][0] > 0:
        level = max((e + m) / bw for e, m, bw in zip(rates["engine_role_bytes"], role_moved,
                                                      rates["port_bytes_per_cycle"]))
    else:
        level = (rates["engine_bytes"] + moved_bytes) / rates["level_bytes_per_cycle"]
    compute = max(rates["compute_cycles"], level) / tile_count
    if rates["serial"]:  # one buffer: every tile loads, then computes
        time = tile_count * (step + compute)
    else:
        # The first tile's transfer is exposed, then each step moves one tile's bytes while
        # the engine computes one tile; the last tile's compute is exposed.
        time = step + (tile_count - 1) * max(step, compute) + compute
    if moved_bytes > 0:
        time += rates["above_latency_cycles"]
    return round(time, 6)


def search_level_ref(nest: LoopNest, tilings, orders, k: int, costs, buffers, capacity, rates):
    """The specification of :func:`~.nest_kernels.level_table` then
    :func:`~.nest_kernels.rank_table`: with the levels above ``k`` fixed (``tilings[j]``,
    ``orders[j]`` for ``j > k``), try every candidate value of every cut dimension (in the
    nest's order, first outermost) and every order of :func:`search_orders`; keep what fits; of
    those within :data:`CYCLE_TOLERANCE` of the least cycles, take the fewest bytes moved into
    level ``k``, then the fewest tiles, then the fewest cycles, first found on ties. Returns
    ``(cycles, moved, values, order)`` or None."""
    above = {j: tilings[j] for j in range(k + 1, len(tilings))}
    options = []
    for dim in nest.tiled_dims:
        d = nest.dim(dim)
        parent = d.size
        for j in sorted(above, reverse=True):
            parent = max(n for _, n in _cut(0, parent, d.split, above[j][dim]))
        options.append(candidate_values_ref(parent, d.split))
    fitting = []
    for values in itertools.product(*options):
        tiling = dict(zip(nest.tiled_dims, values))
        for order in search_orders(nest):
            sub_tilings = [tiling] + [above[j] for j in sorted(above)]
            sub_orders = [order] + [orders[j] for j in sorted(above)]
            per_op, tiles = levels_traffic_ref(nest, sub_tilings, sub_orders,
                                               [costs[j] for j in range(k, len(tilings))])[0]
            role_bytes = [0, 0, 0]
            for op, (_, _, _, tile) in zip(nest.operands, per_op):
                role_bytes[ROLE_CODES[op.role]] += tile
            need = [b * t for b, t in zip(buffers, role_bytes)]
            if capacity["split"]:
                ok = all(n <= c for n, c in zip(need, capacity["role_bytes"]))
            else:
                ok = sum(need) <= capacity["shared_bytes"]
            if not ok:
                continue
            role_moved = [0, 0, 0]
            for op, (r, p, w, _) in zip(nest.operands, per_op):
                role_moved[ROLE_CODES[op.role]] += r + p + w
            moved = sum(role_moved)
            link = link_cycles_ref(role_moved, role_bytes, rates)
            fitting.append((pipeline_cycles_ref(role_moved, link, tiles, rates), moved, tiles,
                            tiling, order))
    if not fitting:
        return None
    least = min(cycles for cycles, *_ in fitting)
    near = [f for f in fitting if f[0] <= least * (1 + CYCLE_TOLERANCE)]
    cycles, moved, _, tiling, order = min(near, key=lambda f: (f[1], f[2], f[0]))  # first on ties
    return cycles, moved, tiling, order
