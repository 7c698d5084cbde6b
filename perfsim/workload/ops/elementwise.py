"""Element ops: activations, normalisation at inference, per-channel scale and offset,
softmax, dropout, and element-wise math on two or more inputs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from perfsim.workload.ops.base import Op, ShapeError, _positive, elems


@dataclass(frozen=True)
class Elementwise(Op):
    """A per-element function; ``ops_per_elem`` is its arithmetic per element. Being
    per-element, it can run in an engine's output path (:attr:`Op.fuses_as_epilogue`)."""

    category: ClassVar[str] = "element"
    ops_per_elem: ClassVar[int] = 1
    tile_local: ClassVar[bool] = True
    fuses_as_epilogue: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Nonl"

    def ops(self, in_shapes):
        return self.ops_per_elem * elems(in_shapes[0])


@dataclass(frozen=True)
class Relu(Elementwise):
    """max(x, 0)."""

    kind: ClassVar[str] = "relu"
    onnx_name: ClassVar[str | None] = "Relu"


@dataclass(frozen=True)
class Relu6(Elementwise):
    """min(max(x, 0), 6)."""

    kind: ClassVar[str] = "relu6"
    ops_per_elem: ClassVar[int] = 2


@dataclass(frozen=True)
class LeakyRelu(Elementwise):
    """max(x, slope*x)."""

    kind: ClassVar[str] = "leaky_relu"
    ops_per_elem: ClassVar[int] = 2
    negative_slope: float = 0.01


@dataclass(frozen=True)
class PRelu(Elementwise):
    """max(x, a_c*x) with one learnt slope per channel."""

    kind: ClassVar[str] = "prelu"
    ops_per_elem: ClassVar[int] = 2

    def params(self, in_shapes):
        return in_shapes[0][0]


@dataclass(frozen=True)
class Sigmoid(Elementwise):
    """1 / (1 + exp(-x)): an exponential, an add and a divide."""

    kind: ClassVar[str] = "sigmoid"
    ops_per_elem: ClassVar[int] = 3
    onnx_name: ClassVar[str | None] = "Sigmoid"


@dataclass(frozen=True)
class Tanh(Elementwise):
    """tanh(x) = 2*sigmoid(2x) - 1: an exponential, an add, a divide (scalings folded)."""

    kind: ClassVar[str] = "tanh"
    ops_per_elem: ClassVar[int] = 3
    onnx_name: ClassVar[str | None] = "Tanh"


@dataclass(frozen=True)
class Gelu(Elementwise):
    """GELU (Hendrycks and Gimpel 2016). ``approximate="none"``: ``x/2 * (1 + erf(x/sqrt(2)))``,
    5 ops (a divide, the erf, an add, two multiplies); ``"tanh"``: ``x/2 * (1 + tanh(sqrt(2/pi)
    * (x + 0.044715 x^3)))``, 11 ops (the cube's two multiplies, a multiply, an add, a multiply,
    the tanh's 3, an add, two multiplies)."""

    kind: ClassVar[str] = "gelu"
    approximate: str = "none"

    def __post_init__(self):
        super().__post_init__()
        if self.approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {self.approximate!r}")

    def ops(self, in_shapes):
        return (5 if self.approximate == "none" else 11) * elems(in_shapes[0])


@dataclass(frozen=True)
class Silu(Elementwise):
    """SiLU (swish), ``x * sigmoid(x)``: the sigmoid's 3 ops and a multiply."""

    kind: ClassVar[str] = "silu"
    ops_per_elem: ClassVar[int] = 4


@dataclass(frozen=True)
class HardSigmoid(Elementwise):
    """``relu6(x + 3) / 6`` (MobileNet V3's gate): an add, two compares and a multiply."""

    kind: ClassVar[str] = "hard_sigmoid"
    ops_per_elem: ClassVar[int] = 4


@dataclass(frozen=True)
class HardSwish(Elementwise):
    """``x * relu6(x + 3) / 6`` (MobileNet V3's activation): the hard sigmoid's 4 ops and a
    multiply."""

    kind: ClassVar[str] = "hard_swish"
    ops_per_elem: ClassVar[int] = 5


@dataclass(frozen=True)
class BatchNorm(Elementwise):
    """Batch normalisation at inference: a per-channel scale and shift (2 ops per element);
    ``2*C`` trainable parameters (running statistics are not parameters)."""

    kind: ClassVar[str] = "batch_norm"
    category: ClassVar[str] = "training"
    ops_per_elem: ClassVar[int] = 2
    folds_into_weights: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Norm"
    eps: float = 1e-5

    def params(self, in_shapes):
        return 2 * in_shapes[0][0]


