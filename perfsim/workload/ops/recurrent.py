"""Time ops: recurrent layers over a sequence ``(features, 1, T)``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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
        # One GEMM per step over [input; hidden state]; the steps run one after another.
        features, _, steps = in_shapes[0]
        biases = 2 if self.bias else 0
        if steps == 1:  # a single step has no recurrence: one GEMM
            return loopnest.convolution(
                batch=batch, in_channels=features + self.hidden_size,
                out_channels=self.gates * self.hidden_size, in_size=(1, 1), out_size=(1, 1),
                biases_per_output=biases)
        return loopnest.recurrent(batch=batch, steps=steps,
                                  in_features=features + self.hidden_size,
                                  out_features=self.gates * self.hidden_size,
                                  biases_per_output=biases)

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
