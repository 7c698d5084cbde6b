"""The Numba-jitted loops of the tiling search (:mod:`perfsim.mapping.kernels.nest_tiling`
holds the rules they follow and everything else), and their entry points: the search table
(:func:`level_table`; its kernel :func:`_rows`, and :func:`_above` for a level below other
on-chip levels), its ranking (:func:`rank_table`; :func:`_rank`, with the timing rules it
inlines: :func:`link_cycles`, :func:`pipeline_cycles`), and its skyline
(:func:`skyline_rows`; :func:`_skyline`).

Imported on first use, through :func:`~perfsim.mapping.kernels.nest_search.kernels`:
importing Numba and starting its CPU target take about 0.3 s, which a run whose searches are
all answered without a kernel (:mod:`perfsim.mapping.kernels.kept_answers`) never pays.

Numba's cache of these kernels is kept by this file's time and size only, and they compile
in what they read of :mod:`~perfsim.mapping.kernels.nest_tiling` (its constants, and
:func:`~perfsim.mapping.kernels.nest_tiling._runs`, inlined): after editing those there alone,
touch this file too, or a checkout's cached kernels stay as they were (an install replaces
every file, so a user's never do)."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from perfsim.mapping.kernels.nest_tiling import (CYCLE_TOLERANCE, FACTOR_INSIDE,
                                                 FACTOR_LARGEST, FACTOR_MULTI, FACTOR_OUTSIDE,
                                                 FACTOR_TOP, MAX_CANDIDATES, MAX_LEVELS, ROW,
                                                 TERM_FETCHED, TERM_FIXED, TERM_PER_FETCHED,
                                                 TERM_ROLE, TERM_TILE, TERM_WHOLE, _dim_columns,
                                                 _runs, dim_factors, operand_terms, pack_nest)
from perfsim.workload.loopnest import LoopNest

# ----------------------------------------------------------------------------- entry points
# Python: they make the kernels' work arrays (an allocation inside a kernel compiles Numba's
# np.zeros per type) and read back what the kernels write.


def level_table(nest: LoopNest, values, orders, k: int, costs):
    """Every tiling of level ``k`` the search tries, in its order, with the loop order of
    the nest's ``class_orders`` (:class:`~.nest_tiling.PackedNest`) that moves the fewest
    bytes into level ``k`` (the first on ties): one :data:`~.nest_tiling.ROW` per tiling, and
    the candidate values per dimension (``candidates[d, i]``, ``counts[d]``); row ``r`` is the
    mixed-radix number of its candidate indices, the first dimension most significant. Levels
    above ``k`` keep ``values``/``orders`` (dimension indices, outermost first).

    The table depends on the nest, the costs and the levels above only: a tiling's working
    set and tile count do not depend on its loop order, and its cycles grow with the bytes it
    moves, so the order ranked first by (cycles, bytes) moves the fewest bytes whatever the
    capacities and rates; :func:`rank_table` then picks the tiling in one pass. The
    dimensions' summaries (:func:`~.nest_tiling.dim_summary`) are built here, the rows in
    :func:`_rows`, and below other on-chip levels (local levels), the fetches their loops
    cause in :func:`_above` first."""
    packed = pack_nest(nest)
    n_dims, n_axes = packed.dims.shape[0], packed.axes.shape[0]
    columns = [_dim_columns(nest, d, k, tuple(values[k + 1:, d].tolist()))
               for d in range(n_dims)]
    widest = max(len(found) for found, *_ in columns)
    candidates = np.zeros((n_dims, MAX_CANDIDATES), dtype=np.int64)
    counts = np.zeros(n_dims, dtype=np.int64)
    trips = np.zeros((n_dims, widest, MAX_LEVELS), dtype=np.int64)
    count = np.zeros((n_dims, widest, MAX_LEVELS + 1), dtype=np.int64)
    extent_sum = np.zeros((n_axes, widest, MAX_LEVELS, 2), dtype=np.int64)
    top = np.zeros((n_axes, widest), dtype=np.int64)
    max_extent = np.zeros((n_axes, widest), dtype=np.int64)
    for d, (found, its_trips, its_count, its_sums, its_top, its_max) in enumerate(columns):
        n = counts[d] = len(found)
        candidates[d, :n] = found
        trips[d, :n] = its_trips
        count[d, :n] = its_count
        along = packed.dim_axes[d, :its_top.shape[0]]
        extent_sum[along, :n] = its_sums
        top[along, :n] = its_top
        max_extent[along, :n] = its_max
    n_ops, n_classes = packed.operands.shape[0], packed.class_orders.shape[1]
    axis_of = packed.axis_of
    table = np.zeros(math.prod(counts.tolist()), dtype=ROW)
    above = np.zeros((table.shape[0], n_ops), dtype=np.int64)
    if k + 1 < orders.shape[0]:
        _above(orders, k, counts,
               np.stack([dim_factors(axis_of, j, trips, count, extent_sum, top, max_extent)
                         for j in range(k + 1, orders.shape[0])]),
               above, np.zeros((3, n_ops, n_dims), dtype=np.int64),
               np.zeros(n_dims, dtype=np.int64))
    _rows(operand_terms(packed.operands, costs), packed.classes, packed.indexing,
          packed.class_orders, counts, np.ascontiguousarray(count[:, :, k]),
          dim_factors(axis_of, k, trips, count, extent_sum, top, max_extent), above, table,
          np.zeros((3, n_ops, n_classes), dtype=np.int64),
          np.zeros((4, max(n_ops, n_dims, 3)), dtype=np.int64))
    return table, candidates, counts


def rank_table(table, buffers, capacity, rates):
    """(row, cycles, link, fastest, more) of the :data:`~.nest_tiling.CYCLE_TOLERANCE`
    objective's choice among the fitting rows of a :func:`level_table`, or (-1, inf, inf, ...)
    when nothing fits; ``capacity`` and ``rates`` are one-element
    :data:`~.nest_tiling.CAPACITY` and :data:`~.nest_tiling.RATES` arrays, ``buffers`` the
    count per role. ``link`` is the chosen row's :func:`link_cycles`.
    ``fastest`` is the buffered bytes per role of the first fitting row of the least cycles
    (the choice stands for any smaller capacity that still fits it and the choice). ``more``
    bounds the larger rooms the choice stands for, -1 where it stands for all: of a shared
    pool, one value, the least room at which a row that does not fit could change the choice
    (it is faster than the least by more than the tolerance, or within the tolerance and
    preferred; a sweep's larger SRAMs keep the choice up to there, past rows that fit but
    change nothing); of buffers per role, per role, the fewest buffered bytes of that role
    above its buffer."""
    # Work arrays made here: an allocation inside a kernel compiles Numba's np.zeros per type.
    bounds = np.zeros((2, 3), dtype=np.int64)
    n = table.shape[0]
    row, cycles, link = _rank(table, buffers, capacity, rates, np.empty(n, dtype=np.float64),
                              np.empty(n, dtype=np.int64), np.empty(n, dtype=np.float64),
                              bounds)
    more, fastest = bounds.tolist()
    return row, cycles, link, tuple(fastest), more[:3 if capacity[0]["split"] else 1]


def skyline_rows(table) -> np.ndarray:
    """The rows of a :func:`level_table` that :func:`rank_table` may choose, or find the
    fastest, at some capacity, buffer counts and rates, in table order (indices): its
    *skyline*. Ranking them alone chooses the same row, with the same cycles and link's cycles,
    as ranking the whole table; its ``fastest`` and ``more`` then bound a range of capacities
    at least as wide.

    A row is left out when another row with as many tiles beats it at every capacity and rate:
    no larger tile, no more bytes moved, no more transfers and no more bytes per transfer, of
    any role; and fewer bytes moved in all, or as many and an earlier place in the table. That
    row fits whenever it does (:func:`_fits`), its link's cycles (bytes padded to whole bursts
    of any size, over any bandwidth, plus any setup per transfer: :func:`_link`), its level's
    busy cycles (:func:`_busy`) and so its cycles (:func:`_pipeline`, the same expression in
    the same tile count) are never more, and :func:`_better` prefers it. Rows beating each
    other only at some rates both stay."""
    n = table.shape[0]
    order = np.lexsort((np.arange(n), table["moved_bytes"], table["tile_count"]))
    kept = np.zeros(n, dtype=np.int64)
    # Work arrays made here: an allocation inside a kernel compiles Numba's np.zeros per type.
    count = _skyline(table, order, np.zeros((n, 3), dtype=np.int64), kept)
    return np.sort(kept[:count])


# ----------------------------------------------------------------------------- kernels

# nest_tiling's fetch count of one level's loops, compiled into the table kernels (Python's
# level_traffic calls it as it is: one rule, two callers).
_runs_jit = njit(cache=True, inline="always")(_runs)


@njit(cache=True)
def _rows(terms, classes, indexing, class_orders, counts, tile_counts, factors, above, table,
          loop, small):
    """Fills ``table``, the rows of :func:`level_table`, from the operands' terms
    (:func:`~.nest_tiling.operand_terms`), each dimension's tiles per candidate
    (``tile_counts[d, i]``), each operand's factors of each dimension per candidate at the
    level searched (``factors[op, d, i]``, :func:`~.nest_tiling.dim_factors`), and
    ``above[row, op]``, the elements operand ``op`` fetches by the loops of the levels above
    (:func:`_above`; zeros when none is on chip). ``loop`` (3, operands, classes) and
    ``small`` (4, at least operands, dimensions and 3) are zeroed work arrays.

    A row multiplies its candidates' factors; an operand's bytes are affine in its fetches
    (``TERM_PER_FETCHED``, ``TERM_FIXED``). Numba compiles this kernel on a first run, at a
    cost that grows with its statements and branches: the factors are worked out in numpy, and
    the rules of the levels above are in :func:`_above`, which only a hierarchy with local
    levels compiles."""
    n_dims, n_ops = counts.shape[0], terms.shape[0]
    n_classes = class_orders.shape[1]
    outside, inside, multi = loop[0], loop[1], loop[2]
    cols, settled, role_moved, tile_bytes = small[0], small[1], small[2], small[3]
    for row in range(table.shape[0]):
        _candidates(row, counts, cols)
        tiles = 1
        for d in range(n_dims):
            tiles *= tile_counts[d, cols[d]]
        tile_bytes[0] = tile_bytes[1] = tile_bytes[2] = 0
        for op in range(n_ops):
            for c in range(n_classes):
                outside[op, c] = 1
                inside[op, c] = 1
            once = 1  # fetched once for the whole run
            tile = terms[op, TERM_TILE]  # times its largest extents
            for d in range(n_dims):
                col = cols[d]
                outside[op, classes[d]] *= factors[op, d, col, FACTOR_OUTSIDE]
                inside[op, classes[d]] *= factors[op, d, col, FACTOR_INSIDE]
                once *= factors[op, d, col, FACTOR_TOP]
                tile *= factors[op, d, col, FACTOR_LARGEST]
            # Fetches the levels above cause do not depend on the order searched here.
            settled[op] = once + above[row, op]
            for c in range(n_classes):
                multi[op, c] = (outside[op, c] - inside[op, c]) * indexing[op, c]
            tile_bytes[terms[op, TERM_ROLE]] += tile
        best = -1
        best_order = 0
        for o in range(class_orders.shape[0]):
            moved = 0
            role_moved[0] = role_moved[1] = role_moved[2] = 0
            for op in range(n_ops):
                if terms[op, TERM_FETCHED]:
                    fetched = terms[op, TERM_WHOLE] * (
                        settled[op] + _runs_jit(class_orders, o, outside, inside, multi, op))
                    bytes_ = terms[op, TERM_PER_FETCHED] * fetched + terms[op, TERM_FIXED]
                    moved += bytes_
                    role_moved[terms[op, TERM_ROLE]] += bytes_
            if best < 0 or moved < best:
                best = moved
                best_order = o
                for role in range(3):
                    table[row]["role_moved"][role] = role_moved[role]
        table[row]["moved_bytes"] = best
        table[row]["order"] = best_order
        table[row]["tile_count"] = tiles
        for role in range(3):
            table[row]["tile_bytes"][role] = tile_bytes[role]


@njit(cache=True)
def _above(orders, k: int, counts, factors, above, loop, cols):
    """Fills ``above[row, op]`` for :func:`level_table` at a level ``k`` below
    other on-chip levels: the elements operand ``op`` fetches by the loops of the levels above
    ``k`` (``orders[j]``, ``j > k``), at the row's candidates (a dimension's summaries at those
    levels depend on its candidate at ``k``). ``factors[j - k - 1]`` are the
    :func:`~.nest_tiling.dim_factors` of level ``j``. Work arrays: ``loop`` (3, operands,
    dimensions) and ``cols`` (dimensions). A one-level search has no level above its own: only
    a hierarchy with local levels compiles this kernel."""
    n_dims, n_ops = counts.shape[0], above.shape[1]
    outside, inside, multi = loop[0], loop[1], loop[2]
    for row in range(above.shape[0]):
        _candidates(row, counts, cols)
        for op in range(n_ops):
            fetched = 0
            for j in range(k + 1, orders.shape[0]):
                for d in range(n_dims):
                    outside[op, d] = factors[j - k - 1, op, d, cols[d], FACTOR_OUTSIDE]
                    inside[op, d] = factors[j - k - 1, op, d, cols[d], FACTOR_INSIDE]
                    multi[op, d] = factors[j - k - 1, op, d, cols[d], FACTOR_MULTI]
                fetched += _runs_jit(orders, j, outside, inside, multi, op)
            above[row, op] = fetched


@njit(cache=True, inline="always")
def _candidates(row: int, counts, cols) -> None:
    """Writes into ``cols`` the candidate index per dimension of table row ``row``: its
    mixed-radix number, the first dimension most significant (``counts[d]`` candidates)."""
    for d in range(counts.shape[0] - 1, -1, -1):
        cols[d] = row % counts[d]
        row //= counts[d]


@njit(cache=True, inline="always")
def _fits(need: int, tile, buffers, split: bool, shared_bytes: int, role_bytes) -> bool:
    """Whether ``buffers[role]`` copies of each role's tile bytes (``tile``) fit a shared pool
    of ``shared_bytes`` (the copies take ``need`` bytes there, :func:`_need`: the caller has
    worked them out) or (``split``) a buffer of ``role_bytes[role]`` per role."""
    if split:
        return (buffers[0] * tile[0] <= role_bytes[0] and buffers[1] * tile[1] <= role_bytes[1]
                and buffers[2] * tile[2] <= role_bytes[2])
    return need <= shared_bytes


@njit(cache=True, inline="always")
def _need(tile, buffers) -> int:
    """The bytes ``buffers[role]`` copies of each role's tile bytes (``tile``) take in one
    pool."""
    return buffers[0] * tile[0] + buffers[1] * tile[1] + buffers[2] * tile[2]


@njit(cache=True, inline="always")
def _link(moved, tile, burst_bytes: float, above_bytes_per_cycle: float,
          setup_cycles: float) -> float:
    """:func:`link_cycles` of ``moved`` and ``tile`` bytes per role (3-tuples) and the link's
    burst, bandwidth and setup per transfer."""
    transfers = 0
    padded = 0.0
    for role in range(3):
        bytes_ = moved[role]
        if bytes_ <= 0:
            continue
        count = _transfers(bytes_, tile[role])
        transfers += count
        if burst_bytes > 1:
            padded += count * math.ceil(bytes_ / count / burst_bytes) * burst_bytes
        else:
            padded += bytes_
    return padded / above_bytes_per_cycle + transfers * setup_cycles


@njit(cache=True, inline="always")
def _transfers(moved_bytes: int, tile_bytes: int) -> int:
    """Transfers over the link of a role moving ``moved_bytes`` (more than 0) in tiles of
    ``tile_bytes``: one per tile fetched or written back."""
    return -(-moved_bytes // tile_bytes) if tile_bytes > 0 else 1


@njit(cache=True, inline="always")
def _busy(moved, compute_cycles: float, engine_bytes: float, level_bytes_per_cycle: float,
          engine_role_bytes, port_bytes_per_cycle) -> float:
    """Cycles a tile's work keeps the level busy: the engine's compute, or the level's
    bandwidth, whichever is longer. The level is busy with the engine's bytes and ``moved``
    (bytes to and from the level above, per role) over its bandwidth, or, when its buffers
    have a port each, over each role's port, the busiest setting the pace."""
    if port_bytes_per_cycle[0] > 0:
        level = 0.0
        for role in range(3):
            level = max(level, (engine_role_bytes[role] + moved[role])
                        / port_bytes_per_cycle[role])
    else:
        level = (engine_bytes + (moved[0] + moved[1] + moved[2])) / level_bytes_per_cycle
    return max(compute_cycles, level)


