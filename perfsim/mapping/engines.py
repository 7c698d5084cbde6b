"""What an engine can run and what a layer's work costs on it: compute cycles and the engine's
own SRAM accesses (DESIGN section 4), one :class:`EngineModel` per engine kind.

* A **matrix engine** runs conv, fc and recurrent layers as GEMMs, one per group and time
  step (:mod:`perfsim.mapping.kernels.systolic`). Its SRAM accesses follow the dataflow: the
  stationary operand is read once per fold, the streamed ones once per fold they cross, and
  partial sums are written once per row fold (read back for all but the first). A fused
  layer's epilogue runs in its output path, pipelined with the array: the layer computes for
  the longer of the two, and the path reads each skip element once.
* A **vector engine** runs every op (:mod:`perfsim.mapping.kernels.vector`). Its lanes get
  their operands from the level it reads, at that level's bandwidth: each MAC reads its input
  and its weight (a SIMD lane has no array around it to pass operands on), element-wise work
  reads each input and constant once. Outputs are written once (partial sums stay in the
  lanes' registers).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar, NamedTuple

from perfsim.hardware.model import Engine, MatrixEngine, Precision, VectorEngine
from perfsim.mapping.kernels.systolic import (DATAFLOW_CODES, INPUT_STATIONARY, OUTPUT_STATIONARY,
                                              systolic_cycles)
from perfsim.mapping.kernels.vector import vector_cycles
from perfsim.mapping.lowering import Work
from perfsim.workload.ops import Op
from perfsim.workload.passes import Fused


def can_run(engine: Engine, op: Op) -> bool:
    """Whether ``engine`` runs ``op`` (:attr:`Op.engine_kinds`; views run nowhere: they
    cost nothing), and, for a layer with an epilogue, has an output path to apply it."""
    return engine.kind in op.engine_kinds and (
        not isinstance(op, Fused) or engine.output_path_elems_per_cycle > 0)


class SramBytes(NamedTuple):
    """Bytes an engine moves through the level it reads from, for one layer, by buffer role
    (:data:`~perfsim.hardware.model.OPERANDS`): inputs read, weights read, partial sums read
    back, and partial sums and results written."""

    input: int
    weight: int
    output_read: int
    output_write: int

    @property
    def reads(self) -> int:
        return self.input + self.weight + self.output_read

    @property
    def writes(self) -> int:
        return self.output_write

    @property
    def roles(self) -> tuple[int, int, int]:
        """Bytes through each role's buffer, read and written."""
        return self.input, self.weight, self.output_read + self.output_write


class EngineModel(ABC):
    """How one kind of engine costs a layer's work. An engine kind is its dataclass in
    :mod:`perfsim.hardware.model` (what the hardware file says) and one subclass here,
    registered in :data:`MODELS` under the same ``kind`` (what it costs)."""

    kind: ClassVar[str] = ""
    quotes_unused: ClassVar[bool] = False
    """Whether :meth:`unused_note` may say something: the schedule then searches this
    engine's tiling even when another engine is certain to win."""

    @abstractmethod
    def compute_cycles(self, engine: Engine, work: Work) -> int:
        """Cycles the engine computes for, with unlimited bandwidth."""

    @abstractmethod
    def sram_bytes(self, engine: Engine, work: Work, precision: Precision,
                   in_elems: int, weight_elems: int) -> SramBytes:
        """The bytes the engine reads from SRAM and writes, for one layer."""

    @abstractmethod
    def peak_work(self, work: Work) -> int:
        """The operations the engine's peak (``peak_macs_per_cycle``) counts."""

    @abstractmethod
    def waste(self, engine: Engine, work: Work, utilization: float) -> str:
        """Why the layer's shape leaves most of the engine idle, in numbers; ``utilization`` is
        the row's (of its busy cycles)."""

    def unused_note(self, engine: Engine, work: Work, total_cycles: int,
                    cycles: int) -> str | None:
        """What the layer would have cost here when another engine ran it (None: not worth
        saying)."""
        return None

    def output_path_note(self, engine: Engine, work: Work) -> str | None:
        """Why the engine's output path, not its arithmetic, sets the compute cycles (None:
        it does not)."""
        return None


