"""Space ops: local, global and spatial-pyramid pooling, and up-sampling."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from perfsim.workload import loopnest

from perfsim.workload.ops.base import (Op, Pads, Pair, ShapeError, _positive, _single,
                                       _sliding_out, as_pads, as_pair, elems)


@dataclass(frozen=True)
class Pool(Op):
    category: ClassVar[str] = "space"
    lecture_type: ClassVar[str | None] = "Pool"
    kernel_size: Pair = (2, 2)
    strides: Pair | None = None
    padding: Pads = (0, 0, 0, 0)
    ceil_mode: bool = False

    def __post_init__(self):
        super().__post_init__()
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

    def loop_nest(self, batch, in_shapes, out_shapes):
        # Each channel is its own group with one 1-channel "filter" of FY x FX weights: how
        # perfsim has always costed pooling (a depthwise convolution reading a window of
        # weights it does not have); the fidelity issue replaces it by loopnest.pooling.
        c, iy, ix = in_shapes[0]
        _, oy, ox = out_shapes[0]
        return loopnest.convolution(batch=batch, in_channels=c, out_channels=c,
                                    in_size=(iy, ix), out_size=(oy, ox),
                                    kernel=self.kernel_size, stride=self.strides,
                                    pad_before=self.padding[:2], groups=c)

    def ops(self, in_shapes):
        """``FY*FX`` per output element (compares for max, adds for average)."""
        return self.kernel_size[0] * self.kernel_size[1] * elems(self.out_shapes(in_shapes)[0])


@dataclass(frozen=True)
class MaxPool(Pool):
    """Max pooling (PyTorch's output size rule, ``ceil_mode`` included)."""

    kind: ClassVar[str] = "max_pool"
    tile_local: ClassVar[bool] = True


@dataclass(frozen=True)
class AvgPool(Pool):
    """Average pooling (PyTorch's output size rule, ``ceil_mode`` included)."""

    kind: ClassVar[str] = "avg_pool"
    tile_local: ClassVar[bool] = True


@dataclass(frozen=True)
class GlobalPool(Op):
    category: ClassVar[str] = "space"
    lecture_type: ClassVar[str | None] = "Pool"

    def out_shapes(self, in_shapes):
        return ((_single(in_shapes)[0], 1, 1),)

    def ops(self, in_shapes):
        return elems(in_shapes[0])

    def window(self, in_shape):
        return (in_shape[1], in_shape[2])


@dataclass(frozen=True)
class GlobalMaxPool(GlobalPool):
    """Max over the whole map per channel."""

    kind: ClassVar[str] = "global_max_pool"


@dataclass(frozen=True)
class GlobalAvgPool(GlobalPool):
    """Mean over the whole map per channel."""

    kind: ClassVar[str] = "global_avg_pool"


@dataclass(frozen=True)
class Reduce(Op):
    """A reduction over ``axes`` of the per-sample ``(C, H, W)``, each reduced axis kept with
    size 1: ``mean``, ``sum`` or ``max``. One op per input element (an add or a compare), and
    a divide per output for the mean. (A mean over the whole map, ``axes=[1, 2]``, is a
    ``global_avg_pool``.)"""

    kind: ClassVar[str] = "reduce"
    category: ClassVar[str] = "element"
    lecture_type: ClassVar[str | None] = "Pool"
    mode: str = "mean"
    axes: tuple[int, ...] = (2,)

    def __post_init__(self):
        super().__post_init__()
        if self.mode not in ("mean", "sum", "max"):
            raise ValueError(f"mode must be 'mean', 'sum' or 'max', got {self.mode!r}")
        if not self.axes or len(set(self.axes)) != len(self.axes) or any(
                isinstance(a, bool) or a not in (0, 1, 2) for a in self.axes):
            raise ValueError(f"axes must be distinct axes of [C, H, W] (0, 1, 2), got "
                             f"{list(self.axes)!r}")
        object.__setattr__(self, "axes", tuple(sorted(self.axes)))

    def out_shapes(self, in_shapes):
        return (tuple(1 if d in self.axes else n
                      for d, n in enumerate(_single(in_shapes))),)

    def ops(self, in_shapes):
        divides = elems(self.out_shapes(in_shapes)[0]) if self.mode == "mean" else 0
        return elems(in_shapes[0]) + divides

    def window(self, in_shape):
        return tuple(in_shape[d] if d in self.axes else 1 for d in (1, 2))


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
        super().__post_init__()
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
        super().__post_init__()
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
