"""How each ONNX node becomes layers: one function per op type (:data:`HANDLERS`), each
reading the node's tensors through the importer (:class:`perfsim.io.onnx_import._Importer`)
and appending layers to it. :mod:`perfsim.io.onnx_import`'s docstring lists every mapping."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from perfsim.errors import WorkloadError
from perfsim.io.onnx_fold import attributes as _attrs, axes_of
from perfsim.io.onnx_patterns import Match
from perfsim.io.onnx_tensors import (FIXED_WEIGHTS_KEY, Unsupported, batch_after_reshape, f32,
                                     per_sample, prod, settle_batch)
from perfsim.workload.ops import (
    GRU, LRN, LSTM, RNN, AvgPool, BatchNorm, ChannelShuffle, Concat, Conv, DepthToSpace,
    Dropout, Embedding, Flatten, FullyConnected, Gelu, GlobalAvgPool, GlobalMaxPool, GroupNorm,
    HardSigmoid, HardSwish, KvAppend, LayerNorm, LeakyRelu, Linear, MatMul, MaxPool, OPS,
    Offset, Op, PositionalEmbedding, PRelu, Reduce, Relu, Relu6, Reshape, RmsNorm, Scale,
    ShapeError, Shift, Silu, Softmax, SpaceToDepth, SpatialPyramidPool, Split, Upsample, elems,
    make_op)

if TYPE_CHECKING:  # the importer calls these functions; they only call its methods
    from perfsim.io.onnx_import import _Importer

RECURRENT = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}
"""Recurrent ONNX ops and their perfsim op."""


def map_node(imp: _Importer, index: int, node) -> None:
    """Node ``index`` as layers: by its handler, or as the one-to-one op the registry declares
    for its op type; :class:`~perfsim.io.onnx_tensors.Unsupported` when it has neither."""
    if node.domain not in ("", "ai.onnx"):
        raise Unsupported(f"it is in the custom domain '{node.domain}'")
    handler = HANDLERS.get(node.op_type)
    if handler is not None:
        handler(imp, index, node)
    elif node.op_type in registry_ops():
        _unary(imp, index, node, registry_ops()[node.op_type]())
    else:
        raise Unsupported()


def same_pads(size: int, kernel: int, stride: int, dilation: int, upper: bool) -> tuple[int, int]:
    """``auto_pad`` SAME_UPPER/SAME_LOWER: output ``ceil(size / stride)``, the odd pixel at the
    end (upper) or the beginning (lower)."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size)
    small, big = total // 2, total - total // 2
    return (small, big) if upper else (big, small)


def path_prefix(names: list[str]) -> str:
    """The common leading ``/``-separated segments of node names (PyTorch names a module's
    nodes ``/module/path/OpType``), or "" when they share none."""
    parts = [n.split("/") for n in names if n]
    if not parts:
        return ""
    common = []
    for segments in zip(*parts):
        if len(set(segments)) != 1:
            break
        common.append(segments[0])
    prefix = "/".join(common)
    return prefix if prefix.strip("/") else ""


def _spatial(attrs: dict, key: str, rank: int, default: int) -> list[int]:
    value = attrs.get(key)
    return [default] * (rank - 2) if value is None else list(value)


def _window(imp: _Importer, index: int, in_dims: list[int], kernel: list[int],
            dilations: list[int]) -> tuple[tuple[list, list, list], tuple[int, int, int, int]]:
    """Kernel, strides and ``(top, left, bottom, right)`` padding of a Conv or pool node, 2-D
    (a 1-D window has ``H = 1``), with auto_pad resolved and a folded Pad added."""
    node = imp.nodes[index]
    a = _attrs(node)
    rank = len(in_dims)
    strides = _spatial(a, "strides", rank, 1)
    pads = list(a.get("pads", [0] * 2 * (rank - 2)))
    auto = a.get("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        pairs = [same_pads(s, k, st, d, auto == "SAME_UPPER")
                 for s, k, st, d in zip(in_dims[2:], kernel, strides, dilations)]
        pads = [p[0] for p in pairs] + [p[1] for p in pairs]
    elif auto == "VALID":
        pads = [0] * 2 * (rank - 2)
    if rank == 3:
        kernel, strides, dilations = [1] + kernel, [1] + strides, [1] + dilations
        pads = [0, pads[0], 0, pads[1]]
    extra = imp.pad_fold.get(index, (None, (0, 0, 0, 0)))[1]
    padding = tuple(p + e for p, e in zip(pads, extra))
    return (kernel, strides, dilations), padding


def _input_of(imp: _Importer, index: int) -> str:
    """A window node's data tensor: its input, or the input of a Pad folded into it."""
    folded = imp.pad_fold.get(index)
    return folded[0] if folded else imp.nodes[index].input[0]


def _conv(imp: _Importer, index: int, node) -> None:
    x_t = _input_of(imp, index)
    x = imp.data(index, 0, tensor=x_t)
    in_dims = imp.dims(x_t, index)
    if len(in_dims) not in (3, 4):
        raise Unsupported(f"a {len(in_dims) - 2}-D convolution")
    w = imp.weight_dims(index, 1)
    a = _attrs(node)
    kernel = list(a.get("kernel_shape", w[2:]))
    dilations = _spatial(a, "dilations", len(in_dims), 1)
    (kernel, strides, dilations), padding = _window(imp, index, in_dims, kernel, dilations)
    bias = imp.optional(index, 2)
    group = a.get("group", 1)
    weight = node.input[1]
    if weight in imp.fixed:
        c = imp.ir_shape(x)[0]
        op = Shift(kernel_size=tuple(kernel))
        out_shape = imp.sample_shape(node.output[0], index)
        if not (group == c == w[0] and bias is None and strides == [1, 1]
                and dilations == [1, 1] and out_shape == imp.ir_shape(x)):
            raise WorkloadError(f"{imp.path}: {imp.where(index)}: its weight '{weight}' is "
                                f"listed as fixed ({FIXED_WEIGHTS_KEY}), which perfsim "
                                f"understands only on fc layers and on depthwise, bias-free, "
                                f"size-keeping convolutions (shift)")
    else:
        op = Conv(out_channels=w[0], kernel_size=tuple(kernel), strides=tuple(strides),
                  padding=padding, dilation=tuple(dilations), group_count=group,
                  bias=bias is not None)
    name = imp.emit(index, op, [x], [node.output[0]])
    imp.check_params(index, [name], [weight, bias])


def _pool(imp: _Importer, index: int, node) -> None:
    if _spp(imp, index, node):
        return
    if any(imp.used(t) for t in node.output[1:]):
        raise Unsupported("its Indices output is read")
    x_t = _input_of(imp, index)
    x = imp.data(index, 0, tensor=x_t)
    in_dims = imp.dims(x_t, index)
    if len(in_dims) not in (3, 4):
        raise Unsupported(f"{len(in_dims) - 2}-D pooling")
    a = _attrs(node)
    dilations = _spatial(a, "dilations", len(in_dims), 1)
    if any(d != 1 for d in dilations):
        raise Unsupported("dilated pooling")
    (kernel, strides, _), padding = _window(imp, index, in_dims, list(a["kernel_shape"]),
                                            dilations)
    cls = MaxPool if node.op_type == "MaxPool" else AvgPool
    imp.emit(index, cls(kernel_size=tuple(kernel), strides=tuple(strides), padding=padding,
                        ceil_mode=bool(a.get("ceil_mode", 0))), [x], [node.output[0]])


def _global_pool(imp: _Importer, index: int, node) -> None:
    if _spp(imp, index, node):
        return
    if len(imp.dims(node.input[0], index)) < 3:
        raise Unsupported("its input has no spatial axes")
    cls = GlobalMaxPool if node.op_type == "GlobalMaxPool" else GlobalAvgPool
    imp.emit(index, cls(), [imp.data(index, 0)], [node.output[0]])


_SPP_MODES = {"MaxPool": "max", "GlobalMaxPool": "max", "AveragePool": "avg",
              "GlobalAveragePool": "avg"}


