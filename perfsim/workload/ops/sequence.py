"""Sequence ops: what transformers add to the op set, on token tensors.

A token tensor is ``(T, 1, D)`` per sample: ``T`` tokens of ``D`` features, the features on the
last axis (ONNX's ``[N, T, D]``, which perfsim reads as ``(T, 1, D)``). Attention splits the
features into heads, ``(heads, T, D / heads)``, by a reshape (a view). Every op here names the
axis it works on, ``0``, ``1`` or ``2`` of the per-sample ``(C, H, W)``, so the same op serves
token tensors, channels-last maps ``(H, W, C)`` (ConvNeXt's and Swin's blocks) and channel-first
ones.

* :class:`Linear`: a linear layer applied at every position along ``axis`` (a transformer's
  projections and MLPs): one GEMM over ``batch x positions`` rows.
* :class:`MatMul`: a product of two activations, batched over axis 0 (attention's heads):
  ``(G, M, K) @ (G, K, N) -> (G, M, N)``, either side broadcast when its ``G`` is 1.
* :class:`LayerNorm`, :class:`RmsNorm`: normalisation over ``axis`` at every position.
* :class:`Embedding`: a table of ``num_embeddings`` rows looked up by token ids;
  :class:`PositionalEmbedding`: learnt positions added to a token tensor;
  :class:`Parameter`: a learnt tensor (a class token).
* :class:`KvAppend`: new keys or values appended to a cache held in memory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from perfsim.workload import loopnest

from perfsim.workload.ops.base import (Op, Shape, ShapeError, _as_shape, _positive, _single,
                                       elems, fmt_shape)


def check_axis(value, what: str = "axis") -> None:
    """A ``ValueError`` unless ``value`` names an axis of the per-sample ``(C, H, W)``."""
    if isinstance(value, bool) or value not in (0, 1, 2):
        raise ValueError(f"{what} must be 0, 1 or 2 (an axis of [C, H, W]), got {value!r}")


def with_axis(shape: Shape, axis: int, size: int) -> Shape:
    """``shape`` with axis ``axis`` of ``size`` elements."""
    out = list(shape)
    out[axis] = size
    return tuple(out)  # type: ignore[return-value]


@dataclass(frozen=True)
class Linear(Op):
    """A linear layer at every position: the ``n`` features along ``axis`` times an ``n x
    out_features`` weight matrix (plus a bias), for every index of the other two axes. MACs:
    ``positions x n x out_features``; on a matrix engine one GEMM of ``batch x positions`` rows
    (the convolution nest of a 1x1 filter over a ``1 x positions`` map).

    ``tied=True`` marks a weight matrix shared with an embedding (GPT-2's output head reads the
    token embedding): its MACs and weight reads are counted, its parameters are not (they are
    counted once, at the embedding)."""

    kind: ClassVar[str] = "linear"
    category: ClassVar[str] = "channel"
    engine_kinds: ClassVar[frozenset[str]] = frozenset({"matrix", "vector"})
    lecture_type: ClassVar[str | None] = "Full"
    reader_kinds: ClassVar[tuple[str, ...]] = ("linear",)
    out_features: int = 1
    axis: int = 2
    bias: bool = True
    tied: bool = False

    def __post_init__(self):
        super().__post_init__()
        _positive(self.out_features, "out_features")
        check_axis(self.axis)

    def out_shapes(self, in_shapes):
        return (with_axis(_single(in_shapes), self.axis, self.out_features),)

    def positions(self, in_shape: Shape) -> int:
        """Positions the layer runs at: the elements of the other two axes."""
        return elems(in_shape) // in_shape[self.axis]

    def weight_elems(self, in_shapes):
        n = in_shapes[0][self.axis]
        return self.out_features * n + (self.out_features if self.bias else 0)

    def params(self, in_shapes):
        return 0 if self.tied else self.weight_elems(in_shapes)

    def macs(self, in_shapes):
        return self.positions(in_shapes[0]) * in_shapes[0][self.axis] * self.out_features

    def ops(self, in_shapes):
        return self.positions(in_shapes[0]) * self.out_features if self.bias else 0

    def loop_nest(self, batch, in_shapes, out_shapes):
        rows = self.positions(in_shapes[0])
        return loopnest.convolution(batch=batch, in_channels=in_shapes[0][self.axis],
                                    out_channels=self.out_features, in_size=(1, rows),
                                    out_size=(1, rows), biases_per_output=1 if self.bias else 0)


@dataclass(frozen=True)
class MatMul(Op):
    """A product of two activations, ``(G, M, K) @ (G, K, N) -> (G, M, N)`` per sample:
    ``G`` independent products (attention's heads), either operand shared by all when its
    ``G`` is 1. Attention's scores are ``Q @ K^T`` with ``K^T`` the keys relabelled ``(heads,
    D / heads, T)``, and its output ``softmax(scores) @ V``. MACs ``G x M x K x N``; no
    parameters: both operands are computed at run time."""

    kind: ClassVar[str] = "matmul"
    category: ClassVar[str] = "channel"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2
    engine_kinds: ClassVar[frozenset[str]] = frozenset({"matrix", "vector"})
    reader_kinds: ClassVar[tuple[str, ...]] = ("matmul",)

    def out_shapes(self, in_shapes):
        (g1, m, k1), (g2, k2, n) = in_shapes
        if k1 != k2:
            raise ShapeError(f"the left operand's {k1} columns do not match the right "
                             f"operand's {k2} rows ({fmt_shape(in_shapes[0])} @ "
                             f"{fmt_shape(in_shapes[1])})", inputs=(0, 1))
        if g1 != g2 and 1 not in (g1, g2):
            raise ShapeError(f"{g1} and {g2} products do not broadcast", inputs=(0, 1))
        return ((max(g1, g2), m, n),)

    def macs(self, in_shapes):
        g, m, n = self.out_shapes(in_shapes)[0]
        return g * m * n * in_shapes[0][2]

    def loop_nest(self, batch, in_shapes, out_shapes):
        (g1, m, k), (g2, _, n) = in_shapes
        return loopnest.matrix_product(batch=batch, heads=max(g1, g2), m=m, n=n, k=k,
                                       left_shared=g1 < g2, right_shared=g2 < g1)


@dataclass(frozen=True)
class LayerNorm(Op):
    """Layer normalisation over the ``axis`` features at every position: mean and variance
    computed at run time (a sum, a subtract, a square and a sum: 4 ops per element), normalise
    (1), then a learnt scale and shift (2): 7 ops per element, as :class:`GroupNorm` counts
    them; ``2 x features`` parameters (``features`` without the shift: ``bias=False``)."""

    kind: ClassVar[str] = "layer_norm"
    category: ClassVar[str] = "channel"
    lecture_type: ClassVar[str | None] = "Norm"
    reader_kinds: ClassVar[tuple[str, ...]] = ("norm",)
    ops_per_elem: ClassVar[int] = 7
    axis: int = 2
    eps: float = 1e-5
    bias: bool = True

    def __post_init__(self):
        super().__post_init__()
        check_axis(self.axis)

    def params(self, in_shapes):
        return in_shapes[0][self.axis] * (2 if self.bias else 1)

    def ops(self, in_shapes):
        return self.ops_per_elem * elems(in_shapes[0]) - (
            0 if self.bias else elems(in_shapes[0]))


@dataclass(frozen=True)
class RmsNorm(Op):
    """RMS normalisation over the ``axis`` features at every position (Zhang and Sennrich
    2019): a square and a sum (2 ops per element), normalise (1), a learnt scale (1): 4 ops per
    element; ``features`` parameters."""

    kind: ClassVar[str] = "rms_norm"
    category: ClassVar[str] = "channel"
    lecture_type: ClassVar[str | None] = "Norm"
    reader_kinds: ClassVar[tuple[str, ...]] = ("norm",)
    axis: int = 2
    eps: float = 1e-6

    def __post_init__(self):
        super().__post_init__()
        check_axis(self.axis)

    def params(self, in_shapes):
        return in_shapes[0][self.axis]

    def ops(self, in_shapes):
        return 4 * elems(in_shapes[0])


@dataclass(frozen=True)
class Embedding(Op):
    """A lookup table of ``num_embeddings`` rows of ``dim`` features, read by token ids
    ``(T, 1, 1)``: output ``(T, 1, dim)``. ``num_embeddings x dim`` parameters, of which a
    layer reads only the rows of its tokens (:meth:`weight_elems`); no arithmetic."""

    kind: ClassVar[str] = "embedding"
    category: ClassVar[str] = "rearrangement"
    lecture_type: ClassVar[str | None] = "Rear"
    num_embeddings: int = 1
    dim: int = 1

    def __post_init__(self):
        super().__post_init__()
        _positive(self.num_embeddings, "num_embeddings")
        _positive(self.dim, "dim")

    def out_shapes(self, in_shapes):
        t, h, w = _single(in_shapes)
        if (h, w) != (1, 1):
            raise ShapeError(f"token ids are [T, 1, 1], got {fmt_shape(in_shapes[0])}")
        return ((t, 1, self.dim),)

    def params(self, in_shapes):
        return self.num_embeddings * self.dim

    def weight_elems(self, in_shapes):
        """The rows the tokens read: at most one per token."""
        return min(in_shapes[0][0], self.num_embeddings) * self.dim


@dataclass(frozen=True)
class PositionalEmbedding(Op):
    """Learnt positions added to a token tensor ``(T, 1, D)``: a table of ``max_positions``
    rows of ``D`` features (its parameters), of which rows ``offset .. offset + T - 1`` are
    read and added (one op per element). A decode step's one token sits at ``offset`` = the
    tokens before it."""

    kind: ClassVar[str] = "positional_embedding"
    category: ClassVar[str] = "element"
    lecture_type: ClassVar[str | None] = "Elem"
    max_positions: int = 1
    offset: int = 0

    def __post_init__(self):
        super().__post_init__()
        _positive(self.max_positions, "max_positions")
        if isinstance(self.offset, bool) or not isinstance(self.offset, int) or self.offset < 0:
            raise ValueError(f"offset must be an integer >= 0, got {self.offset!r}")

    def out_shapes(self, in_shapes):
        t, h, _ = shape = _single(in_shapes)
        if h != 1:
            raise ShapeError(f"tokens are [T, 1, D], got {fmt_shape(shape)}")
        if self.offset + t > self.max_positions:
            raise ShapeError(f"positions {self.offset} to {self.offset + t - 1} are beyond the "
                             f"table's {self.max_positions}")
        return (shape,)

    def params(self, in_shapes):
        return self.max_positions * in_shapes[0][2]

    def weight_elems(self, in_shapes):
        """The rows of this layer's positions."""
        return elems(in_shapes[0])

    def ops(self, in_shapes):
        return elems(in_shapes[0])


