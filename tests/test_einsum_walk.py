"""Brute force, nn_dataflow's way, over a three-level hierarchy (register file, global buffer,
DRAM): walk the blocked loops of small layers, keep one tile per operand at each level as a
set of concrete elements, and count every element moved between each pair of levels. The
model (:func:`perfsim.mapping.kernels.nest_search.levels_traffic`) must give the same bytes at
every level, for every operand, for several tilings and loop orders of each layer.

The walk shares nothing with the kernels: tiles are Python ranges cut by plain loops, tensors
are sets of index tuples, padding is found by bounds checks, a bias element belongs to the
weights tile whose input-channel range starts at 0, and partial sums are found by
remembering which output elements have been written back.

Then hand-worked cases, with their arithmetic.
"""

from __future__ import annotations

import itertools
import random

import pytest

from perfsim.hardware.model import Precision
from perfsim.mapping.kernels import nest_search as ns
from perfsim.workload import loopnest as ln

PRECISION = Precision(activation_bytes=1, weight_bytes=2, accumulator_bytes=4)
ROLE_BYTES = {"input": 1, "weight": 2, "output": 1}


def conv_layer(b, g, k, c, oy, ox, iy, ix, fy, fx, sy, sx, dy, dx, pt, pl, bias):
    """A convolution's loop sizes and element sets (per group ``k`` and ``c``)."""
    def inputs(r):
        return frozenset(
            (n, gg, cc, y, x) for n in r["B"] for gg in r["G"] for cc in r["C"]
            for o in r["OY"] for f in range(fy) for y in [sy * o + dy * f - pt]
            if 0 <= y < iy
            for p in r["OX"] for h in range(fx) for x in [sx * p + dx * h - pl] if 0 <= x < ix)

    def weights(r):
        elements = {(gg, kk, cc, f, h) for gg in r["G"] for kk in r["K"] for cc in r["C"]
                    for f in range(fy) for h in range(fx)}
        if bias and r["C"].start == 0:  # biases travel with the first input-channel tile
            elements |= {(gg, kk, "bias", i) for gg in r["G"] for kk in r["K"]
                         for i in range(bias)}
        return frozenset(elements)

    def outputs(r):
        return frozenset((n, gg, kk, y, x) for n in r["B"] for gg in r["G"] for kk in r["K"]
                         for y in r["OY"] for x in r["OX"])

    sizes = dict(G=g, K=k, C=c, B=b, OY=oy, OX=ox)
    nest = ln.convolution(batch=b, in_channels=g * c, out_channels=g * k, in_size=(iy, ix),
                          out_size=(oy, ox), kernel=(fy, fx), stride=(sy, sx),
                          dilation=(dy, dx), pad_before=(pt, pl), groups=g,
                          biases_per_output=bias)
    return nest, sizes, {"input": ("input", inputs), "weights": ("weight", weights),
                         "output": ("output", outputs)}


def fc_layer(batch, features_in, features_out):
    nest = ln.fully_connected(batch=batch, in_features=features_in, out_features=features_out)
    return nest, dict(K=features_out, C=features_in, B=batch), {
        "input": ("input", lambda r: frozenset((n, c) for n in r["B"] for c in r["C"])),
        "weights": ("weight", lambda r: frozenset(
            {(k, c) for k in r["K"] for c in r["C"]}
            | ({(k, "bias") for k in r["K"]} if r["C"].start == 0 else set()))),
        "output": ("output", lambda r: frozenset((n, k) for n in r["B"] for k in r["K"]))}


def matmul_layer(batch, heads, m, n, k):
    nest = ln.matrix_product(batch=batch, heads=heads, m=m, n=n, k=k)
    return nest, dict(B=batch, H=heads, M=m, N=n, K=k), {
        "left": ("input", lambda r: frozenset(
            (b, h, i, j) for b in r["B"] for h in r["H"] for i in r["M"] for j in r["K"])),
        "right": ("input", lambda r: frozenset(
            (b, h, j, i) for b in r["B"] for h in r["H"] for j in r["K"] for i in r["N"])),
        "output": ("output", lambda r: frozenset(
            (b, h, i, j) for b in r["B"] for h in r["H"] for i in r["M"] for j in r["N"]))}


