"""perfsim networks as shape-only ONNX models.

:func:`export_onnx` writes any network (every zoo network) as a standard ONNX model (opset
:data:`OPSET`, IR version :data:`IR_VERSION`) that passes ``onnx.checker.check_model(...,
full_check=True)`` and that :func:`~perfsim.io.onnx_import.load_onnx` reads back into
the same layers (names, op kinds, cost attributes, shapes) and the same statistics.

**Weights.** Real weights would make a file the size of the model, and an initializer may not
leave out its data. Each weight is instead a ``ConstantOfShape`` node (value 0.0) whose shape
input is a small int64 initializer (shared by weights of one shape): the file stays small
(a few bytes per weight), it is a runnable model (with zero weights), onnx's shape inference
gives every weight its shape, and the importer counts parameters from those shapes exactly as
from real initializers. Settings that affect nothing but are part of an op (a scale's constant
``factor``, dropout's ratio, Clip's bounds, resize scales, reshape targets, split sizes) are
real, tiny initializers.

**Layouts.** The batch is a symbolic first dimension ``N``. A tensor is ``(N, C, H, W)``, or
``(N, F)`` after flatten, fc and spp, or ``(T, N, F)`` (time-major) from and into recurrent
layers, as frameworks write them; token ids read by embeddings are an int64 input ``(N, T,
1)``. A token tensor ``(T, 1, D)`` is ``(N, T, 1, D)`` and attention heads ``(H, T, D/H)`` are
``(N, H, T, D/H)``, so the transformer ops need no conversions. Where an op needs another
layout than its input has, the conversion (Unsqueeze, Squeeze, Transpose) is written as its
own nodes, which import as ``reshape`` views (no zoo network needs one).

**Op encoding** (perfsim -> ONNX nodes; the first node listed carries the layer's name):

* conv -> Conv; lrn -> LRN; max/avg pool -> MaxPool/AveragePool (``ceil_mode``, ``pads``);
  global pools -> GlobalMaxPool/GlobalAveragePool; batch_norm -> BatchNormalization (scale,
  bias, running mean and variance); group_norm -> InstanceNormalization when every channel is
  its own group, else GroupNormalization (opset 21: per-channel scale and bias); relu, sigmoid,
  tanh, softmax, leaky_relu, prelu -> Relu, Sigmoid, Tanh, Softmax, LeakyRelu, PRelu;
  relu6 -> Clip(0, 6); dropout -> Dropout(ratio); add -> Add (Sum for more than two inputs);
  mul -> Mul (a chain of Muls for more than two: one layer each on import); max -> Max; concat,
  split -> Concat, Split; flatten -> Flatten; reshape -> Reshape ``[-1, C, H, W]``;
  space_to_depth/depth_to_space -> SpaceToDepth/DepthToSpace; upsample -> Resize (nearest or
  linear, integer scales).
* fc on an ``(N, F)`` tensor -> Gemm (``transB=1``, weight ``[K, F]``, bias ``C``); on a map
  or a sequence -> Einsum ``nchw,kchw->nk`` (or ``tnf,kft->nk``) plus an Add of the ``[K]``
  bias: ONNX's Gemm takes only matrices, and a Flatten in front would read back as a separate
  flatten layer.
* scale -> Mul by a per-channel weight ``[C, 1, 1]``, or by the scalar ``factor`` itself (a
  fixed factor has no parameters), then, with a bias, an Add of a per-channel weight; offset ->
  Add of a per-channel weight. Per-channel constants keep the tensor's rank (``[C, 1, 1]``,
  ``[1, C]``, ``[1, 1, C]``), so they never read back as an fc's rank-1 bias.
* rnn/lstm/gru -> RNN/LSTM/GRU (``W``, ``R``, ``B`` as ONNX lays them out; GRU with
  ``linear_before_reset=1``, PyTorch's), then a Squeeze of the direction axis.
* channel_shuffle -> Reshape ``(N, g, C/g, H, W)``, Transpose ``[0, 2, 1, 3, 4]`` (named after
  the layer), Reshape back: the way frameworks write it, read back as one layer.
* spp -> per level ``n`` a MaxPool/AveragePool with stride ``floor(H/n)`` and window
  ``H - (n-1)*stride`` (exactly ``n x n`` outputs, unpadded), a Flatten, and one Concat named
  after the layer: read back as one layer.
* shift (no ONNX op) -> a depthwise Conv with a fixed one-hot kernel (what a shift is, Wu et al.
  2018), ``[C, 1, FY, FX]``, no bias, "same" padding; fc with ``trainable=False`` -> its Gemm
  or Einsum. Both mark their weights fixed in the model metadata entry
  :data:`~perfsim.io.onnx_tensors.FIXED_WEIGHTS_KEY` (a JSON list of tensor names), which
  the importer reads: fixed weights are not parameters, and a depthwise conv with fixed
  weights is a shift.
* linear on the last axis of ``(N, C, H, W)`` -> MatMul by an ``[in, out]`` weight and an Add
  of the ``[out]`` bias (PyTorch's Linear); on another axis or layout -> Einsum replacing that
  axis (``nchw,ck->nkhw``) and an Add of a bias along it; ``tied`` -> the same reading the
  table of an earlier embedding of its shape (transposed for the MatMul), so the importer
  counts it once. matmul -> MatMul of the two ``(N, G, M, K)`` and ``(N, G, K, N)`` tensors.
* layer_norm over the last ONNX axis -> LayerNormalization (opset 17; scale, and bias when it
  has one); over another axis (a ``(C, H, W)`` map's channels, ConvNeXt's) -> the decomposed
  pattern PyTorch writes before opset 17 (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div,
  Mul, Add); rms_norm -> its pattern (Pow, ReduceMean, Add, Sqrt, Div, Mul: ONNX has
  RMSNormalization only from opset 23). Both patterns read back as one layer.
* gelu -> Gelu (``approximate``); silu -> Sigmoid and Mul (named after the layer, read back as
  one); hard_sigmoid -> HardSigmoid with PyTorch's ``alpha=1/6, beta=0.5``; hard_swish ->
  HardSwish; softmax over any axis -> Softmax(``axis``); reduce -> ReduceMean/ReduceSum/
  ReduceMax (``keepdims=1``; a mean or max over a map's rows and columns reads back as a global
  pool, which the Reduce docstring says it is); slice -> Slice.
* embedding -> Gather of the ``[rows, features]`` table by the ids input; positional_embedding
  -> an Add of rows ``offset`` to ``offset + T`` of a ``[max_positions, 1, D]`` table (a Slice
  when not all); parameter -> a ConstantOfShape ``[1, C, H, W]`` named after the layer;
  kv_append -> Concat of the cache input and the new entries, also a graph output (the
  ``present`` cache, as Hugging Face writes it).
* placeholder (an ONNX op perfsim could not import) cannot be written: an error.

The model's doc string is the network's description; the graph is named after the network;
the layers the network declares token tensors are listed in the model metadata entry
:data:`~perfsim.io.onnx_tensors.TOKENS_KEY` (for every network with a transformer op, so that
the importer reads them rather than guessing).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from perfsim._version import __version__
from perfsim.errors import PerfsimError, WorkloadError
from perfsim.io.onnx_tensors import FIXED_WEIGHTS_KEY, TOKEN_OPS, TOKENS_KEY
from perfsim.workload.network import Layer, Network, parse_ref
from perfsim.workload.ops import Shape, user_attributes
from perfsim.storage import write_atomic

OPSET = 21
IR_VERSION = 10
"""The opset written (21: GroupNormalization with per-channel scale) and the lowest IR version
that carries it."""

NCHW, NF, TNF, IDS = "nchw", "nf", "tnf", "ids"
LETTERS = {NCHW: "nchw", NF: "nf", TNF: "tnf"}
"""Einsum letters of each layout's axes."""
RECURRENT = {"rnn": ("RNN", 1), "lstm": ("LSTM", 4), "gru": ("GRU", 3)}


