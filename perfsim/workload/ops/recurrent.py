"""Time ops: recurrent layers over a sequence ``(features, 1, T)``.

A recurrent layer of more than one step is costed in its causal form
(:func:`perfsim.workload.recurrence.causal`): its input projection over every step at once
(:class:`RecurrentInput`, one GEMM, as cuDNN runs it), then its steps one after another
(:class:`RecurrentSteps`), each multiplying the previous state by the recurrent weights. The
two are forms of the layer, not op kinds of their own: they report the cell's kind, and no
network file or ONNX model holds them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from perfsim.errors import WorkloadError
from perfsim.workload import loopnest

from perfsim.workload.ops.base import Op, ShapeError, _positive, _single


@dataclass(frozen=True)
class Recurrent(Op):
    """A recurrent layer over a sequence ``(features, 1, T)``; ``gates`` weight blocks each
    multiply the input and the previous hidden state. Two bias vectors per gate, as PyTorch."""

    category: ClassVar[str] = "time"
    engine_kinds: ClassVar[frozenset[str]] = frozenset({"matrix", "vector"})
    gates: ClassVar[int] = 1
    elem_ops_per_unit: ClassVar[int] = 0
    lecture_type: ClassVar[str | None] = "Recr"
    hidden_size: int = 1
    bias: bool = True

    def __post_init__(self):
        super().__post_init__()
        _positive(self.hidden_size, "hidden_size")

    def out_shapes(self, in_shapes):
        _, h, t = _single(in_shapes)
        if h != 1:
            raise ShapeError("a sequence must be [features, 1, T]")
        return ((self.hidden_size, 1, t),)

    def params(self, in_shapes):
        n, h = in_shapes[0][0], self.hidden_size
        return self.gates * (h * (n + h) + (2 * h if self.bias else 0))

    def macs(self, in_shapes):
        n, _, t = in_shapes[0]
        return t * self.gates * self.hidden_size * (n + self.hidden_size)

    def loop_nest(self, batch, in_shapes, out_shapes):
        features, _, steps = in_shapes[0]
        if steps > 1:
            raise WorkloadError(f"a {self.kind} layer of {steps} steps is costed in its causal "
                                f"form: perfsim.workload.recurrence.causal splits it first")
        # a single step has no recurrence: one GEMM over [input; hidden state]
        return loopnest.convolution(
            batch=batch, in_channels=features + self.hidden_size,
            out_channels=self.gates * self.hidden_size, in_size=(1, 1), out_size=(1, 1),
            biases_per_output=2 if self.bias else 0)

    def window(self, in_shape):
        """The last step's output depends on the whole sequence."""
        return (1, in_shape[2])

    def ops(self, in_shapes):
        bias_adds = 2 * self.gates if self.bias else 0
        return in_shapes[0][2] * self.hidden_size * (bias_adds + self.elem_ops_per_unit)


@dataclass(frozen=True)
class RNN(Recurrent):
    """Elman RNN: h' = tanh(W x + U h + b); tanh costs 3 ops per unit and step."""

    kind: ClassVar[str] = "rnn"
    reader_kinds: ClassVar[tuple[str, ...]] = ("rnn",)
    elem_ops_per_unit: ClassVar[int] = 3


@dataclass(frozen=True)
class LSTM(Recurrent):
    """LSTM (4 gates). Per unit and step: 3 sigmoids and 2 tanh (3 ops each), c' = f*c + i*g
    (3 ops), h' = o*tanh(c') (1 op): 19 ops beside the bias adds."""

    kind: ClassVar[str] = "lstm"
    reader_kinds: ClassVar[tuple[str, ...]] = ("lstm",)
    gates: ClassVar[int] = 4
    elem_ops_per_unit: ClassVar[int] = 19


@dataclass(frozen=True)
class GRU(Recurrent):
    """GRU (3 gates: update, reset, candidate), as PyTorch and ONNX's ``linear_before_reset``.
    Per unit and step: 2 sigmoids and a tanh (3 ops each), the reset gate times the hidden
    term (1 op), h' = n + z*(h - n) (3 ops): 13 ops beside the bias adds."""

    kind: ClassVar[str] = "gru"
    reader_kinds: ClassVar[tuple[str, ...]] = ("gru",)
    gates: ClassVar[int] = 3
    elem_ops_per_unit: ClassVar[int] = 13


@dataclass(frozen=True)
class _CellForm(Op):
    """A form of a recurrent layer ``cell`` (module docstring): it reports the cell's kind and
    runs where the cell runs."""

    engine_kinds: ClassVar[frozenset[str]] = Recurrent.engine_kinds
    category: ClassVar[str] = "time"
    cell: Recurrent = field(default_factory=LSTM)

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.cell.kind

    @property
    def gate_features(self) -> int:
        """Gates times hidden size: the gates' pre-activations per step."""
        return self.cell.gates * self.cell.hidden_size


@dataclass(frozen=True)
class RecurrentInput(_CellForm):
    """The input projection of ``cell`` over all its steps at once: its gates' input terms
    ``W_ih x(t)`` and both bias vectors per gate, a GEMM over ``batch x T`` rows in which no
    step waits for another."""

    def out_shapes(self, in_shapes):
        _, _, t = self.cell.out_shapes(in_shapes)[0]
        return ((self.gate_features, 1, t),)

    def _biases(self) -> int:
        return 2 if self.cell.bias else 0

    def params(self, in_shapes):
        return self.gate_features * (in_shapes[0][0] + self._biases())

    def macs(self, in_shapes):
        n, _, t = in_shapes[0]
        return t * self.gate_features * n

    def ops(self, in_shapes):
        return in_shapes[0][2] * self.gate_features * self._biases()

    def loop_nest(self, batch, in_shapes, out_shapes):
        features, _, steps = in_shapes[0]
        return loopnest.convolution(
            batch=batch, in_channels=features, out_channels=self.gate_features,
            in_size=(1, steps), out_size=(1, steps), biases_per_output=self._biases())


@dataclass(frozen=True)
class RecurrentSteps(_CellForm):
    """The steps of ``cell`` after its input projection, which it reads (``gates x hidden``
    features per step): per step, the recurrent weights ``W_hh`` times the previous state, the
    projection added, then the cell's element-wise math."""

    def out_shapes(self, in_shapes):
        n, h, t = _single(in_shapes)
        if h != 1 or n != self.gate_features:
            raise ShapeError(f"the steps of a {self.kind} read its input projection, "
                             f"[{self.gate_features}, 1, T], got [{n}, {h}, {t}]")
        return ((self.cell.hidden_size, 1, t),)

    def params(self, in_shapes):
        return self.gate_features * self.cell.hidden_size

    def macs(self, in_shapes):
        return in_shapes[0][2] * self.gate_features * self.cell.hidden_size

    def ops(self, in_shapes):
        # the projection's add to each gate, then the cell's math, per unit and step
        return in_shapes[0][2] * self.cell.hidden_size * (self.cell.gates
                                                          + self.cell.elem_ops_per_unit)

    def loop_nest(self, batch, in_shapes, out_shapes):
        return loopnest.recurrent(batch=batch, steps=in_shapes[0][2],
                                  hidden=self.cell.hidden_size, gates=self.cell.gates)