@njit(cache=True, inline="always")
def _pipeline(moved_bytes: int, link: float, busy: float, tile_count: int, serial: bool,
              latency_cycles: float) -> float:
    """:func:`pipeline_cycles` of a level moving ``moved_bytes`` in all, its link busy
    ``link`` cycles and each tile's work ``busy`` (:func:`_busy`)."""
    if serial:
        cycles = link + busy
    else:
        cycles = ((link + busy) / tile_count
                  + (tile_count - 1) / tile_count * max(link, busy))
    if moved_bytes > 0:
        cycles += latency_cycles
    return _round6(cycles)  # ranks ties alike whatever the order of float operations


@njit(cache=True, inline="always")
def _round6(cycles: float) -> float:
    """``np.round(cycles, 6)`` as Numba computes it (``cycles * 10**6`` rounded half to even,
    divided back; infinite and undefined values, and values whose product overflows, kept),
    written out: Numba's general ``np.round`` takes 0.2 CPU-s to compile."""
    scaled = cycles * 1e6
    if math.isinf(scaled) or math.isnan(scaled):
        return cycles
    return np.rint(scaled) / 1e6


@njit(cache=True)
def link_cycles(role_moved, role_tile_bytes, rates) -> float:
    """Cycles the link from the level above is busy moving ``role_moved`` bytes per role: one
    transfer per tile fetched or written back (``ceil(moved / tile)`` of each role), each
    paying the setup cycles and rounded up to whole bursts."""
    return _link((role_moved[0], role_moved[1], role_moved[2]),
                 (role_tile_bytes[0], role_tile_bytes[1], role_tile_bytes[2]),
                 rates["burst_bytes"], rates["above_bytes_per_cycle"],
                 rates["transfer_setup_cycles"])