@dataclass(frozen=True)
class GroupNorm(Elementwise):
    """Group normalisation: statistics per group computed at run time (sum and sum of squares,
    3 ops), normalise (2 ops), then a per-channel scale and shift (2 ops): 7 ops per element."""

    kind: ClassVar[str] = "group_norm"
    category: ClassVar[str] = "training"
    ops_per_elem: ClassVar[int] = 7
    tile_local: ClassVar[bool] = False
    fuses_as_epilogue: ClassVar[bool] = False  # its statistics need the whole group first
    lecture_type: ClassVar[str | None] = "Norm"
    num_groups: int = 32
    eps: float = 1e-5

    def __post_init__(self):
        super().__post_init__()
        _positive(self.num_groups, "num_groups")

    def out_shapes(self, in_shapes):
        c = in_shapes[0][0]
        if c % self.num_groups:
            raise ShapeError(f"num_groups={self.num_groups} does not divide the {c} channels")
        return (in_shapes[0],)

    def params(self, in_shapes):
        return 2 * in_shapes[0][0]


@dataclass(frozen=True)
class Scale(Elementwise):
    """Per-channel multiply (Caffe's Scale layer), optionally followed by a per-channel add.

    With ``factor`` set, the multiplier is that constant (Inception-ResNet's residual scaling)
    and has no parameters; otherwise it is learnt, one per channel."""

    kind: ClassVar[str] = "scale"
    lecture_type: ClassVar[str | None] = "Elem"
    folds_into_weights: ClassVar[bool] = True
    bias: bool = False
    factor: float | None = None

    def folded_shift(self) -> bool:
        return self.bias

    def params(self, in_shapes):
        learnt = 0 if self.factor is not None else 1
        return in_shapes[0][0] * (learnt + (1 if self.bias else 0))

    def ops(self, in_shapes):
        return elems(in_shapes[0]) * (2 if self.bias else 1)


@dataclass(frozen=True)
class Offset(Elementwise):
    """Per-channel add (a learnt bias)."""

    kind: ClassVar[str] = "offset"
    lecture_type: ClassVar[str | None] = "Elem"
    folds_into_weights: ClassVar[bool] = True

    def params(self, in_shapes):
        return in_shapes[0][0]


@dataclass(frozen=True)
class Softmax(Elementwise):
    """Softmax over ``axis`` (0, channels, unless set; attention's scores take it over their
    keys, axis 2): an exponential, a share of the sum and a divide per element."""

    kind: ClassVar[str] = "softmax"
    category: ClassVar[str] = "training"
    ops_per_elem: ClassVar[int] = 3
    tile_local: ClassVar[bool] = False
    fuses_as_epilogue: ClassVar[bool] = False  # each output needs the sum over its axis
    axis: int = 0

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.axis, bool) or self.axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2 (an axis of [C, H, W]), got "
                             f"{self.axis!r}")


@dataclass(frozen=True)
class Dropout(Elementwise):
    """Dropout: the identity at inference, kept so graphs match their frameworks."""

    kind: ClassVar[str] = "dropout"
    category: ClassVar[str] = "training"
    ops_per_elem: ClassVar[int] = 0
    view: ClassVar[bool] = True
    engine_kinds: ClassVar[frozenset[str]] = frozenset()
    tile_local: ClassVar[bool] = False
    fuses_as_epilogue: ClassVar[bool] = False  # a view: nothing to apply
    lecture_type: ClassVar[str | None] = None
    p: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        if not 0 <= self.p <= 1:
            raise ValueError(f"p is a probability, from 0 to 1, got {self.p!r}")


@dataclass(frozen=True)
class Binary(Op):
    """Element-wise combination of two or more inputs with broadcasting of size-1 dims (so an
    SE block's ``[C, 1, 1]`` gate multiplies a ``[C, H, W]`` map)."""

    category: ClassVar[str] = "element"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None
    broadcasts_as_constants: ClassVar[bool] = True
    tile_local: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Elem"

    def out_shapes(self, in_shapes):
        out = list(in_shapes[0])
        for i, shape in enumerate(in_shapes[1:], start=1):
            for d, (a, b) in enumerate(zip(out, shape)):
                if a != b and 1 not in (a, b):
                    first = next(j for j, s in enumerate(in_shapes[:i]) if s[d] == a)
                    raise ShapeError("shapes do not match and do not broadcast",
                                     inputs=(first, i))
                out[d] = max(a, b)
        return (tuple(out),)

    def ops(self, in_shapes):
        return (len(in_shapes) - 1) * elems(self.out_shapes(in_shapes)[0])


@dataclass(frozen=True)
class Add(Binary):
    """Element-wise sum (residual connections); a sum of same-shaped tensors can run in the
    output path of the layer producing one of them, reading the others there."""

    kind: ClassVar[str] = "add"
    fuses_as_epilogue: ClassVar[bool] = True


@dataclass(frozen=True)
class Mul(Binary):
    """Element-wise product (gates, SE excitation)."""

    kind: ClassVar[str] = "mul"


@dataclass(frozen=True)
class Max(Binary):
    """Element-wise maximum (maxout)."""

    kind: ClassVar[str] = "max"