LAYERS = {
    # B G K C OY OX IY IX FY FX SY SX DY DX PT PL BIAS
    "conv stride 2 pad 1": conv_layer(2, 1, 3, 2, 4, 3, 8, 6, 3, 3, 2, 2, 1, 1, 1, 1, 1),
    "conv dilated asymmetric": conv_layer(1, 1, 2, 3, 4, 4, 9, 8, 3, 2, 1, 1, 2, 3, 1, 0, 0),
    "depthwise 3x3": conv_layer(1, 4, 1, 1, 5, 5, 5, 5, 3, 3, 1, 1, 1, 1, 1, 1, 1),
    "fc": fc_layer(3, 7, 5),
    "matrix product": matmul_layer(1, 2, 3, 5, 4),
}


def cut(r: range, tile: int) -> list[range]:
    return [range(s, min(s + tile, r.stop)) for s in range(r.start, r.stop, tile)]


def walk(sizes, operands, tilings, orders, holds, homes):
    """Element counts per level (0 register file, 1 global buffer): fetched into the level,
    partial sums read back, element writes up (all, and distinct = finals), largest tile."""
    levels = len(tilings)
    names = list(operands)
    resident = [{n: None for n in names} for _ in range(levels)]
    written: list[dict] = [{n: set() for n in names} for _ in range(levels)]
    count = {key: [{n: 0 for n in names} for _ in range(levels)]
             for key in ("fetched", "read_back", "writes", "largest")}
    tiles_seen = [0] * levels
    stack: list = [None] * levels

    def visit():
        for j in range(levels):
            for name in names:
                role, elements_of = operands[name]
                if role not in holds[j]:
                    continue
                tile = elements_of(stack[j])
                count["largest"][j][name] = max(count["largest"][j][name], len(tile))
                if j >= homes.get(name, levels) or tile == resident[j][name]:
                    continue
                if role == "output" and resident[j][name] is not None:
                    count["writes"][j][name] += len(resident[j][name])
                    written[j][name] |= resident[j][name]
                if role == "output":
                    count["read_back"][j][name] += len(tile & written[j][name])
                else:
                    count["fetched"][j][name] += len(tile)
                resident[j][name] = tile

    def loops(j, ranges):
        for combo in itertools.product(*(cut(ranges[d], tilings[j][d]) for d in orders[j])):
            tiles_seen[j] += 1
            stack[j] = dict(ranges, **dict(zip(orders[j], combo)))
            if j == 0:
                visit()
            else:
                loops(j - 1, stack[j])

    loops(levels - 1, {d: range(n) for d, n in sizes.items()})
    for j in range(levels):
        for name in names:
            last = resident[j][name]
            if operands[name][0] == "output" and last is not None:
                count["writes"][j][name] += len(last)
                written[j][name] |= last
    count["finals"] = [{n: len(written[j][n]) for n in names} for j in range(levels)]
    return count, tiles_seen


def expected_bytes(layer_nest, operands, count, j, name, buffers=2):
    """The walk's elements at level ``j`` as the model's bytes."""
    role = operands[name][0]
    if role == "output":
        finals = count["finals"][j][name]
        partial = count["writes"][j][name] - finals
        assert partial == count["read_back"][j][name]  # every partial sum written comes back
        tile = count["largest"][j][name] * (PRECISION.accumulator_bytes
                                            if layer_nest.reduction_dims else 1)
        return 0, partial * 4, finals * 1 + partial * 4, buffers * tile
    size = ROLE_BYTES[role]
    return count["fetched"][j][name] * size, 0, 0, buffers * count["largest"][j][name] * size


