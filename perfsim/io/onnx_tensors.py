"""ONNX tensors as perfsim sees them: which axis is the batch, and the per-sample ``(C, H,
W)`` shape and axes of every other (the rules :mod:`perfsim.io.onnx_import` documents under
*Tensors*); and what the importer's modules share: the exception for a node perfsim cannot
map, the metadata key of fixed weights."""

from __future__ import annotations

import math

import numpy as np

from perfsim.workload.ops import Shape

FIXED_WEIGHTS_KEY = "perfsim.fixed_weights"
"""Model metadata key: a JSON list of weight tensors that are fixed, not trainable."""
TOKENS_KEY = "perfsim.tokens"
"""Model metadata key: a JSON list of the layers whose output is a token tensor (the
network's :attr:`~perfsim.workload.network.Network.tokens`), which perfsim's exporter writes."""
TOKEN_OPS = frozenset({"linear", "layer_norm", "rms_norm", "embedding", "matmul"})
"""Op kinds that make a network a transformer: an imported network with any of them
declares its ``[N, T, D]`` tensors token tensors (without :data:`TOKENS_KEY`)."""

Dims = list[int | None]
"""ONNX dimensions, ``None`` where unknown."""


class Unsupported(Exception):
    """A node perfsim cannot map; ``detail`` says what about it, if not its op type."""

    def __init__(self, detail: str = ""):
        super().__init__(detail)
        self.detail = detail


def f32(value: float) -> float:
    """A float as stored in ONNX (float32), written back as its shortest decimal, so
    ``1e-3`` stays ``0.001``."""
    return float(str(np.float32(value)))


def prod(values) -> int:
    """Product of integer dimensions (1 for none)."""
    return math.prod(int(v) for v in values)


def per_sample(dims: list[int], batch_axis: int | None, rnn_output: bool = False) -> Shape:
    """perfsim's ``(C, H, W)`` of an ONNX tensor (see the module docstring)."""
    if rnn_output:
        t, d, _, h = dims
        return (d * h, 1, t)
    if batch_axis is None:  # no batch axis: read as if a batch of one were in front
        dims, batch_axis = [1, *dims], 0
    if batch_axis >= 1:
        return (prod(dims[batch_axis + 1:]), 1, prod(dims[:batch_axis]))
    rest = dims[1:]
    if len(rest) == 0:
        return (1, 1, 1)
    if len(rest) == 1:
        return (rest[0], 1, 1)
    if len(rest) == 2:
        return (rest[0], 1, rest[1])
    return (rest[0], rest[1], prod(rest[2:]))


def axis_placement(rank: int, batch_axis: int | None, rnn_output: bool = False) -> list[int | None]:
    """perfsim's axis (0, 1 or 2) holding each ONNX axis in :func:`per_sample`; None for the
    batch axis."""
    if rnn_output:
        return [2, 0, None, 0]
    if batch_axis is None:
        return axis_placement(rank + 1, 0)[1:]
    if batch_axis >= 1:
        return [2] * batch_axis + [None] + [0] * (rank - batch_axis - 1)
    rest = {0: [], 1: [0], 2: [0, 2]}.get(rank - 1)
    return [None] + (rest if rest is not None else [0, 1] + [2] * (rank - 3))


def batch_after_reshape(in_dims: list[int], out_dims: list[int], axis: int | None) -> int | None:
    """Where the batch axis lands after a reshape: the first output axis of the batch's size
    with the same number of elements before it; None when the reshape merges it into another
    axis (``[N * heads, T, dh]``), or when the input had none."""
    if axis is None or axis >= len(in_dims):
        return None
    before = prod(in_dims[:axis])
    for j, size in enumerate(out_dims):
        if prod(out_dims[:j]) == before and size == in_dims[axis]:
            return j
    return None


def settle_batch(dims: list[int] | None, axis: int | None) -> int | None:
    """The batch axis of a tensor of ``dims`` given the one its producer proposes: an axis of
    size 1 (the batch is 1 at import), else none; a tensor without one whose first axis has
    size 1 takes that (a batch axis merged away and split out again, ``[1, heads, T, dh]``,
    maps as the tensor it was)."""
    if dims is None:
        return axis
    if axis is not None and (axis >= len(dims) or dims[axis] != 1):
        axis = None
    if axis is None and dims and dims[0] == 1:
        axis = 0
    return axis