def export_onnx(network: Network, path: str | Path) -> None:
    """Write ``network`` to ``path`` as a shape-only ONNX model (see the module docstring).
    Raises :class:`~perfsim.errors.WorkloadError` for a network holding a placeholder and
    :class:`~perfsim.errors.PerfsimError` when the file cannot be written."""
    model = to_onnx(network)
    try:
        write_atomic(path, lambda tmp: onnx.save(model, str(tmp)))
    except OSError as err:
        raise PerfsimError(f"cannot write {path}: {err.strerror or err}") from None


def to_onnx(network: Network) -> onnx.ModelProto:
    """The ONNX model :func:`export_onnx` writes, checked with ``onnx.checker`` (full)."""
    writer = _Writer(network)
    for layer in network.layers:
        emit = EMITTERS.get(layer.op.kind)
        if emit is None and layer.op.onnx_name:
            emit = _simple(layer.op.onnx_name, None)
        if emit is None:
            raise WorkloadError(f"network '{network.name}': layer '{layer.name}' "
                                f"({layer.op.kind}) has no ONNX form: it stands for an "
                                f"unsupported ONNX op "
                                f"'{getattr(layer.op, 'onnx_op', layer.op.kind)}'")
        emit(writer, layer)
    model = writer.model()
    onnx.checker.check_model(model, full_check=True)
    return model