@njit(cache=True)
def pipeline_cycles(role_moved, link: float, tile_count: int, rates) -> float:
    """Cycles of ``tile_count`` equal tiles moving ``role_moved`` bytes (per role) into and out
    of the level, which keeps the link from the level above busy ``link`` cycles
    (:func:`link_cycles`), overlapped with compute by buffering (module docstring)."""
    moved = (role_moved[0], role_moved[1], role_moved[2])
    busy = _busy(moved, rates["compute_cycles"], rates["engine_bytes"],
                 rates["level_bytes_per_cycle"], rates["engine_role_bytes"],
                 rates["port_bytes_per_cycle"])
    return _pipeline(moved[0] + moved[1] + moved[2], link, busy, tile_count, rates["serial"],
                     rates["above_latency_cycles"])


@njit(cache=True, inline="always")
def _better(entry, cycles: float, best, best_cycles: float) -> bool:
    """Whether a tiling within the tolerance beats the best so far: fewer bytes, then fewer
    tiles, then fewer cycles."""
    if entry["moved_bytes"] != best["moved_bytes"]:
        return entry["moved_bytes"] < best["moved_bytes"]
    if entry["tile_count"] != best["tile_count"]:
        return entry["tile_count"] < best["tile_count"]
    return cycles < best_cycles