@dataclass(frozen=True)
class Parameter(Op):
    """A learnt tensor of ``shape`` (ViT's class token): its elements are parameters, read from
    memory by the layers that use it like a network input; no work of its own."""

    kind: ClassVar[str] = "parameter"
    category: ClassVar[str] = "input"
    min_inputs: ClassVar[int] = 0
    max_inputs: ClassVar[int | None] = 0
    view: ClassVar[bool] = True
    engine_kinds: ClassVar[frozenset[str]] = frozenset()
    shape: Shape = (1, 1, 1)

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "shape", _as_shape(self.shape))

    def out_shapes(self, in_shapes):
        return (self.shape,)

    def params(self, in_shapes):
        return elems(self.shape)


@dataclass(frozen=True)
class KvAppend(Op):
    """New keys or values (input 1) appended along ``axis`` to a cache of earlier tokens (input
    0, held in memory): the output is the whole cache, but the layer writes only the new
    elements in place; the cache is read by the attention that uses it, not copied."""

    kind: ClassVar[str] = "kv_append"
    category: ClassVar[str] = "time"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2
    in_place: ClassVar[bool] = True
    tile_local: ClassVar[bool] = True
    lecture_type: ClassVar[str | None] = "Rear"
    axis: int = 1

    def __post_init__(self):
        super().__post_init__()
        check_axis(self.axis)

    def out_shapes(self, in_shapes):
        cache, new = in_shapes
        if any(a != b for d, (a, b) in enumerate(zip(cache, new)) if d != self.axis):
            raise ShapeError(f"the new entries {fmt_shape(new)} differ from the cache "
                             f"{fmt_shape(cache)} off axis {self.axis}", inputs=(0, 1))
        return (with_axis(cache, self.axis, cache[self.axis] + new[self.axis]),)

    def loop_nest(self, batch, in_shapes, out_shapes):
        new = in_shapes[1]
        groups = new[0]
        per_group = elems(new) // groups
        return loopnest.stream(batch=batch, groups=groups, in_per_group=per_group,
                               out_per_group=per_group)