class _Writer:
    """The nodes, initializers and tensor layouts of one export."""

    def __init__(self, network: Network):
        self.net = network
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.inputs: list[onnx.ValueInfoProto] = []
        self.names: set[str] = {layer.name for layer in network.layers}
        self.tensors: dict[tuple[str, int], tuple[str, str]] = {}  # output -> (tensor, layout)
        self.converted: dict[tuple[str, str], str] = {}
        self.shape_inits: dict[tuple[int, ...], str] = {}
        self.fixed: list[str] = []
        self.consumers: dict[str, list[Layer]] = {}
        for layer in network.layers:
            for ref in layer.inputs:
                self.consumers.setdefault(parse_ref(ref)[0], []).append(layer)
        self.read: set[tuple[str, int]] = {parse_ref(r) for layer in network.layers
                                           for r in layer.inputs}
        self.tables: dict[tuple[int, int], str] = {}  # (rows, features) -> embedding table
        self.present: list[Layer] = []                # kv_append layers: graph outputs

    # ------------------------------------------------------------------ helpers

    def unique(self, name: str) -> str:
        base, n = name, 1
        while name in self.names:
            n += 1
            name = f"{base}_{n}"
        self.names.add(name)
        return name

    def node(self, op_type: str, inputs: list[str], outputs: list[str], name: str = "",
             **attributes) -> None:
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, **attributes))

    def constant(self, name: str, value: np.ndarray) -> str:
        """A small real initializer (settings, not weights)."""
        name = self.unique(name)
        self.initializers.append(numpy_helper.from_array(value, name))
        return name

    def weight(self, layer: Layer, what: str, dims: tuple[int, ...], fixed: bool = False) -> str:
        """A weight of ``dims`` as a ConstantOfShape node (see the module docstring)."""
        dims = tuple(int(d) for d in dims)
        if dims not in self.shape_inits:
            self.shape_inits[dims] = self.constant(
                "shape_" + "x".join(str(d) for d in dims), np.array(dims, dtype=np.int64))
        name = self.unique(f"{layer.name}.{what}")
        self.node("ConstantOfShape", [self.shape_inits[dims]], [name],
                  value=helper.make_tensor("value", TensorProto.FLOAT, [1], [0.0]))
        if fixed:
            self.fixed.append(name)
        return name

    def channel_const(self, layer: Layer, what: str, channels: int, layout: str) -> str:
        """A per-channel weight of the tensor's rank (never rank 1: see the docstring)."""
        dims = {NCHW: (channels, 1, 1), NF: (1, channels), TNF: (1, 1, channels)}[layout]
        return self.weight(layer, what, dims)

    def layout_of(self, ref: str) -> str:
        return self.tensors[parse_ref(ref)][1]

    def shape(self, ref: str) -> Shape:
        return self.net.shape_of(ref)

    def get(self, ref: str, layout: str | None = None) -> str:
        """The tensor of ``ref``, converted to ``layout`` when given and different."""
        tensor, have = self.tensors[parse_ref(ref)]
        if layout is None or layout == have:
            return tensor
        key = (tensor, layout)
        if key not in self.converted:
            self.converted[key] = self._convert(tensor, have, layout, self.shape(ref))
        return self.converted[key]

    def _convert(self, tensor: str, have: str, want: str, shape: Shape) -> str:
        c, h, _ = shape
        out = self.unique(f"{tensor}/as_{want}")
        if want == NCHW and have == NF:
            self.node("Unsqueeze", [tensor, self.axes([2, 3])], [out], name=out)
        elif want == NCHW and have == TNF:
            mid = self.unique(f"{tensor}/as_nft")
            self.node("Transpose", [tensor], [mid], name=mid, perm=[1, 2, 0])
            self.node("Unsqueeze", [mid, self.axes([2])], [out], name=out)
        elif want == TNF and have == NF:
            self.node("Unsqueeze", [tensor, self.axes([0])], [out], name=out)
        elif want == TNF and have == NCHW and h == 1:
            mid = self.unique(f"{tensor}/as_nft")
            self.node("Squeeze", [tensor, self.axes([2])], [mid], name=mid)
            self.node("Transpose", [mid], [out], name=out, perm=[2, 0, 1])
        else:
            raise WorkloadError(f"network '{self.net.name}': tensor '{tensor}' of shape "
                                f"{list(shape)} cannot be laid out as a sequence")
        return out

    def axes(self, values: list[int]) -> str:
        return self.constant("axes_" + "_".join(str(v) for v in values),
                             np.array(values, dtype=np.int64))

    def bind(self, layer: Layer, tensor: str, layout: str, index: int = 0) -> None:
        self.tensors[(layer.name, index)] = (tensor, layout)

    def dims(self, shape: Shape, layout: str) -> list:
        c, h, w = shape
        return {NCHW: ["N", c, h, w], NF: ["N", c], TNF: [w, "N", c], IDS: ["N", c, w]}[layout]

    def vector(self, layout: str, position: int, size: int) -> tuple[int, ...]:
        """The shape of a constant of ``size`` values along ONNX axis ``position`` of a
        tensor in ``layout``, broadcast over the others (right-aligned, no batch axis)."""
        rank = len(LETTERS[layout])
        return tuple(size if j == position else 1 for j in range(position, rank))

    def model(self) -> onnx.ModelProto:
        outputs = []
        for layer in self.net.layers:
            for i, shape in enumerate(self.net.out_shapes[layer.name]):
                if ((layer.name, i) not in self.read or layer in self.present) \
                        and (layer.name, i) in self.tensors:
                    tensor, layout = self.tensors[(layer.name, i)]
                    outputs.append(helper.make_tensor_value_info(
                        tensor, TensorProto.FLOAT, self.dims(shape, layout)))
        graph = helper.make_graph(self.nodes, self.net.name, self.inputs, outputs,
                                  initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                                  producer_name="perfsim",
                                  producer_version=__version__,
                                  doc_string=self.net.description)
        model.ir_version = IR_VERSION
        props = {}
        if self.fixed:
            props[FIXED_WEIGHTS_KEY] = json.dumps(self.fixed)
        if self.net.tokens or any(layer.op.kind in TOKEN_OPS for layer in self.net.layers):
            props[TOKENS_KEY] = json.dumps(sorted(self.net.tokens))
        if props:
            helper.set_model_props(model, props)
        return model


