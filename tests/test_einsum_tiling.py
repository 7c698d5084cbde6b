"""The generic tiling model (:mod:`perfsim.mapping.kernels.nest_tiling`, ``nest_search``):
every jitted kernel equals its ``_ref`` specification (also with JIT disabled), at one, two
and three on-chip levels.

When it replaced the conv-shaped kernels it was checked to reproduce them exactly (same
tiles, order, bytes, working set and cycles on 207 distinct zoo layers in 26,496 searches and
on random nests: commit 3e53761); ``tests/test_recorded.py`` keeps that promise since.
"""

from __future__ import annotations

import math
import random
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from nojit import passes_without_jit, skip_without_jit
from perfsim.hardware.model import Precision
from perfsim.mapping.kernels import nest_kernels
from perfsim.mapping.kernels import nest_search as ns
from perfsim.mapping.kernels import nest_tiling as kern
from perfsim.workload import loopnest as ln

def test_fc_without_size_one_dims_matches_its_conv_form():
    conv_form = ln.convolution(batch=4, in_channels=200, out_channels=96, in_size=(1, 1),
                               out_size=(1, 1), biases_per_output=1)
    compact = ln.fully_connected(batch=4, in_features=200, out_features=96)
    for caps in (2000, 20000, 10 ** 7):
        args = (Precision(1, 1, 4), ns.Capacity(shared_bytes=caps),
                ns.Rates(500.0, 4000.0, 64.0, 4.0, 50.0))
        a = ns.search_one_level(compact, *args)
        b = ns.search_one_level(conv_form, *args)
        assert (a.cycles, a.operands, a.tile_count) == (b.cycles, b.operands, b.tile_count)
        assert all(a.tiling.tiles[d] == b.tiling.tiles[d] for d in ("K", "C", "B"))


# ----------------------------------------------------------------------------- kernel == ref

SMALL = {
    "conv strided dilated padded": ln.convolution(
        batch=2, in_channels=3, out_channels=4, in_size=(7, 6), out_size=(4, 3),
        kernel=(3, 2), stride=(2, 2), dilation=(1, 2), pad_before=(1, 0),
        biases_per_output=1),
    "depthwise": ln.depthwise_convolution(channels=3, in_size=(5, 5), out_size=(5, 5),
                                          kernel=(3, 3), pad_before=(1, 1)),
    "fc": ln.fully_connected(batch=3, in_features=5, out_features=4, biases_per_output=2),
    "matrix product": ln.matrix_product(heads=2, m=3, n=5, k=4),
    "stream": ln.stream(batch=2, groups=3, in_per_group=7, out_per_group=5,
                        constants_per_group=2),
    "pooling": ln.pooling(channels=2, in_size=(7, 7), out_size=(3, 3), kernel=(3, 3),
                          stride=(2, 2)),
    "recurrent": ln.recurrent(batch=2, steps=3, hidden=3, gates=2),
}
PRECISION = Precision(1, 2, 4)


def random_tiling(nest, rng, parents=None):
    tiles = {}
    for d in nest.tiled_dims:
        dim = nest.dim(d)
        top = parents[d] if parents else dim.size
        if dim.split == "single":
            tiles[d] = 1
        elif dim.split == "parts":
            tiles[d] = rng.choice([1, 2, 4])
        else:
            tiles[d] = rng.randint(1, top)
    order = list(nest.tiled_dims)
    rng.shuffle(order)
    return ns.LevelTiling(tiles, tuple(order))