def _spp(imp: _Importer, index: int, node) -> bool:
    """Pools of one tensor, each flattened and concatenated: one spatial pyramid pool."""
    step = imp.only_consumer(node.output[0])
    if step is None or step[1].op_type != "Flatten" or _attrs(step[1]).get("axis", 1) != 1:
        return False
    step = imp.only_consumer(step[1].output[0])
    if step is None or step[1].op_type != "Concat":
        return False
    cat_index, cat = step
    x_t, mode = node.input[0], _SPP_MODES[node.op_type]
    members, levels = [cat_index], []
    for t in cat.input:
        flat_index = imp.producer.get(t)
        if flat_index is None or imp.only_consumer(t) is None:
            return False
        flat = imp.nodes[flat_index]
        pool_index = imp.producer.get(flat.input[0])
        if (flat.op_type != "Flatten" or _attrs(flat).get("axis", 1) != 1
                or pool_index is None or imp.only_consumer(flat.input[0]) is None):
            return False
        pool = imp.nodes[pool_index]
        a = _attrs(pool)
        if (_SPP_MODES.get(pool.op_type) != mode or pool.input[0] != x_t
                or any(a.get("pads", [0])) or a.get("ceil_mode", 0) or pool_index in imp.pad_fold
                or a.get("auto_pad", "NOTSET") not in ("NOTSET", "VALID")):
            return False
        out = imp.dims(pool.output[0], pool_index)
        if len(out) != 4 or out[2] != out[3]:
            return False
        levels.append(out[2])
        members += [flat_index, pool_index]
    if _attrs(cat).get("axis") not in (1, -1):
        return False
    x = imp.data(index, 0)
    imp.absorbed.update(members)
    imp.emit(index, SpatialPyramidPool(levels=tuple(levels), mode=mode), [x],
             [cat.output[0]], name=cat.name)
    return True




def _vector_axis(imp: _Importer, index: int, c_t: str, x_t: str) -> int | None:
    """The ONNX axis of ``x_t`` along which constant ``c_t`` holds one value per index
    (broadcast over the others, right-aligned as ONNX broadcasts), or None."""
    c_dims, x_dims = imp.dims(c_t, index), imp.dims(x_t, index)
    if len(c_dims) > len(x_dims):
        return None
    full = [1] * (len(x_dims) - len(c_dims)) + list(c_dims)
    sized = [j for j, d in enumerate(full) if d != 1]
    if len(sized) != 1 or full[sized[0]] != x_dims[sized[0]]:
        return None
    return sized[0]


def _bias_after(imp: _Importer, output: str, k: int, axis: int | None):
    """A following ``Add`` of a constant bias of ``k`` values (PyTorch's Linear): rank 1 for
    an fc (``axis`` None), else a vector along ONNX ``axis`` of the product. Returns ``(Add
    node index, bias, its output)`` or None."""
    step = imp.only_consumer(output)
    if step is None or step[1].op_type != "Add" or len(step[1].input) != 2:
        return None
    other = [t for t in step[1].input if t != output]
    if len(other) != 1 or other[0] not in imp.const:
        return None
    if axis is None:
        ok = imp.shapes.get(other[0]) == [k]
    else:
        ok = _vector_axis(imp, step[0], other[0], output) == axis
    return (step[0], other[0], step[1].output[0]) if ok else None


def _weighted(imp: _Importer, index: int, x_t: str, weight: str, k: int, bias: str | None,
              onnx_axis: int | None, absorb_bias: bool, batch_first: bool = True) -> None:
    """A constant ``weight`` mapping ONNX axis ``onnx_axis`` of ``x_t`` to ``k`` features: an
    fc when ``onnx_axis`` is None (a ``(N, F)`` matrix, or every non-batch axis of a
    ``batch_first=False`` input), else a linear at every position along that axis; with
    ``absorb_bias``, a following Add of a bias joins it. A weight an earlier layer holds
    makes it ``tied``."""
    node = imp.nodes[index]
    output = node.output[0]
    x = imp.data(index, 0, batch_first=onnx_axis is None and batch_first, tensor=x_t)
    if onnx_axis is None:
        n = elems(imp.ir_shape(x))
    else:
        n = imp.dims(x_t, index)[onnx_axis]
    w = imp.dims(weight, index)
    if prod(w) != k * n:
        raise WorkloadError(f"{imp.path}: {imp.where(index)}: weight '{weight}' of shape {w} "
                            f"does not map {n} features to {k}")
    if absorb_bias:
        found = _bias_after(imp, output, k, onnx_axis)
        if found is not None:
            imp.absorbed.add(found[0])
            bias, output = found[1], found[2]
    fixed = weight in imp.fixed
    if bias is not None and (bias in imp.fixed) != fixed:
        raise WorkloadError(f"{imp.path}: {imp.where(index)}: its weight and bias must both be "
                            f"fixed or both trainable ({FIXED_WEIGHTS_KEY})")
    tied = bias is None and not fixed and imp.tied(weight)
    if onnx_axis is None and not tied:
        name = imp.emit(index, FullyConnected(out_features=k, bias=bias is not None,
                                              trainable=not fixed), [x], [output])
    else:
        if fixed:
            raise WorkloadError(f"{imp.path}: {imp.where(index)}: its weight '{weight}' is "
                                f"listed as fixed ({FIXED_WEIGHTS_KEY}), which perfsim "
                                f"understands only on fc layers and on depthwise, bias-free, "
                                f"size-keeping convolutions (shift)")
        axes = [onnx_axis] if onnx_axis is not None else [
            j for j, p in enumerate(imp.placement(x_t, index)) if p is not None]
        ref, (axis,) = imp.along(index, x_t, x, axes, single=True, last=True)
        name = imp.emit(index, Linear(out_features=k, axis=axis, bias=bias is not None,
                                      tied=tied),
                        [ref], [output], batch_axis=imp.batch(x_t), views=True)
    imp.check_params(index, [name], [weight, bias], tied=tied)


def _gemm(imp: _Importer, index: int, node) -> None:
    """Gemm: an fc on a ``(N, F)`` matrix; a linear on ``(T, D)`` rows that are not the batch
    (PyTorch's ``F.linear`` on a 2-D tensor, as nn.MultiheadAttention runs it)."""
    a = _attrs(node)
    if a.get("transA", 0):
        raise Unsupported("transA=1")
    if node.input[1] not in imp.const:
        raise Unsupported("it multiplies two activations (only a constant weight maps to fc)")
    in_dims = imp.dims(node.input[0], index)
    w = imp.weight_dims(index, 1)
    if len(in_dims) != 2 or len(w) != 2:
        raise Unsupported("its operands are not matrices")
    k = w[0] if a.get("transB", 0) else w[1]
    bias = imp.optional(index, 2)
    if bias is not None and bias not in imp.const:
        raise Unsupported("its C input is an activation")
    rows = None if imp.batch(node.input[0]) == 0 else 1
    _weighted(imp, index, node.input[0], node.input[1], k, bias, rows, absorb_bias=False)


def _matmul(imp: _Importer, index: int, node) -> None:
    """MatMul: with a constant matrix as its second operand an fc (on ``(N, F)``) or a linear
    on the last axis; otherwise a matmul of two activations (a constant first operand is a
    ``parameter``)."""
    a_t, b_t = node.input[0], node.input[1]
    a_dims, b_dims = imp.dims(a_t, index), imp.dims(b_t, index)
    if b_t in imp.const and a_t not in imp.const and len(b_dims) == 2:
        rank = len(a_dims)
        if rank < 2:
            raise Unsupported("its first operand is a vector")
        axis = None if rank == 2 and imp.batch(a_t) == 0 else rank - 1
        _weighted(imp, index, a_t, b_t, b_dims[1], None, axis, absorb_bias=True)
        return
    if min(len(a_dims), len(b_dims)) < 2:
        raise Unsupported("an operand is a vector")
    lead = "abcdefgh"[:max(len(a_dims), len(b_dims)) - 2]
    _contract(imp, index, a_t, lead[len(lead) - len(a_dims) + 2:] + "mk", b_t,
              lead[len(lead) - len(b_dims) + 2:] + "kn", lead + "mn")