def model_bytes(level, name):
    ops = level.operands
    t = ops[name]
    read, working = t.read_bytes, t.working_set_bytes
    if name == "weights" and "bias" in ops:  # the walk's weights tile carries the biases
        read += ops["bias"].read_bytes
        working += ops["bias"].working_set_bytes
    return read, t.partial_read_bytes, t.write_bytes, working


def tilings_for(sizes, tiled, rng, count):
    """``count`` random (register file, global buffer) tilings nested in one another, with
    random loop orders of every dimension at each level."""
    out = []
    for _ in range(count):
        outer = {d: rng.randint(1, sizes[d]) for d in tiled}
        inner = {d: rng.randint(1, outer[d]) for d in tiled}
        orders = [rng.sample(tiled, len(tiled)), rng.sample(tiled, len(tiled))]
        out.append(([inner, outer], orders))
    return out


LEVELS = [ns.TilingLevel("register_file", 16.0, ns.Capacity(shared_bytes=10 ** 6)),
          ns.TilingLevel("global_buffer", 8.0, ns.Capacity(shared_bytes=10 ** 8)),
          ns.TilingLevel("dram", 1.0)]


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_three_level_traffic_matches_an_element_walk_at_every_level(name):
    nest, sizes, operands = LAYERS[name]
    tiled = list(nest.tiled_dims)
    rng = random.Random(name)
    cases = [([{d: 1 for d in tiled}, dict(sizes)], [tiled, tiled]),  # RF element-wise
             ([dict(sizes), dict(sizes)], [tiled, tiled[::-1]])]  # all fits everywhere
    for tilings, orders in cases + tilings_for(sizes, tiled, rng, 30):
        count, tiles_seen = walk(sizes, operands, tilings, orders,
                                 [frozenset(ns.BUFFER_ROLES)] * 2, {})
        model = ns.levels_traffic(nest, PRECISION, LEVELS,
                                  [ns.LevelTiling(t, tuple(o)) for t, o in zip(tilings, orders)])
        for j, level in enumerate(model):
            assert level.tile_count == tiles_seen[j]
            for op in operands:
                assert model_bytes(level, op) == expected_bytes(nest, operands, count, j, op), \
                    (tilings, orders, level.level, op)


@pytest.mark.parametrize("name", ["conv stride 2 pad 1", "matrix product"])
def test_bypassed_and_resident_operands_match_the_walk(name):
    """The global buffer keeps no weights (the register file fetches them from DRAM) and the
    activations live in the global buffer (no DRAM traffic for them there)."""
    nest, sizes, operands = LAYERS[name]
    tiled = list(nest.tiled_dims)
    levels = [LEVELS[0], ns.TilingLevel("global_buffer", 8.0, ns.Capacity(shared_bytes=10 ** 8),
                                        holds=frozenset({"input", "output"})), LEVELS[2]]
    inputs = [n for n, (role, _) in operands.items() if role == "input"]
    homes = {inputs[0]: 1, "output": 1}
    for tilings, orders in tilings_for(sizes, tiled, random.Random(name), 20):
        count, tiles_seen = walk(sizes, operands, tilings, orders,
                                 [frozenset(ns.BUFFER_ROLES), levels[1].holds], homes)
        model = ns.levels_traffic(nest, PRECISION, levels,
                                  [ns.LevelTiling(t, tuple(o)) for t, o in zip(tilings, orders)],
                                  homes=homes)
        for j, level in enumerate(model):
            for op in operands:
                role = operands[op][0]
                if role not in levels[j].holds:
                    assert model_bytes(level, op) == (0, 0, 0, 0)
                    continue
                want = list(expected_bytes(nest, operands, count, j, op))
                if j == homes.get(op, 2) and role != "output":
                    want[3] = 0  # resident inputs need no tile buffer at their home
                assert model_bytes(level, op) == tuple(want), (tilings, orders, j, op)


# ----------------------------------------------------------------------------- by hand

