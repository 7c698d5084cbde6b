"""The generic tiling model (:mod:`perfsim.mapping.kernels.nest_tiling`, ``nest_search``).

1. Given the einsum form of any legacy conv or stream nest, it reproduces today's kernels
   exactly (:func:`perfsim.mapping.kernels.tiling.rank_conv` on ``conv_table``,
   ``search_stream``, ``conv_traffic``): same tiles, order, bytes, working set and cycles, on
   every distinct layer of four zoo networks and on random nests, with shared and split
   capacities, buffers 2 and 3, and inputs or outputs resident on chip.
2. Every jitted kernel equals its ``_ref`` specification (also with JIT disabled).
"""

from __future__ import annotations

import itertools
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import perfsim
from perfsim.hardware.model import Precision
from perfsim.mapping.kernels import nest_search as ns
from perfsim.mapping.kernels import nest_tiling as kern
from perfsim.mapping.kernels import tiling as legacy
from perfsim.mapping.lowering import lower
from perfsim.workload import loopnest as ln

# ----------------------------------------------------------------------------- legacy


def legacy_search(shape, dims, prec, caps, buffers, machine):
    """Today's search as perfsim.mapping.tiling.plan_tiling runs it (capacities scaled for
    ``buffers`` tiles per operand)."""
    d, p = np.array(dims, dtype=np.int64), np.array(prec, dtype=np.int64)
    scaled = np.array([c * (2 / buffers) if c >= 0 else c for c in caps], dtype=np.float64)
    m = np.array(machine, dtype=np.float64)
    if shape == "conv":
        return legacy.rank_conv(legacy.conv_table(d, p), d, p, scaled, m)
    return legacy.search_stream(d, p, scaled, m)


def new_search(shape, dims, prec, caps, buffers, machine):
    """The generic search on the einsum form, called as plan_tiling will call it."""
    nest = ln.from_legacy(shape, dims)
    names = {op.name for op in nest.operands}
    resident = frozenset(({"input"} & names if not prec[3] else set())
                         | ({"output"} if not prec[4] else set()))
    if caps[0] >= 0:
        capacity = ns.Capacity(shared_bytes=int(caps[0]))
    elif shape == "conv":
        capacity = ns.Capacity(input_bytes=int(caps[1]), weight_bytes=int(caps[2]),
                               output_bytes=int(caps[3]))
    else:  # today's stream search fits everything in the smaller of ifmap and ofmap
        capacity = ns.Capacity(shared_bytes=int(min(caps[1], caps[3])))
    return ns.search_one_level(nest, Precision(*prec[:3]), capacity, ns.Rates(*machine),
                               buffers=ns.Buffers.uniform(buffers), resident=resident)


LEGACY_TILE_DIMS = ("B", "G", "K", "C", "OY", "OX")


def class_letters(order: tuple[str, ...]) -> str:
    """A conv order (cut dims outermost first) as today's class order name: K, C, P."""
    letters = [{"K": "K", "C": "C", "G": ""}.get(d, "P") for d in order]
    return "".join(c for i, c in enumerate(letters) if c and c not in letters[:i])


