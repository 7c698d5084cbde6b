"""Rearrangement ops: concatenation, splitting, reshaping, space<->depth, channel shuffle and
shift: data movement with little or no arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import ClassVar

from perfsim.workload import loopnest

from perfsim.workload.ops.base import (Op, Pair, Shape, ShapeError, _as_shape, _positive,
                                       _single, as_pair, elems, fmt_shape)


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
        super().__post_init__()
        if self.axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, got {self.axis!r}")

    def stream_groups(self, in_shapes, out_shapes):
        return out_shapes[0][0] if self.axis == 0 else in_shapes[0][0]

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
        super().__post_init__()
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
class Slice(Op):
    """Elements ``start, start + step, ...`` below ``stop`` along ``axis`` (a class token
    taken from the tokens, half of a tensor): a copy of the elements kept, each read and
    written once. (The step is the field ``slice_step``, written ``step``: a field ``step``
    would hide :meth:`Op.step`, which the receptive field reads.)"""

    kind: ClassVar[str] = "slice"
    category: ClassVar[str] = "rearrangement"
    tile_local: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Rear"
    axis: int = 0
    start: int = 0
    stop: int = 1
    slice_step: int = 1

    def __post_init__(self):
        super().__post_init__()
        if isinstance(self.axis, bool) or self.axis not in (0, 1, 2):
            raise ValueError(f"axis must be 0, 1 or 2, got {self.axis!r}")
        if isinstance(self.start, bool) or not isinstance(self.start, int) or self.start < 0:
            raise ValueError(f"start must be an integer >= 0, got {self.start!r}")
        _positive(self.stop, "stop")
        _positive(self.slice_step, "step")
        if self.stop <= self.start:
            raise ValueError(f"stop {self.stop} must be beyond start {self.start}")

    def out_shapes(self, in_shapes):
        shape = _single(in_shapes)
        if self.stop > shape[self.axis]:
            raise ShapeError(f"stop {self.stop} is beyond axis {self.axis}'s "
                             f"{shape[self.axis]} elements")
        out = list(shape)
        out[self.axis] = -(-(self.stop - self.start) // self.slice_step)
        return (tuple(out),)

    def loop_nest(self, batch, in_shapes, out_shapes):
        # only the kept elements are read
        return loopnest.stream(batch=batch, groups=out_shapes[0][0],
                               in_per_group=elems(out_shapes[0]) // out_shapes[0][0],
                               out_per_group=elems(out_shapes[0]) // out_shapes[0][0])


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
        super().__post_init__()
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
        super().__post_init__()
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
        super().__post_init__()
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
        super().__post_init__()
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
        super().__post_init__()
        object.__setattr__(self, "kernel_size", as_pair(self.kernel_size, "kernel"))
        for v in self.kernel_size:
            _positive(v, "kernel")

    @property
    def kernel(self):
        return self.kernel_size