ONE_LEVEL = [ns.TilingLevel("sram", 64.0, ns.Capacity(shared_bytes=10 ** 9)),
             ns.TilingLevel("dram", 4.0)]
BYTE = Precision(activation_bytes=1, weight_bytes=1, accumulator_bytes=4)


def test_fc_that_fits_reads_every_weight_and_the_input_once():
    """FC 1024 -> 1024 at batch 1 with 1-byte weights and activations and SRAM to spare: the
    compulsory traffic is the 1024 x 1024 = 1,048,576 weight bytes plus 1024 bias bytes, the
    1024 input bytes, and the 1024 output bytes written once (no partial sums)."""
    nest = ln.fully_connected(batch=1, in_features=1024, out_features=1024)
    one_tile = ns.LevelTiling({"K": 1024, "C": 1024, "B": 1}, ("K", "C", "B"))
    level = ns.levels_traffic(nest, BYTE, ONE_LEVEL, [one_tile])[0]
    ops = level.operands
    assert ops["weights"].read_bytes == 1024 * 1024 == 1_048_576
    assert ops["bias"].read_bytes == 1024
    assert ops["input"].read_bytes == 1024
    assert (ops["output"].partial_read_bytes, ops["output"].write_bytes) == (0, 1024)
    # Double-buffered working set: 2 x (1 MiB weights + 1 KiB bias + 1 KiB input) plus the
    # output accumulated at 4 bytes: 2 x 4 KiB.
    assert level.working_set_bytes == 2 * (1_048_576 + 1024 + 1024) + 2 * 4096
    # A search on a DRAM-bound machine (4 bytes per cycle, 100 compute cycles) finds tiles
    # that overlap transfers yet move only the compulsory bytes.
    plan = ns.search_one_level(nest, BYTE, ns.Capacity(shared_bytes=8 * 1024 ** 2),
                               ns.Rates(100.0, 0.0, 64.0, 4.0, 0.0))
    assert plan.read_bytes == 1_048_576 + 1024 + 1024 and plan.write_bytes == 1024
    assert plan.tile_count > 1


def test_fc_split_over_input_channels_spills_partial_sums():
    """The same FC with the inputs in 4 tiles of 256 outermost and the outputs in 2 tiles of
    512 inside them (order C, K, B): each output tile is visited 4 times, once per C tile, so
    every output spills 3 partial sums and reads them back, at 4 bytes: 3 x 1024 x 4 = 12,288
    bytes each way, plus the 1024 final bytes. Weights and bias are read once; so is the input
    (its tile changes only with C, the outermost loop)."""
    nest = ln.fully_connected(batch=1, in_features=1024, out_features=1024)
    tiling = ns.LevelTiling({"K": 512, "C": 256, "B": 1}, ("C", "K", "B"))
    ops = ns.levels_traffic(nest, BYTE, ONE_LEVEL, [tiling])[0].operands
    assert ops["output"].partial_read_bytes == 3 * 1024 * 4 == 12_288
    assert ops["output"].write_bytes == 1024 + 12_288
    assert ops["weights"].read_bytes == 1_048_576 and ops["input"].read_bytes == 1024
    assert ops["bias"].read_bytes == 1024  # with the first C tile only
    # With the output loop whole, its tile never changes: it accumulates in place.
    whole_k = ns.LevelTiling({"K": 1024, "C": 256, "B": 1}, ("C", "K", "B"))
    ops = ns.levels_traffic(nest, BYTE, ONE_LEVEL, [whole_k])[0].operands
    assert (ops["output"].partial_read_bytes, ops["output"].write_bytes) == (0, 1024)