def assert_same(shape, legacy_result, plan, buffers):
    r = legacy_result
    if shape == "conv" and r[legacy.R_TILES] == 0 or shape == "stream" and \
            np.isinf(r[legacy.R_CYCLES]):
        assert plan is None
        return
    assert plan is not None
    ops = {name: t for name, t in plan.operands.items()}
    weights = sum(t.read_bytes for n, t in ops.items() if n in ("weights", "bias", "constants"))
    zero = ns.OperandTraffic(0, 0, 0, 0)
    got = [plan.cycles, weights, ops.get("input", zero).read_bytes,
           ops["output"].partial_read_bytes, ops["output"].write_bytes,
           plan.working_set_bytes, plan.tile_count]
    want = [r[legacy.R_CYCLES], r[legacy.R_DRAM_READ_W], r[legacy.R_DRAM_READ_I],
            r[legacy.R_DRAM_READ_O], r[legacy.R_DRAM_WRITE],
            int(r[legacy.R_WS_BYTES]) * buffers // 2, r[legacy.R_TILES]]
    tiles = plan.tiling.tiles
    if shape == "conv":
        named = dict(tiles)
        named.setdefault("OX", named.get("T", 1))
        got += [named.get(d, 1) for d in LEGACY_TILE_DIMS]
        got += [class_letters(plan.tiling.order), plan.moved_bytes]
        want += [int(v) for v in r[legacy.R_T0:legacy.R_T5 + 1]]
        want += [legacy.ORDER_NAMES[int(r[legacy.R_ORDER])], r[legacy.R_MOVED]]
    else:
        got += [tiles["G"], tiles["S"]]
        want += [r[legacy.R_T1], r[legacy.R_T5]]
    assert got == want


SETTINGS = [  # precision (activation, weight, accumulator bytes), input and output in DRAM
    (1, 1, 4, 1, 1), (2, 2, 2, 0, 1), (1, 1, 4, 1, 0), (2, 2, 2, 0, 0)]
CAPACITIES = [  # shared (bytes) or split [-1, ifmap, filter, ofmap], as shipped configs have
    (108 * 1024, -1, -1, -1), (512 * 1024, -1, -1, -1), (2 * 1024 ** 2, -1, -1, -1),
    (8 * 1024 ** 2, -1, -1, -1), (-1, 24 * 1024 ** 2, 256 * 1024, 4 * 1024 ** 2),
    (-1, 64 * 1024, 32 * 1024, 16 * 1024),
]


def machines(shape, dims):
    """A matrix-engine-like and an Eyeriss-like machine, timed to the layer's work."""
    work = int(np.prod(dims[:6])) * (dims[8] * dims[9] if shape == "conv" else 1)
    return [(float(work // 16384), float(3 * work // 128), 1024.0, 30.0, 100.0),
            (float(work // 168), float(2 * work // 14), 64.0, 0.48, 100.0)]


def smallest_working_set(shape, dims, prec):
    """Today's smallest tiles' working set (double-buffered): the capacity at which only
    they fit."""
    d, p = np.array(dims, dtype=np.int64), np.array(prec, dtype=np.int64)
    if shape == "conv":
        return int(sum(legacy.conv_traffic(d, np.ones(6, dtype=np.int64), 0, p)[4:7]))
    largest = max(dims[2], dims[3])
    return int(legacy.stream_traffic(d, 1, 1 << (largest.bit_length() - 1), p)[3])


def zoo_nests(name):
    network = perfsim.load_workload(name)
    return sorted({(lower(network, layer).shape, lower(network, layer).dims)
                   for layer in network.layers if lower(network, layer).shape != "view"})


COMPARED = {"nests": 0, "searches": 0}


@pytest.mark.parametrize("name", ["mobilenet_v1", "resnet50", "googlenet", "alexnet"])
def test_zoo_layers_reproduce_todays_search_exactly(name):
    for shape, dims in zoo_nests(name):
        COMPARED["nests"] += 1
        for prec, buffers in itertools.product(SETTINGS, (2, 3)):
            boundary = smallest_working_set(shape, dims, prec) * buffers // 2
            for caps in CAPACITIES + [(boundary, -1, -1, -1), (boundary - 1, -1, -1, -1)]:
                for machine in machines(shape, dims):
                    want = legacy_search(shape, dims, prec, caps, buffers, machine)
                    got = new_search(shape, dims, prec, caps, buffers, machine)
                    assert_same(shape, want, got, buffers)
                    COMPARED["searches"] += 1
    assert COMPARED["nests"] > 0


conv_dims = st.builds(
    lambda b, g, k, c, oy, ox, fy, fx, sy, sx, dy, dx, pt, pl, iy, ix, bias: (
        b, g, k, c, oy, ox, iy, ix, fy, fx, sy, sx, dy, dx, pt, pl, bias, 1),
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 9), st.integers(1, 9),
    st.integers(1, 7), st.integers(1, 7), st.integers(1, 4), st.integers(1, 4),
    st.integers(1, 3), st.integers(1, 3), st.integers(1, 2), st.integers(1, 2),
    st.integers(0, 2), st.integers(0, 2), st.integers(1, 16), st.integers(1, 16),
    st.integers(0, 2))
recurrent_dims = st.builds(
    lambda b, k, c, steps, bias: (b, 1, k, c, 1, steps, 1, steps, 1, 1, 1, 1, 1, 1, 0, 0,
                                  bias, steps),
    st.integers(1, 3), st.integers(1, 12), st.integers(1, 12), st.integers(2, 6),
    st.sampled_from([0, 2]))
stream_dims = st.tuples(st.integers(1, 3), st.integers(1, 40), st.integers(1, 70),
                        st.integers(1, 70), st.integers(0, 3))
precisions = st.tuples(st.sampled_from([1, 2]), st.sampled_from([1, 2]),
                       st.sampled_from([2, 3, 4]), st.sampled_from([0, 1]),
                       st.sampled_from([0, 1]))
capacities = st.one_of(
    st.tuples(st.integers(0, 6000), st.just(-1), st.just(-1), st.just(-1)),
    st.tuples(st.just(-1), st.integers(0, 3000), st.integers(0, 3000), st.integers(0, 3000)))
machine_values = st.tuples(st.integers(0, 5000).map(float), st.integers(0, 20000).map(float),
                           st.sampled_from([16.0, 64.0, 1024.0]),
                           st.sampled_from([0.5, 4.0, 30.0]), st.sampled_from([0.0, 100.0]))


@settings(max_examples=300, deadline=None)
@given(dims=st.one_of(conv_dims, recurrent_dims), prec=precisions, caps=capacities,
       buffers=st.sampled_from([2, 3, 4]), machine=machine_values)
def test_random_conv_nests_reproduce_todays_search(dims, prec, caps, buffers, machine):
    want = legacy_search("conv", dims, prec, caps, buffers, machine)
    got = new_search("conv", dims, prec, caps, buffers, machine)
    assert_same("conv", want, got, buffers)


@settings(max_examples=300, deadline=None)
@given(dims=stream_dims, prec=precisions, caps=capacities, buffers=st.sampled_from([2, 3]),
       machine=machine_values)
def test_random_stream_nests_reproduce_todays_search(dims, prec, caps, buffers, machine):
    want = legacy_search("stream", dims, prec, caps, buffers, machine)
    got = new_search("stream", dims, prec, caps, buffers, machine)
    assert_same("stream", want, got, buffers)


def one_level(nest, tiles: dict, order: tuple, prec, resident=frozenset()):
    levels = [ns.TilingLevel("sram", 64.0, ns.Capacity(shared_bytes=10 ** 12)),
              ns.TilingLevel("dram", 4.0)]
    return ns.levels_traffic(nest, Precision(*prec[:3]), levels,
                             [ns.LevelTiling(tiles, order)],
                             homes={name: 0 for name in resident})[0]


@settings(max_examples=300, deadline=None)
@given(dims=st.one_of(conv_dims, recurrent_dims), prec=precisions, data=st.data())
def test_random_tilings_move_todays_bytes(dims, prec, data):
    """The traffic of any tiling and order (not only the chosen ones) is today's."""
    tiles = tuple(data.draw(st.integers(1, dims[i]), label=f"tile {i}") for i in range(6))
    order = data.draw(st.integers(0, 5), label="order")
    r_w, r_i, spill, write, ws_i, ws_w, ws_o, count = legacy.conv_traffic(
        np.array(dims, dtype=np.int64), np.array(tiles, dtype=np.int64), order,
        np.array(prec, dtype=np.int64))
    nest = ln.from_legacy("conv", dims)
    rename = {"OX": "T"} if dims[17] > 1 else {}
    by_name = {rename.get(n, n): t for n, t in zip(LEGACY_TILE_DIMS, tiles)}
    classes = {"K": ("K",), "C": ("C",), "P": tuple(d for d in ("B", "OY", "OX", "T")
                                                   if d in nest.tiled_dims)}
    lead = ("G",) if "G" in nest.tiled_dims else ()
    loop_order = lead + tuple(d for c in legacy.ORDER_NAMES[order] for d in classes[c])
    resident = frozenset(({"input"} if not prec[3] else set())
                         | ({"output"} if not prec[4] else set()))
    level = one_level(nest, {d: by_name[d] for d in nest.tiled_dims}, loop_order, prec,
                      resident)
    ops = level.operands
    bias = ops["bias"] if "bias" in ops else ns.OperandTraffic(0, 0, 0, 0)
    assert (ops["weights"].read_bytes + bias.read_bytes, ops["input"].read_bytes,
            ops["output"].partial_read_bytes, ops["output"].write_bytes,
            ops["input"].working_set_bytes,
            ops["weights"].working_set_bytes + bias.working_set_bytes,
            ops["output"].working_set_bytes, level.tile_count) == \
        (r_w, r_i, spill, write, ws_i, ws_w, ws_o, count)


def test_fc_without_size_one_dims_matches_its_conv_form():
    dims = (4, 1, 96, 200, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, 1)
    compact = ln.fully_connected(batch=4, in_features=200, out_features=96)
    for caps in (2000, 20000, 10 ** 7):
        args = (Precision(1, 1, 4), ns.Capacity(shared_bytes=caps),
                ns.Rates(500.0, 4000.0, 64.0, 4.0, 50.0))
        a = ns.search_one_level(compact, *args)
        b = ns.search_one_level(ln.from_legacy("conv", dims), *args)
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
    "recurrent": ln.recurrent(batch=2, steps=3, in_features=4, out_features=6,
                              biases_per_output=2),
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
       latency=st.integers(0, 200))
def test_pipeline_cycles_equal_reference(moved, tiles, compute, engine, level, above, latency):
    rates = ns.Rates(float(compute), float(engine), level, above, float(latency)).record
    fast = kern.pipeline_cycles(moved, tiles, rates[0])
    assert fast == pytest.approx(kern.pipeline_cycles_ref(moved, tiles, rates[0]), rel=1e-9,
                                 abs=1e-5)
    assert fast >= moved / above - 1e-6 and fast >= compute - 1e-6  # the roofline


def test_nothing_fitting_is_none():
    nest = SMALL["fc"]
    assert ns.search_one_level(nest, PRECISION, ns.Capacity(shared_bytes=10),
                               ns.Rates(1.0, 1.0, 1.0, 1.0)) is None


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1",
                    reason="already running without JIT")
def test_kernel_equivalence_holds_without_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    here = Path(__file__)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(here), "-k",
         "(small and (fc or depthwise or stream) and not inner) or candidate or window "
         "or pipeline"],
        cwd=here.parent.parent, env=env, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-3000:]
    assert " passed" in result.stdout