def _contract(imp: _Importer, index: int, a_t: str, a_letters: str, b_t: str, b_letters: str,
              out_letters: str) -> None:
    """A product of two tensors in einsum letters as one ``matmul`` ``(G, M, K) @ (G, K, N)``:
    ``G`` the letters of both operands and the output (either side broadcast when all its
    are 1), ``M`` those of the first operand and the output, ``N`` of the second and the
    output, ``K`` the contracted ones; each operand and the output relabelled by views."""
    node = imp.nodes[index]
    sizes: dict[str, int] = {}
    for t, letters in ((a_t, a_letters), (b_t, b_letters)):
        dims = imp.dims(t, index)
        if len(dims) != len(letters) or len(set(letters)) != len(letters):
            raise Unsupported(f"operand '{t}' does not fit '{letters}'")
        for letter, d in zip(letters, dims):
            if sizes.get(letter, d) != d and 1 not in (sizes[letter], d):
                raise Unsupported(f"its operands disagree on the size of '{letter}'")
            sizes[letter] = max(sizes.get(letter, 1), d)
    both = set(a_letters) & set(b_letters)
    g = [c for c in out_letters if c in both]
    m = [c for c in out_letters if c in a_letters and c not in both]
    n = [c for c in out_letters if c in b_letters and c not in both]
    k = [c for c in a_letters if c in both and c not in out_letters]
    if set(out_letters) - set(a_letters) - set(b_letters) or \
            set(a_letters + b_letters) - set(out_letters) - set(k):
        raise Unsupported("it sums over an axis of one operand alone")
    size = lambda letters: prod(sizes[c] for c in letters)  # noqa: E731
    own = lambda t, letters: prod(d for c, d in zip(letters, imp.dims(t, index))  # noqa: E731
                                   if c in g)
    g_a, g_b = own(a_t, a_letters), own(b_t, b_letters)
    if g_a not in (1, size(g)) or g_b not in (1, size(g)):
        raise Unsupported("its operands broadcast against each other along some axes only")
    base = imp.base(index)
    a = imp.view(index, imp.operand(index, a_t), (g_a, size(m), size(k)), f"{base}/in_view")
    b = imp.view(index, imp.operand(index, b_t), (g_b, size(k), size(n)), f"{base}/in_view")
    imp.emit(index, MatMul(), [a, b], [node.output[0]], batch_axis=None, views=True)


def _einsum(imp: _Importer, index: int, node) -> None:
    """Einsum of two operands: an fc (a constant weight contracting every non-batch axis of
    the activation: perfsim's own export of an fc on a map), a linear (a 2-D constant weight
    replacing one axis), or a product of two tensors (:func:`_contract`)."""
    equation = _attrs(node).get("equation", "").replace(" ", "")
    lhs, arrow, out = equation.partition("->")
    operands = lhs.split(",")
    if not arrow or len(operands) != 2 or "." in equation or len(node.input) != 2:
        raise Unsupported(f"equation '{equation}' is not a product of two tensors")
    consts = [t in imp.const for t in node.input]
    if consts == [True, True]:
        raise Unsupported("both operands are constants")
    if any(consts):
        w_k = consts.index(True)
        x_k = 1 - w_k
        x_letters, w_letters = operands[x_k], operands[w_k]
        x_t, w_t = node.input[x_k], node.input[w_k]
        axis = imp.batch(x_t)
        if (axis is not None and len(x_letters) >= 3 and len(set(x_letters)) == len(x_letters)
                and len(set(w_letters)) == len(w_letters) and axis < len(x_letters)
                and len(out) == 2 and out[0] == x_letters[axis] and out[1] in w_letters
                and out[1] not in x_letters
                and set(w_letters) - {out[1]} == set(x_letters) - {out[0]}):
            k = prod(imp.dims(w_t, index)) // elems(imp.ir_shape(imp.refs[x_t]))
            _weighted(imp, index, x_t, w_t, k, None, None, absorb_bias=True, batch_first=False)
            return
        if len(w_letters) == 2 and len(set(w_letters)) == 2:
            summed = [c for c in w_letters if c in x_letters and c not in out]
            if len(summed) == 1:
                new = w_letters.replace(summed[0], "")
                position = x_letters.index(summed[0])
                if new not in x_letters and out == x_letters.replace(summed[0], new):
                    k = imp.dims(w_t, index)[w_letters.index(new)]
                    _weighted(imp, index, x_t, w_t, k, None, position, absorb_bias=True)
                    return
    _contract(imp, index, node.input[0], operands[0], node.input[1], operands[1], out)


def _layer_norm(imp: _Importer, index: int, node) -> None:
    """LayerNormalization (opset 17) over axes ``axis`` to the last: one layer_norm, its
    scale and bias its parameters."""
    a = _attrs(node)
    if any(imp.used(t) for t in node.output[1:]):
        raise Unsupported("its Mean or InvStdDev output is read")
    x_t = node.input[0]
    rank = len(imp.dims(x_t, index))
    axis = a.get("axis", -1) % rank
    x = imp.data(index, 0, batch_first=False)
    ref, (ir,) = imp.along(index, x_t, x, range(axis, rank), single=True, last=True)
    bias = imp.optional(index, 2)
    name = imp.emit(index, LayerNorm(axis=ir, eps=f32(a.get("epsilon", 1e-5)),
                                     bias=bias is not None),
                    [ref], [node.output[0]], batch_axis=imp.batch(x_t), views=True)
    imp.check_params(index, [name], [node.input[1], bias])


def map_pattern(imp: _Importer, index: int, match: Match) -> None:
    """The layer of a pattern :func:`~perfsim.io.onnx_patterns.find_patterns` found, named
    after what its nodes' names share (PyTorch's module path)."""
    members = sorted(match.nodes)
    name = path_prefix([imp.nodes[i].name for i in members]) or imp.nodes[members[0]].name
    x_t = match.x
    x = imp.data(index, 0, batch_first=False, tensor=x_t)
    if match.kind in ("layer_norm", "rms_norm"):
        dims = imp.dims(x_t, index)
        features = prod(dims[a] for a in match.axes)
        for w in match.weights:
            if prod(imp.dims(w, index)) != features:
                raise Unsupported(f"its weight '{w}' is not one value per normalised feature")
        ref, (ir,) = imp.along(index, x_t, x, match.axes, single=True, last=True,
                               name=f"{name or imp.base(index)}/in_view")
        eps = f32(match.settings["eps"])
        op: Op = (LayerNorm(axis=ir, eps=eps, bias=len(match.weights) == 2)
                  if match.kind == "layer_norm" else RmsNorm(axis=ir, eps=eps))
        layer = imp.emit(index, op, [ref], [match.output], name=name,
                         batch_axis=imp.batch(x_t), views=True)
        imp.check_params(index, [layer], match.weights)
        return
    ops = {"gelu": lambda: Gelu(**match.settings), "silu": Silu, "hard_swish": HardSwish}
    if x_t in imp.rnn_outputs:
        imp.rnn_outputs.add(match.output)
    imp.emit(index, ops[match.kind](), [x], [match.output], name=name,
             batch_axis=imp.batch(x_t))
def _norm(imp: _Importer, index: int, node) -> None:
    a = _attrs(node)
    eps = f32(a.get("epsilon", 1e-5))
    x = imp.data(index, 0)
    op_type = node.op_type
    if op_type == "BatchNormalization":
        if any(imp.used(t) for t in node.output[1:]):
            raise Unsupported("its training-mode outputs are read")
        op: Op = BatchNorm(eps=eps)
    elif len(imp.dims(node.input[0], index)) < 3:
        raise Unsupported("its input has no spatial axes")
    elif op_type == "InstanceNormalization":
        op = GroupNorm(num_groups=imp.ir_shape(x)[0], eps=eps)
    else:
        op = GroupNorm(num_groups=a["num_groups"], eps=eps)
    name = imp.emit(index, op, [x], [node.output[0]])
    imp.check_params(index, [name], [imp.optional(index, 1), imp.optional(index, 2)])