# --------------------------------------------------------------------------- emitters


def _input(w: _Writer, layer: Layer) -> None:
    shape = layer.op.shape
    users = w.consumers.get(layer.name, [])
    layout = (TNF if users and shape[1] == 1 and all(u.op.kind in RECURRENT for u in users)
              else NCHW)
    kind = TensorProto.FLOAT
    if users and all(u.op.kind == "embedding" for u in users):
        layout, kind = IDS, TensorProto.INT64
    w.inputs.append(helper.make_tensor_value_info(layer.name, kind, w.dims(shape, layout)))
    w.bind(layer, layer.name, layout)


def _conv(w: _Writer, layer: Layer) -> None:
    op = layer.op
    x = w.get(layer.inputs[0], NCHW)
    c = w.shape(layer.inputs[0])[0]
    inputs = [x, w.weight(layer, "weight", (op.out_channels, c // op.groups, *op.kernel))]
    if op.bias:
        inputs.append(w.weight(layer, "bias", (op.out_channels,)))
    w.node("Conv", inputs, [layer.name], name=layer.name, kernel_shape=list(op.kernel),
           strides=list(op.stride), pads=list(op.padding), dilations=list(op.dilation),
           group=op.groups)
    w.bind(layer, layer.name, NCHW)


def _shift(w: _Writer, layer: Layer) -> None:
    fy, fx = layer.op.kernel
    c = w.shape(layer.inputs[0])[0]
    x = w.get(layer.inputs[0], NCHW)
    weight = w.weight(layer, "weight", (c, 1, fy, fx), fixed=True)
    top, left = (fy - 1) // 2, (fx - 1) // 2
    w.node("Conv", [x, weight], [layer.name], name=layer.name, kernel_shape=[fy, fx],
           strides=[1, 1], pads=[top, left, fy - 1 - top, fx - 1 - left], group=c)
    w.bind(layer, layer.name, NCHW)


def _fc(w: _Writer, layer: Layer) -> None:
    op = layer.op
    ref = layer.inputs[0]
    layout = w.layout_of(ref)
    c, h, width = w.shape(ref)
    fixed = not op.trainable
    if layout == NF:
        inputs = [w.get(ref), w.weight(layer, "weight", (op.out_features, c), fixed)]
        if op.bias:
            inputs.append(w.weight(layer, "bias", (op.out_features,), fixed))
        w.node("Gemm", inputs, [layer.name], name=layer.name, transB=1)
    else:
        if layout == NCHW:
            equation, dims = "nchw,kchw->nk", (op.out_features, c, h, width)
        else:
            equation, dims = "tnf,kft->nk", (op.out_features, c, width)
        weight = w.weight(layer, "weight", dims, fixed)
        product = w.unique(f"{layer.name}/product") if op.bias else layer.name
        w.node("Einsum", [w.get(ref), weight], [product], name=layer.name, equation=equation)
        if op.bias:
            bias = w.weight(layer, "bias", (op.out_features,), fixed)
            w.node("Add", [product, bias], [layer.name], name=w.unique(f"{layer.name}/bias"))
    w.bind(layer, layer.name, NF)


def _pool(w: _Writer, layer: Layer) -> None:
    op = layer.op
    w.node("MaxPool" if op.kind == "max_pool" else "AveragePool",
           [w.get(layer.inputs[0], NCHW)], [layer.name], name=layer.name,
           kernel_shape=list(op.kernel), strides=list(op.stride), pads=list(op.padding),
           ceil_mode=int(op.ceil_mode))
    w.bind(layer, layer.name, NCHW)


def _spp(w: _Writer, layer: Layer) -> None:
    op = layer.op
    _, h, width = w.shape(layer.inputs[0])
    x = w.get(layer.inputs[0], NCHW)
    flats = []
    for i, n in enumerate(op.levels):
        sy, sx = h // n, width // n
        pool = w.unique(f"{layer.name}/level{i}")
        w.node("MaxPool" if op.mode == "max" else "AveragePool", [x], [pool], name=pool,
               kernel_shape=[h - (n - 1) * sy, width - (n - 1) * sx], strides=[sy, sx])
        flat = w.unique(f"{pool}/flatten")
        w.node("Flatten", [pool], [flat], name=flat, axis=1)
        flats.append(flat)
    w.node("Concat", flats, [layer.name], name=layer.name, axis=1)
    w.bind(layer, layer.name, NF)


def _simple(op_type: str, layout: str | None = NCHW, **fixed_attributes):
    """An emitter for a one-input op written as one node of ``op_type``; ``layout`` None keeps
    the input's layout."""
    def emit(w: _Writer, layer: Layer) -> None:
        ref = layer.inputs[0]
        out_layout = layout or w.layout_of(ref)
        w.node(op_type, [w.get(ref, out_layout)], [layer.name], name=layer.name,
               **fixed_attributes, **_attributes(layer))
        w.bind(layer, layer.name, out_layout)
    return emit


def _attributes(layer: Layer) -> dict:
    """The ONNX attributes of ops written by :func:`_simple`."""
    op = layer.op
    if op.kind == "lrn":
        return {"size": op.size, "alpha": op.alpha, "beta": op.beta, "bias": op.k}
    if op.kind == "leaky_relu":
        return {"alpha": op.negative_slope}
    if op.kind in ("space_to_depth", "depth_to_space"):
        return {"blocksize": op.block}
    return {}


def _laid_out(w: _Writer, ref: str, *axes: int) -> tuple[str, str, list[int]]:
    """The tensor of ``ref`` in a layout that has ONNX axes for perfsim's ``axes`` (its own,
    else NCHW), the layout, and those ONNX axes."""
    layout = w.layout_of(ref)
    if layout == IDS or any(_onnx_axis(layout, a) is None for a in axes):
        layout = NCHW
    return w.get(ref, layout), layout, [_onnx_axis(layout, a) for a in axes]


def _softmax(w: _Writer, layer: Layer) -> None:
    x, layout, (axis,) = _laid_out(w, layer.inputs[0], layer.op.axis)
    w.node("Softmax", [x], [layer.name], name=layer.name, axis=axis)
    w.bind(layer, layer.name, layout)


def _relu6(w: _Writer, layer: Layer) -> None:
    layout = w.layout_of(layer.inputs[0])
    low = w.constant("clip_min_0", np.array(0.0, dtype=np.float32))
    high = w.constant("clip_max_6", np.array(6.0, dtype=np.float32))
    w.node("Clip", [w.get(layer.inputs[0]), low, high], [layer.name], name=layer.name)
    w.bind(layer, layer.name, layout)


def _dropout(w: _Writer, layer: Layer) -> None:
    layout = w.layout_of(layer.inputs[0])
    ratio = w.constant(f"{layer.name}.ratio", np.array(layer.op.p, dtype=np.float32))
    w.node("Dropout", [w.get(layer.inputs[0]), ratio], [layer.name], name=layer.name)
    w.bind(layer, layer.name, layout)


def _prelu(w: _Writer, layer: Layer) -> None:
    ref = layer.inputs[0]
    layout = w.layout_of(ref)
    slope = w.channel_const(layer, "slope", w.shape(ref)[0], layout)
    w.node("PRelu", [w.get(ref), slope], [layer.name], name=layer.name)
    w.bind(layer, layer.name, layout)


def _batch_norm(w: _Writer, layer: Layer) -> None:
    ref = layer.inputs[0]
    layout = NF if w.layout_of(ref) == NF else NCHW
    c = w.shape(ref)[0]
    stats = [w.weight(layer, what, (c,)) for what in ("scale", "bias", "mean", "var")]
    w.node("BatchNormalization", [w.get(ref, layout), *stats], [layer.name], name=layer.name,
           epsilon=layer.op.eps)
    w.bind(layer, layer.name, layout)


def _group_norm(w: _Writer, layer: Layer) -> None:
    op = layer.op
    ref = layer.inputs[0]
    c = w.shape(ref)[0]
    inputs = [w.get(ref, NCHW), w.weight(layer, "scale", (c,)), w.weight(layer, "bias", (c,))]
    if op.num_groups == c:
        w.node("InstanceNormalization", inputs, [layer.name], name=layer.name, epsilon=op.eps)
    else:
        w.node("GroupNormalization", inputs, [layer.name], name=layer.name, epsilon=op.eps,
               num_groups=op.num_groups)
    w.bind(layer, layer.name, NCHW)


def _scale(w: _Writer, layer: Layer) -> None:
    op = layer.op
    ref = layer.inputs[0]
    layout = w.layout_of(ref)
    c = w.shape(ref)[0]
    if op.factor is None:
        factor = w.channel_const(layer, "scale", c, layout)
    else:
        factor = w.constant(f"{layer.name}.factor", np.array(op.factor, dtype=np.float32))
    product = w.unique(f"{layer.name}/product") if op.bias else layer.name
    w.node("Mul", [w.get(ref), factor], [product], name=layer.name)
    if op.bias:
        bias = w.channel_const(layer, "bias", c, layout)
        w.node("Add", [product, bias], [layer.name], name=w.unique(f"{layer.name}/bias"))
    w.bind(layer, layer.name, layout)


def _offset(w: _Writer, layer: Layer) -> None:
    ref = layer.inputs[0]
    layout = w.layout_of(ref)
    bias = w.channel_const(layer, "bias", w.shape(ref)[0], layout)
    w.node("Add", [w.get(ref), bias], [layer.name], name=layer.name)
    w.bind(layer, layer.name, layout)


def _common_layout(w: _Writer, refs) -> str:
    layouts = {w.layout_of(r) for r in refs}
    return layouts.pop() if len(layouts) == 1 else NCHW


def _binary(w: _Writer, layer: Layer) -> None:
    layout = _common_layout(w, layer.inputs)
    inputs = [w.get(r, layout) for r in layer.inputs]
    kind = layer.op.kind
    if kind == "mul":
        # ONNX's Mul takes two inputs: a chain, the last node carrying the layer's name.
        while len(inputs) > 2:
            partial = w.unique(f"{layer.name}/partial")
            w.node("Mul", inputs[:2], [partial], name=partial)
            inputs = [partial] + inputs[2:]
        op_type = "Mul"
    elif kind == "add":
        op_type = "Add" if len(inputs) == 2 else "Sum"
    else:
        op_type = "Max"
    w.node(op_type, inputs, [layer.name], name=layer.name)
    w.bind(layer, layer.name, layout)


def _onnx_axis(layout: str, axis: int) -> int | None:
    """ONNX's axis for perfsim's ``axis`` in a layout, or None when the layout has none."""
    if layout == NCHW:
        return axis + 1
    if layout == NF:
        return 1 if axis == 0 else None
    return {0: 2, 2: 0}.get(axis)


def _concat(w: _Writer, layer: Layer) -> None:
    axis = layer.op.axis
    layout = _common_layout(w, layer.inputs)
    if _onnx_axis(layout, axis) is None:
        layout = NCHW
    w.node("Concat", [w.get(r, layout) for r in layer.inputs], [layer.name], name=layer.name,
           axis=_onnx_axis(layout, axis))
    w.bind(layer, layer.name, layout)


def _split(w: _Writer, layer: Layer) -> None:
    op = layer.op
    layout = w.layout_of(layer.inputs[0])
    if _onnx_axis(layout, op.axis) is None:
        layout = NCHW
    sizes = w.constant(f"{layer.name}.split", np.array(op.sizes, dtype=np.int64))
    outputs = [w.unique(f"{layer.name}:{i}") if i else layer.name
               for i in range(len(op.sizes))]
    w.node("Split", [w.get(layer.inputs[0], layout), sizes], outputs, name=layer.name,
           axis=_onnx_axis(layout, op.axis))
    for i, tensor in enumerate(outputs):
        w.bind(layer, tensor, layout, i)


def _reshape(w: _Writer, layer: Layer) -> None:
    ref = layer.inputs[0]
    layout = NCHW if w.layout_of(ref) == TNF else None
    target = w.constant(f"{layer.name}.shape", np.array([-1, *layer.op.shape], dtype=np.int64))
    w.node("Reshape", [w.get(ref, layout), target], [layer.name], name=layer.name)
    w.bind(layer, layer.name, NCHW)


def _flatten(w: _Writer, layer: Layer) -> None:
    ref = layer.inputs[0]
    layout = NCHW if w.layout_of(ref) == TNF else None
    w.node("Flatten", [w.get(ref, layout)], [layer.name], name=layer.name, axis=1)
    w.bind(layer, layer.name, NF)


def _channel_shuffle(w: _Writer, layer: Layer) -> None:
    c, h, width = w.shape(layer.inputs[0])
    g = layer.op.num_groups
    split = w.constant(f"{layer.name}.groups", np.array([-1, g, c // g, h, width], np.int64))
    merge = w.constant(f"{layer.name}.merge", np.array([-1, c, h, width], np.int64))
    grouped = w.unique(f"{layer.name}/grouped")
    swapped = w.unique(f"{layer.name}/transposed")
    w.node("Reshape", [w.get(layer.inputs[0], NCHW), split], [grouped], name=grouped)
    w.node("Transpose", [grouped], [swapped], name=layer.name, perm=[0, 2, 1, 3, 4])
    w.node("Reshape", [swapped, merge], [layer.name], name=w.unique(f"{layer.name}/merge"))
    w.bind(layer, layer.name, NCHW)


def _upsample(w: _Writer, layer: Layer) -> None:
    op = layer.op
    scales = w.constant(f"{layer.name}.scales",
                        np.array([1, 1, *op.scale], dtype=np.float32))
    w.node("Resize", [w.get(layer.inputs[0], NCHW), "", scales], [layer.name], name=layer.name,
           mode="nearest" if op.mode == "nearest" else "linear")
    w.bind(layer, layer.name, NCHW)


def _recurrent(w: _Writer, layer: Layer) -> None:
    op = layer.op
    op_type, gates = RECURRENT[op.kind]
    ref = layer.inputs[0]
    features, hidden = w.shape(ref)[0], op.hidden_size
    inputs = [w.get(ref, TNF), w.weight(layer, "W", (1, gates * hidden, features)),
              w.weight(layer, "R", (1, gates * hidden, hidden))]
    if op.bias:
        inputs.append(w.weight(layer, "B", (1, 2 * gates * hidden)))
    extra = {"linear_before_reset": 1} if op.kind == "gru" else {}
    y = w.unique(f"{layer.name}/Y")
    w.node(op_type, inputs, [y], name=layer.name, hidden_size=hidden, **extra)
    w.node("Squeeze", [y, w.axes([1])], [layer.name], name=w.unique(f"{layer.name}/squeeze"))
    w.bind(layer, layer.name, TNF)


def _linear(w: _Writer, layer: Layer) -> None:
    op = layer.op
    ref = layer.inputs[0]
    x, layout, (position,) = _laid_out(w, ref, op.axis)
    n = w.shape(ref)[op.axis]
    letters = LETTERS[layout]
    letter = letters[position]
    product = w.unique(f"{layer.name}/product") if op.bias else layer.name
    if op.tied:
        table = w.tables.get((op.out_features, n))
        if table is None:
            raise WorkloadError(f"network '{w.net.name}': layer '{layer.name}' (linear) is "
                                f"tied to an embedding of {op.out_features} x {n}, and no "
                                f"layer before it is one")
    if layout == NCHW and position == 3:  # the last axis: a MatMul, as PyTorch writes it
        if op.tied:
            weight = w.unique(f"{layer.name}.weight")
            w.node("Transpose", [table], [weight], name=weight, perm=[1, 0])
        else:
            weight = w.weight(layer, "weight", (n, op.out_features))
        w.node("MatMul", [x, weight], [product], name=layer.name)
    else:
        if op.tied:
            weight, written = table, f"k{letter}"
        else:
            weight, written = w.weight(layer, "weight", (n, op.out_features)), f"{letter}k"
        w.node("Einsum", [x, weight], [product], name=layer.name,
               equation=f"{letters},{written}->{letters.replace(letter, 'k')}")
    if op.bias:
        bias = w.weight(layer, "bias", w.vector(layout, position, op.out_features))
        w.node("Add", [product, bias], [layer.name], name=w.unique(f"{layer.name}/bias"))
    w.bind(layer, layer.name, layout)


def _matmul(w: _Writer, layer: Layer) -> None:
    w.node("MatMul", [w.get(r, NCHW) for r in layer.inputs], [layer.name], name=layer.name)
    w.bind(layer, layer.name, NCHW)


def _norm_pattern(w: _Writer, layer: Layer, x: str, position: int, rms: bool) -> str:
    """A layer or RMS norm written out (:mod:`perfsim.io.onnx_patterns`), normalised over
    ONNX axis ``position``; the first node carries the layer's name. Returns the normalised
    tensor, before the scale."""
    name = layer.name
    axes = w.axes([position])
    eps = w.constant(f"{name}.eps", np.array(layer.op.eps, dtype=np.float32))
    two = w.constant(f"{name}.two", np.array(2.0, dtype=np.float32))
    centred, square = x, w.unique(f"{name}/square")
    if not rms:
        mean, centred = w.unique(f"{name}/mean"), w.unique(f"{name}/centred")
        w.node("ReduceMean", [x, axes], [mean], name=name, keepdims=1)
        w.node("Sub", [x, mean], [centred], name=centred)
    w.node("Pow", [centred, two], [square], name=name if rms else square)
    variance, shifted = w.unique(f"{name}/variance"), w.unique(f"{name}/shifted")
    deviation, normalised = w.unique(f"{name}/deviation"), w.unique(f"{name}/normalised")
    w.node("ReduceMean", [square, axes], [variance], name=variance, keepdims=1)
    w.node("Add", [variance, eps], [shifted], name=shifted)
    w.node("Sqrt", [shifted], [deviation], name=deviation)
    w.node("Div", [centred, deviation], [normalised], name=normalised)
    return normalised


def _layer_norm(w: _Writer, layer: Layer) -> None:
    op = layer.op
    ref = layer.inputs[0]
    x, layout, (position,) = _laid_out(w, ref, op.axis)
    features = w.shape(ref)[op.axis]
    if position == len(LETTERS[layout]) - 1:  # the last axis: LayerNormalization (opset 17)
        inputs = [x, w.weight(layer, "weight", (features,))]
        if op.bias:
            inputs.append(w.weight(layer, "bias", (features,)))
        w.node("LayerNormalization", inputs, [layer.name], name=layer.name, axis=-1,
               epsilon=op.eps)
    else:
        normalised = _norm_pattern(w, layer, x, position, rms=False)
        _affine(w, layer, normalised, w.vector(layout, position, features), op.bias)
    w.bind(layer, layer.name, layout)


def _affine(w: _Writer, layer: Layer, x: str, dims: tuple[int, ...], bias: bool) -> None:
    """``x * weight (+ bias)`` into the layer's tensor."""
    scaled = w.unique(f"{layer.name}/scaled") if bias else layer.name
    w.node("Mul", [x, w.weight(layer, "weight", dims)], [scaled], name=w.unique(
        f"{layer.name}/scale"))
    if bias:
        w.node("Add", [scaled, w.weight(layer, "bias", dims)], [layer.name],
               name=w.unique(f"{layer.name}/shift"))


def _rms_norm(w: _Writer, layer: Layer) -> None:
    op = layer.op
    ref = layer.inputs[0]
    x, layout, (position,) = _laid_out(w, ref, op.axis)
    normalised = _norm_pattern(w, layer, x, position, rms=True)
    _affine(w, layer, normalised, w.vector(layout, position, w.shape(ref)[op.axis]), False)
    w.bind(layer, layer.name, layout)


def _gelu(w: _Writer, layer: Layer) -> None:
    layout = w.layout_of(layer.inputs[0])
    w.node("Gelu", [w.get(layer.inputs[0])], [layer.name], name=layer.name,
           approximate=layer.op.approximate)
    w.bind(layer, layer.name, layout)


def _silu(w: _Writer, layer: Layer) -> None:
    ref = layer.inputs[0]
    layout = w.layout_of(ref)
    gate = w.unique(f"{layer.name}/sigmoid")
    w.node("Sigmoid", [w.get(ref)], [gate], name=layer.name)
    w.node("Mul", [w.get(ref), gate], [layer.name], name=w.unique(f"{layer.name}/mul"))
    w.bind(layer, layer.name, layout)


def _reduce(w: _Writer, layer: Layer) -> None:
    op = layer.op
    x, layout, axes = _laid_out(w, layer.inputs[0], *op.axes)
    op_type = {"mean": "ReduceMean", "sum": "ReduceSum", "max": "ReduceMax"}[op.mode]
    w.node(op_type, [x, w.axes(axes)], [layer.name], name=layer.name, keepdims=1)
    w.bind(layer, layer.name, layout)


def _slice(w: _Writer, layer: Layer) -> None:
    a = user_attributes(layer.op)
    x, layout, (axis,) = _laid_out(w, layer.inputs[0], a["axis"])
    bounds = [w.constant(f"{layer.name}.{what}", np.array([v], dtype=np.int64))
              for what, v in (("start", a["start"]), ("stop", a["stop"]), ("axis", axis),
                              ("step", a["step"]))]
    w.node("Slice", [x, *bounds], [layer.name], name=layer.name)
    w.bind(layer, layer.name, layout)


def _embedding(w: _Writer, layer: Layer) -> None:
    op = layer.op
    ref = layer.inputs[0]
    if w.layout_of(ref) != IDS:
        raise WorkloadError(f"network '{w.net.name}': layer '{layer.name}' (embedding) reads "
                            f"'{ref}', which is not a network input of token ids: ONNX's "
                            f"Gather takes integer indices")
    table = w.weight(layer, "weight", (op.num_embeddings, op.dim))
    w.tables.setdefault((op.num_embeddings, op.dim), table)
    w.node("Gather", [table, w.get(ref)], [layer.name], name=layer.name, axis=0)
    w.bind(layer, layer.name, NCHW)


def _positional(w: _Writer, layer: Layer) -> None:
    op = layer.op
    ref = layer.inputs[0]
    t, _, d = w.shape(ref)
    table = w.weight(layer, "weight", (op.max_positions, 1, d))
    if (op.offset, t) != (0, op.max_positions):
        rows = w.unique(f"{layer.name}/rows")
        bounds = [w.constant(f"{layer.name}.{what}", np.array([v], dtype=np.int64))
                  for what, v in (("start", op.offset), ("stop", op.offset + t), ("axis", 0))]
        w.node("Slice", [table, *bounds], [rows], name=rows)
        table = rows
    w.node("Add", [w.get(ref, NCHW), table], [layer.name], name=layer.name)
    w.bind(layer, layer.name, NCHW)


def _parameter(w: _Writer, layer: Layer) -> None:
    dims = (1, *layer.op.shape)
    if dims not in w.shape_inits:
        w.shape_inits[dims] = w.constant("shape_" + "x".join(str(d) for d in dims),
                                         np.array(dims, dtype=np.int64))
    w.node("ConstantOfShape", [w.shape_inits[dims]], [layer.name], name=layer.name,
           value=helper.make_tensor("value", TensorProto.FLOAT, [1], [0.0]))
    w.bind(layer, layer.name, NCHW)


def _kv_append(w: _Writer, layer: Layer) -> None:
    cache, new = (w.get(r, NCHW) for r in layer.inputs)
    w.node("Concat", [cache, new], [layer.name], name=layer.name,
           axis=_onnx_axis(NCHW, layer.op.axis))
    w.present.append(layer)
    w.bind(layer, layer.name, NCHW)


EMITTERS = {
    "input": _input, "conv": _conv, "shift": _shift, "fc": _fc, "max_pool": _pool,
    "avg_pool": _pool, "spp": _spp, "lrn": _simple("LRN"),
    "global_max_pool": _simple("GlobalMaxPool"), "global_avg_pool": _simple("GlobalAveragePool"),
    "upsample": _upsample, "relu6": _relu6,
    "leaky_relu": _simple("LeakyRelu", None), "prelu": _prelu,
    "batch_norm": _batch_norm, "group_norm": _group_norm, "scale": _scale, "offset": _offset,
    "softmax": _softmax, "dropout": _dropout, "add": _binary, "mul": _binary, "max": _binary,
    "rnn": _recurrent, "lstm": _recurrent, "gru": _recurrent, "concat": _concat,
    "split": _split, "reshape": _reshape, "flatten": _flatten,
    "space_to_depth": _simple("SpaceToDepth"), "depth_to_space": _simple("DepthToSpace"),
    "channel_shuffle": _channel_shuffle, "linear": _linear, "matmul": _matmul,
    "layer_norm": _layer_norm, "rms_norm": _rms_norm, "gelu": _gelu, "silu": _silu,
    "hard_sigmoid": _simple("HardSigmoid", None, alpha=1 / 6, beta=0.5),
    "hard_swish": _simple("HardSwish", None), "reduce": _reduce, "slice": _slice,
    "embedding": _embedding, "positional_embedding": _positional, "parameter": _parameter,
    "kv_append": _kv_append,
}
"""perfsim op kind -> the function writing a layer of it as ONNX nodes; an op with a one-to-one
ONNX form (:attr:`perfsim.workload.ops.Op.onnx_name`) needs none, ``placeholder`` has none."""
