"""Brute force, nn_dataflow's way: walk the blocked loops of small layers element by element,
keep one buffered tile per operand, and count every DRAM element fetched and every SRAM
access of the systolic array; the analytic model must give the same counts.

These walks share nothing with the kernels: tiles are sets of concrete (c, y, x) elements,
padding is found by bounds checks, and folds are walked one by one.
"""

from __future__ import annotations

import itertools

import pytest

from perfsim.mapping.engines import engine_sram_bytes
from perfsim.hardware.model import MatrixEngine, Precision
from perfsim.mapping.kernels.nest_search import (Capacity, LevelTiling, TilingLevel,
                                                 levels_traffic)
from perfsim.mapping.lowering import Work
from perfsim.workload import loopnest

FIELDS = ("B", "G", "K", "C", "OY", "OX", "IY", "IX", "FY", "FX", "SY", "SX", "DY", "DX", "PT",
          "PL", "BIAS_PER_K", "STEPS")
LAYERS = [  # K and C per group
    # B G K C OY OX IY IX FY FX SY SX DY DX PT PL BIAS STEPS
    (1, 1, 3, 2, 5, 4, 5, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1),
    (2, 1, 2, 3, 3, 3, 7, 7, 3, 3, 2, 2, 1, 1, 0, 0, 0, 1),
    (1, 2, 2, 1, 4, 4, 8, 8, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1),
    (1, 1, 2, 2, 3, 3, 7, 7, 3, 3, 1, 1, 2, 2, 0, 0, 0, 1),
    (1, 1, 1, 1, 4, 3, 6, 6, 2, 3, 1, 2, 1, 1, 0, 1, 0, 1),
]
ORDERS = list(itertools.permutations("KCP"))
"""The six orders of the tile-loop classes, outermost first: ``K`` (weights, outputs), ``C``
(weights, inputs), ``P`` (batch and output pixels: inputs, outputs); ``G`` is outermost."""
CLASS_DIMS = {"K": ("K",), "C": ("C",), "P": ("B", "OY", "OX")}
TILINGS = [(1, 1, 1, 1, 2, 2), (2, 1, 2, 1, 3, 1), (1, 2, 1, 2, 1, 4), (2, 2, 3, 3, 5, 4),
           (1, 1, 2, 1, 2, 3)]


def split(total, tile):
    return [range(s, min(s + tile, total)) for s in range(0, total, tile)]


def walk(dims, tiles, order):
    """Element-level DRAM counts: weights and inputs fetched, partial sums read back, and
    output elements written (partial or final) when their tile leaves the buffer."""
    d = dict(zip(FIELDS, dims))
    t = dict(zip(("B", "G", "K", "C", "OY", "OX"), tiles))
    loops = {
        "K": split(d["K"], t["K"]), "C": split(d["C"], t["C"]),
        "P": list(itertools.product(split(d["B"], t["B"]), split(d["OY"], t["OY"]),
                                    split(d["OX"], t["OX"]))),
    }
    names = list(ORDERS[order])
    buffers = {"W": None, "I": None, "O": None}
    counts = {"W": 0, "I": 0, "O_read": 0, "O_write": 0}
    done: set = set()  # output elements whose partial sums went out to DRAM
    for groups in split(d["G"], t["G"]):
        for a in loops[names[0]]:
            for b in loops[names[1]]:
                for c in loops[names[2]]:
                    it = dict(zip(names, (a, b, c)))
                    ks, cs, (bs, ys, xs) = it["K"], it["C"], it["P"]
                    w = frozenset((g, kk, cc, fy, fx) for g in groups for kk in ks for cc in cs
                                  for fy in range(d["FY"]) for fx in range(d["FX"]))
                    if d["BIAS_PER_K"] and cs[0] == 0:  # biases travel with the first C tile
                        w |= frozenset((g, kk, "bias") for g in groups for kk in ks)
                    i = frozenset(
                        (n, g, cc, iy, ix) for n in bs for g in groups for cc in cs
                        for oy in ys for ox in xs
                        for fy in range(d["FY"]) for fx in range(d["FX"])
                        for iy in [oy * d["SY"] - d["PT"] + fy * d["DY"]]
                        for ix in [ox * d["SX"] - d["PL"] + fx * d["DX"]]
                        if 0 <= iy < d["IY"] and 0 <= ix < d["IX"])
                    o = frozenset((n, g, kk, oy, ox) for n in bs for g in groups for kk in ks
                                  for oy in ys for ox in xs)
                    if buffers["W"] != w:
                        counts["W"] += len(w)
                        buffers["W"] = w
                    if buffers["I"] != i:
                        counts["I"] += len(i)
                        buffers["I"] = i
                    if buffers["O"] != o:
                        if buffers["O"] is not None:
                            done |= buffers["O"]
                            counts["O_write"] += len(buffers["O"])
                        counts["O_read"] += len(o & done)
                        buffers["O"] = o
    counts["O_write"] += len(buffers["O"])  # the last tile's results
    return counts


