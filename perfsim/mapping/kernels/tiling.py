"""DRAM traffic of a tiling, and the search for the best tiling (Numba), with their ``_ref``
specifications.

**Conv loop nests** (:data:`perfsim.mapping.lowering.CONV_FIELDS`) are tiled at the SRAM level into
tiles of ``tB x tG x tK x tC x tOY x tOX`` (filters whole). The tile loops form three
classes by which operands they index: ``K`` (weights W, outputs O), ``C`` (W, inputs I) and
``P = B, OY, OX`` (I, O); all three index ``G``, so ``G`` is outermost and changes nothing.
The classes run in one of six orders. With one buffer (double buffered) per operand, an
operand's tile stays while the loops inside its innermost relevant loop (of more than one
trip) run, and is re-fetched once per iteration of every loop it does not index outside it.
For the common case of many trips everywhere, only the innermost class matters:

* innermost ``P``: W fetched once; I ``nK`` times; O revisited ``nC`` times;
* innermost ``K``: W ``nP`` times; I once; O ``nC`` times;
* innermost ``C``: W ``nP`` times; I ``nK`` times; O once (accumulated in place).

A revisited output tile spills its partial sums (accumulator precision) and reads them back:
``nC - 1`` extra writes and reads of every output. Input tiles carry their halos exactly: a tile
of output rows reads the input rows its windows touch (a contiguous span, or every row a
stride or dilation reaches), clipped to the map (padding is never fetched); neighbouring
tiles re-fetch their overlap.

**Stream nests** read every input and write every output once; tiles are channel groups
(``tG``), optionally split into ``nS`` spatial chunks.

**Time of a tiling.** With ``n`` tiles, loads ``L``, stores ``S`` (one DRAM channel) and
compute ``C`` (the engine, or SRAM bandwidth if slower) overlapped by double buffering, a
pipeline of equal tiles takes ``(L + S + C)/n + (n - 1)/n * max(L + S, C)`` plus one DRAM
latency: the first load and the last store are exposed, the rest overlaps. It never beats
``max(L + S, C)``, the roofline.

The search minimises cycles, then DRAM bytes, over tile sizes ``ceil(D / 2^i)`` of every
dimension and the six loop orders, keeping tiles that fit SRAM double buffered (its
specification: :func:`search_conv_ref`). It runs in two parts (:func:`conv_table`,
:func:`rank_conv`): the traffic of every tiling depends on the layer and the precision only,
so it is computed once, and each new SRAM size, array or DRAM bandwidth only ranks the
table again.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
from numba import njit

# conv dims (perfsim.mapping.lowering.CONV_FIELDS)
B, G, K, C, OY, OX, IY, IX, FY, FX, SY, SX, DY, DX, PT, PL, BIAS, STEPS = range(18)
# stream dims (perfsim.mapping.lowering.STREAM_FIELDS)
SB, SG, SIN, SOUT, SW = range(5)
# precision and placement: [activation_bytes, weight_bytes, accumulator_bytes, input_in_dram,
# output_to_dram]
ACT, WGT, ACC, IN_DRAM, OUT_DRAM = range(5)
# capacities in bytes: [shared, ifmap, filter, ofmap]; shared < 0 means split buffers
CAP_SHARED, CAP_I, CAP_W, CAP_O = range(4)
# machine: [compute_cycles, engine_sram_bytes, sram_bytes_per_cycle, dram_bytes_per_cycle,
# dram_latency_cycles]
M_COMPUTE, M_ENGINE_SRAM, M_SRAM_BW, M_DRAM_BW, M_LATENCY = range(5)
CLASS_K, CLASS_C, CLASS_P = 0, 1, 2
ORDERS = np.array([[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]],
                  dtype=np.int64)
"""The six orders of the loop classes, outermost first (``ORDERS[i]`` is order ``i``)."""
ORDER_NAMES = tuple("".join("KCP"[c] for c in order) for order in ORDERS)
# Which classes each operand is indexed by: W (K, C), I (C, P), O (K, P).
RELEVANT = np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=np.int64)
OPERAND_W, OPERAND_I, OPERAND_O = 0, 1, 2
# result fields
(R_CYCLES, R_DRAM_READ_W, R_DRAM_READ_I, R_DRAM_READ_O, R_DRAM_WRITE, R_WS_BYTES, R_TILES,
 R_T0, R_T1, R_T2, R_T3, R_T4, R_T5, R_ORDER, R_MOVED) = range(15)
RESULT_SIZE = 15


@njit(cache=True)
def rows_touched(start: int, count: int, stride: int, kernel: int, dilation: int, pad: int,
                 in_len: int) -> int:
    """Input rows (or columns) that output rows ``[start, start + count)`` read: a
    contiguous span unless the stride or dilation skips rows."""
    if dilation == 1 and stride <= kernel:
        lo = start * stride - pad
        hi = (start + count - 1) * stride - pad + kernel
        return max(0, min(hi, in_len) - max(lo, 0))
    mask = np.zeros(in_len, dtype=np.bool_)
    for y in range(start, start + count):
        for f in range(kernel):
            r = y * stride - pad + f * dilation
            if 0 <= r < in_len:
                mask[r] = True
    return int(mask.sum())


@njit(cache=True)
def halo_sum(out_len: int, tile: int, stride: int, kernel: int, dilation: int, pad: int,
             in_len: int):
    """(sum over tiles of input rows fetched, rows of the largest tile) along one axis."""
    total = 0
    largest = 0
    for y0 in range(0, out_len, tile):
        rows = rows_touched(y0, min(tile, out_len - y0), stride, kernel, dilation, pad, in_len)
        total += rows
        largest = max(largest, rows)
    return total, largest


@njit(cache=True)
def fetches(order: int, operand: int, n_k: int, n_c: int, n_p: int) -> int:
    """How many times an operand's tiles are fetched per distinct tile: the product of the
    trips of the loops it does not index outside its innermost indexing loop (of more than
    one trip)."""
    innermost = -1
    for i in range(3):
        c = ORDERS[order, i]
        trips = n_k if c == CLASS_K else (n_c if c == CLASS_C else n_p)
        if RELEVANT[operand, c] and trips > 1:
            innermost = i
    factor = 1
    for i in range(innermost):
        c = ORDERS[order, i]
        if not RELEVANT[operand, c]:
            factor *= n_k if c == CLASS_K else (n_c if c == CLASS_C else n_p)
    return factor


@njit(cache=True)
def conv_traffic(dims, tiles, order: int, prec):
    """DRAM bytes of one tiling: (weights read, inputs read, partial sums read, bytes written,
    working set in bytes per operand I, W, O double buffered, tile count)."""
    rows_sum, rows_max = halo_sum(dims[OY], tiles[4], dims[SY], dims[FY], dims[DY], dims[PT],
                                  dims[IY])
    cols_sum, cols_max = halo_sum(dims[OX], tiles[5], dims[SX], dims[FX], dims[DX], dims[PL],
                                  dims[IX])
    return _traffic(dims, tiles, order, prec, rows_sum, rows_max, cols_sum, cols_max)


@njit(cache=True)
def _traffic(dims, tiles, order, prec, rows_sum, rows_max, cols_sum, cols_max):
    b, g, k, c = dims[B], dims[G], dims[K], dims[C]
    n_b = -(-b // tiles[0])
    n_g = -(-g // tiles[1])
    n_k = -(-k // tiles[2])
    n_c = -(-c // tiles[3])
    n_oy = -(-dims[OY] // tiles[4])
    n_ox = -(-dims[OX] // tiles[5])
    n_p = n_b * n_oy * n_ox
    per_kc = dims[FY] * dims[FX]
    weights = g * (k * c * per_kc + k * dims[BIAS])
    inputs = b * g * c * rows_sum * cols_sum
    outputs = b * g * k * dims[OY] * dims[OX]
    r_w = fetches(order, OPERAND_W, n_k, n_c, n_p)
    r_i = fetches(order, OPERAND_I, n_k, n_c, n_p)
    r_o = fetches(order, OPERAND_O, n_k, n_c, n_p)
    read_w = r_w * weights * prec[WGT]
    read_i = r_i * inputs * prec[ACT] if prec[IN_DRAM] else 0
    spill = (r_o - 1) * outputs * prec[ACC] if prec[OUT_DRAM] else 0
    write = outputs * prec[ACT] + spill if prec[OUT_DRAM] else 0
    tile_i = tiles[0] * tiles[1] * tiles[3] * rows_max * cols_max
    tile_w = tiles[1] * (tiles[2] * tiles[3] * per_kc + tiles[2] * dims[BIAS])
    tile_o = tiles[0] * tiles[1] * tiles[2] * tiles[4] * tiles[5]
    ws_i = 2 * tile_i * prec[ACT] if prec[IN_DRAM] else 0
    ws_w = 2 * tile_w * prec[WGT]
    ws_o = 2 * tile_o * prec[ACC]
    n_tiles = n_p * n_g * n_k * n_c
    return read_w, read_i, spill, write, ws_i, ws_w, ws_o, n_tiles


@njit(cache=True)
def fits(ws_i, ws_w, ws_o, caps) -> bool:
    if caps[CAP_SHARED] >= 0:
        return ws_i + ws_w + ws_o <= caps[CAP_SHARED]
    return ws_i <= caps[CAP_I] and ws_w <= caps[CAP_W] and ws_o <= caps[CAP_O]


@njit(cache=True)
def pipeline_cycles(read_bytes, write_bytes, n_tiles, machine) -> float:
    """Cycles of ``n_tiles`` equal tiles overlapped by double buffering (module docstring)."""
    transfer = (read_bytes + write_bytes) / machine[M_DRAM_BW]
    sram = (machine[M_ENGINE_SRAM] + read_bytes + write_bytes) / machine[M_SRAM_BW]
    busy = max(machine[M_COMPUTE], sram)
    cycles = (transfer + busy) / n_tiles + (n_tiles - 1) / n_tiles * max(transfer, busy)
    if read_bytes + write_bytes > 0:
        cycles += machine[M_LATENCY]
    return np.round(cycles, 6)  # ranks ties alike whatever the order of float operations


@njit(cache=True)
def candidates(size: int):
    """Tile sizes ``ceil(size / 2^i)``, ascending, without repeats."""
    out = np.empty(64, dtype=np.int64)
    n = 0
    parts = 1
    last = -1
    while True:
        t = -(-size // parts)
        if t != last:
            out[n] = t
            n += 1
            last = t
        if t == 1:
            break
        parts *= 2
    return out[:n][::-1].copy()


# conv table columns (conv_table): bytes moved by the tiling's best loop order, tile count,
# working set per operand (I, W, O; double buffered), that order, the six tile sizes
TB_MOVED, TB_TILES, TB_WS_I, TB_WS_W, TB_WS_O, TB_ORDER, TB_T0 = range(7)
TABLE_SIZE = 12


@njit(cache=True)
def conv_table(dims, prec):
    """Every tiling :func:`search_conv_ref` tries, in its order, with the loop order that moves
    the fewest DRAM bytes (the first on ties): one row of ``TB_*`` fields per tiling.

    The table depends on the layer and the precision only, never on the SRAM or the machine:
    a tiling's working set and tile count do not depend on the loop order, and its cycles
    (:func:`pipeline_cycles`) grow with the bytes it moves, so the order ranked first by
    (cycles, bytes) is the one with the fewest bytes whatever the capacities and rates.
    :func:`rank_conv` then picks the tiling for a machine in one pass."""
    cands = np.zeros((6, 64), dtype=np.int64)
    counts = np.zeros(6, dtype=np.int64)
    for d, field in enumerate((B, G, K, C, OY, OX)):
        values = candidates(dims[field])
        counts[d] = len(values)
        cands[d, :len(values)] = values
    halos = np.empty((2, 64, 2), dtype=np.int64)
    for i in range(counts[4]):
        halos[0, i, 0], halos[0, i, 1] = halo_sum(dims[OY], cands[4, i], dims[SY], dims[FY],
                                                  dims[DY], dims[PT], dims[IY])
    for i in range(counts[5]):
        halos[1, i, 0], halos[1, i, 1] = halo_sum(dims[OX], cands[5, i], dims[SX], dims[FX],
                                                  dims[DX], dims[PL], dims[IX])
    table = np.empty((counts[0] * counts[1] * counts[2] * counts[3] * counts[4] * counts[5],
                      TABLE_SIZE), dtype=np.int64)
    tiles = np.ones(6, dtype=np.int64)
    row = 0
    for i_g in range(counts[1]):
        tiles[1] = cands[1, i_g]
        for i_k in range(counts[2]):
            tiles[2] = cands[2, i_k]
            for i_c in range(counts[3]):
                tiles[3] = cands[3, i_c]
                for i_b in range(counts[0]):
                    tiles[0] = cands[0, i_b]
                    for i_oy in range(counts[4]):
                        tiles[4] = cands[4, i_oy]
                        for i_ox in range(counts[5]):
                            tiles[5] = cands[5, i_ox]
                            best_moved = -1
                            for order in range(6):
                                r_w, r_i, r_o, wr, ws_i, ws_w, ws_o, n = _traffic(
                                    dims, tiles, order, prec, halos[0, i_oy, 0],
                                    halos[0, i_oy, 1], halos[1, i_ox, 0], halos[1, i_ox, 1])
                                moved = r_w + r_i + r_o + wr
                                if best_moved < 0 or moved < best_moved:
                                    best_moved = moved
                                    table[row, TB_MOVED] = moved
                                    table[row, TB_TILES] = n
                                    table[row, TB_WS_I] = ws_i
                                    table[row, TB_WS_W] = ws_w
                                    table[row, TB_WS_O] = ws_o
                                    table[row, TB_ORDER] = order
                            for d in range(6):
                                table[row, TB_T0 + d] = tiles[d]
                            row += 1
    return table


@njit(cache=True)
def rank_conv(table, dims, prec, caps, machine):
    """The best tiling of a :func:`conv_table` for capacities ``caps`` and ``machine``: the
    same result array as :func:`search_conv_ref` (the first fitting row of least (cycles, bytes)
    in the search's order)."""
    best = np.zeros(RESULT_SIZE)
    best[R_CYCLES] = np.inf
    best[R_MOVED] = np.inf
    chosen = -1
    for row in range(table.shape[0]):
        if not fits(table[row, TB_WS_I], table[row, TB_WS_W], table[row, TB_WS_O], caps):
            continue
        moved = table[row, TB_MOVED]
        cycles = pipeline_cycles(moved, 0, table[row, TB_TILES], machine)
        if cycles < best[R_CYCLES] or (cycles == best[R_CYCLES] and moved < best[R_MOVED]):
            best[R_CYCLES] = cycles
            best[R_MOVED] = moved
            chosen = row
    if chosen < 0:
        return best
    tiles = table[chosen, TB_T0:TB_T0 + 6].copy()
    order = table[chosen, TB_ORDER]
    r_w, r_i, r_o, wr, ws_i, ws_w, ws_o, n = conv_traffic(dims, tiles, order, prec)
    best[R_DRAM_READ_W] = r_w
    best[R_DRAM_READ_I] = r_i
    best[R_DRAM_READ_O] = r_o
    best[R_DRAM_WRITE] = wr
    best[R_WS_BYTES] = ws_i + ws_w + ws_o
    best[R_TILES] = n
    for d in range(6):
        best[R_T0 + d] = tiles[d]
    best[R_ORDER] = order
    return best


@njit(cache=True)
def stream_traffic(dims, t_g: int, n_s: int, prec):
    """Stream nest: (inputs read, constants read, bytes written, working set, tiles)."""
    b, g = dims[SB], dims[SG]
    read_i = b * g * dims[SIN] * prec[ACT] if prec[IN_DRAM] else 0
    read_w = g * dims[SW] * prec[WGT]
    write = b * g * dims[SOUT] * prec[ACT] if prec[OUT_DRAM] else 0
    tile_in = t_g * -(-dims[SIN] // n_s)
    tile_out = t_g * -(-dims[SOUT] // n_s)
    ws = 2 * (tile_in * prec[ACT] if prec[IN_DRAM] else 0) + 2 * t_g * dims[SW] * prec[WGT] \
        + 2 * tile_out * prec[ACT]
    n_tiles = b * -(-g // t_g) * n_s
    return read_i, read_w, write, ws, n_tiles


@njit(cache=True)
def search_stream(dims, prec, caps, machine):
    """The best tiling of a stream nest (result fields as :func:`rank_conv`; ``R_T1`` is
    the channel tile, ``R_T5`` the number of spatial chunks)."""
    best = np.zeros(RESULT_SIZE)
    best[R_CYCLES] = np.inf
    capacity = caps[CAP_SHARED] if caps[CAP_SHARED] >= 0 else min(caps[CAP_I], caps[CAP_O])
    largest = max(dims[SIN], dims[SOUT])
    for t_g in candidates(dims[SG]):
        n_s = 1
        while n_s <= largest:
            r_i, r_w, wr, ws, n = stream_traffic(dims, t_g, n_s, prec)
            if ws <= capacity:
                cycles = pipeline_cycles(r_i + r_w, wr, n, machine)
                if cycles < best[R_CYCLES]:
                    best[R_CYCLES] = cycles
                    best[R_DRAM_READ_W] = r_w
                    best[R_DRAM_READ_I] = r_i
                    best[R_DRAM_READ_O] = 0
                    best[R_DRAM_WRITE] = wr
                    best[R_WS_BYTES] = ws
                    best[R_TILES] = n
                    best[R_T1] = t_g
                    best[R_T5] = n_s
            n_s *= 2
    return best


# ----------------------------------------------------------------------------- references


def conv_traffic_ref(dims, tiles, order: int, prec):
    """The specification of :func:`conv_traffic`: enumerate the tiles in loop order, keep one
    resident tile per operand, and count every fetch, spill and write-back."""
    d = dict(zip(("B", "G", "K", "C", "OY", "OX", "IY", "IX", "FY", "FX", "SY", "SX", "DY",
                  "DX", "PT", "PL", "BIAS", "STEPS"), (int(v) for v in dims)))
    t_b, t_g, t_k, t_c, t_oy, t_ox = (int(v) for v in tiles)

    def spans(total, tile):
        return [(s, min(tile, total - s)) for s in range(0, total, tile)]

    def in_rows(start, count, stride, kernel, dilation, pad, size):
        return len({y * stride - pad + f * dilation for y in range(start, start + count)
                    for f in range(kernel)} & set(range(size)))

    p_loops = [(b, y, x) for b in spans(d["B"], t_b) for y in spans(d["OY"], t_oy)
               for x in spans(d["OX"], t_ox)]
    k_loops, c_loops = spans(d["K"], t_k), spans(d["C"], t_c)
    order = [("K", "C", "P")[c] for c in ORDERS[order]]
    loops = {"P": p_loops, "K": k_loops, "C": c_loops}
    resident = {"W": None, "I": None, "O": None}
    visits: dict = {}
    read_w = read_i = spill = write = 0
    n_tiles = 0
    for gs in spans(d["G"], t_g):
        for a in loops[order[0]]:
            for m in loops[order[1]]:
                for z in loops[order[2]]:
                    it = dict(zip(order, (a, m, z)))
                    (bs, ys, xs), ks, cs = it["P"], it["K"], it["C"]
                    n_tiles += 1
                    w_tile = (gs, ks, cs)
                    if resident["W"] != w_tile:
                        resident["W"] = w_tile
                        read_w += gs[1] * (ks[1] * cs[1] * d["FY"] * d["FX"]
                                           + (ks[1] * d["BIAS"] if cs[0] == 0 else 0))
                    i_tile = (gs, cs, bs, ys, xs)
                    if resident["I"] != i_tile:
                        resident["I"] = i_tile
                        read_i += (gs[1] * cs[1] * bs[1]
                                   * in_rows(ys[0], ys[1], d["SY"], d["FY"], d["DY"], d["PT"],
                                             d["IY"])
                                   * in_rows(xs[0], xs[1], d["SX"], d["FX"], d["DX"], d["PL"],
                                             d["IX"]))
                    o_tile = (gs, ks, bs, ys, xs)
                    if resident["O"] != o_tile:
                        resident["O"] = o_tile
                        size = gs[1] * ks[1] * bs[1] * ys[1] * xs[1]
                        seen = visits.get(o_tile, 0)
                        if seen:
                            spill += size  # read back the partial sums written last visit
                        visits[o_tile] = seen + 1
    outputs = d["B"] * d["G"] * d["K"] * d["OY"] * d["OX"]
    # Each revisit of an output tile first wrote its partial sums out, then reads them back.
    read_w_bytes = read_w * prec[WGT]
    read_i_bytes = read_i * prec[ACT] if prec[IN_DRAM] else 0
    spill_bytes = spill * prec[ACC] if prec[OUT_DRAM] else 0
    write_bytes = outputs * prec[ACT] + spill_bytes if prec[OUT_DRAM] else 0
    rows_max = max(in_rows(y, n, d["SY"], d["FY"], d["DY"], d["PT"], d["IY"])
                   for y, n in spans(d["OY"], t_oy))
    cols_max = max(in_rows(x, n, d["SX"], d["FX"], d["DX"], d["PL"], d["IX"])
                   for x, n in spans(d["OX"], t_ox))
    ws_i = 2 * t_b * t_g * t_c * rows_max * cols_max * prec[ACT] if prec[IN_DRAM] else 0
    ws_w = 2 * t_g * (t_k * t_c * d["FY"] * d["FX"] + t_k * d["BIAS"]) * prec[WGT]
    ws_o = 2 * t_b * t_g * t_k * t_oy * t_ox * prec[ACC]
    return read_w_bytes, read_i_bytes, spill_bytes, write_bytes, ws_i, ws_w, ws_o, n_tiles


def _tilings_ref(dims):
    """Every candidate tiling ``(tB, tG, tK, tC, tOY, tOX)`` of a conv nest, each size
    ``ceil(D / 2^i)``, in the search's order (G outermost, then K, C, B, OY, OX)."""
    def cands(size):
        return sorted({math.ceil(size / 2 ** i) for i in range(size.bit_length() + 1)})

    for t_g, t_k, t_c, t_b, t_oy, t_ox in itertools.product(
            *(cands(int(dims[d])) for d in (G, K, C, B, OY, OX))):
        yield (t_b, t_g, t_k, t_c, t_oy, t_ox)


def search_conv_ref(dims, prec, caps, machine):
    """The specification of the conv tiling search (:func:`conv_table` then
    :func:`rank_conv`): every candidate tiling, kept if it fits, ranked by (cycles, DRAM
    bytes), first found on ties; when nothing fits, ``R_TILES`` is 0 and cycles and bytes
    are infinite."""
    best = None
    for tiles in _tilings_ref(dims):
        for order in range(6):
            r_w, r_i, r_o, wr, ws_i, ws_w, ws_o, n = conv_traffic_ref(dims, tiles, order, prec)
            if caps[CAP_SHARED] >= 0:
                ok = ws_i + ws_w + ws_o <= caps[CAP_SHARED]
            else:
                ok = ws_i <= caps[CAP_I] and ws_w <= caps[CAP_W] and ws_o <= caps[CAP_O]
            if not ok:
                continue
            cycles = pipeline_cycles_ref(r_w + r_i + r_o, wr, n, machine)
            key = (cycles, r_w + r_i + r_o + wr)
            if best is None or key < best[0]:
                best = (key, (r_w, r_i, r_o, wr, ws_i + ws_w + ws_o, n, *tiles, order))
    result = np.zeros(RESULT_SIZE)
    if best is None:
        result[R_CYCLES] = result[R_MOVED] = np.inf
        return result
    result[R_CYCLES] = best[0][0]
    result[R_DRAM_READ_W:R_MOVED] = best[1]
    result[R_MOVED] = best[0][1]
    return result


def conv_table_ref(dims, prec):
    """The specification of :func:`conv_table`: per tiling in :func:`search_conv_ref`'s
    order, the six loop orders by :func:`conv_traffic_ref`, keeping the first that moves the
    fewest bytes."""
    rows = []
    for tiles in _tilings_ref(dims):
        best = None
        for order in range(6):
            r_w, r_i, r_o, wr, ws_i, ws_w, ws_o, n = conv_traffic_ref(dims, tiles, order, prec)
            row = (r_w + r_i + r_o + wr, n, ws_i, ws_w, ws_o, order, *tiles)
            if best is None or row[0] < best[0]:
                best = row
        rows.append(best)
    return np.array(rows, dtype=np.int64)


def rank_conv_ref(table, dims, prec, caps, machine):
    """The specification of :func:`rank_conv`: rank the fitting rows by (cycles, bytes), the
    first on ties, and cost the winner with :func:`conv_traffic_ref`."""
    best = None
    for row in table:
        ws = row[TB_WS_I:TB_WS_O + 1]
        if caps[CAP_SHARED] >= 0:
            ok = ws.sum() <= caps[CAP_SHARED]
        else:
            ok = ws[0] <= caps[CAP_I] and ws[1] <= caps[CAP_W] and ws[2] <= caps[CAP_O]
        if ok:
            key = (pipeline_cycles_ref(int(row[TB_MOVED]), 0, int(row[TB_TILES]), machine),
                   int(row[TB_MOVED]))
            if best is None or key < best[0]:
                best = (key, row)
    result = np.zeros(RESULT_SIZE)
    if best is None:
        result[R_CYCLES] = result[R_MOVED] = np.inf
        return result
    (cycles, moved), row = best
    tiles = tuple(int(v) for v in row[TB_T0:TB_T0 + 6])
    r_w, r_i, r_o, wr, ws_i, ws_w, ws_o, n = conv_traffic_ref(dims, tiles, int(row[TB_ORDER]),
                                                              prec)
    result[:] = (cycles, r_w, r_i, r_o, wr, ws_i + ws_w + ws_o, n, *tiles, row[TB_ORDER], moved)
    return result


def pipeline_cycles_ref(read_bytes, write_bytes, n_tiles, machine) -> float:
    """The specification of :func:`pipeline_cycles`: walk ``n`` equal tiles through load,
    compute and store stages with double buffers and add up the time."""
    load = read_bytes / machine[M_DRAM_BW] / n_tiles
    store = write_bytes / machine[M_DRAM_BW] / n_tiles
    sram = (machine[M_ENGINE_SRAM] + read_bytes + write_bytes) / machine[M_SRAM_BW]
    compute = max(machine[M_COMPUTE], sram) / n_tiles
    # The first tile's load is exposed; then each step moves one tile's bytes (next load,
    # previous store) on the DRAM channel while the engine computes one tile.
    time = load
    for _ in range(n_tiles - 1):
        time += max(load + store, compute)
    time += compute + store
    if read_bytes + write_bytes > 0:
        time += machine[M_LATENCY]
    return round(time, 6)


def stream_traffic_ref(dims, t_g: int, n_s: int, prec):
    """The specification of :func:`stream_traffic`: visit every (sample, channel tile, chunk),
    add up the elements it reads and writes, and keep the largest tile's working set."""
    b, g, per_in, per_out, per_w = (int(v) for v in dims)
    act, wgt = int(prec[ACT]), int(prec[WGT])

    def chunks(total):
        size = -(-total // n_s)
        return [min(size, max(0, total - i * size)) for i in range(n_s)]

    ins, outs = chunks(per_in), chunks(per_out)
    read_i = read_w = write = tiles = largest = 0
    for sample in range(b):
        for g0 in range(0, g, t_g):
            channels = min(t_g, g - g0)
            if sample == 0:
                read_w += channels * per_w * wgt  # constants once per layer
            largest = max(largest, 2 * (channels * ins[0] * act if prec[IN_DRAM] else 0)
                          + 2 * channels * per_w * wgt + 2 * channels * outs[0] * act)
            for chunk_in, chunk_out in zip(ins, outs):
                tiles += 1
                read_i += channels * chunk_in * act if prec[IN_DRAM] else 0
                write += channels * chunk_out * act if prec[OUT_DRAM] else 0
    return read_i, read_w, write, largest, tiles


def search_stream_ref(dims, prec, caps, machine):
    """The specification of :func:`search_stream`: every channel tile ``ceil(G / 2^i)`` and
    every power-of-two chunk count, kept if it fits, ranked by cycles, first found on ties."""
    capacity = caps[CAP_SHARED] if caps[CAP_SHARED] >= 0 else min(caps[CAP_I], caps[CAP_O])
    groups, largest = int(dims[SG]), max(int(dims[SIN]), int(dims[SOUT]))
    best = None
    for t_g in sorted({math.ceil(groups / 2 ** i) for i in range(groups.bit_length() + 1)}):
        n_s = 1
        while n_s <= largest:
            r_i, r_w, wr, ws, n = stream_traffic_ref(dims, t_g, n_s, prec)
            if ws <= capacity:
                cycles = pipeline_cycles_ref(r_i + r_w, wr, n, machine)
                if best is None or cycles < best[0]:
                    best = (cycles, r_w, r_i, wr, ws, n, t_g, n_s)
            n_s *= 2
    result = np.zeros(RESULT_SIZE)
    if best is None:
        result[R_CYCLES] = np.inf
        return result
    cycles, r_w, r_i, wr, ws, n, t_g, n_s = best
    result[[R_CYCLES, R_DRAM_READ_W, R_DRAM_READ_I, R_DRAM_WRITE, R_WS_BYTES, R_TILES, R_T1,
            R_T5]] = (cycles, r_w, r_i, wr, ws, n, t_g, n_s)
    return result
