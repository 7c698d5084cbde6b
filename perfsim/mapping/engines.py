"""What an engine can run and what a loop nest costs on it: compute cycles and the engine's
own SRAM accesses (DESIGN section 4).

* A **matrix engine** runs conv, fc and recurrent layers as GEMMs, one per group and time
  step (:mod:`perfsim.mapping.kernels.systolic`). Its SRAM accesses follow the dataflow: the
  stationary operand is read once per fold, the streamed ones once per fold they cross, and
  partial sums are written once per row fold (read back for all but the first).
* A **vector engine** runs every op (:mod:`perfsim.mapping.kernels.vector`); it reads each input and
  constant once and writes each output once (reuse inside a layer happens in its registers).
"""

from __future__ import annotations

from dataclasses import dataclass

from perfsim.hardware.model import Engine, MatrixEngine, Precision
from perfsim.mapping.kernels.systolic import (DATAFLOW_CODES, INPUT_STATIONARY, OUTPUT_STATIONARY,
                                              systolic_cycles)
from perfsim.mapping.kernels.vector import vector_cycles
from perfsim.mapping.lowering import LoopNest
from perfsim.workload.ops import Op


@dataclass(frozen=True)
class Gemm:
    """The GEMM view of a conv nest: ``repeats`` GEMMs of ``np_ x t_red x k``."""

    np_: int
    k: int
    t_red: int
    repeats: int


def can_run(engine: Engine, op: Op) -> bool:
    """Whether ``engine`` runs ``op`` (:attr:`Op.engine_kinds`; views run nowhere: they
    cost nothing)."""
    return engine.kind in op.engine_kinds


def gemm(nest: LoopNest) -> Gemm:
    """Toeplitz view of a conv nest: per group and step, ``Np = B*OY*OX/steps`` pixels."""
    steps = nest["STEPS"]
    return Gemm(np_=nest["B"] * nest["OY"] * nest["OX"] // steps, k=nest["K"],
                t_red=nest["C"] * nest["FY"] * nest["FX"], repeats=nest["G"] * steps)


def compute_cycles(engine: Engine, nest: LoopNest) -> int:
    """Cycles the engine computes for, with unlimited bandwidth."""
    if isinstance(engine, MatrixEngine):
        g = gemm(nest)
        return int(systolic_cycles(DATAFLOW_CODES[engine.dataflow], engine.rows, engine.cols,
                                   g.np_, g.k, g.t_red, g.repeats))
    steps = nest["STEPS"] if nest.shape == "conv" else 1
    return int(vector_cycles(engine.lanes, nest.outputs, nest.work_per_output, steps,
                             engine.pipeline_latency_cycles))


def engine_sram_bytes(engine: Engine, nest: LoopNest, precision: Precision,
                      in_elems: int, weight_elems: int) -> tuple[int, int]:
    """(bytes the engine reads from SRAM, bytes it writes) for one layer."""
    act, wgt, acc = precision.activation_bytes, precision.weight_bytes, \
        precision.accumulator_bytes
    if not isinstance(engine, MatrixEngine):
        return in_elems * act + weight_elems * wgt, nest.outputs * act
    g = gemm(nest)
    rows, cols = engine.rows, engine.cols
    code = DATAFLOW_CODES[engine.dataflow]

    def ceil(a: int, b: int) -> int:
        return -(-a // b)

    if code == OUTPUT_STATIONARY:
        inputs = g.np_ * g.t_red * ceil(g.k, cols)
        weights = g.k * g.t_red * ceil(g.np_, rows)
        row_folds = 1
    elif code == INPUT_STATIONARY:
        inputs = g.np_ * g.t_red
        weights = g.k * g.t_red * ceil(g.np_, cols)
        row_folds = ceil(g.t_red, rows)
    else:
        inputs = g.np_ * g.t_red * ceil(g.k, cols)
        weights = g.k * g.t_red
        row_folds = ceil(g.t_red, rows)
    outputs = g.np_ * g.k
    partial = outputs * (row_folds - 1)
    reads = g.repeats * (inputs * act + weights * wgt + partial * acc)
    writes = g.repeats * (partial * acc + outputs * act)
    return reads, writes