@njit(cache=True)
def _rank(table, buffers, capacity, rates, cycles, needs, links, bounds):
    """:func:`rank_table` with its work arrays: ``cycles``, ``needs`` (bytes in
    one pool, :func:`_need`) and ``links`` (the link's cycles, :func:`_link`, where worked out)
    per row, and ``bounds`` (2, 3), into which it writes ``more`` and ``fastest``; returns the
    row, its cycles and its link's. The capacity and rates are read once, into locals, and each
    row's bytes into tuples, so the rules (:func:`_need`, :func:`_fits`, :func:`_link`,
    :func:`_busy`, :func:`_pipeline`) inline into one loop over scalars: a sweep ranks tables
    thousands of times.

    Numba compiles each copy of a rule again, at a cost that grows with its statements and
    branches (a first run compiles this kernel): each timing rule is inlined once (the chosen
    row's link is kept from the loop rather than worked out again), and ``more`` of buffers
    per role is lowered in place in ``bounds``.

    Of one pool, the rows that do not fit are timed in the same loop, and ``more`` is the least
    room at which one of them could change the choice once it fits: when it is faster than the
    least by more than the tolerance (the choice falls out of the window), or within the
    tolerance and preferred to the choice (:func:`_better`; on a tie, the earlier row). Below
    that room the rows that come to fit do neither and the rows that fit here stay, so the
    choice stands. The rows the loop skips (their link alone slower than the least so far by
    more than the tolerance) do neither. Of buffers per role, ``more`` is per role the fewest
    buffered bytes above its buffer of the rows that do not fit."""
    cap = capacity[0]
    split, shared_bytes = cap["split"], cap["shared_bytes"]
    role_bytes = (cap["role_bytes"][0], cap["role_bytes"][1], cap["role_bytes"][2])
    counts = (buffers[0], buffers[1], buffers[2])
    r = rates[0]
    compute, engine_bytes = r["compute_cycles"], r["engine_bytes"]
    level_bytes_per_cycle, above_bytes_per_cycle = (r["level_bytes_per_cycle"],
                                                    r["above_bytes_per_cycle"])
    latency, serial = r["above_latency_cycles"], r["serial"]
    setup, burst = r["transfer_setup_cycles"], r["burst_bytes"]
    engine_roles = (r["engine_role_bytes"][0], r["engine_role_bytes"][1],
                    r["engine_role_bytes"][2])
    ports = (r["port_bytes_per_cycle"][0], r["port_bytes_per_cycle"][1],
             r["port_bytes_per_cycle"][2])
    more = bounds[0]
    more[0] = more[1] = more[2] = -1  # none yet
    least = slowest = np.inf
    fastest = -1
    # a link's cycles are at least its bytes at the bandwidth (bursts only pad them, setups
    # only add), less float rounding far below this margin
    least_link_per_byte = (1.0 - 1e-9) / above_bytes_per_cycle
    for row in range(table.shape[0]):
        entry = table[row]
        cycles[row] = np.inf
        tile = (entry["tile_bytes"][0], entry["tile_bytes"][1], entry["tile_bytes"][2])
        need = needs[row] = _need(tile, counts)
        fits = _fits(need, tile, counts, split, shared_bytes, role_bytes)
        if not fits and split:
            for role in range(3):  # lowered to each role's buffered bytes above its buffer
                need = counts[role] * tile[role]
                if need > role_bytes[role] and (more[role] < 0 or need < more[role]):
                    more[role] = need
            continue
        if entry["moved_bytes"] * least_link_per_byte > slowest:
            continue  # its link (below) takes at least its bytes at the bandwidth
        moved = (entry["role_moved"][0], entry["role_moved"][1], entry["role_moved"][2])
        link = links[row] = _link(moved, tile, burst, above_bytes_per_cycle, setup)
        if link > slowest:
            # A row's cycles are at least its link's, less at most 5e-7 and a relative 2^-52
            # by the rounding: this one is neither the fastest nor within the tolerance of
            # the least (the least only falls), so its other rules need not run.
            continue
        busy = _busy(moved, compute, engine_bytes, level_bytes_per_cycle, engine_roles, ports)
        time = cycles[row] = _pipeline(moved[0] + moved[1] + moved[2], link, busy,
                                       entry["tile_count"], serial, latency)
        if fits and time < least:
            least = time
            fastest = row
            slowest = least * (1.0 + CYCLE_TOLERANCE) * (1.0 + 1e-12) + 1e-6
    window = least * (1.0 + CYCLE_TOLERANCE)
    chosen = -1
    for row in range(table.shape[0]):
        time = cycles[row]
        if time == np.inf or time > window or (not split and needs[row] > shared_bytes):
            continue  # skipped, too slow, or does not fit
        if chosen < 0 or _better(table[row], time, table[chosen], cycles[chosen]):
            chosen = row
    if chosen < 0:
        return chosen, np.inf, np.inf
    for role in range(3):
        bounds[1, role] = counts[role] * table[fastest]["tile_bytes"][role]
    if not split:
        change = -1
        chosen_cycles = cycles[chosen]
        for row in range(table.shape[0]):
            need = needs[row]
            time = cycles[row]
            if need <= shared_bytes or time == np.inf or 0 <= change <= need:
                continue  # fits here, was skipped, or would change the choice no sooner
            if chosen_cycles > time * (1.0 + CYCLE_TOLERANCE):
                change = need  # the choice falls out of the window
            elif time <= window:
                # preferred to the choice: better, or (an earlier row) not worse
                later, earlier = (row, chosen) if row > chosen else (chosen, row)
                if _better(table[later], cycles[later], table[earlier], cycles[earlier]) \
                        == (row > chosen):
                    change = need
        more[0] = change
    return chosen, cycles[chosen], links[chosen]