def _lrn(imp: _Importer, index: int, node) -> None:
    a = _attrs(node)
    imp.emit(index, LRN(size=a["size"], alpha=f32(a.get("alpha", 1e-4)),
                        beta=f32(a.get("beta", 0.75)), k=f32(a.get("bias", 1.0))),
             [imp.data(index, 0)], [node.output[0]])


def _unary(imp: _Importer, index: int, node, op: Op) -> str:
    """An op that keeps its input's shape and layout."""
    return _unary_from(imp, index, 0, op, node.output[0])


_ACTIVATIONS = {"HardSigmoid": HardSigmoid, "HardSwish": HardSwish}
"""ONNX activations with attributes perfsim's op does not keep (the attribute-free one-to-one
ones: :func:`registry_ops`): HardSigmoid's ``alpha`` and ``beta`` change its constants, not
its 4 ops per element."""


def _activation(imp: _Importer, index: int, node) -> None:
    _unary(imp, index, node, _ACTIVATIONS[node.op_type]())


def _gelu(imp: _Importer, index: int, node) -> None:
    approximate = _attrs(node).get("approximate", "none")
    if approximate not in ("none", "tanh"):
        raise Unsupported(f"approximate='{approximate}'")
    _unary(imp, index, node, Gelu(approximate=approximate))


def _leaky_relu(imp: _Importer, index: int, node) -> None:
    _unary(imp, index, node, LeakyRelu(negative_slope=f32(_attrs(node).get("alpha", 0.01))))


def _prelu(imp: _Importer, index: int, node) -> None:
    if node.input[1] not in imp.const:
        raise Unsupported("its slope is computed at run time")
    kind = _constant_kind(imp, index, node.input[0], node.input[1])
    if kind == "scalar":
        _unary(imp, index, node, LeakyRelu(negative_slope=f32(imp.scalar(node.input[1]) or 0.25)))
        return
    if kind != "channel":
        raise Unsupported(f"its slope has shape {imp.dims(node.input[1], index)}")
    name = _unary(imp, index, node, PRelu())
    imp.check_params(index, [name], [node.input[1]])


def _bound(imp: _Importer, node, key: str, k: int) -> bool:
    """Whether a Clip has a finite ``min``/``max`` (attribute before opset 11, input after)."""
    a = _attrs(node)
    if key in a:
        value = a[key]
    elif k < len(node.input) and node.input[k]:
        value = imp.scalar(node.input[k])
        if value is None:
            return True
    else:
        return False
    return math.isfinite(value) and abs(value) < 1e30


def _clip(imp: _Importer, index: int, node) -> None:
    bounds = _bound(imp, node, "min", 1) + _bound(imp, node, "max", 2)
    if bounds == 0:
        imp.alias(index, node.input[0])
        return
    _unary(imp, index, node, Relu6() if bounds == 2 else Relu())


def _dropout(imp: _Importer, index: int, node) -> None:
    if any(imp.used(t) for t in node.output[1:]):
        raise Unsupported("its mask output is read")
    ratio = _attrs(node).get("ratio")
    if ratio is None:
        ratio = imp.scalar(imp.optional(index, 1))
    _unary(imp, index, node, Dropout(p=f32(0.5 if ratio is None else ratio)))


def _identity(imp: _Importer, index: int, node) -> None:
    """Identity, and Cast of an activation (perfsim has one precision): dropped."""
    imp.data(index, 0, batch_first=False)
    imp.alias(index, node.input[0])




def _constant_kind(imp: _Importer, index: int, x_t: str, c_t: str) -> str:
    """How constant ``c_t`` broadcasts against activation ``x_t``: "scalar", "channel" (one
    value per channel) or "other"."""
    x_dims, c_dims = imp.dims(x_t, index), imp.dims(c_t, index)
    if len(c_dims) > len(x_dims):
        return "other"
    full = [1] * (len(x_dims) - len(c_dims)) + list(c_dims)
    axis = imp.batch(x_t)
    if axis is not None and full[axis] != 1:
        return "other"
    shape = per_sample(full, axis)
    if shape == (1, 1, 1):
        return "scalar"
    channels = imp.sample_shape(x_t, index)[0]
    return "channel" if shape == (channels, 1, 1) else "other"


_ARITH = {"Add": "add", "Sub": "add", "Sum": "add", "Mul": "mul", "Div": "mul", "Max": "max",
          "Min": "max", "Pow": "mul"}
"""Element-wise ONNX ops and the perfsim op that costs as they do (one op per element): a
subtract is an add, a divide or power a multiply, a minimum a maximum."""


def _arith(imp: _Importer, index: int, node) -> None:
    kind = _ARITH[node.op_type]
    data = [(k, t) for k, t in enumerate(node.input) if t and t not in imp.const]
    consts = [(k, t) for k, t in enumerate(node.input) if t and t in imp.const]
    if not consts:
        if len(data) == 1:
            imp.alias(index, data[0][1])
            return
        _broadcast(imp, index, make_op(kind), [t for _, t in data])
        return
    if len(data) != 1 or len(consts) != 1:
        raise Unsupported("it combines several constants")
    (x_k, x_t), (c_k, c_t) = data[0], consts[0]
    shape = _constant_kind(imp, index, x_t, c_t)
    if shape == "scalar":
        _scalar_arith(imp, index, node, kind, x_k, c_k, c_t)
    elif shape == "channel" and node.op_type != "Pow" and kind != "max":
        _channel_arith(imp, index, node, kind, x_k, c_t)
    elif not (kind == "add" and node.op_type == "Add" and _positions(imp, index, x_t, c_t)):
        if kind in ("add", "mul") and node.op_type != "Pow" and not (
                node.op_type == "Div" and c_k == 0):
            axis = _vector_axis(imp, index, c_t, x_t)
            if axis is not None and imp.placement(x_t, index)[axis] is not None:
                _vector_arith(imp, index, node, kind, x_t, c_t, axis)
                return
        _broadcast(imp, index, make_op(kind), [t for t in node.input if t])


def _scalar_arith(imp: _Importer, index: int, node, kind: str, x_k: int, c_k: int,
                  c_t: str) -> None:
    """An element-wise op with a scalar constant: Mul/Div a ``scale`` by that ``factor``
    (with a bias when a per-channel Add follows), Add/Sub/Pow/a scalar divided by x a
    ``scale`` with ``factor=1.0`` (one op per element, no parameters), Max/Min a ``relu``
    (one compare)."""
    if kind == "max":
        _unary_from(imp, index, x_k, Relu(), node.output[0])
        return
    if kind == "mul" and node.op_type != "Pow":
        value = imp.scalar(c_t)
        if value is not None and node.op_type == "Div":
            value = 1.0 / value if c_k == 1 and value != 0 else None
        _scale(imp, index, node, x_k, f32(1.0 if value is None else value), [])
        return
    _unary_from(imp, index, x_k, Scale(factor=1.0), node.output[0])


def _channel_arith(imp: _Importer, index: int, node, kind: str, x_k: int, c_t: str) -> None:
    """A per-channel constant: Add/Sub an ``offset``, Mul/Div a learnt ``scale``."""
    if kind == "add":
        name = _unary_from(imp, index, x_k, Offset(), node.output[0])
        imp.check_params(index, [name], [c_t])
        return
    _scale(imp, index, node, x_k, None, [c_t])