def hierarchy(on_chip: int):
    return [ns.TilingLevel(f"l{j}", 2.0 ** (on_chip - j), ns.Capacity(shared_bytes=10 ** 9))
            for j in range(on_chip)] + [ns.TilingLevel("dram", 1.0, latency_cycles=10.0)]


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("on_chip", [1, 2, 3])
def test_small_traffic_kernel_equals_reference(name, on_chip):
    nest = SMALL[name]
    rng = random.Random(f"{name}{on_chip}")
    levels = hierarchy(on_chip)
    residents = [{}] + [{op.name: rng.randrange(on_chip + 1)} for op in nest.operands
                        if op.role in ("input", "output")]
    for trial in range(12):
        tilings = [random_tiling(nest, rng)]
        for _ in range(on_chip - 1):
            tilings.insert(0, random_tiling(nest, rng, tilings[0].tiles))
        homes = residents[trial % len(residents)]
        got = ns.levels_traffic(nest, PRECISION, levels, tilings, homes=homes)
        costs = [ns.level_costs(nest, PRECISION, j, levels[j].holds, homes)
                 for j in range(on_chip)]
        want = kern.levels_traffic_ref(nest, [t.tiles for t in tilings],
                                       [t.order for t in tilings], costs)
        for level, (per_op, tiles) in zip(got, want):
            assert [(t.read_bytes, t.partial_read_bytes, t.write_bytes,
                     t.working_set_bytes // 2) for t in level.operands.values()] == \
                [tuple(v) for v in per_op], (trial, level.level)
            assert level.tile_count == tiles


@pytest.mark.parametrize("name", sorted(SMALL))
def test_an_operands_bytes_are_affine_in_its_fetches(name):
    """The table kernel moves an operand's bytes with one multiply and add
    (``nest_tiling._moved_line``): the integers ``_bytes_moved``'s reads, partial reads and
    writes sum to, at every level, resident or not."""
    nest = SMALL[name]
    operands = kern.pack_nest(nest).operands.tolist()
    output = nest.output.name
    homes = [{}, {output: 0}, {output: 1}] + [{op.name: 1} for op in nest.operands]
    for level in (0, 1):
        for home in homes:
            costs = ns.level_costs(nest, PRECISION, level, frozenset(ns.BUFFER_ROLES), home)
            for operand, cost in zip(operands, costs.tolist()):
                per_fetched, fixed = kern._moved_line(operand, cost)
                for fetched in (0, 1, 7, 12345, 10 ** 9):
                    assert per_fetched * fetched + fixed == \
                        sum(kern._bytes_moved(operand, cost, fetched))


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("capacity", [60, 400, 10 ** 6])
def test_small_one_level_search_equals_reference(name, capacity):
    nest = SMALL[name]
    rates = ns.Rates(40.0, 300.0, 16.0, 2.0, 5.0)
    costs = ns.level_costs(nest, PRECISION, 0, frozenset(ns.BUFFER_ROLES), {})
    for buffers in (ns.Buffers(), ns.Buffers(2, 3, 1)):
        got = ns.search_one_level(nest, PRECISION, ns.Capacity(shared_bytes=capacity), rates,
                                  buffers=buffers)
        want = kern.search_level_ref(nest, [None], [None], 0, [costs], buffers.array,
                                     ns.Capacity(shared_bytes=capacity).record[0],
                                     rates.record[0])
        if want is None:
            assert got is None
            continue
        cycles, moved, tiles, order = want
        assert (got.cycles, got.moved_bytes, dict(got.tiling.tiles), got.tiling.order) == \
            (cycles, moved, tiles, order)
        # the ranking's link time of its choice is the link time of the bytes it reports
        assert got.ranked_link_cycles == got.link_cycles(rates)


RANKING_RATES = {
    "memory-bound": ns.Rates(40.0, 300.0, 16.0, 0.5, 20.0, burst_bytes=64.0,
                             transfer_setup_cycles=30.0),
    "compute-bound": ns.Rates(10.0 ** 6, 300.0, 16.0, 2.0, 5.0),
    "balanced": ns.Rates(2000.0, 3000.0, 4.0, 4.0, 100.0, burst_bytes=32.0),
}


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("bound", sorted(RANKING_RATES))
def test_ranking_skips_no_row_that_could_win(name, bound):
    """The ranking kernel skips a row without timing it when its bytes at the link's
    bandwidth already exceed the tolerance of the least cycles so far. Every row timed here
    alone (:func:`~.nest_kernels.link_cycles` and :func:`~.nest_kernels.pipeline_cycles`) gives
    the same choice, cycles, link and bounds: the choice (fewest bytes, then tiles, then
    cycles, the first on a tie, among the rows within the tolerance of the least cycles), the
    first row of the least cycles (``fastest``) and the least room another row needs
    (``more``), at rooms from the smallest tile to all of them."""
    _ranked_alone(SMALL[name], RANKING_RATES[bound])


def test_ranking_skips_rows():
    """The skip the test above guards happens: memory-bound, rows that fit and move more
    than the tolerance above the least cycles' worth of bytes."""
    assert sum(_ranked_alone(nest, RANKING_RATES["memory-bound"]) for nest in SMALL.values())


def _row(tile_count: int, tile: tuple, moved: tuple) -> tuple:
    """A search table's row (:data:`~.nest_tiling.ROW`) of ``tile_count`` tiles of ``tile``
    bytes per role, moving ``moved`` bytes per role."""
    return (sum(moved), tile_count, 0, tile, moved)


def test_a_skyline_by_hand():
    """Of rows with as many tiles, a row is dropped when another, earlier in the ranking
    (fewer bytes, or as many and earlier in the table), needs no larger tile, moves no more
    bytes and makes no more transfers, of no more bytes each, in every role.

    Row 1 moves more output bytes than row 0 in the same tiles, and row 4 is row 0 again:
    dropped. Row 2 has a smaller input tile than row 0, row 3 another tile count: kept. Row 5
    moves one input byte more than row 0, in 11 transfers of 9.18 bytes against 10 of 10; at a
    burst of 9.5 bytes row 0's transfers take two bursts each (570 padded bytes in all: 190 a
    role), row 5's inputs one (104.5 + 190 + 190 = 484.5): row 5 is the fastest by far and is
    chosen, so it is kept. At a burst of one byte row 0, one byte fewer and as fast within the
    tolerance, is chosen."""
    table = np.array([_row(4, (10, 10, 10), (100, 100, 100)),
                      _row(4, (10, 10, 10), (100, 100, 120)),
                      _row(4, (5, 10, 10), (200, 100, 100)),
                      _row(8, (10, 10, 10), (100, 100, 120)),
                      _row(4, (10, 10, 10), (100, 100, 100)),
                      _row(4, (10, 10, 10), (101, 100, 100))], dtype=kern.ROW)
    assert nest_kernels.skyline_rows(table).tolist() == [0, 2, 3, 5]
    room = ns.Capacity(shared_bytes=10 ** 6).record
    for burst, chosen, link in ((9.5, 5, 484.5), (1.0, 0, 300.0)):
        rates = ns.Rates(1.0, 0.0, 10.0 ** 6, 1.0, burst_bytes=burst)
        got = nest_kernels.rank_table(table, ns.Buffers().array, room, rates.record)
        assert got[0] == chosen and got[2] == link


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_skyline_ranks_as_its_whole_table(name):
    """Ranking a table's skyline (:func:`~.nest_kernels.skyline_rows`) chooses the row the
    whole table's ranking chooses, with its cycles and link's cycles, at random rooms (one
    pool, or a buffer per role), buffer counts and rates (bursts, setups per transfer, a port
    per buffer, one buffer): the rows it drops are never chosen."""
    nest = SMALL[name]
    costs = ns.level_costs(nest, PRECISION, 0, frozenset(ns.BUFFER_ROLES), {})
    values = np.ones((1, len(nest.tiled_dims)), dtype=np.int64)
    table, _, _ = nest_kernels.level_table(nest, values, np.zeros_like(values), 0, costs)
    rows = nest_kernels.skyline_rows(table)
    skyline = table[rows]
    rng = random.Random(name)
    chosen = set()
    for _ in range(400):
        buffers = ns.Buffers(rng.choice([1, 2, 3]), rng.choice([1, 2]), rng.choice([1, 2, 3]))
        need = table["tile_bytes"] * buffers.array
        if rng.random() < 0.5:
            total = need.sum(axis=1)
            capacity = ns.Capacity(shared_bytes=rng.randint(int(total.min()), int(total.max())))
        else:
            rooms = [rng.randint(int(need[:, r].min()), int(need[:, r].max())) for r in range(3)]
            capacity = ns.Capacity(input_bytes=rooms[0], weight_bytes=rooms[1],
                                   output_bytes=rooms[2])
        level = rng.uniform(1.0, 64.0)
        ports = rng.random() < 0.3
        share = [rng.uniform(0.1, 1.0) for _ in range(3)]
        rates = ns.Rates(
            rng.uniform(1.0, 10.0 ** 4), rng.uniform(0.0, 10.0 ** 4), level,
            rng.uniform(0.05, 32.0), rng.uniform(0.0, 200.0), rng.random() < 0.2,
            rng.choice([0.0, rng.uniform(0.0, 50.0)]), rng.choice([1.0, 8.0, 9.5, 64.0]),
            tuple(rng.uniform(0.0, 5000.0) for _ in range(3)) if ports else (0.0, 0.0, 0.0),
            tuple(level * s / sum(share) for s in share) if ports else (0.0, 0.0, 0.0))
        whole = nest_kernels.rank_table(table, buffers.array, capacity.record, rates.record)
        part = nest_kernels.rank_table(skyline, buffers.array, capacity.record, rates.record)
        if whole[0] < 0:
            assert part[0] < 0
            continue
        assert (int(rows[part[0]]), part[1], part[2]) == whole[:3]
        chosen.add(whole[0])
    assert len(chosen) > 1  # the rates and rooms chose between rows


def _ranked_alone(nest: ln.LoopNest, rates: ns.Rates) -> int:
    """Checks :func:`~.nest_kernels.rank_table` against every row of ``nest``'s table timed
    alone (test above); returns how many fitting rows the kernel could skip."""
    costs = ns.level_costs(nest, PRECISION, 0, frozenset(ns.BUFFER_ROLES), {})
    values = np.ones((1, len(nest.tiled_dims)), dtype=np.int64)
    table, _, _ = nest_kernels.level_table(nest, values, np.zeros_like(values), 0, costs)
    buffers = ns.Buffers(2, 2, 2)
    need = (table["tile_bytes"] * 2).sum(axis=1)
    links = np.array([nest_kernels.link_cycles(r["role_moved"], r["tile_bytes"],
                                               rates.record[0]) for r in table])
    cycles = np.array([nest_kernels.pipeline_cycles(r["role_moved"], link, r["tile_count"],
                                                    rates.record[0])
                       for r, link in zip(table, links)])

    def choice(room: int) -> tuple[int, int]:
        """The row chosen with ``room`` bytes, and the first row of the least cycles."""
        fits = need <= room
        least = cycles[fits].min()
        near = [i for i in np.flatnonzero(fits)
                if cycles[i] <= least * (1 + kern.CYCLE_TOLERANCE)]
        chosen = min(near, key=lambda i: (table[i]["moved_bytes"], table[i]["tile_count"],
                                          cycles[i], i))
        return chosen, int(np.flatnonzero(fits & (cycles == least))[0])

    skippable = exact = 0
    rooms = np.unique(np.quantile(need, [0, 0.1, 0.5, 0.9, 1]).astype(np.int64))
    for room in rooms:
        chosen, fastest = choice(room)
        # the least larger room (each row's) that chooses another row, -1: none
        changes = [int(r) for r in np.unique(need[need > room]) if choice(r)[0] != chosen]
        change = changes[0] if changes else -1
        got = nest_kernels.rank_table(table, buffers.array,
                                      ns.Capacity(shared_bytes=int(room)).record, rates.record)
        assert got[:4] == (chosen, cycles[chosen], links[chosen],
                           tuple(int(b) for b in table[fastest]["tile_bytes"] * 2)), room
        # ``more``: a room up to which the choice stands, never beyond the change, and never
        # less than the old bound, the fewest bytes of a row that does not fit
        (more,) = got[4]
        above = need[need > room]
        if change >= 0:
            assert above.min() <= more <= change, room
        else:
            assert more == -1 or more >= above.min(), room
        exact += more == change
        fits = need <= room
        skippable += int((fits & (table["moved_bytes"] / rates.above_bytes_per_cycle
                                  > cycles[fits].min() * (1 + kern.CYCLE_TOLERANCE)
                                  + 1e-6)).sum())
    assert exact >= len(rooms) - 1  # all but at most one room bound exactly
    return skippable


@pytest.mark.parametrize("name", sorted(SMALL))
def test_a_chosen_rows_table_bytes_are_its_operands(name):
    """A sweep's tiler reads a one-level search's choice from its table row
    (:func:`~.nest_search.rank_one_level`: bytes per buffer role, and the output's partial
    sums), never working out each operand's traffic: they must be the per-operand traffic
    :func:`~.nest_search.search_one_level` works out, summed by role, at every room and
    with resident operands."""
    nest = SMALL[name]
    rates = ns.Rates(40.0, 300.0, 16.0, 2.0, 5.0, burst_bytes=32.0)
    compared, partials = 0, 0
    for resident in ({frozenset()} | {frozenset([op.name]) for op in nest.operands
                                     if op.role in ("input", "output")}):
        for room in (60, 400, 3000, 10 ** 6):
            for buffers in (ns.Buffers(), ns.Buffers(2, 3, 1)):
                capacity = ns.Capacity(shared_bytes=room)
                full = ns.search_one_level(nest, PRECISION, capacity, rates, buffers=buffers,
                                           resident=resident)
                found = ns.rank_one_level(nest, PRECISION, capacity, rates.record,
                                          buffers=buffers, resident=resident)
                if full is None:
                    assert found is None
                    continue
                row, cycles, link, fastest, more = found
                assert (row.tiling, row.tile_count, cycles, link, fastest, more) == \
                    (full.tiling, full.tile_count, full.cycles, full.ranked_link_cycles,
                     full.fastest_role_bytes, full.more_room_bytes)
                assert row.role_moved_bytes == full.role_moved_bytes
                assert row.role_tile_bytes == full.role_tile_bytes
                assert row.output_partial_read_bytes == \
                    full.operands["output"].partial_read_bytes
                reads = {role: sum(t.read_bytes for n, t in full.operands.items()
                                   if ns._role(nest, n) == role) for role in ns.BUFFER_ROLES}
                assert row.role_moved_bytes[:2] == (reads["input"], reads["weight"])
                compared += 1
                partials += row.output_partial_read_bytes > 0
    assert compared and (partials or not name.startswith("conv"))  # partial sums exercised


@pytest.mark.parametrize("name", ["conv strided dilated padded", "matrix product", "fc"])
def test_small_inner_level_search_equals_reference(name):
    nest = SMALL[name]
    levels = [ns.TilingLevel("rf", 16.0, ns.Capacity(shared_bytes=90)),
              ns.TilingLevel("gb", 8.0, ns.Capacity(shared_bytes=3000)),
              ns.TilingLevel("dram", 1.0, latency_cycles=20.0)]
    plan = ns.search_levels(nest, PRECISION, levels, compute_cycles=60.0,
                            engine_bytes=[400.0, 200.0])
    assert plan is not None
    costs = [ns.level_costs(nest, PRECISION, j, levels[j].holds, {}) for j in range(2)]
    rates = ns.Rates(60.0, 400.0, levels[0].bytes_per_cycle, levels[1].bytes_per_cycle,
                     levels[1].latency_cycles)
    want = kern.search_level_ref(nest, [None, plan[1].tiling.tiles],
                                 [None, plan[1].tiling.order], 0, costs,
                                 levels[0].buffers.array, levels[0].capacity.record[0],
                                 rates.record[0])
    cycles, moved, tiles, order = want
    assert (plan[0].cycles, plan[0].moved_bytes, dict(plan[0].tiling.tiles),
            plan[0].tiling.order) == (cycles, moved, tiles, order)


def test_outermost_level_of_a_hierarchy_is_the_one_level_search():
    nest = SMALL["conv strided dilated padded"]
    levels = [ns.TilingLevel("rf", 16.0, ns.Capacity(shared_bytes=90)),
              ns.TilingLevel("gb", 8.0, ns.Capacity(shared_bytes=3000)),
              ns.TilingLevel("dram", 1.0, latency_cycles=20.0)]
    plan = ns.search_levels(nest, PRECISION, levels, compute_cycles=60.0,
                            engine_bytes=[400.0, 200.0])
    alone = ns.search_one_level(nest, PRECISION, ns.Capacity(shared_bytes=3000),
                                ns.Rates(60.0, 200.0, 8.0, 1.0, 20.0))
    assert (plan[1].tiling, plan[1].operands, plan[1].cycles) == \
        (alone.tiling, alone.operands, alone.cycles)


def _every_child(start, length, split, value, parent_extents, axes):
    """Each child a run of its own: the summary's tree without merging (its definition)."""
    return list(range(kern._children(length, split, value) + 1))


@settings(max_examples=300, deadline=None)
@given(in_size=st.integers(1, 40), out_size=st.integers(1, 40), kernel=st.integers(1, 5),
       stride=st.integers(1, 3), dilation=st.integers(1, 3), pad=st.integers(0, 4),
       groups=st.sampled_from([1, 2]), data=st.data())
def test_runs_of_alike_children_summarise_as_every_child(in_size, out_size, kernel, stride,
                                                         dilation, pad, groups, data):
    """Merging alike siblings (windows inside the axis, whole tiles) changes no summary."""
    nest = ln.convolution(batch=1, in_channels=2 * groups, out_channels=2 * groups,
                          in_size=(in_size, 3), out_size=(out_size, 2), kernel=(kernel, 1),
                          stride=(stride, 1), dilation=(dilation, 1), pad_before=(pad, 0),
                          groups=groups, biases_per_output=1)
    levels = data.draw(st.integers(1, 3))
    for d, name in enumerate(nest.tiled_dims):
        size = nest.size(name)
        column = tuple(data.draw(st.integers(1, max(size, 1))) for _ in range(levels))
        merged = kern.dim_summary.__wrapped__(nest, d, 0, column)
        with mock.patch.object(kern, "_segments", _every_child):
            alone = kern.dim_summary.__wrapped__(nest, d, 0, column)
        assert merged == alone, (name, column)


@settings(max_examples=300, deadline=None)
@given(extent=st.integers(1, 5000), split=st.sampled_from(["halves", "parts", "single"]))
def test_candidate_values_equal_reference(extent, split):
    assert list(kern.candidate_values(extent, kern.SPLIT_CODES[split])) == \
        kern.candidate_values_ref(extent, split)


@settings(max_examples=300, deadline=None)
@given(start=st.integers(0, 30), count=st.integers(0, 12), stride=st.integers(1, 4),
       kernel=st.integers(1, 5), dilation=st.integers(1, 3), pad=st.integers(0, 4),
       size=st.integers(1, 40))
def test_window_extent_equals_reference(start, count, stride, kernel, dilation, pad, size):
    assert kern.window_extent(start, count, stride, kernel, dilation, pad, size) == \
        kern.window_extent_ref(start, count, stride, kernel, dilation, pad, size)


@settings(max_examples=300, deadline=None)
@given(moved=st.integers(0, 10 ** 7), tiles=st.integers(1, 500),
       compute=st.integers(0, 10 ** 6), engine=st.integers(0, 10 ** 7),
       level=st.sampled_from([16.0, 64.0, 1024.0]), above=st.sampled_from([1.5, 30.0]),
       latency=st.integers(0, 200), serial=st.booleans())
def test_pipeline_cycles_equal_reference(moved, tiles, compute, engine, level, above, latency,
                                         serial):
    rates = ns.Rates(float(compute), float(engine), level, above, float(latency),
                     serial).record
    link = moved / above
    roles = np.array([moved, 0, 0], dtype=np.int64)
    fast = nest_kernels.pipeline_cycles(roles, link, tiles, rates[0])
    assert fast == pytest.approx(kern.pipeline_cycles_ref(roles, link, tiles, rates[0]),
                                 rel=1e-9, abs=1e-5)
    assert fast >= moved / above - 1e-6 and fast >= compute - 1e-6  # the roofline
    overlapped = ns.Rates(float(compute), float(engine), level, above, float(latency)).record
    assert fast >= nest_kernels.pipeline_cycles(roles, link, tiles, overlapped[0]) - 1e-6


@settings(max_examples=300, deadline=None)
@given(moved=st.tuples(*[st.integers(0, 10 ** 6)] * 3),
       tile=st.tuples(*[st.integers(0, 10 ** 4)] * 3), setup=st.integers(0, 100),
       burst=st.sampled_from([1.0, 32.0, 64.0]), above=st.sampled_from([1.5, 30.0]))
def test_link_cycles_equal_reference(moved, tile, setup, burst, above):
    rates = ns.Rates(0.0, 0.0, 1.0, above, 0.0, transfer_setup_cycles=float(setup),
                     burst_bytes=burst).record[0]
    fast = nest_kernels.link_cycles(np.array(moved, dtype=np.int64),
                                    np.array(tile, dtype=np.int64), rates)
    assert fast == pytest.approx(kern.link_cycles_ref(moved, tile, rates), rel=1e-12)
    assert fast >= sum(moved) / above - 1e-9  # overheads only add


def test_link_cycles_by_hand():
    # Inputs: 1,000 bytes in tiles of 300 -> ceil(1000 / 300) = 4 transfers of 250 bytes,
    # each 4 bursts of 64 (256 bytes): 1,024 bytes. Weights: 64 bytes in one tile of 64: one
    # burst. Outputs: nothing moved. 1,088 bytes at 8 B/cycle = 136 cycles, plus 5 transfers
    # x 10 setup cycles = 186.
    rates = ns.Rates(0.0, 0.0, 1.0, 8.0, transfer_setup_cycles=10.0, burst_bytes=64.0)
    moved = np.array([1000, 64, 0], dtype=np.int64)
    tiles = np.array([300, 64, 500], dtype=np.int64)
    assert nest_kernels.link_cycles(moved, tiles, rates.record[0]) == pytest.approx(186)
    # without per-transfer costs the link moves exactly the bytes
    assert nest_kernels.link_cycles(moved, tiles, ns.Rates(0.0, 0.0, 1.0, 8.0).record[0]) == \
        pytest.approx(1064 / 8)


def test_cycles_round_to_six_decimals_as_numbas_np_round():
    """The ranking rounds cycles by hand (Numba's general ``np.round`` takes 0.2 CPU-s to
    compile): bit for bit what ``np.round(x, 6)`` gives in a Numba kernel, halves (to even),
    infinities, NaN and values whose scaled product overflows included."""
    numba_round = njit(lambda x: np.round(x, 6))
    rng = np.random.default_rng(6)
    values = [0.0, -0.0, 2.5e-6, 0.5e-6, 1.0000005, 1.0000015, 123456.7890125, 2.0 ** 52,
              1e17, 1e303, -1e303, math.inf, -math.inf, math.nan]
    values += [(n + 0.5) / 1e6 for n in rng.integers(0, 10 ** 12, 200).tolist()]
    values += (10.0 ** rng.uniform(-9, 20, 500)).tolist()
    for x in values:
        ours, numba = nest_kernels._round6(x), numba_round(x)
        assert (math.isnan(ours) and math.isnan(numba)) or \
            np.float64(ours).tobytes() == np.float64(numba).tobytes(), x


def test_one_buffer_loads_then_computes():
    # 4 tiles, 400 bytes over a 2 B/cycle link (200 cycles), compute 100 cycles, the level
    # fast enough not to matter: in turn 200 + 100 = 300 (+ 7 latency); overlapped, the first
    # load (50), three steps of max(50, 25) and the last compute (25): 225 (+ 7).
    serial = ns.Rates(100.0, 0.0, 1e9, 2.0, 7.0, serial=True).record[0]
    overlapped = ns.Rates(100.0, 0.0, 1e9, 2.0, 7.0).record[0]
    moved = np.array([400, 0, 0], dtype=np.int64)
    assert nest_kernels.pipeline_cycles(moved, 200.0, 4, serial) == pytest.approx(307)
    assert nest_kernels.pipeline_cycles(moved, 200.0, 4, overlapped) == pytest.approx(232)


def test_nothing_fitting_is_none():
    nest = SMALL["fc"]
    assert ns.search_one_level(nest, PRECISION, ns.Capacity(shared_bytes=10),
                               ns.Rates(1.0, 1.0, 1.0, 1.0)) is None


@skip_without_jit
def test_kernel_equivalence_holds_without_jit():
    passes_without_jit(__file__, "(small and (fc or depthwise or stream) and not inner) or "
                                 "candidate or window or pipeline")


@pytest.mark.parametrize("name", sorted(SMALL))
@pytest.mark.parametrize("split", [False, True])
def test_more_room_bounds_the_rooms_the_choice_stands_for(name, split):
    """``more_room_bytes`` (the search's reuse bound, found by the ranking kernel). Of buffers
    per role it is, by its definition, the fewest buffered bytes of each role above its
    buffer among the tilings ranked. Of one pool it is a room up to which the choice stands:
    never beyond the least larger room at which the whole table's ranking chooses another
    tiling (found here by ranking at every larger room), never below the fewest buffered
    bytes of a ranked tiling that does not fit (the bound it was before), and the room just
    below it makes the same choice. The tilings ranked are the whole table for its first
    :data:`~perfsim.mapping.kernels.nest_search.SKYLINE_AFTER_RANKINGS` rankings, then its
    skyline."""
    nest = SMALL[name]
    buffers = ns.Buffers(2, 2, 2)
    costs = ns.level_costs(nest, PRECISION, 0, frozenset(ns.BUFFER_ROLES), {})
    values = np.ones((1, len(nest.tiled_dims)), dtype=np.int64)
    table, _, _ = nest_kernels.level_table(nest, values, np.zeros_like(values), 0, costs)
    ranked = {True: table["tile_bytes"] * 2,  # buffered bytes per row and role
              False: table[nest_kernels.skyline_rows(table)]["tile_bytes"] * 2}
    rates = ns.Rates(40.0, 300.0, 8.0, 2.0, 10.0)
    rng = random.Random(f"{name}{split}")
    ns._table.cache_clear()  # the table's rankings counted from none
    rankings = 0

    def chosen_row(room: int) -> int:  # the whole table ranked, not counted as a ranking
        return nest_kernels.rank_table(table, buffers.array,
                                       ns.Capacity(shared_bytes=room).record, rates.record)[0]

    for _ in range(6):
        need = ranked[rankings < ns.SKYLINE_AFTER_RANKINGS]
        if split:
            rooms = [rng.randint(int(need[:, r].min()), int(need[:, r].max()) + 1)
                     for r in range(3)]
            capacity = ns.Capacity(input_bytes=rooms[0], weight_bytes=rooms[1],
                                   output_bytes=rooms[2])
        else:
            total = need.sum(axis=1)
            rooms = [rng.randint(int(total.min()), int(total.max()) + 1)]
            capacity = ns.Capacity(shared_bytes=rooms[0])
        plan = ns.search_one_level(nest, PRECISION, capacity, rates, buffers=buffers)
        rankings += 1
        assert plan is not None
        if split:
            assert plan.more_room_bytes == tuple(
                int(c[c > room].min()) if (c > room).any() else None
                for c, room in zip((need[:, r] for r in range(3)), rooms))
            continue
        (room,), (more,) = rooms, plan.more_room_bytes
        whole = (table["tile_bytes"] * 2).sum(axis=1)
        changes = [int(r) for r in np.unique(whole[whole > room])
                   if chosen_row(int(r)) != chosen_row(room)]
        above = total[total > room]
        if changes:
            assert above.min() <= more <= changes[0]
        else:
            assert more is None or more >= above.min()
        if more is not None:  # the largest room the choice stands for
            wider = ns.search_one_level(nest, PRECISION, ns.Capacity(shared_bytes=more - 1),
                                        rates, buffers=buffers)
            rankings += 1
            assert (wider.tiling, wider.cycles) == (plan.tiling, plan.cycles)