@njit(cache=True)
def _skyline(table, order, transfers, kept) -> int:
    """:func:`skyline_rows` of ``table``, its rows visited in ``order`` (by tile
    count, then bytes moved, then place: a row that beats another comes before it, so only the
    rows kept so far, of the same tile count, need be compared); writes the rows kept into
    ``kept`` and returns how many. ``transfers`` is a work array, (rows, 3)."""
    for row in range(table.shape[0]):
        for role in range(3):
            moved = table[row]["role_moved"][role]
            transfers[row, role] = (_transfers(moved, table[row]["tile_bytes"][role])
                                    if moved > 0 else 0)
    n_kept = 0
    first = 0  # where the kept rows of this tile count start
    for position in range(order.shape[0]):
        i = order[position]
        entry = table[i]
        if position > 0 and entry["tile_count"] != table[order[position - 1]]["tile_count"]:
            first = n_kept
        beaten = False
        for q in range(first, n_kept):
            j = kept[q]
            other = table[j]
            beaten = True
            for role in range(3):
                moved_i, moved_j = entry["role_moved"][role], other["role_moved"][role]
                count_i, count_j = transfers[i, role], transfers[j, role]
                # per transfer, moved_j / count_j <= moved_i / count_i, without division
                if (other["tile_bytes"][role] > entry["tile_bytes"][role] or moved_j > moved_i
                        or count_j > count_i or moved_j * count_i > moved_i * count_j):
                    beaten = False
                    break
            if beaten:
                break
        if not beaten:
            kept[n_kept] = i
            n_kept += 1
    return n_kept


SEARCH_KERNELS = (_rows, _rank)
"""The kernels every costed run calls, to build and to rank search tables: all that a run on a
config without local levels compiles (the command line's compile notice looks at their
caches). ``link_cycles`` and ``pipeline_cycles`` compile on first use, in a fraction of a
second, when a hierarchy with local levels re-times the SRAM's tiling."""