@pytest.mark.parametrize("dims", LAYERS)
@pytest.mark.parametrize("tiles", TILINGS)
@pytest.mark.parametrize("order", range(6))
def test_dram_counts_match_an_element_level_walk(dims, tiles, order):
    tiles = tuple(min(t, dims[i]) for t, i in zip(tiles, (0, 1, 2, 3, 4, 5)))
    counts = walk(dims, tiles, order)
    d = dict(zip(FIELDS, dims))
    nest = loopnest.convolution(
        batch=d["B"], in_channels=d["G"] * d["C"], out_channels=d["G"] * d["K"],
        in_size=(d["IY"], d["IX"]), out_size=(d["OY"], d["OX"]), kernel=(d["FY"], d["FX"]),
        stride=(d["SY"], d["SX"]), dilation=(d["DY"], d["DX"]), pad_before=(d["PT"], d["PL"]),
        groups=d["G"], biases_per_output=d["BIAS_PER_K"])
    tiling = LevelTiling(dict(zip(("B", "G", "K", "C", "OY", "OX"), tiles)),
                         ("G", *(d for c in ORDERS[order] for d in CLASS_DIMS[c])))
    levels = (TilingLevel("sram", 1.0, Capacity(shared_bytes=10 ** 9)), TilingLevel("dram", 1.0))
    one_byte = Precision(activation_bytes=1, weight_bytes=1, accumulator_bytes=1)
    ops = levels_traffic(nest, one_byte, levels, (tiling,))[0].operands  # bytes = elements
    weights = ops["weights"].read_bytes + (ops["bias"].read_bytes if "bias" in ops else 0)
    assert weights == counts["W"]
    assert ops["input"].read_bytes == counts["I"]
    assert ops["output"].partial_read_bytes == counts["O_read"]
    assert ops["output"].write_bytes == counts["O_write"]


def systolic_walk(dataflow, rows, cols, np_, kk, t_red):
    """Element-level SRAM accesses of one GEMM on the array, fold by fold."""
    s_r, s_c = {"output_stationary": (np_, kk), "weight_stationary": (t_red, kk),
                "input_stationary": (t_red, np_)}[dataflow]
    inputs = weights = partial_reads = writes = 0
    for r0 in range(0, s_r, rows):
        r = min(rows, s_r - r0)
        for c0 in range(0, s_c, cols):
            c = min(cols, s_c - c0)
            if dataflow == "weight_stationary":
                weights += r * c  # stationary weights loaded once per fold
                inputs += np_ * r  # every pixel streams its r reduction inputs
                writes += np_ * c  # partial sums of this fold's c filters
                partial_reads += np_ * c if r0 else 0
            elif dataflow == "input_stationary":
                inputs += r * c
                weights += kk * r
                writes += kk * c
                partial_reads += kk * c if r0 else 0
            else:  # output stationary: outputs stay, both operands stream the reduction
                inputs += r * t_red
                weights += c * t_red
                writes += r * c
    return inputs, weights, partial_reads, writes


@pytest.mark.parametrize("dataflow", ["output_stationary", "weight_stationary",
                                      "input_stationary"])
@pytest.mark.parametrize("gemm", [(10, 7, 9), (4, 4, 4), (33, 5, 17), (1, 64, 3)])
@pytest.mark.parametrize("array", [(4, 4), (8, 3), (16, 16)])
def test_engine_sram_accesses_match_a_fold_walk(dataflow, gemm, array):
    np_, kk, t_red = gemm
    rows, cols = array
    nest = loopnest.convolution(in_channels=t_red, out_channels=kk, in_size=(1, np_),
                                out_size=(1, np_))
    work = Work(nest, np_ * kk * t_red, 0, t_red)
    engine = MatrixEngine("mxu", rows, cols, dataflow)
    precision = Precision(activation_bytes=1, weight_bytes=1, accumulator_bytes=1)
    moved = engine_sram_bytes(engine, work, precision, np_ * t_red, kk * t_red)
    inputs, weights, partial_reads, out_writes = systolic_walk(dataflow, rows, cols, np_, kk,
                                                               t_red)
    # With 1-byte everything, the model's bytes are element counts; its partial writes of the
    # row folds plus the final results equal the walk's writes.
    assert (moved.input, moved.weight, moved.output_read) == (inputs, weights, partial_reads)
    assert moved.writes == out_writes
