"""The closed set of operations a perfsim layer can perform.

Every op is a frozen dataclass holding only its attributes; input shapes come from the graph.
Shapes are per sample, ``(C, H, W)``: channels, rows, columns. A fully connected layer's
output is ``(K, 1, 1)``; a sequence for a recurrent cell is ``(features, 1, T)`` with time along
the columns. Batch is not part of a shape: every per-sample count below scales linearly with it.

Each op answers, from its input shapes:

* ``out_shapes``: the output shapes (one, or several for ``split``); raises :class:`ShapeError`
  when the inputs do not fit the op;
* ``params``: trainable parameters as PyTorch counts them (weights, biases, BN scale and shift);
* ``weight_elems``: every constant element the layer reads (differs from ``params`` only for
  fixed, non-trainable weights);
* ``macs``: multiply-accumulates of weight layers (conv, fc, recurrent cells), per sample;
* ``ops``: other arithmetic per sample (bias adds, activations, pooling, normalisation,
  element-wise math), one op per add, multiply, compare, divide or transcendental function;
* ``kernel``/``stride``: the spatial window and step, ``(1, 1)`` for point-wise ops;
* ``window``/``step``: the window and step of one output position over the input map, for the
  receptive field. They differ from ``kernel``/``stride`` for dilated convolutions (the
  dilated extent), global pooling, flatten and fully connected layers (the whole map), and
  up-sampling (a fractional step).

The op set (DESIGN section 2) is closed: :data:`OPS` maps every op name to its class.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from fractions import Fraction
from typing import ClassVar

Shape = tuple[int, int, int]
Pair = tuple[int, int]
Pads = tuple[int, int, int, int]

CATEGORIES = ("input", "channel+space", "channel", "space", "element", "time", "rearrangement",
              "training")


class ShapeError(Exception):
    """Inputs that do not fit an op. ``inputs`` are the indices of the inputs at fault."""

    def __init__(self, detail: str, inputs: tuple[int, ...] = (0,)):
        super().__init__(detail)
        self.detail = detail
        self.inputs = inputs


def elems(shape: Shape) -> int:
    """Number of elements in one sample of a tensor of this shape."""
    return shape[0] * shape[1] * shape[2]


def fmt_shape(shape: Shape) -> str:
    """``[C, H, W]`` as written in messages."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def as_pair(value, what: str) -> Pair:
    """An int or a 2-sequence as ``(y, x)``."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer or a pair of integers, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return (value[0], value[1])
    raise ValueError(f"{what} must be an integer or a pair of integers, got {value!r}")


def as_pads(value) -> Pads:
    """Padding as ``(top, left, bottom, right)`` (ONNX's begin/end order) from an int (all
    sides), a pair ``(y, x)`` (both sides of each axis) or a 4-sequence."""
    if isinstance(value, (tuple, list)) and len(value) == 4 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        pads = tuple(value)
    else:
        y, x = as_pair(value, "padding")
        pads = (y, x, y, x)
    if min(pads) < 0:
        raise ValueError(f"padding must not be negative, got {list(pads)}")
    return pads  # type: ignore[return-value]


def _positive(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")


def _as_shape(value) -> Shape:
    """``[C, H, W]`` of positive integers as a tuple."""
    if not (isinstance(value, (tuple, list)) and len(value) == 3):
        raise ValueError(f"shape must be [C, H, W], got {value!r}")
    for d in value:
        _positive(d, "every dimension of shape")
    return tuple(value)  # type: ignore[return-value]


def _single(in_shapes: tuple[Shape, ...]) -> Shape:
    return in_shapes[0]


def _sliding_out(size: int, pad: int, extent: int, stride: int, ceil_mode: bool,
                 pad_begin: int, axis: str) -> int:
    """Output length of a sliding window (PyTorch's rule, including ceil mode)."""
    span = size + pad - extent
    if span < 0:
        raise ShapeError(f"window of {extent} does not fit the padded {axis} extent "
                         f"{size + pad}")
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad_begin:  # last window must start inside the input
            out -= 1
        return out
    return span // stride + 1


OPS: dict[str, type["Op"]] = {}
"""Every op kind to its class: the closed op set. Classes register themselves on definition
(:meth:`Op.__init_subclass__`)."""
OTHER_KIND = "other (element-wise, pooling, ...)"
"""The reader's kind of every op that names none of its own."""


def reader_kind_order() -> tuple[str, ...]:
    """Every reader's kind the op classes declare (:attr:`Op.reader_kinds`), in the order the
    classes were declared, then :data:`OTHER_KIND`: the order reports list kinds in."""
    kinds = dict.fromkeys(k for cls in OPS.values() for k in cls.reader_kinds)
    return (*kinds, OTHER_KIND)


@dataclass(frozen=True)
class Op:
    """Base of every op. Subclasses set ``kind`` (the op's name) and ``category``."""

    kind: ClassVar[str] = ""
    category: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    engine_kinds: ClassVar[frozenset[str]] = frozenset({"vector"})
    """The kinds of engine that can run the op (a vector engine runs every op that does work;
    a matrix engine only GEMM-shaped ones)."""
    view: ClassVar[bool] = False
    """A view relabels its input in place at inference (or is a network input, or an op
    perfsim cannot map): no cycles, no traffic, and its output aliases its input."""
    tile_local: ClassVar[bool] = False
    """Each output tile needs only the matching part of the inputs, so the layer can run tile
    by tile behind its producer (reductions over a whole map, such as softmax, cannot)."""
    lecture_type: ClassVar[str | None] = None
    """The lecture table's four-letter row type (``Conv``, ``Nonl``, ...); None: no row."""
    onnx_name: ClassVar[str | None] = None
    """The ONNX operator this op is, one to one and without attributes, when it is one: ONNX
    import and export then need nothing else (ops with attributes have their own converters
    in :mod:`perfsim.io`)."""
    reader_kinds: ClassVar[tuple[str, ...]] = ()
    """The kinds of layer :meth:`reader_kind` names for this op, in the order reports list
    them; empty: the op is among the "other" layers."""

    def __init_subclass__(cls, **kwargs):
        """Registers every op class that names a ``kind`` in :data:`OPS`: an op kind is
        declared once, by its class."""
        super().__init_subclass__(**kwargs)
        if "kind" in cls.__dict__ and cls.kind:
            if cls.kind in OPS:
                raise TypeError(f"op kind '{cls.kind}' is declared twice: {OPS[cls.kind]} "
                                f"and {cls}")
            OPS[cls.kind] = cls

    @classmethod
    def reader_kind(cls, *, groups: int, kernel: Pair, out_channels: int) -> str:
        """A reader's name for a layer's kind (reports group and colour layers by it), from
        what a result row keeps of the layer."""
        return cls.reader_kinds[0] if cls.reader_kinds else OTHER_KIND

    def out_shapes(self, in_shapes: tuple[Shape, ...]) -> tuple[Shape, ...]:
        """Output shapes; the default keeps the single input's shape."""
        return (_single(in_shapes),)

    def params(self, in_shapes: tuple[Shape, ...]) -> int:
        """Trainable parameters."""
        return 0

    def weight_elems(self, in_shapes: tuple[Shape, ...]) -> int:
        """Constant elements read by the layer (trainable or not)."""
        return self.params(in_shapes)

    def macs(self, in_shapes: tuple[Shape, ...]) -> int:
        """Multiply-accumulates of weight layers, per sample."""
        return 0

    def ops(self, in_shapes: tuple[Shape, ...]) -> int:
        """Arithmetic other than MACs, per sample."""
        return 0

    @property
    def kernel(self) -> Pair:
        return (1, 1)

    @property
    def stride(self) -> Pair:
        return (1, 1)

    @property
    def groups(self) -> int:
        return 1

    def window(self, in_shape: Shape) -> Pair:
        """Input extent seen by one output position (for the receptive field)."""
        return self.kernel

    def step(self, in_shape: Shape) -> tuple[Fraction, Fraction]:
        """Input step between neighbouring output positions (for the receptive field)."""
        return (Fraction(self.stride[0]), Fraction(self.stride[1]))

    def attributes(self) -> dict:
        """The op's attributes as plain JSON-ready values."""
        return {f.name: list(v) if isinstance(v, tuple) else v
                for f in fields(self) for v in [getattr(self, f.name)]}


# --------------------------------------------------------------------------- input


@dataclass(frozen=True)
class Input(Op):
    """A network input of a fixed per-sample shape."""

    kind: ClassVar[str] = "input"
    category: ClassVar[str] = "input"
    min_inputs: ClassVar[int] = 0
    max_inputs: ClassVar[int | None] = 0
    view: ClassVar[bool] = True
    engine_kinds: ClassVar[frozenset[str]] = frozenset()
    lecture_type: ClassVar[str | None] = "Inpt"
    shape: Shape = (3, 224, 224)

    def __post_init__(self):
        object.__setattr__(self, "shape", _as_shape(self.shape))

    def out_shapes(self, in_shapes):
        return (self.shape,)


# --------------------------------------------------------------------------- channel + space


@dataclass(frozen=True)
class Conv(Op):
    """2-D convolution: grouped (``groups``), depthwise (``groups == C == out_channels``),
    dilated (``dilation``), with any padding, including asymmetric."""

    kind: ClassVar[str] = "conv"
    category: ClassVar[str] = "channel+space"
    engine_kinds: ClassVar[frozenset[str]] = frozenset({"matrix", "vector"})
    lecture_type: ClassVar[str | None] = "Conv"
    reader_kinds: ClassVar[tuple[str, ...]] = ("conv", "1x1 conv", "grouped conv",
                                               "depthwise conv")
    out_channels: int = 1
    kernel_size: Pair = (1, 1)
    strides: Pair = (1, 1)
    padding: Pads = (0, 0, 0, 0)
    dilation: Pair = (1, 1)
    group_count: int = 1
    bias: bool = True

    def __post_init__(self):
        _positive(self.out_channels, "out_channels")
        _positive(self.group_count, "groups")
        object.__setattr__(self, "kernel_size", as_pair(self.kernel_size, "kernel"))
        object.__setattr__(self, "strides", as_pair(self.strides, "stride"))
        object.__setattr__(self, "dilation", as_pair(self.dilation, "dilation"))
        object.__setattr__(self, "padding", as_pads(self.padding))
        for v in (*self.kernel_size, *self.strides, *self.dilation):
            _positive(v, "kernel, stride and dilation")
        if self.out_channels % self.group_count:
            raise ValueError(f"out_channels {self.out_channels} is not divisible by groups "
                             f"{self.group_count}")

    @property
    def kernel(self) -> Pair:
        return self.kernel_size

    @property
    def stride(self) -> Pair:
        return self.strides

    @property
    def groups(self) -> int:
        return self.group_count

    def extent(self) -> Pair:
        """The dilated kernel's extent in input pixels."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation))  # type: ignore

    def window(self, in_shape):
        return self.extent()

    def out_shapes(self, in_shapes):
        c, h, w = _single(in_shapes)
        if c % self.group_count:
            raise ShapeError(f"groups={self.group_count} does not divide the {c} input channels")
        t, l, b, r = self.padding
        ey, ex = self.extent()
        oy = _sliding_out(h, t + b, ey, self.strides[0], False, t, "row")
        ox = _sliding_out(w, l + r, ex, self.strides[1], False, l, "column")
        return ((self.out_channels, oy, ox),)

    @classmethod
    def reader_kind(cls, *, groups: int, kernel: Pair, out_channels: int) -> str:
        if groups > 1:
            return "depthwise conv" if groups == out_channels else "grouped conv"
        return "1x1 conv" if tuple(kernel) == (1, 1) else "conv"

    def weights_per_filter(self, in_shape: Shape) -> int:
        return in_shape[0] // self.group_count * self.kernel_size[0] * self.kernel_size[1]

    def params(self, in_shapes):
        return (self.out_channels * self.weights_per_filter(in_shapes[0])
                + (self.out_channels if self.bias else 0))

    def macs(self, in_shapes):
        return elems(self.out_shapes(in_shapes)[0]) * self.weights_per_filter(in_shapes[0])

    def ops(self, in_shapes):
        return elems(self.out_shapes(in_shapes)[0]) if self.bias else 0


# --------------------------------------------------------------------------- channel


@dataclass(frozen=True)
class FullyConnected(Op):
    """Fully connected layer over the flattened input (``C*H*W`` features).

    ``in_features``, when given, is checked against the input. ``trainable=False`` marks fixed
    weights (LeNet-5's RBF output units): they cost MACs but are not counted in ``params``."""

    kind: ClassVar[str] = "fc"
    category: ClassVar[str] = "channel"
    engine_kinds: ClassVar[frozenset[str]] = frozenset({"matrix", "vector"})
    lecture_type: ClassVar[str | None] = "Full"
    reader_kinds: ClassVar[tuple[str, ...]] = ("fc",)
    out_features: int = 1
    bias: bool = True
    in_features: int | None = None
    trainable: bool = True

    def __post_init__(self):
        _positive(self.out_features, "out_features")
        if self.in_features is not None:
            _positive(self.in_features, "in_features")

    def out_shapes(self, in_shapes):
        n = elems(_single(in_shapes))
        if self.in_features is not None and n != self.in_features:
            raise ShapeError(f"expects {self.in_features} input features, got {n}")
        return ((self.out_features, 1, 1),)

    def weight_elems(self, in_shapes):
        return self.out_features * elems(in_shapes[0]) + (self.out_features if self.bias else 0)

    def params(self, in_shapes):
        return self.weight_elems(in_shapes) if self.trainable else 0

    def macs(self, in_shapes):
        return self.out_features * elems(in_shapes[0])

    def ops(self, in_shapes):
        return self.out_features if self.bias else 0

    def window(self, in_shape):
        return (in_shape[1], in_shape[2])


@dataclass(frozen=True)
class LRN(Op):
    """Local response normalisation across ``size`` neighbouring channels. Each output costs
    ``2*size - 1`` ops: ``size`` squares and ``size - 1`` adds (the lecture's convention)."""

    kind: ClassVar[str] = "lrn"
    category: ClassVar[str] = "channel"
    tile_local: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Norm"
    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0

    def __post_init__(self):
        _positive(self.size, "size")

    def ops(self, in_shapes):
        return (2 * self.size - 1) * elems(in_shapes[0])


# --------------------------------------------------------------------------- space


@dataclass(frozen=True)
class _Pool(Op):
    category: ClassVar[str] = "space"
    lecture_type: ClassVar[str | None] = "Pool"
    kernel_size: Pair = (2, 2)
    strides: Pair | None = None
    padding: Pads = (0, 0, 0, 0)
    ceil_mode: bool = False

    def __post_init__(self):
        object.__setattr__(self, "kernel_size", as_pair(self.kernel_size, "kernel"))
        object.__setattr__(self, "strides", as_pair(
            self.kernel_size if self.strides is None else self.strides, "stride"))
        object.__setattr__(self, "padding", as_pads(self.padding))
        for v in (*self.kernel_size, *self.strides):
            _positive(v, "kernel and stride")

    @property
    def kernel(self) -> Pair:
        return self.kernel_size

    @property
    def stride(self) -> Pair:
        return self.strides  # type: ignore[return-value]

    def out_shapes(self, in_shapes):
        c, h, w = _single(in_shapes)
        t, l, b, r = self.padding
        oy = _sliding_out(h, t + b, self.kernel_size[0], self.strides[0], self.ceil_mode, t, "row")
        ox = _sliding_out(w, l + r, self.kernel_size[1], self.strides[1], self.ceil_mode, l,
                          "column")
        return ((c, oy, ox),)

    def ops(self, in_shapes):
        """``FY*FX`` per output element (compares for max, adds for average)."""
        return self.kernel_size[0] * self.kernel_size[1] * elems(self.out_shapes(in_shapes)[0])


@dataclass(frozen=True)
class MaxPool(_Pool):
    """Max pooling (PyTorch's output size rule, ``ceil_mode`` included)."""

    kind: ClassVar[str] = "max_pool"
    tile_local: ClassVar[bool] = True


@dataclass(frozen=True)
class AvgPool(_Pool):
    """Average pooling (PyTorch's output size rule, ``ceil_mode`` included)."""

    kind: ClassVar[str] = "avg_pool"
    tile_local: ClassVar[bool] = True


@dataclass(frozen=True)
class _GlobalPool(Op):
    category: ClassVar[str] = "space"
    lecture_type: ClassVar[str | None] = "Pool"

    def out_shapes(self, in_shapes):
        return ((_single(in_shapes)[0], 1, 1),)

    def ops(self, in_shapes):
        return elems(in_shapes[0])

    def window(self, in_shape):
        return (in_shape[1], in_shape[2])


@dataclass(frozen=True)
class GlobalMaxPool(_GlobalPool):
    """Max over the whole map per channel."""

    kind: ClassVar[str] = "global_max_pool"


@dataclass(frozen=True)
class GlobalAvgPool(_GlobalPool):
    """Mean over the whole map per channel."""

    kind: ClassVar[str] = "global_avg_pool"


@dataclass(frozen=True)
class SpatialPyramidPool(Op):
    """Spatial pyramid pooling (He et al. 2014): for each level ``n`` the map is pooled into an
    ``n x n`` grid; the outputs are concatenated into ``C * sum(n^2)`` features."""

    kind: ClassVar[str] = "spp"
    category: ClassVar[str] = "space"
    lecture_type: ClassVar[str | None] = "Pool"
    levels: tuple[int, ...] = (1, 2, 4)
    mode: str = "max"

    def __post_init__(self):
        if not self.levels:
            raise ValueError("levels must not be empty")
        for n in self.levels:
            _positive(n, "every level")
        if self.mode not in ("max", "avg"):
            raise ValueError(f"mode must be 'max' or 'avg', got {self.mode!r}")
        object.__setattr__(self, "levels", tuple(self.levels))

    def out_shapes(self, in_shapes):
        c, h, w = _single(in_shapes)
        if max(self.levels) > min(h, w):
            raise ShapeError(f"level {max(self.levels)} needs a map of at least that size, "
                             f"got {h}x{w}")
        return ((c * sum(n * n for n in self.levels), 1, 1),)

    def ops(self, in_shapes):
        return elems(in_shapes[0]) * len(self.levels)

    def window(self, in_shape):
        return (in_shape[1], in_shape[2])


@dataclass(frozen=True)
class Upsample(Op):
    """Up-sampling by integer ``scale``: ``nearest`` copies (no arithmetic), ``bilinear``
    blends four neighbours per output (4 multiplies + 3 adds)."""

    kind: ClassVar[str] = "upsample"
    category: ClassVar[str] = "space"
    tile_local: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Rear"
    scale: Pair = (2, 2)
    mode: str = "nearest"

    def __post_init__(self):
        object.__setattr__(self, "scale", as_pair(self.scale, "scale"))
        for v in self.scale:
            _positive(v, "scale")
        if self.mode not in ("nearest", "bilinear"):
            raise ValueError(f"mode must be 'nearest' or 'bilinear', got {self.mode!r}")

    def out_shapes(self, in_shapes):
        c, h, w = _single(in_shapes)
        return ((c, h * self.scale[0], w * self.scale[1]),)

    def ops(self, in_shapes):
        return 7 * elems(self.out_shapes(in_shapes)[0]) if self.mode == "bilinear" else 0

    def window(self, in_shape):
        return (2, 2) if self.mode == "bilinear" else (1, 1)

    def step(self, in_shape):
        return (Fraction(1, self.scale[0]), Fraction(1, self.scale[1]))


# --------------------------------------------------------------------------- element


@dataclass(frozen=True)
class _Elementwise(Op):
    """A per-element function; ``ops_per_elem`` is its arithmetic per element."""

    category: ClassVar[str] = "element"
    ops_per_elem: ClassVar[int] = 1
    tile_local: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Nonl"

    def ops(self, in_shapes):
        return self.ops_per_elem * elems(in_shapes[0])


@dataclass(frozen=True)
class Relu(_Elementwise):
    """max(x, 0)."""

    kind: ClassVar[str] = "relu"
    onnx_name: ClassVar[str | None] = "Relu"


@dataclass(frozen=True)
class Relu6(_Elementwise):
    """min(max(x, 0), 6)."""

    kind: ClassVar[str] = "relu6"
    ops_per_elem: ClassVar[int] = 2


@dataclass(frozen=True)
class LeakyRelu(_Elementwise):
    """max(x, slope*x)."""

    kind: ClassVar[str] = "leaky_relu"
    ops_per_elem: ClassVar[int] = 2
    negative_slope: float = 0.01


@dataclass(frozen=True)
class PRelu(_Elementwise):
    """max(x, a_c*x) with one learnt slope per channel."""

    kind: ClassVar[str] = "prelu"
    ops_per_elem: ClassVar[int] = 2

    def params(self, in_shapes):
        return in_shapes[0][0]


@dataclass(frozen=True)
class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)): an exponential, an add and a divide."""

    kind: ClassVar[str] = "sigmoid"
    ops_per_elem: ClassVar[int] = 3
    onnx_name: ClassVar[str | None] = "Sigmoid"


@dataclass(frozen=True)
class Tanh(_Elementwise):
    """tanh(x) = 2*sigmoid(2x) - 1: an exponential, an add, a divide (scalings folded)."""

    kind: ClassVar[str] = "tanh"
    ops_per_elem: ClassVar[int] = 3
    onnx_name: ClassVar[str | None] = "Tanh"


@dataclass(frozen=True)
class BatchNorm(_Elementwise):
    """Batch normalisation at inference: a per-channel scale and shift (2 ops per element);
    ``2*C`` trainable parameters (running statistics are not parameters)."""

    kind: ClassVar[str] = "batch_norm"
    category: ClassVar[str] = "training"
    ops_per_elem: ClassVar[int] = 2
    lecture_type: ClassVar[str | None] = "Norm"
    eps: float = 1e-5

    def params(self, in_shapes):
        return 2 * in_shapes[0][0]


@dataclass(frozen=True)
class GroupNorm(_Elementwise):
    """Group normalisation: statistics per group computed at run time (sum and sum of squares,
    3 ops), normalise (2 ops), then a per-channel scale and shift (2 ops): 7 ops per element."""

    kind: ClassVar[str] = "group_norm"
    category: ClassVar[str] = "training"
    ops_per_elem: ClassVar[int] = 7
    tile_local: ClassVar[bool] = False
    lecture_type: ClassVar[str | None] = "Norm"
    num_groups: int = 32
    eps: float = 1e-5

    def __post_init__(self):
        _positive(self.num_groups, "num_groups")

    def out_shapes(self, in_shapes):
        c = in_shapes[0][0]
        if c % self.num_groups:
            raise ShapeError(f"num_groups={self.num_groups} does not divide the {c} channels")
        return (in_shapes[0],)

    def params(self, in_shapes):
        return 2 * in_shapes[0][0]


@dataclass(frozen=True)
class Scale(_Elementwise):
    """Per-channel multiply (Caffe's Scale layer), optionally followed by a per-channel add.

    With ``factor`` set, the multiplier is that constant (Inception-ResNet's residual scaling)
    and has no parameters; otherwise it is learnt, one per channel."""

    kind: ClassVar[str] = "scale"
    lecture_type: ClassVar[str | None] = "Elem"
    bias: bool = False
    factor: float | None = None

    def params(self, in_shapes):
        learnt = 0 if self.factor is not None else 1
        return in_shapes[0][0] * (learnt + (1 if self.bias else 0))

    def ops(self, in_shapes):
        return elems(in_shapes[0]) * (2 if self.bias else 1)


@dataclass(frozen=True)
class Offset(_Elementwise):
    """Per-channel add (a learnt bias)."""

    kind: ClassVar[str] = "offset"
    lecture_type: ClassVar[str | None] = "Elem"

    def params(self, in_shapes):
        return in_shapes[0][0]


@dataclass(frozen=True)
class Softmax(_Elementwise):
    """Softmax over channels: an exponential, a share of the sum and a divide per element."""

    kind: ClassVar[str] = "softmax"
    category: ClassVar[str] = "training"
    ops_per_elem: ClassVar[int] = 3
    tile_local: ClassVar[bool] = False


@dataclass(frozen=True)
class Dropout(_Elementwise):
    """Dropout: the identity at inference, kept so graphs match their frameworks."""

    kind: ClassVar[str] = "dropout"
    category: ClassVar[str] = "training"
    ops_per_elem: ClassVar[int] = 0
    view: ClassVar[bool] = True
    engine_kinds: ClassVar[frozenset[str]] = frozenset()
    tile_local: ClassVar[bool] = False
    lecture_type: ClassVar[str | None] = None
    p: float = 0.5


@dataclass(frozen=True)
class _Binary(Op):
    """Element-wise combination of two or more inputs with broadcasting of size-1 dims (so an
    SE block's ``[C, 1, 1]`` gate multiplies a ``[C, H, W]`` map)."""

    category: ClassVar[str] = "element"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = None
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
class Add(_Binary):
    """Element-wise sum (residual connections)."""

    kind: ClassVar[str] = "add"


@dataclass(frozen=True)
class Mul(_Binary):
    """Element-wise product (gates, SE excitation)."""

    kind: ClassVar[str] = "mul"


@dataclass(frozen=True)
class Max(_Binary):
    """Element-wise maximum (maxout)."""

    kind: ClassVar[str] = "max"


# --------------------------------------------------------------------------- time


@dataclass(frozen=True)
class _Recurrent(Op):
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

    def window(self, in_shape):
        """The last step's output depends on the whole sequence."""
        return (1, in_shape[2])

    def ops(self, in_shapes):
        bias_adds = 2 * self.gates if self.bias else 0
        return in_shapes[0][2] * self.hidden_size * (bias_adds + self.elem_ops_per_unit)


@dataclass(frozen=True)
class RNN(_Recurrent):
    """Elman RNN: h' = tanh(W x + U h + b); tanh costs 3 ops per unit and step."""

    kind: ClassVar[str] = "rnn"
    reader_kinds: ClassVar[tuple[str, ...]] = ("rnn",)
    elem_ops_per_unit: ClassVar[int] = 3


@dataclass(frozen=True)
class LSTM(_Recurrent):
    """LSTM (4 gates). Per unit and step: 3 sigmoids and 2 tanh (3 ops each), c' = f*c + i*g
    (3 ops), h' = o*tanh(c') (1 op): 19 ops beside the bias adds."""

    kind: ClassVar[str] = "lstm"
    reader_kinds: ClassVar[tuple[str, ...]] = ("lstm",)
    gates: ClassVar[int] = 4
    elem_ops_per_unit: ClassVar[int] = 19


@dataclass(frozen=True)
class GRU(_Recurrent):
    """GRU (3 gates: update, reset, candidate), as PyTorch and ONNX's ``linear_before_reset``.
    Per unit and step: 2 sigmoids and a tanh (3 ops each), the reset gate times the hidden
    term (1 op), h' = n + z*(h - n) (3 ops): 13 ops beside the bias adds."""

    kind: ClassVar[str] = "gru"
    reader_kinds: ClassVar[tuple[str, ...]] = ("gru",)
    gates: ClassVar[int] = 3
    elem_ops_per_unit: ClassVar[int] = 13


# --------------------------------------------------------------------------- rearrangement


@dataclass(frozen=True)
class Concat(Op):
    """Concatenation along ``axis`` (0 = channels, 1 = rows, 2 = columns)."""

    kind: ClassVar[str] = "concat"
    category: ClassVar[str] = "rearrangement"
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = None
    tile_local: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Rear"
    axis: int = 0

    def __post_init__(self):
        if self.axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, got {self.axis!r}")

    def out_shapes(self, in_shapes):
        first = in_shapes[0]
        for i, shape in enumerate(in_shapes[1:], start=1):
            if any(a != b for d, (a, b) in enumerate(zip(first, shape)) if d != self.axis):
                raise ShapeError(f"shapes differ off the concatenation axis {self.axis}",
                                 inputs=(0, i))
        out = list(first)
        out[self.axis] = sum(s[self.axis] for s in in_shapes)
        return (tuple(out),)


@dataclass(frozen=True)
class Split(Op):
    """Split along ``axis`` into parts of ``sizes``; output ``i`` is referred to as
    ``layer:i`` (``layer`` alone is output 0)."""

    kind: ClassVar[str] = "split"
    category: ClassVar[str] = "rearrangement"
    tile_local: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Rear"
    sizes: tuple[int, ...] = (1, 1)
    axis: int = 0

    def __post_init__(self):
        if len(self.sizes) < 2:
            raise ValueError("sizes must have at least two parts")
        for s in self.sizes:
            _positive(s, "every size")
        if self.axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, got {self.axis!r}")
        object.__setattr__(self, "sizes", tuple(self.sizes))

    def out_shapes(self, in_shapes):
        shape = _single(in_shapes)
        if sum(self.sizes) != shape[self.axis]:
            raise ShapeError(f"sizes add up to {sum(self.sizes)} but axis {self.axis} has "
                             f"{shape[self.axis]}")
        outs = []
        for s in self.sizes:
            out = list(shape)
            out[self.axis] = s
            outs.append(tuple(out))
        return tuple(outs)


@dataclass(frozen=True)
class Reshape(Op):
    """Reinterpret the elements as ``shape``; a reshape that changes the map size mixes
    positions, so one output position sees the whole input map."""

    kind: ClassVar[str] = "reshape"
    category: ClassVar[str] = "rearrangement"
    view: ClassVar[bool] = True
    engine_kinds: ClassVar[frozenset[str]] = frozenset()
    shape: Shape = (1, 1, 1)

    def __post_init__(self):
        object.__setattr__(self, "shape", _as_shape(self.shape))

    def out_shapes(self, in_shapes):
        n = elems(_single(in_shapes))
        if n != elems(self.shape):
            raise ShapeError(f"cannot reshape {n} elements into {fmt_shape(self.shape)}")
        return (self.shape,)

    def window(self, in_shape):
        same_map = in_shape[1:] == self.shape[1:]
        return (1, 1) if same_map else (in_shape[1], in_shape[2])


@dataclass(frozen=True)
class Flatten(Op):
    """``[C, H, W] -> [C*H*W, 1, 1]``: one output position holds the whole map."""

    kind: ClassVar[str] = "flatten"
    category: ClassVar[str] = "rearrangement"
    view: ClassVar[bool] = True
    engine_kinds: ClassVar[frozenset[str]] = frozenset()

    def out_shapes(self, in_shapes):
        return ((elems(_single(in_shapes)), 1, 1),)

    def window(self, in_shape):
        return (in_shape[1], in_shape[2])


@dataclass(frozen=True)
class SpaceToDepth(Op):
    """Move each ``block x block`` patch into channels: ``[C*b*b, H/b, W/b]``."""

    kind: ClassVar[str] = "space_to_depth"
    category: ClassVar[str] = "rearrangement"
    lecture_type: ClassVar[str | None] = "Rear"
    block: int = 2

    def __post_init__(self):
        _positive(self.block, "block")

    def out_shapes(self, in_shapes):
        c, h, w = _single(in_shapes)
        b = self.block
        if h % b or w % b:
            raise ShapeError(f"block {b} does not divide the {h}x{w} map")
        return ((c * b * b, h // b, w // b),)

    @property
    def kernel(self):
        return (self.block, self.block)

    @property
    def stride(self):
        return (self.block, self.block)


@dataclass(frozen=True)
class DepthToSpace(Op):
    """Move channels into ``block x block`` patches: ``[C/(b*b), H*b, W*b]``."""

    kind: ClassVar[str] = "depth_to_space"
    category: ClassVar[str] = "rearrangement"
    lecture_type: ClassVar[str | None] = "Rear"
    block: int = 2

    def __post_init__(self):
        _positive(self.block, "block")

    def out_shapes(self, in_shapes):
        c, h, w = _single(in_shapes)
        b = self.block
        if c % (b * b):
            raise ShapeError(f"block {b}x{b} does not divide the {c} channels")
        return ((c // (b * b), h * b, w * b),)

    def step(self, in_shape):
        return (Fraction(1, self.block), Fraction(1, self.block))


@dataclass(frozen=True)
class ChannelShuffle(Op):
    """ShuffleNet's channel shuffle: reshape to ``(groups, C/groups)``, transpose, flatten."""

    kind: ClassVar[str] = "channel_shuffle"
    category: ClassVar[str] = "rearrangement"
    tile_local: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Rear"
    num_groups: int = 2

    def __post_init__(self):
        _positive(self.num_groups, "num_groups")

    def out_shapes(self, in_shapes):
        c = in_shapes[0][0]
        if c % self.num_groups:
            raise ShapeError(f"num_groups={self.num_groups} does not divide the {c} channels")
        return (in_shapes[0],)


@dataclass(frozen=True)
class Shift(Op):
    """Shift (Wu et al. 2018): each channel group moves by one offset within a
    ``kernel`` window; no parameters, no arithmetic, only data movement."""

    kind: ClassVar[str] = "shift"
    category: ClassVar[str] = "rearrangement"
    tile_local: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Rear"
    kernel_size: Pair = (3, 3)

    def __post_init__(self):
        object.__setattr__(self, "kernel_size", as_pair(self.kernel_size, "kernel"))
        for v in self.kernel_size:
            _positive(v, "kernel")

    @property
    def kernel(self):
        return self.kernel_size


@dataclass(frozen=True)
class Placeholder(Op):
    """An ONNX node perfsim cannot map (imported with ``allow_unsupported``): it passes its
    output shape on so the rest of the graph imports, and costs nothing (no parameters, MACs,
    ops or data movement). Reports flag it as not costed."""

    kind: ClassVar[str] = "placeholder"
    category: ClassVar[str] = "rearrangement"
    min_inputs: ClassVar[int] = 0
    max_inputs: ClassVar[int | None] = None
    view: ClassVar[bool] = True
    engine_kinds: ClassVar[frozenset[str]] = frozenset()
    onnx_op: str = ""
    shape: Shape = (1, 1, 1)

    def __post_init__(self):
        if not isinstance(self.onnx_op, str) or not self.onnx_op:
            raise ValueError(f"onnx_op must be a non-empty string, got {self.onnx_op!r}")
        object.__setattr__(self, "shape", _as_shape(self.shape))

    def out_shapes(self, in_shapes):
        return (self.shape,)



# The attribute names users write (in network files) for fields whose Python names avoid a
# clash with the common ``kernel``/``stride``/``groups`` properties.
FIELD_ALIASES = {"kernel_size": "kernel", "strides": "stride", "group_count": "groups"}


def attribute_names(cls: type[Op]) -> dict[str, str]:
    """User-facing attribute name -> dataclass field name, for one op class."""
    return {FIELD_ALIASES.get(f.name, f.name): f.name for f in fields(cls)}


def make_op(kind: str, **attributes) -> Op:
    """Build an op by name from user-facing attribute names (``kernel``, ``stride``,
    ``groups``, ...). Raises ``KeyError`` for an unknown op, ``TypeError``/``ValueError`` for
    unknown or invalid attributes."""
    cls = OPS[kind]
    names = attribute_names(cls)
    unknown = sorted(set(attributes) - set(names))
    if unknown:
        raise TypeError(f"unknown attribute(s) {', '.join(unknown)}")
    return cls(**{names[k]: v for k, v in attributes.items()})


def user_attributes(op: Op) -> dict:
    """The op's attributes under their user-facing names (the inverse of :func:`make_op`)."""
    return {FIELD_ALIASES.get(k, k): v for k, v in op.attributes().items()}