def _scale(imp: _Importer, index: int, node, x_k: int, factor: float | None,
           weights: list[str | None]) -> None:
    """A ``scale`` (``factor`` None: learnt per channel, its weights ``weights``); a Mul whose
    only consumer adds a per-channel constant is one ``scale`` with a bias (Caffe's Scale)."""
    output = node.output[0]
    bias = False
    step = imp.only_consumer(output)
    if step is not None and step[1].op_type in ("Add", "Sub") and len(step[1].input) == 2:
        other = [t for t in step[1].input if t != output]
        if (len(other) == 1 and other[0] in imp.const
                and _constant_kind(imp, step[0], output, other[0]) == "channel"):
            imp.absorbed.add(step[0])
            bias, output = True, step[1].output[0]
            weights = weights + [other[0]]
    name = _unary_from(imp, index, x_k, Scale(bias=bias, factor=factor), output)
    imp.check_params(index, [name], weights)


def _vector_arith(imp: _Importer, index: int, node, kind: str, x_t: str, c_t: str,
                  axis: int) -> None:
    """A constant of one value per index of an axis other than the channels (a layer scale
    on tokens): the same ``offset`` or ``scale`` on a view that puts that axis first."""
    dims = imp.dims(x_t, index)
    x = imp.data(index, 0, batch_first=False, tensor=x_t)
    shape = (dims[axis], 1, elems(imp.ir_shape(x)) // dims[axis])
    ref = imp.view(index, x, shape, f"{imp.base(index)}/in_view")
    op = Offset() if kind == "add" else Scale()
    name = imp.emit(index, op, [ref], [node.output[0]], batch_axis=imp.batch(x_t), views=True)
    imp.check_params(index, [name], [c_t])


def _positions(imp: _Importer, index: int, x_t: str, c_t: str) -> bool:
    """An Add of learnt positions (a constant of the activation's whole per-sample shape,
    read from a table of rows of the last axis's features): one ``positional_embedding``.
    False when the constant is not that."""
    x_dims, c_dims = imp.dims(x_t, index), imp.dims(c_t, index)
    b = imp.batch(x_t)
    if b is None or len(c_dims) > len(x_dims) or x_t in imp.rnn_outputs:
        return False
    full = [1] * (len(x_dims) - len(c_dims)) + list(c_dims)
    if [d for j, d in enumerate(full) if j != b] != [d for j, d in enumerate(x_dims) if j != b]:
        return False
    weights = [s for s in imp.weights_of(c_t) if s not in imp.counted]
    features = x_dims[-1]
    if len(weights) != 1 or prod(imp.dims(weights[0], index)) % features:
        return False
    rows = prod(imp.dims(weights[0], index)) // features
    offset = _row_offset(imp, c_t, weights[0])
    tokens = prod(full) // features
    if offset is None or offset + tokens > rows:
        return False
    x = imp.data(index, 0, batch_first=False, tensor=x_t)
    ref = imp.view(index, x, (tokens, 1, features), f"{imp.base(index)}/in_view")
    name = imp.emit(index, PositionalEmbedding(max_positions=rows, offset=offset), [ref],
                    [imp.nodes[index].output[0]], batch_axis=b, views=True)
    imp.check_params(index, [name], weights)
    return True


def _row_offset(imp: _Importer, t: str, table: str) -> int | None:
    """The first row of ``table`` constant ``t`` holds: 0 when it is the table (through
    views), the start of the rows a Gather by contiguous ids or a Slice takes, None when it
    cannot tell."""
    while t != table:
        i = imp.producer.get(t)
        if i is None:
            return None
        node = imp.nodes[i]
        if node.op_type == "Gather":
            ids = imp.values.get(node.input[1])
            if ids is None or _attrs(node).get("axis", 0) != 0 or node.input[0] != table:
                return None
            ids = ids.reshape(-1)
            if ids.size and (np.diff(ids) == 1).all():
                return int(ids[0])
            return None
        if node.op_type == "Slice":
            values = [imp.values.get(u) if u else None for u in node.input]
            starts, axes = values[1] if len(values) > 1 else None, \
                values[3] if len(values) > 3 else None
            if starts is None or node.input[0] != table or len(starts) != 1 or (
                    axes is not None and int(axes[0]) % len(imp.shapes[table]) != 0):
                return None
            start = int(starts[0])
            return start + imp.shapes[table][0] if start < 0 else start
        if node.op_type not in ("Identity", "Cast", "Reshape", "Unsqueeze", "Squeeze",
                                "Flatten"):
            return None
        t = node.input[0]
    return 0


def _broadcast(imp: _Importer, index: int, op: Op, tensors: list[str]) -> None:
    """An element-wise op of several tensors broadcast as ONNX broadcasts them (constants read
    as :meth:`_Importer.constant` layers): each relabelled as the output's layout when theirs
    differs."""
    node = imp.nodes[index]
    out = node.output[0]
    out_dims = imp.dims(out, index)
    rank = len(out_dims)
    refs = [imp.operand(index, t) for t in tensors]
    data = [t for t in tensors if t not in imp.const]
    widest = max(data, key=lambda t: len(imp.dims(t, index)))
    b = imp.batch(widest) if len(imp.dims(widest, index)) == rank else None
    rnn = widest in imp.rnn_outputs
    if all(len(imp.dims(t, index)) == rank and imp.batch(t) == b
           and (t in imp.rnn_outputs) == rnn for t in tensors):
        if rnn:
            imp.rnn_outputs.add(out)
        imp.emit(index, op, refs, [out], batch_axis=b)
        return
    if any(t in imp.rnn_outputs for t in tensors):
        raise Unsupported("it broadcasts a recurrent layer's output")
    b = settle_batch(out_dims, b)
    views = []
    for t, ref in zip(tensors, refs):
        dims = imp.dims(t, index)
        full = [1] * (rank - len(dims)) + list(dims)
        views.append(imp.view(index, ref, per_sample(full, b), f"{imp.base(index)}/in_view"))
    try:
        fits = op.out_shapes(tuple(imp.ir_shape(v) for v in views))[0] == \
            per_sample(out_dims, b)
    except ShapeError:
        fits = False
    if not fits:
        raise Unsupported("its operands broadcast along axes perfsim keeps merged")
    imp.emit(index, op, views, [out], batch_axis=b)


def _unary_from(imp: _Importer, index: int, k: int, op: Op, output: str) -> str:
    """Layer ``op`` on input ``k`` of node ``index``, keeping its shape and layout, bound to
    ONNX tensor ``output``."""
    t = imp.nodes[index].input[k]
    x = imp.data(index, k, batch_first=False)
    if t in imp.rnn_outputs:
        imp.rnn_outputs.add(output)
    return imp.emit(index, op, [x], [output], batch_axis=imp.batch(t))


def _where(imp: _Importer, index: int, node) -> None:
    """Where: a select costs one op per element, as a maximum does: the activations among its
    two values combined as a ``max``; with one activation value and a constant scalar the
    other (a causal mask's fill), a ``scale`` with ``factor=1.0``."""
    cond, x_t, y_t = node.input
    values = [t for t in (x_t, y_t) if t not in imp.const]
    if len(values) == 2:
        _broadcast(imp, index, make_op("max"), values)
        return
    if not values:
        values = [cond]
    (t,) = values
    others = [u for u in (x_t, y_t) if u != t]
    if imp.dims(t, index) == imp.dims(node.output[0], index) and all(
            prod(imp.dims(u, index)) == 1 for u in others):
        _unary_from(imp, index, list(node.input).index(t), Scale(factor=1.0), node.output[0])
        return
    _broadcast(imp, index, make_op("max"), [t] + others)


def _softmax(imp: _Importer, index: int, node) -> None:
    """Softmax over its axis (before opset 13: over the axes from ``axis`` on, as one)."""
    x_t = node.input[0]
    rank = len(imp.dims(x_t, index))
    a = _attrs(node)
    if imp.opset < 13:
        axes = range(a.get("axis", 1) % rank, rank)
    else:
        axes = [a.get("axis", -1)]
    x = imp.data(index, 0, batch_first=False)
    ref, (axis,) = imp.along(index, x_t, x, axes, single=True)
    if ref == x and x_t in imp.rnn_outputs:
        imp.rnn_outputs.add(node.output[0])
    imp.emit(index, Softmax(axis=axis), [ref], [node.output[0]], batch_axis=imp.batch(x_t),
             views=True)


_REDUCE_MODES = {"ReduceMean": "mean", "ReduceSum": "sum", "ReduceMax": "max",
                 "ReduceMin": "max"}


def _reduce(imp: _Importer, index: int, node) -> None:
    """ReduceMean/Sum/Max/Min: a ``reduce`` (a minimum costs as a maximum); a mean or maximum
    over both spatial axes of an ``(N, C, H, W)`` map is a global pool (MNASNet's
    ``x.mean([2, 3])``)."""
    a = _attrs(node)
    x_t, out = node.input[0], node.output[0]
    dims = imp.dims(x_t, index)
    rank = len(dims)
    axes = axes_of(node, [imp.values.get(t) for t in node.input], 1)
    if axes is None and imp.optional(index, 1):
        raise Unsupported("its axes are computed at run time")
    if not axes:
        if a.get("noop_with_empty_axes", 0):
            imp.data(index, 0, batch_first=False)
            imp.alias(index, x_t)
            return
        axes = list(range(rank))
    axes = sorted({ax % rank for ax in axes})
    b = imp.batch(x_t)
    mode = _REDUCE_MODES[node.op_type]
    x = imp.data(index, 0, batch_first=False)
    if (rank == 4 and b == 0 and axes == [2, 3] and mode != "sum"
            and x_t not in imp.rnn_outputs):
        cls = GlobalAvgPool if mode == "mean" else GlobalMaxPool
        imp.emit(index, cls(), [x], [out])
        return
    ref, ir = imp.along(index, x_t, x, axes)
    if b is not None and not a.get("keepdims", 1):
        b -= sum(1 for ax in axes if ax < b)
    imp.emit(index, Reduce(mode=mode, axes=ir), [ref], [out], batch_axis=b, views=True)


def _axis_view(imp: _Importer, index: int, ref: str, sizes: list[int], p: int) -> str:
    """``ref``, whose per-sample ONNX axes have ``sizes``, as ``(before, sizes[p], after)``."""
    shape = (prod(sizes[:p]), sizes[p], prod(sizes[p + 1:]))
    return imp.view(index, ref, shape, f"{imp.base(index)}/in_view")


def _per_sample_axes(imp: _Importer, index: int, t: str) -> tuple[list[int], list[int]]:
    """The ONNX axes of ``t`` that are not its batch axis, and their sizes."""
    dims = imp.dims(t, index)
    axes = [j for j, p in enumerate(imp.placement(t, index)) if p is not None]
    return axes, [dims[j] for j in axes]


def _slice_bounds(imp: _Importer, index: int, node) -> list[tuple[int, int, int, int]]:
    """A Slice's ``(axis, start, stop, step)`` per axis it cuts, normalised to the input's
    sizes (negative indices counted from the end, ends clamped); axes it keeps whole left
    out, unless it keeps every axis whole (then the first: a Slice writes a copy)."""
    a = _attrs(node)
    dims = imp.dims(node.input[0], index)
    if "starts" in a:  # before opset 10: attributes
        starts, ends, axes, steps = a["starts"], a["ends"], a.get("axes"), None
    else:
        values = [imp.values.get(t) if t else None for t in node.input[1:5]]
        if any(v is None for v, t in zip(values, node.input[1:5]) if t):
            raise Unsupported("its bounds are computed at run time")
        starts, ends = values[0], values[1]
        axes = values[2] if len(values) > 2 else None
        steps = values[3] if len(values) > 3 else None
    axes = list(range(len(starts))) if axes is None else [int(v) for v in axes]
    steps = [1] * len(starts) if steps is None else [int(v) for v in steps]
    cuts, whole = [], []
    for s, e, ax, st in zip(starts, ends, axes, steps):
        ax %= len(dims)
        d = dims[ax]
        if st < 1:
            raise Unsupported("a reversed slice (negative step)")
        s, e = int(s), int(e)
        s = min(max(s + d if s < 0 else s, 0), d)
        e = min(max(e + d if e < 0 else e, 0), d)
        if e <= s:
            raise Unsupported("an empty slice")
        (whole if (s, e, st) == (0, d, 1) else cuts).append((ax, s, e, st))
    return cuts or whole[:1]


def _slices(imp: _Importer, index: int, t: str, cuts, output: str,
            dropped: bool = False) -> None:
    """Activation ``t`` cut along each ``(axis, start, stop, step)``: one slice layer per
    axis, the first on ``t`` as it is laid out when it can be, the last bound to ``output``
    (which lacks the one cut axis when ``dropped``: a Gather of a scalar index)."""
    x = imp.data(index, 0, batch_first=False, tensor=t)
    if not cuts:
        imp.alias(index, t, output)
        return
    axes, sizes = _per_sample_axes(imp, index, t)
    b = imp.batch(t)
    if dropped and b is not None and cuts[0][0] < b:
        b -= 1
    ref = x
    for n, (ax, s, e, st) in enumerate(cuts):
        if ax not in axes:
            raise Unsupported("it cuts the batch axis")
        p = axes.index(ax)
        if n == 0:
            ref, (ir,) = imp.along(index, t, ref, [ax], single=True)
        else:
            ref, ir = _axis_view(imp, index, ref, sizes, p), 1
        op = make_op("slice", axis=ir, start=s, stop=e, step=st)
        last = n == len(cuts) - 1
        name = None if len(cuts) == 1 else f"{imp.base(index)}/axis{ax}"
        ref = imp.emit(index, op, [ref], [output] if last else [], name=name,
                       batch_axis=b, views=True)
        sizes[p] = -(-(e - s) // st)


def _slice(imp: _Importer, index: int, node) -> None:
    _slices(imp, index, node.input[0], _slice_bounds(imp, index, node), node.output[0])


def _gather(imp: _Importer, index: int, node) -> None:
    """Gather: rows of a constant table by activation ids, an ``embedding``; an activation at
    constant indices (a scalar, ``x[:, 0]``, or a run of them), a ``slice``."""
    data_t, ids_t = node.input[0], node.input[1]
    axis = _attrs(node).get("axis", 0)
    if data_t in imp.const and ids_t not in imp.const:
        table = imp.dims(data_t, index)
        if len(table) != 2 or axis != 0:
            raise Unsupported(f"a gather from a constant of shape {table} along axis {axis} "
                               f"(an embedding table is [rows, features], gathered on axis 0)")
        if any(s in imp.counted for s in imp.weights_of(data_t)):
            raise Unsupported("its table is read by an earlier layer too")
        ids = imp.data(index, 1, batch_first=False)
        tokens = elems(imp.ir_shape(ids))
        ref = imp.view(index, ids, (tokens, 1, 1), f"{imp.base(index)}/in_view")
        name = imp.emit(index, Embedding(num_embeddings=table[0], dim=table[1]), [ref],
                        [node.output[0]], batch_axis=imp.batch(ids_t), views=True)
        imp.check_params(index, [name], [data_t])
        return
    if data_t in imp.const or ids_t not in imp.const:
        raise Unsupported("its indices are computed at run time")
    value = imp.values.get(ids_t)
    dims = imp.dims(data_t, index)
    axis %= len(dims)
    if value is None:
        raise Unsupported("its indices are unknown")
    ids = [int(v) % dims[axis] for v in value.reshape(-1)]
    step = ids[1] - ids[0] if len(ids) > 1 else 1
    if step < 1 or ids != list(range(ids[0], ids[0] + step * len(ids), step)):
        raise Unsupported("it gathers indices that are not evenly spaced")
    _slices(imp, index, data_t, [(axis, ids[0], ids[-1] + 1, step)], node.output[0],
            dropped=value.ndim == 0)


def _concat(imp: _Importer, index: int, node) -> None:
    """Concat on any axis; a constant input is a :meth:`_Importer.constant` layer (a class
    token); a graph input (the keys or values of earlier tokens) with new ones appended,
    whose result is a graph output (the ``present`` cache), is a ``kv_append``."""
    inputs = [t for t in node.input if t]
    out = node.output[0]
    axis = _attrs(node)["axis"]
    real = {v.name for v in imp.real_inputs}
    if (len(inputs) == 2 and inputs[0] in real and inputs[1] not in imp.const
            and out in imp.outputs and len(imp.dims(inputs[0], index))
            == len(imp.dims(inputs[1], index))):
        _kv_append(imp, index, inputs, axis, out)
        return
    refs = [imp.operand(index, t) for t in inputs]
    layouts = {(len(imp.dims(t, index)), imp.batch(t), t in imp.rnn_outputs) for t in inputs}
    first = inputs[0]
    if len(layouts) == 1:
        ref, (ir,) = imp.along(index, first, refs[0], [axis], single=True)
        if ref == refs[0]:
            if first in imp.rnn_outputs:
                imp.rnn_outputs.add(out)
            imp.emit(index, Concat(axis=ir), refs, [out], batch_axis=imp.batch(first))
            return
    if len({len(imp.dims(t, index)) for t in inputs}) != 1:
        raise Unsupported("its inputs have different ranks")
    rank = len(imp.dims(first, index))
    axis %= rank
    views, outer = [], set()
    for t, ref in zip(inputs, refs):
        if t in imp.rnn_outputs:
            raise Unsupported("its inputs have different layouts")
        axes, sizes = _per_sample_axes(imp, index, t)
        if axis not in axes:
            raise Unsupported("it works along the batch axis")
        p = axes.index(axis)
        outer.add((prod(sizes[:p]), prod(sizes[p + 1:])))
        views.append(_axis_view(imp, index, ref, sizes, p))
    if len(outer) != 1:
        raise Unsupported("its inputs differ off the concatenation axis")
    data = [t for t in inputs if t not in imp.const]
    imp.emit(index, Concat(axis=1), views, [out],
             batch_axis=imp.batch(data[0]) if data else 0, views=True)


def _kv_append(imp: _Importer, index: int, inputs: list[str], axis: int, out: str) -> None:
    cache_t, new_t = inputs
    cache = imp.refs[cache_t]
    new = imp.data(index, 1, batch_first=False, tensor=new_t)
    ref, (ir,) = imp.along(index, cache_t, cache, [axis], single=True)
    if ref != cache or imp.batch(new_t) != imp.batch(cache_t):
        raise Unsupported("its cache is not laid out as perfsim's (heads, tokens, features)")
    imp.emit(index, KvAppend(axis=ir), [cache, new], [out], batch_axis=imp.batch(cache_t))


def _split(imp: _Importer, index: int, node) -> None:
    t = node.input[0]
    x = imp.data(index, 0, batch_first=False)
    outputs = list(node.output)
    if len(outputs) == 1:
        imp.alias(index, t)
        return
    axis = _attrs(node).get("axis", 0)
    ref, (ir,) = imp.along(index, t, x, [axis], single=True)
    sizes = []
    for o in outputs:
        if t in imp.rnn_outputs and ref == x:
            imp.rnn_outputs.add(o)
        sizes.append(imp.dims(o, index)[axis])
    imp.emit(index, Split(sizes=tuple(sizes), axis=ir), [ref], outputs,
             batch_axis=imp.batch(t), views=True)


def _view(imp: _Importer, index: int, node) -> None:
    if node.op_type == "Reshape" and _channel_shuffle(imp, index, node):
        return
    t, out = node.input[0], node.output[0]
    x = imp.data(index, 0, batch_first=False)
    in_dims, out_dims = imp.dims(t, index), imp.dims(out, index)
    b = imp.batch(t)
    if t in imp.rnn_outputs:
        b = 2
    if node.op_type == "Transpose":
        perm = list(_attrs(node).get("perm", range(len(in_dims) - 1, -1, -1)))
        axis = perm.index(b) if b is not None and b < len(perm) else None
    else:
        axis = batch_after_reshape(in_dims, out_dims, b)
    imp.set_batch(out, axis)
    shape = imp.sample_shape(out, index)
    op: Op
    if imp.batch(out) == 0 and len(out_dims) <= 2 and shape == (elems(imp.ir_shape(x)), 1, 1):
        op = Flatten()
    else:
        op = Reshape(shape=shape)
    imp.emit(index, op, [x], [out], batch_axis=imp.batch(out))


def _expand(imp: _Importer, index: int, node) -> None:
    """Expand or Tile of an activation: the copies it makes, as a nearest up-sampling along
    each axis it repeats (no arithmetic: it writes the copies)."""
    t, out = node.input[0], node.output[0]
    x = imp.data(index, 0, batch_first=False)
    in_dims, out_dims = imp.dims(t, index), imp.dims(out, index)
    if prod(in_dims) == prod(out_dims):
        imp.set_batch(out, batch_after_reshape(in_dims, out_dims, imp.batch(t)))
        imp.emit(index, Reshape(shape=imp.sample_shape(out, index)), [x], [out],
                 batch_axis=imp.batch(out))
        return
    full = [1] * (len(out_dims) - len(in_dims)) + list(in_dims)
    b = imp.batch(t)
    b = None if b is None else b + len(out_dims) - len(in_dims)
    repeats = [(j, o // i) for j, (i, o) in enumerate(zip(full, out_dims)) if o != i]
    if any(j == b for j, _ in repeats) or any(o % i for i, o in zip(full, out_dims)):
        raise Unsupported("it repeats the batch axis")
    sizes = [d for j, d in enumerate(full) if j != b]
    ref = imp.view(index, x, per_sample(full, b), f"{imp.base(index)}/in_view")
    for n, (j, factor) in enumerate(repeats):
        p = j - (1 if b is not None and j > b else 0)
        ref = _axis_view(imp, index, ref, sizes, p)
        last = n == len(repeats) - 1
        ref = imp.emit(index, Upsample(scale=(factor, 1)), [ref], [out] if last else [],
                       name=None if len(repeats) == 1 else f"{imp.base(index)}/axis{j}",
                       batch_axis=b, views=True)
        sizes[p] *= factor
def _channel_shuffle(imp: _Importer, index: int, node) -> bool:
    """Reshape (N, g, C/g, H, W) -> Transpose [0, 2, 1, 3, 4] -> Reshape (N, C, H, W)."""
    t = node.input[0]
    in_dims, mid = imp.shapes.get(t), imp.shapes.get(node.output[0])
    if (imp.batch_axis.get(t, 0) != 0 or not in_dims or not mid or len(in_dims) != 4
            or len(mid) != 5 or None in in_dims or None in mid
            or mid[0] != in_dims[0] or mid[1] * mid[2] != in_dims[1] or mid[3:] != in_dims[2:]):
        return False
    step = imp.only_consumer(node.output[0])
    if (step is None or step[1].op_type != "Transpose"
            or list(_attrs(step[1]).get("perm", [])) != [0, 2, 1, 3, 4]):
        return False
    transpose_index, transpose = step
    step = imp.only_consumer(transpose.output[0])
    if (step is None or step[1].op_type not in ("Reshape", "Flatten")
            or imp.shapes.get(step[1].output[0]) != in_dims):
        return False
    x = imp.data(index, 0)
    imp.absorbed.update((transpose_index, step[0]))
    imp.emit(index, ChannelShuffle(num_groups=mid[1]), [x], [step[1].output[0]],
             name=transpose.name)
    return True


def _rearrange(imp: _Importer, index: int, node) -> None:
    block = _attrs(node)["blocksize"]
    cls = DepthToSpace if node.op_type == "DepthToSpace" else SpaceToDepth
    imp.emit(index, cls(block=block), [imp.data(index, 0)], [node.output[0]])


def _resize(imp: _Importer, index: int, node) -> None:
    a = _attrs(node)
    mode = a.get("mode", "nearest")
    if mode not in ("nearest", "linear", "bilinear"):
        raise Unsupported(f"mode '{mode}'")
    x = imp.data(index, 0)
    in_dims, out_dims = imp.dims(node.input[0], index), imp.dims(node.output[0], index)
    if (len(in_dims) != 4 or out_dims[:2] != in_dims[:2]
            or any(o % i for o, i in zip(out_dims[2:], in_dims[2:]))):
        raise Unsupported(f"it resizes {in_dims} to {out_dims}, not by integer factors of "
                           f"the map")
    scale = (out_dims[2] // in_dims[2], out_dims[3] // in_dims[3])
    imp.emit(index, Upsample(scale=scale, mode="nearest" if mode == "nearest" else "bilinear"),
             [x], [node.output[0]])




def _pad(imp: _Importer, index: int, node) -> None:
    """Pad: folded into the Conv or pool it feeds (rows and columns of a batch-first map);
    else a copy into the padded tensor, a ``max_pool`` with a 1x1 window, stride 1 and that
    padding on the one or two axes it pads (one op per output element); no padding at all
    (Swin's window padding of a map whose size the windows divide) is dropped."""
    a = _attrs(node)
    t, out = node.input[0], node.output[0]
    x = imp.data(index, 0, batch_first=False)
    dims = imp.dims(t, index)
    rank = len(dims)
    if "pads" in a:
        pads = list(a["pads"])
    else:
        value = imp.values.get(imp.optional(index, 1) or "")
        if value is None:
            raise Unsupported("its pads are computed at run time")
        pads = [int(p) for p in value]
    axes_t = imp.optional(index, 3)
    axes = list(range(rank))
    if axes_t:
        value = imp.values.get(axes_t)
        if value is None:
            raise Unsupported("its axes are computed at run time")
        axes = [int(v) % rank for v in value]
    begin, end = [0] * rank, [0] * rank
    for i, ax in enumerate(axes):
        begin[ax], end[ax] = pads[i], pads[len(axes) + i]
    if min(begin + end) < 0:
        raise Unsupported("negative pads (cropping)")
    padded = [j for j in range(rank) if begin[j] or end[j]]
    if not padded:
        imp.alias(index, t)
        return
    b = imp.batch(t)
    if b in padded or t in imp.rnn_outputs:
        raise Unsupported("it pads the batch axis")
    if b == 0 and rank in (3, 4) and min(padded) >= 2:
        padding = ((begin[2], begin[3], end[2], end[3]) if rank == 4
                   else (0, begin[2], 0, end[2]))
        step = imp.only_consumer(out)
        if (step is not None and step[1].op_type in ("Conv", "MaxPool", "AveragePool")
                and step[1].input[0] == out
                and _attrs(step[1]).get("auto_pad", "NOTSET") == "NOTSET"):
            imp.pad_fold[step[0]] = (t, padding)
            return
        imp.emit(index, MaxPool(kernel_size=(1, 1), strides=(1, 1), padding=padding), [x],
                 [out])
        return
    if len(padded) > 2:
        raise Unsupported("it pads more than two axes")
    kept, sizes = _per_sample_axes(imp, index, t)
    ps = [kept.index(j) for j in padded]
    other = prod(s for p, s in enumerate(sizes) if p not in ps)
    if len(ps) == 1:
        (j,), (p,) = padded, ps
        shape, padding = (other, 1, sizes[p]), (0, begin[j], 0, end[j])
    else:
        shape = (other, sizes[ps[0]], sizes[ps[1]])
        padding = (begin[padded[0]], begin[padded[1]], end[padded[0]], end[padded[1]])
    ref = imp.view(index, x, shape, f"{imp.base(index)}/in_view")
    imp.emit(index, MaxPool(kernel_size=(1, 1), strides=(1, 1), padding=padding), [ref],
             [out], batch_axis=b, views=True)
def _recurrent(imp: _Importer, index: int, node) -> None:
    a = _attrs(node)
    if a.get("layout", 0) != 0:
        raise Unsupported("batch-first layout (layout=1)")
    if imp.optional(index, 7):
        raise Unsupported("peephole weights (input P)")
    if any(imp.used(t) for t in node.output[1:]):
        raise Unsupported("its Y_h/Y_c outputs are read (perfsim maps Y)")
    x_t = node.input[0]
    if imp.batch_axis.get(x_t, 0) != 1 or len(imp.dims(x_t, index)) != 3:
        raise Unsupported(f"its input '{x_t}' is not a time-major sequence (T, N, F)")
    x = imp.data(index, 0, batch_first=False)
    w, r = imp.weight_dims(index, 1), imp.weight_dims(index, 2)
    bias = imp.optional(index, 3)
    hidden = a.get("hidden_size", r[2])
    cls = RECURRENT[node.op_type]
    output = node.output[0] if node.output else ""
    step = imp.only_consumer(output) if output else None
    squeeze = (w[0] == 1 and step is not None and step[1].op_type == "Squeeze"
               and axes_of(step[1], [imp.values.get(t) for t in step[1].input], 1) in ([1], [-3]))
    if squeeze:  # PyTorch's export drops the direction axis right away: part of the layer
        imp.absorbed.add(step[0])
        output, axis = step[1].output[0], 1
    else:
        imp.rnn_outputs.add(output)
        axis = 2
    names = []
    if w[0] == 1:
        names.append(imp.emit(index, cls(hidden_size=hidden, bias=bias is not None), [x],
                              [output], batch_axis=axis))
    else:
        base = node.name or f"{node.op_type}_{index}"
        for direction in ("forward", "reverse"):
            names.append(imp.emit(index, cls(hidden_size=hidden, bias=bias is not None), [x],
                                  [], name=f"{base}/{direction}"))
        names.append(imp.emit(index, Concat(axis=0), names[:2], [output], batch_axis=axis,
                              name=base))
    imp.check_params(index, names, [node.input[1], node.input[2], bias])




HANDLERS = {
    "Conv": _conv, "MaxPool": _pool, "AveragePool": _pool, "GlobalAveragePool": _global_pool,
    "GlobalMaxPool": _global_pool, "Gemm": _gemm, "MatMul": _matmul, "Einsum": _einsum,
    "BatchNormalization": _norm, "InstanceNormalization": _norm, "GroupNormalization": _norm,
    "LayerNormalization": _layer_norm, "LRN": _lrn, "HardSigmoid": _activation,
    "HardSwish": _activation, "Gelu": _gelu, "Softmax": _softmax, "LeakyRelu": _leaky_relu,
    "PRelu": _prelu, "Clip": _clip, "Dropout": _dropout, "Identity": _identity,
    "Cast": _identity, "Add": _arith, "Sub": _arith, "Mul": _arith, "Div": _arith,
    "Pow": _arith, "Max": _arith, "Min": _arith, "Sum": _arith, "Where": _where,
    "ReduceMean": _reduce, "ReduceSum": _reduce, "ReduceMax": _reduce, "ReduceMin": _reduce,
    "Concat": _concat, "Split": _split, "Slice": _slice, "Gather": _gather,
    "Reshape": _view, "Flatten": _view, "Squeeze": _view, "Unsqueeze": _view,
    "Transpose": _view, "Expand": _expand, "Tile": _expand, "DepthToSpace": _rearrange,
    "SpaceToDepth": _rearrange, "Resize": _resize, "Upsample": _resize, "Pad": _pad,
    "LSTM": _recurrent, "GRU": _recurrent, "RNN": _recurrent,
}
"""ONNX op type -> the function that maps a node of it onto layers."""


def registry_ops() -> dict[str, type[Op]]:
    """ONNX op type -> the perfsim op class that declares it as its one-to-one, attribute-free
    ONNX form (:attr:`perfsim.workload.ops.Op.onnx_name`): imported without a converter."""
    return {cls.onnx_name: cls for cls in OPS.values() if cls.onnx_name}


def supported_ops() -> tuple[str, ...]:
    """Every ONNX op type the importer maps, sorted (besides constants and shape computations,
    which fold, and the patterns of :mod:`perfsim.io.onnx_patterns`)."""
    return tuple(sorted({*HANDLERS, *registry_ops()}))