class Systolic(EngineModel):
    """A matrix engine: GEMMs on a systolic array (:mod:`perfsim.mapping.kernels.systolic`);
    SRAM accesses follow the dataflow (module docstring)."""

    kind = "matrix"
    quotes_unused = True

    def compute_cycles(self, engine: MatrixEngine, work: Work) -> int:
        return max(self._array_cycles(engine, work), self._output_path_cycles(engine, work))

    @staticmethod
    def _array_cycles(engine: MatrixEngine, work: Work) -> int:
        g = work.gemm
        return int(systolic_cycles(DATAFLOW_CODES[engine.dataflow], engine.rows, engine.cols,
                                   g.np_, g.k, g.t_red, g.repeats, engine.weight_buffers))

    @staticmethod
    def _output_path_cycles(engine: MatrixEngine, work: Work) -> int:
        """The epilogue's cycles: its element operations at the output path's rate (the layer
        runs on this engine only if it has one: :func:`can_run`)."""
        if not work.epilogue_ops:
            return 0
        return -(-work.epilogue_ops // engine.output_path_elems_per_cycle)

    def sram_bytes(self, engine: MatrixEngine, work: Work, precision: Precision,
                   in_elems: int, weight_elems: int) -> SramBytes:
        act, wgt, acc = precision.activation_bytes, precision.weight_bytes, \
            precision.accumulator_bytes
        g = work.gemm
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
        # the output path's skip tensor is read as an input
        return SramBytes(g.repeats * inputs * act + work.residual_elems * act,
                         g.repeats * weights * wgt, g.repeats * partial * acc,
                         g.repeats * (partial * acc + outputs * act))

    def peak_work(self, work: Work) -> int:
        return work.macs

    def output_path_note(self, engine: MatrixEngine, work: Work) -> str | None:
        array, path = self._array_cycles(engine, work), self._output_path_cycles(engine, work)
        if path <= array:
            return None
        return (f"its output path takes {path:,} cycles against the array's {array:,} "
                f"({work.epilogue_ops:,} element ops at {engine.output_path_elems_per_cycle} "
                f"per cycle)")

    def waste(self, engine: MatrixEngine, work: Work, utilization: float) -> str:
        note = self.output_path_note(engine, work)
        if note:
            return f"{utilization:.1%} of the {engine.rows}x{engine.cols} array used: {note}"
        g = work.gemm
        mapped = {"output_stationary": ("Np", g.np_, "K", g.k),
                  "weight_stationary": ("C*FY*FX", g.t_red, "K", g.k),
                  "input_stationary": ("C*FY*FX", g.t_red, "Np", g.np_)}[engine.dataflow]
        return (f"{utilization:.1%} of the {engine.rows}x{engine.cols} array used: "
                f"{mapped[0]}={mapped[1]:,} on {engine.rows} rows, {mapped[2]}={mapped[3]:,} "
                f"on {engine.cols} columns, {g.repeats:,} GEMM(s) one after another")

    def unused_note(self, engine: MatrixEngine, work: Work, total_cycles: int,
                    cycles: int) -> str | None:
        if not cycles:
            return None
        return (f"on {engine.name} {total_cycles:,} cycles, "
                f"{work.macs / (total_cycles * engine.peak_macs_per_cycle):.1%} of its array "
                f"used")


class Simd(EngineModel):
    """A vector engine: ``lanes`` operations a cycle (:mod:`perfsim.mapping.kernels.vector`)
    fed from the level it reads (module docstring): a dense convolution needs two operands per
    lane per cycle, so the level's bandwidth, not the lanes, is often its limit."""

    kind = "vector"

    def compute_cycles(self, engine: VectorEngine, work: Work) -> int:
        return int(vector_cycles(engine.lanes, work.outputs, work.work_per_output, work.steps,
                                 engine.pipeline_latency_cycles))

    def sram_bytes(self, engine: VectorEngine, work: Work, precision: Precision,
                   in_elems: int, weight_elems: int) -> SramBytes:
        writes = work.outputs * precision.activation_bytes
        if work.macs:  # two operands per MAC
            return SramBytes(work.macs * precision.activation_bytes,
                             work.macs * precision.weight_bytes, 0, writes)
        return SramBytes(in_elems * precision.activation_bytes,
                         weight_elems * precision.weight_bytes, 0, writes)

    def peak_work(self, work: Work) -> int:
        return work.macs + work.ops

    def waste(self, engine: VectorEngine, work: Work, utilization: float) -> str:
        return (f"{utilization:.1%} of {engine.name}'s {engine.lanes} lanes used "
                f"({work.outputs:,} outputs)")


MODELS: dict[str, EngineModel] = {model.kind: model for model in (Systolic(), Simd())}
"""The cost model of each engine kind."""


def model_of(engine: Engine) -> EngineModel:
    """The cost model of ``engine``'s kind."""
    return MODELS[engine.kind]


def compute_cycles(engine: Engine, work: Work) -> int:
    """Cycles the engine computes for, with unlimited bandwidth."""
    return model_of(engine).compute_cycles(engine, work)


def engine_sram_bytes(engine: Engine, work: Work, precision: Precision,
                      in_elems: int, weight_elems: int) -> SramBytes:
    """The bytes the engine reads from SRAM and writes, for one layer."""
    return model_of(engine).sram_bytes(engine, work, precision, in_elems, weight_elems)
