"""Constant folding for the ONNX importer: the values of the small tensors a model computes
from constants and shapes alone.

Exporters write every ``x.shape`` a model reads as a subgraph: PyTorch's ``x.view(x.size(0),
-1)`` is Shape -> Gather -> Unsqueeze -> Concat -> Reshape, ``torch.chunk`` computes its slice
bounds from the shape, Swin's window padding computes its pads with ``Mod`` and ``Sub``, and
attention masks are built with ``Range``, ``Expand``, ``Where`` and ``ScatterND``. Onnx's own
shape inference leaves many of these open; :func:`evaluate` computes them with numpy so that
the importer can write the results back as initializers and infer again.

:func:`evaluate` knows the integer and boolean arithmetic and the rearrangements such
subgraphs use (every op in :data:`FOLDED_OPS`); it never computes a tensor of more than
:data:`FOLD_LIMIT` elements (shape vectors and masks, never weights).
"""

from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import numpy_helper

FOLD_LIMIT = 4096
"""Largest tensor (elements) the folding computes: shape vectors and small masks, never
weights."""

_BINARY = {
    "Add": np.add, "Sub": np.subtract, "Mul": np.multiply, "Pow": np.power,
    "Equal": np.equal, "Less": np.less, "Greater": np.greater, "LessOrEqual": np.less_equal,
    "GreaterOrEqual": np.greater_equal, "And": np.logical_and, "Or": np.logical_or,
    "Xor": np.logical_xor,
}
_UNARY = {
    "Neg": np.negative, "Abs": np.abs, "Sqrt": np.sqrt, "Reciprocal": np.reciprocal,
    "Floor": np.floor, "Ceil": np.ceil, "Not": np.logical_not, "Sign": np.sign,
    "Exp": np.exp, "Log": np.log, "Round": np.round,
}
_REDUCE = {"ReduceProd": np.prod, "ReduceSum": np.sum, "ReduceMax": np.max,
           "ReduceMin": np.min, "ReduceMean": np.mean}
FOLDED_OPS = frozenset({
    "Constant", "Shape", "Size", "Identity", "Cast", "CastLike", "Gather", "Concat",
    "Unsqueeze", "Squeeze", "Slice", "Reshape", "Flatten", "ConstantOfShape", "Div", "Mod",
    "Where", "Range", "Expand", "Tile", "Transpose", "Min", "Max", "ScatterND", "Trilu",
    "CumSum", *_BINARY, *_UNARY, *_REDUCE})
"""The ops :func:`evaluate` computes."""


def attributes(node: onnx.NodeProto) -> dict:
    """A node's attributes by name, strings decoded."""
    out = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


def axes_of(node: onnx.NodeProto, values: list, k: int) -> list[int] | None:
    """A node's ``axes``: an attribute before opset 13 (18 for reductions), input ``k``
    after; None when it has none or its value is unknown."""
    attrs = attributes(node)
    if "axes" in attrs:
        return [int(a) for a in attrs["axes"]]
    if k < len(values) and values[k] is not None:
        return [int(a) for a in np.atleast_1d(values[k])]
    return None


def _size(shape) -> int:
    return math.prod(int(d) for d in shape)