def test_conv_input_refetched_once_per_output_channel_tile():
    """3x3 conv, pad 1, 8 -> 16 channels on 16x16 at batch 1; K in 4 tiles of 4 outermost,
    rows in 2 tiles of 8 innermost (order K, C, B, OY, OX). A row tile reads 9 input rows
    (one halo row, the other side is padding): 9 x 16 x 8 = 1152 bytes, 2304 per pass over
    the rows, and the rows are walked once per K tile: 4 x 2304 = 9216 bytes. The weights
    (16 x 8 x 9 = 1152 bytes) change with K only: read once. Outputs: 16 x 16 x 16, once."""
    nest = ln.convolution(in_channels=8, out_channels=16, in_size=(16, 16),
                          out_size=(16, 16), kernel=(3, 3), pad_before=(1, 1))
    tiling = ns.LevelTiling(dict(G=1, K=4, C=8, B=1, OY=8, OX=16),
                            ("G", "K", "C", "B", "OY", "OX"))
    ops = ns.levels_traffic(nest, BYTE, ONE_LEVEL, [tiling])[0].operands
    assert ops["input"].read_bytes == 4 * 2 * 9 * 16 * 8 == 9216
    assert ops["weights"].read_bytes == 16 * 8 * 9 == 1152
    assert ops["output"].write_bytes == 16 * 16 * 16
    # Rows outermost instead (order OY, K, ...): each input row tile stays while K runs.
    rows_first = ns.LevelTiling(tiling.tiles, ("G", "B", "OY", "OX", "K", "C"))
    ops = ns.levels_traffic(nest, BYTE, ONE_LEVEL, [rows_first])[0].operands
    assert ops["input"].read_bytes == 2304 and ops["weights"].read_bytes == 2 * 1152


def test_row_halos_are_fetched_by_both_neighbours():
    """The same conv cut into 2 row tiles of 8 (all channels): rows 0-8 (pad above) and
    7-15 (pad below) are 9 rows each, 18 x 16 columns x 8 channels = 2304 bytes: the two
    halo rows 7 and 8 are fetched twice, padding never."""
    nest = ln.convolution(in_channels=8, out_channels=16, in_size=(16, 16),
                          out_size=(16, 16), kernel=(3, 3), pad_before=(1, 1))
    tiling = ns.LevelTiling(dict(G=1, K=16, C=8, B=1, OY=8, OX=16),
                            ("G", "K", "C", "B", "OY", "OX"))
    ops = ns.levels_traffic(nest, BYTE, ONE_LEVEL, [tiling])[0].operands
    assert ops["input"].read_bytes == 2 * 9 * 16 * 8 == 2304
    assert ops["input"].working_set_bytes == 2 * 9 * 16 * 8


def test_three_level_matrix_product_by_hand():
    """Q K^T for 2 heads of 8 tokens x 4 features (M = N = 8, K = 4), 1-byte activations.
    Global buffer: everything (one tile); register file: 2 x 2 output tiles (M, N tiles of 4),
    all of K, order H, M, N, K. Into the global buffer: each operand once, 2 x 8 x 4 = 64
    bytes of each input, 128 output bytes written. Into the register file: the left tile
    (4 x 4) changes with M only: 2 heads x 2 M tiles = 4 fetches of 16 = 64 bytes; the right
    tile changes with N inside M: 2 x 2 x 2 = 8 fetches of 16 = 128 bytes; the outputs are
    written once, 128 bytes."""
    nest = ln.matrix_product(heads=2, m=8, n=8, k=4)
    rf = ns.LevelTiling(dict(B=1, H=1, M=4, N=4, K=4), ("B", "H", "M", "N", "K"))
    gb = ns.LevelTiling(dict(B=1, H=2, M=8, N=8, K=4), ("B", "H", "M", "N", "K"))
    register_file, global_buffer = ns.levels_traffic(nest, BYTE, LEVELS, [rf, gb])
    assert [global_buffer.operands[n].read_bytes for n in ("left", "right")] == [64, 64]
    assert global_buffer.operands["output"].write_bytes == 128
    assert [register_file.operands[n].read_bytes for n in ("left", "right")] == [64, 128]
    assert register_file.operands["output"].write_bytes == 128
    assert register_file.tile_count == 8 and global_buffer.tile_count == 1
