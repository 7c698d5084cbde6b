"""Tiling search per layer and engine: the Python side of :mod:`perfsim.mapping.kernels.tiling`.

Packs a loop nest, the precision, where the operands live, the SRAM left for tiles and the
machine's rates into arrays, runs the Numba search, and caches the answer by all of those, so
repeated layers (and repeated sweep points) cost nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from perfsim.errors import InfeasibleError
from perfsim.hardware.model import HwConfig
from perfsim.mapping.kernels import tiling as k
from perfsim.mapping.lowering import LoopNest
from perfsim.mapping.residency import Placement



@dataclass(frozen=True)
class Tiling:
    """The chosen tiling of one layer on one engine and its DRAM traffic (bytes).

    ``tiles`` are ``(tB, tG, tK, tC, tOY, tOX)`` for conv nests and ``(tG, chunks)`` for
    stream nests; ``order`` names the tile-loop classes outermost first (``KCP`` ...;
    ``-`` for streams); ``cycles`` is the overlapped time of the layer (before rounding)."""

    tiles: tuple[int, ...]
    order: str
    tile_count: int
    dram_read_weight_bytes: int
    dram_read_input_bytes: int
    dram_read_partial_bytes: int
    dram_write_bytes: int
    working_set_bytes: int
    cycles: float

    @property
    def dram_read_bytes(self) -> int:
        return (self.dram_read_weight_bytes + self.dram_read_input_bytes
                + self.dram_read_partial_bytes)

    def describe(self) -> str:
        if self.order == "-":
            return f"{self.tile_count} tiles of {self.tiles[0]} channels / {self.tiles[1]}"
        names = ("B", "G", "K", "C", "OY", "OX")
        return (" ".join(f"{n}{t}" for n, t in zip(names, self.tiles))
                + f" order {self.order}")


def capacities(hw: HwConfig, resident_bytes: int) -> np.ndarray:
    """[shared, ifmap, filter, ofmap] bytes free for tiles (shared < 0: split buffers)."""
    split = hw.sram.split_bytes
    if split is None:
        return np.array([hw.sram.size_bytes - resident_bytes, -1, -1, -1], dtype=np.float64)
    return np.array([-1, split[0] - resident_bytes, split[1], split[2]], dtype=np.float64)


@lru_cache(maxsize=256)
def _conv_table(dims: tuple, prec: tuple) -> np.ndarray:
    """Every tiling's traffic, by layer and precision (a few hundred kB at most): shared by
    every SRAM size, array and bandwidth a sweep tries."""
    return k.conv_table(np.array(dims, dtype=np.int64), np.array(prec, dtype=np.int64))


@lru_cache(maxsize=65536)
def _search(shape: str, dims: tuple, prec: tuple, caps: tuple, machine: tuple) -> tuple:
    args = (np.array(dims, dtype=np.int64), np.array(prec, dtype=np.int64),
            np.array(caps, dtype=np.float64), np.array(machine, dtype=np.float64))
    if shape == "conv":  # the table is shared by every capacity and machine
        result = k.rank_conv(_conv_table(dims, prec), *args)
    else:
        result = k.search_stream(*args)
    return tuple(float(v) for v in result)


def plan_tiling(layer_name: str, nest: LoopNest, hw: HwConfig, placement: Placement,
                compute_cycles: int, engine_sram_bytes: int) -> Tiling:
    """The best tiling, or :class:`InfeasibleError` naming the layer and the bytes."""
    p = hw.precision
    prec = (p.activation_bytes, p.weight_bytes, p.accumulator_bytes,
            int(placement.input_location == "dram"), int(placement.output_location == "dram"))
    # The kernels fit two buffers of each tile; with more, each must fit in a share.
    share = 2 / hw.sram.buffers
    caps = tuple(c * share if c >= 0 else c
                 for c in capacities(hw, placement.resident_bytes).tolist())
    machine = (float(compute_cycles), float(engine_sram_bytes),
               float(hw.sram.bandwidth_bytes_per_cycle), hw.dram_bytes_per_cycle,
               float(hw.dram_latency_cycles))
    r = _search(nest.shape, nest.dims, prec, caps, machine)
    if r[k.R_TILES] == 0:
        raise InfeasibleError(_infeasible(layer_name, nest, prec, hw, placement))
    if nest.shape == "conv":
        tiles = tuple(int(v) for v in r[k.R_T0:k.R_T5 + 1])
        inner = k.ORDER_NAMES[int(r[k.R_ORDER])]
    else:
        tiles, inner = (int(r[k.R_T1]), int(r[k.R_T5])), "-"
    return Tiling(tiles, inner, int(r[k.R_TILES]), int(r[k.R_DRAM_READ_W]),
                  int(r[k.R_DRAM_READ_I]), int(r[k.R_DRAM_READ_O]), int(r[k.R_DRAM_WRITE]),
                  int(r[k.R_WS_BYTES]) * hw.sram.buffers // 2, r[k.R_CYCLES])


def _infeasible(layer_name, nest, prec, hw: HwConfig, placement) -> str:
    dims = np.array(nest.dims, dtype=np.int64)
    buffers = hw.sram.buffers
    if nest.shape == "conv":
        *_, ws_i, ws_w, ws_o, _ = k.conv_traffic(dims, np.ones(6, dtype=np.int64), 0,
                                                 np.array(prec, dtype=np.int64))
        ws_i, ws_w, ws_o = (v * buffers // 2 for v in (ws_i, ws_w, ws_o))
        need = f"{ws_i + ws_w + ws_o:,} bytes (inputs {ws_i:,}, weights {ws_w:,}, " \
               f"outputs {ws_o:,})"
    else:
        smallest = k.stream_traffic(dims, 1, max(dims[k.SIN], dims[k.SOUT]), np.array(prec))[3]
        need = f"{smallest * buffers // 2:,} bytes"
    caps = capacities(hw, placement.resident_bytes)
    free = (f"{int(caps[0]):,} bytes free" if caps[0] >= 0 else
            f"{int(caps[1]):,} / {int(caps[2]):,} / {int(caps[3]):,} bytes free in the ifmap / "
            f"filter / ofmap buffers")
    fewer = "; or fewer memory.sram.buffers" if buffers > 2 else ""
    return (f"layer '{layer_name}' does not fit in SRAM: its smallest tiles need {need} "
            f"with {buffers} buffers per operand, {free} ({placement.resident_bytes:,} bytes "
            f"hold resident activations); use a larger SRAM or residency 'dram'{fewer}")
