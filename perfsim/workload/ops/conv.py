"""Channel and channel+space ops: convolutions in every form, fully connected layers, local
response normalisation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from perfsim.workload import loopnest

from perfsim.workload.ops.base import (Op, Pads, Pair, Shape, ShapeError, _positive, _single,
                                       _sliding_out, as_pads, as_pair, elems)


@dataclass(frozen=True)
class Conv(Op):
    """2-D convolution: grouped (``groups``), depthwise (``groups == C == out_channels``),
    dilated (``dilation``), with any padding, including asymmetric."""

    kind: ClassVar[str] = "conv"
    category: ClassVar[str] = "channel+space"
    engine_kinds: ClassVar[frozenset[str]] = frozenset({"matrix", "vector"})
    takes_folded_affine: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Conv"
    reader_kinds: ClassVar[tuple[str, ...]] = ("conv", "1x1 conv", "grouped conv",
                                               "depthwise conv")
    pin_variants: ClassVar[tuple[str, ...]] = ("dense", "grouped", "depthwise")
    out_channels: int = 1
    kernel_size: Pair = (1, 1)
    strides: Pair = (1, 1)
    padding: Pads = (0, 0, 0, 0)
    dilation: Pair = (1, 1)
    group_count: int = 1
    bias: bool = True

    def __post_init__(self):
        super().__post_init__()
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

    def loop_nest(self, batch, in_shapes, out_shapes):
        c, iy, ix = in_shapes[0]
        k, oy, ox = out_shapes[0]
        return loopnest.convolution(
            batch=batch, in_channels=c, out_channels=k, in_size=(iy, ix), out_size=(oy, ox),
            kernel=self.kernel_size, stride=self.strides, dilation=self.dilation,
            pad_before=self.padding[:2], groups=self.group_count,
            biases_per_output=1 if self.bias else 0)

    def pin_variant(self) -> str:
        """``depthwise`` (one channel per group, as :meth:`reader_kind` tells it), ``grouped``
        or ``dense``."""
        if self.group_count > 1:
            return "depthwise" if self.group_count == self.out_channels else "grouped"
        return "dense"

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


@dataclass(frozen=True)
class FullyConnected(Op):
    """Fully connected layer over the flattened input (``C*H*W`` features).

    ``in_features``, when given, is checked against the input. ``trainable=False`` marks fixed
    weights (LeNet-5's RBF output units): they cost MACs but are not counted in ``params``."""

    kind: ClassVar[str] = "fc"
    category: ClassVar[str] = "channel"
    engine_kinds: ClassVar[frozenset[str]] = frozenset({"matrix", "vector"})
    takes_folded_affine: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Full"
    reader_kinds: ClassVar[tuple[str, ...]] = ("fc",)
    out_features: int = 1
    bias: bool = True
    in_features: int | None = None
    trainable: bool = True

    def __post_init__(self):
        super().__post_init__()
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

    def loop_nest(self, batch, in_shapes, out_shapes):
        # The flattened input is C*H*W channels of a 1x1 map.
        return loopnest.convolution(batch=batch, in_channels=elems(in_shapes[0]),
                                    out_channels=self.out_features, in_size=(1, 1),
                                    out_size=(1, 1), biases_per_output=1 if self.bias else 0)

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
        super().__post_init__()
        _positive(self.size, "size")

    def ops(self, in_shapes):
        return (2 * self.size - 1) * elems(in_shapes[0])