def evaluate(node: onnx.NodeProto, values: list, shapes: list) -> np.ndarray | None:
    """The value of ``node``'s first output from its inputs' ``values`` (None where unknown)
    and ``shapes`` (ONNX dimensions, None where unknown); None when it cannot be computed
    here (an op outside :data:`FOLDED_OPS`, an unknown input, or a result beyond
    :data:`FOLD_LIMIT` elements)."""
    op, a = node.op_type, attributes(node)
    if op == "Constant":
        if "value" in a:
            return numpy_helper.to_array(a["value"])
        for key in ("value_float", "value_floats", "value_int", "value_ints"):
            if key in a:
                return np.array(a[key], dtype=np.float32 if "float" in key else np.int64)
        return None
    if op in ("Shape", "Size"):
        dims = shapes[0] if shapes else None
        if dims is None or None in dims:
            return None
        if op == "Size":
            return np.array(_size(dims), dtype=np.int64)
        start, end = a.get("start", 0), a.get("end", len(dims))
        return np.array(dims[start:end], dtype=np.int64)
    if any(v is None for v, t in zip(values, node.input) if t):
        return None
    x = values[0] if values else None
    if op == "Identity":
        return x
    if op == "Cast":
        return x.astype(onnx.helper.tensor_dtype_to_np_dtype(a["to"]))
    if op == "CastLike":
        return x.astype(values[1].dtype)
    if op == "Gather":
        return np.take(x, values[1].astype(np.int64), axis=a.get("axis", 0))
    if op == "Concat":
        return np.concatenate([np.atleast_1d(v) for v, t in zip(values, node.input) if t],
                              axis=a.get("axis", 0))
    if op == "Unsqueeze":
        axes = axes_of(node, values, 1)
        rank = x.ndim + len(axes)
        for ax in sorted(ax % rank for ax in axes):
            x = np.expand_dims(x, ax)
        return x
    if op == "Squeeze":
        axes = axes_of(node, values, 1)
        return np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(axes))
    if op == "Slice":
        return _slice(node, a, values)
    if op == "Reshape":
        shape = [int(s) for s in values[1]]
        if not a.get("allowzero", 0):
            shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return x.reshape(shape)
    if op == "Flatten":
        axis = a.get("axis", 1) % max(x.ndim, 1)
        return x.reshape(_size(x.shape[:axis]), -1)
    if op == "Transpose":
        return np.transpose(x, a.get("perm"))
    if op == "ConstantOfShape":
        shape = [int(s) for s in x]
        if _size(shape) > FOLD_LIMIT:
            return None
        fill = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return np.full(shape, fill.reshape(-1)[0], dtype=fill.dtype)
    if op == "Range":
        start, limit, delta = (v.reshape(-1)[0] for v in values[:3])
        if delta == 0 or (limit - start) / delta > FOLD_LIMIT:
            return None
        return np.arange(start, limit, delta, dtype=values[0].dtype)
    if op in ("Expand", "Tile"):
        if op == "Expand":
            shape = np.broadcast_shapes(x.shape, tuple(int(s) for s in values[1]))
        else:
            shape = tuple(int(d) * int(r) for d, r in zip(x.shape, values[1]))
        if _size(shape) > FOLD_LIMIT:
            return None
        if op == "Expand":
            return np.broadcast_to(x, shape).copy()
        return np.tile(x, [int(r) for r in values[1]])
    if op == "Div":
        if np.issubdtype(x.dtype, np.integer):
            return np.trunc(x / values[1]).astype(x.dtype)
        return x / values[1]
    if op == "Mod":
        return (np.fmod if a.get("fmod", 0) else np.mod)(x, values[1])
    if op in ("Min", "Max"):
        out = values[0]
        for v in values[1:]:
            out = (np.minimum if op == "Min" else np.maximum)(out, v)
        return out
    if op == "Where":
        return np.where(x, values[1], values[2])
    if op == "ScatterND":
        out = x.copy()
        indices = values[1].astype(np.int64)
        updates = values[2]
        for index in np.ndindex(*indices.shape[:-1]):
            out[tuple(indices[index])] = updates[index]
        return out
    if op == "Trilu":
        k = int(values[1].reshape(-1)[0]) if len(values) > 1 and values[1] is not None else 0
        return np.triu(x, k) if a.get("upper", 1) else np.tril(x, k)
    if op == "CumSum":
        axis = int(values[1].reshape(-1)[0])
        if a.get("reverse", 0) or a.get("exclusive", 0):
            return None
        return np.cumsum(x, axis=axis, dtype=x.dtype)
    if op in _REDUCE:
        axes = axes_of(node, values, 1)
        keep = bool(a.get("keepdims", 1))
        if not axes:
            if a.get("noop_with_empty_axes", 0):
                return x
            axes = list(range(x.ndim))
        out = _REDUCE[op](x, axis=tuple(ax % x.ndim for ax in axes), keepdims=keep)
        return np.asarray(out).astype(x.dtype)
    if op in _UNARY:
        return np.asarray(_UNARY[op](x))
    if op in _BINARY:
        return np.asarray(_BINARY[op](x, values[1]))
    return None


def _slice(node, a: dict, values: list) -> np.ndarray:
    x = values[0]
    if "starts" in a:  # before opset 10: attributes
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        starts, ends = values[1], values[2]
        axes = values[3] if len(values) > 3 and node.input[3] else None
        steps = values[4] if len(values) > 4 and node.input[4] else None
    axes = list(range(len(starts))) if axes is None else list(axes)
    steps = [1] * len(starts) if steps is None else list(steps)
    index = [slice(None)] * x.ndim
    for s, e, ax, st in zip(starts, ends, axes, steps):
        index[int(ax)] = slice(int(s), int(e), int(st))
    return x[tuple(index)]
