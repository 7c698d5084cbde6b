"""ONNX models as perfsim networks.

:func:`load_onnx` reads a model with the ``onnx`` package and maps its whole graph onto the IR.
It never runs the model: no operator of the file is executed and no weight is read, only
weight *shapes* (external data may be missing, weights may be ``ConstantOfShape`` nodes).
Opsets 9 to 21 are read; what PyTorch's exporter writes at opsets 13 to 21 is covered by tests.

Steps:

1. parse the protobuf and check the graph: every tensor produced once, no dangling input, no
   cycle (subgraph references of control-flow nodes count as inputs);
2. fix the inputs' dynamic dimensions: the batch dimension becomes 1 (perfsim's batch is
   separate) and ``input_shape`` ``(C, H, W)`` sets the others of the single image input;
3. infer shapes with ``onnx.shape_inference`` (data propagation on), alternating with folding
   the small computations of shapes onnx's propagation leaves open
   (:mod:`perfsim.io.onnx_fold`: PyTorch's ``x.view(x.size(0), -1)``, ``torch.chunk``'s
   slice bounds, Swin's window padding, masks built with ``Range``/``Where``/``ScatterND``).
   Their values become initializers that every node reading them reads, and inference runs
   again;
4. find the patterns exporters write one layer as (:mod:`perfsim.io.onnx_patterns`: a
   decomposed layer or RMS norm, GELU from ``Erf`` or ``Tanh``, SiLU): each is one layer;
5. map every remaining node onto layers. Nodes whose inputs are all constant (initializers,
   ``Constant``, ``ConstantOfShape``, ``Shape``, and anything computed only from those) are not
   layers.

**Tensors.** Per-sample shapes are ``(C, H, W)``; an ONNX tensor's batch axis is dropped and the
rest laid out by rank: rank 4 ``(N, C, H, W)`` is ``(C, H, W)`` (a channels-last ``(N, H, W,
C)``, as ConvNeXt and Swin permute to, is ``(H, W, C)``); rank 3 ``(N, T, D)`` is ``(T, 1, D)``
(tokens; a 1-D map ``(N, C, L)`` alike is ``(C, 1, L)``); rank 2 ``(N, F)`` is ``(F, 1, 1)``;
higher ranks fold their trailing dimensions into ``W``. A recurrent node's input ``X`` is
time-major ``(T, N, F)``: ``(F, 1, T)``, and its output ``Y`` ``(T, D, N, H)`` is ``(D*H, 1,
T)``. Which axis is the batch is followed through transposes, reshapes, gathers and
reductions.

*A batch axis merged into another* (nn.MultiheadAttention's ``[N * heads, T, dh]``, Swin's
windows ``[N * windows, 49, C]``): the batch is 1 at import, so the merged axis holds one
sample's heads or windows, and the tensor has no batch axis: all its dimensions are per
sample, laid out as if a batch of one stood in front (``[heads, T, dh]`` is ``(heads, T,
dh)``). A tensor without a batch axis whose first axis has size 1 takes that axis as its
batch again (``view(N, heads, T, dh)`` after the merge). Element counts are therefore always
the file's at batch 1, and counts at batch ``B`` are ``B`` times them, which is what the
merged tensors hold at batch ``B``.

*Views.* A reshape or transpose of any rank is a ``reshape`` layer (a free view). Where an op
works along an ONNX axis that shares a perfsim axis with others (a linear on the last axis of
a rank-5 tensor, a softmax over axis 1 of ``[nW, heads, T, T]``, a slice of ``qkv[0]``), the
input is relabelled by a view ``<node>/in_view`` to ``(before, axis, after)`` and the output
back by a view ``<layer>/out_view``: views cost nothing, so the counts are exact. Every layer's
perfsim shape is checked against ONNX's inferred shape; a disagreement is an error naming the
node (one case: a ceil-mode pool whose last window would start in the padding, which PyTorch
and perfsim drop and onnx's shape inference keeps).

**Parameters** come from the weight shapes in the file, so they equal what the framework
reports: a Conv's ``W`` and optional ``B``, Gemm/MatMul/Einsum weights and biases,
BatchNormalization's scale and bias (not the running statistics), Instance/Group/Layer
normalization's scale and bias, a recurrent node's ``W``, ``R`` and ``B``, per-channel
``Mul``/``Add`` constants, PRelu slopes, embedding tables, learnt positions and tokens. A weight
reached through a transpose, reshape, gather or slice (``MatMul(x, Transpose(W))``, rows of a
table) counts as the weight it comes from; a linear whose weight an earlier layer holds (GPT-2's
head reading the token embedding) is ``tied`` and counts none. A constant computed by
arithmetic holds the initializers it is computed from (a mask built from shapes holds none;
a float initializer of zeros and one fill of at most -100, Swin's shifted-window mask folded
by the exporter, is a mask, not parameters). Each layer's count is checked against the
file's. A graph input consumed only where weights go (a Conv's ``W``, ...) is a weight, not a
network input. Weights named in the model metadata entry :data:`FIXED_WEIGHTS_KEY` (a JSON
list of tensor names) are fixed, not trainable: an fc whose weights are fixed is
``trainable=False`` (LeNet-5's RBF units), and a depthwise convolution with fixed weights and
no bias that keeps the map size is a ``shift`` (Wu et al. 2018: a shift is a depthwise
convolution with one-hot kernels); fixed weights anywhere else are an error.

**Op mapping** (ONNX -> perfsim):

* Conv -> conv (``group``, ``dilations``, ``pads``, ``auto_pad`` SAME_UPPER/SAME_LOWER/VALID,
  ``strides``, bias from a third input); 1-D convolutions on ``(N, C, L)`` use ``H = 1``.
* Products with a constant weight: Gemm (``transB``; ``transA`` unsupported) and MatMul on a
  ``(N, F)`` matrix, and Einsum contracting every non-batch axis of a map or sequence with a
  constant (perfsim's exporter writes an fc on a map this way) -> fc. MatMul by a constant
  matrix on any other tensor (PyTorch's Linear on ``[N, T, D]``, ``[N, H, W, C]``, windows)
  -> ``linear`` on the last axis; Gemm on ``[T, D]`` rows that are not the batch
  (nn.MultiheadAttention's out-projection) -> ``linear``; Einsum replacing one axis of an
  activation by a 2-D constant's other axis -> ``linear`` on that axis. A MatMul or Einsum
  followed by an Add of its bias (``K`` values along the output features; rank 1 for an fc) is
  one layer with a bias (PyTorch's Linear).
* Products of two activations: MatMul (ranks 2 to 6, leading axes broadcast when either side's
  are all 1) and Einsum of two tensors (MaxViT's attention) -> ``matmul`` ``(G, M, K) @ (G,
  K, N)``: ``G`` the axes both operands and the output have, ``M`` and ``N`` the first's and
  the second's own, ``K`` the contracted ones, each operand viewed so. A constant first
  operand is a ``parameter``.
* MaxPool/AveragePool -> max_pool/avg_pool (``ceil_mode``, ``pads``, ``auto_pad``);
  GlobalAveragePool/GlobalMaxPool -> global_avg_pool/global_max_pool. Pools of one tensor,
  each flattened and concatenated, with square outputs and no padding, are one ``spp``.
* ReduceMean/ReduceSum/ReduceMax/ReduceMin (``axes`` an attribute before opset 18, an input
  after; ``keepdims``) -> ``reduce`` (a minimum counts as a maximum); a mean or max over both
  spatial axes of an ``(N, C, H, W)`` map -> global_avg_pool/global_max_pool (MNASNet's
  ``x.mean([2, 3])``).
* LRN -> lrn; BatchNormalization -> batch_norm; InstanceNormalization -> group_norm with
  ``num_groups = C``; GroupNormalization (opset 21: per-channel scale) -> group_norm;
  LayerNormalization (opset 17, over ``axis`` to the last) -> ``layer_norm`` (``bias`` when it
  has ``B``); the decomposed layer norm (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul,
  Add) -> ``layer_norm`` over the reduced axis, gamma and beta its parameters; the RMS norm
  pattern -> ``rms_norm``.
* Relu -> relu; LeakyRelu -> leaky_relu; PRelu -> prelu (a single shared slope -> leaky_relu,
  whose one parameter perfsim does not count); Sigmoid -> sigmoid; Tanh -> tanh; HardSigmoid
  -> ``hard_sigmoid`` and HardSwish -> ``hard_swish`` (4 and 5 ops per element, whatever
  ``alpha`` and ``beta``); ``x * HardSigmoid(x)`` (before opset 14) -> ``hard_swish``; Gelu
  (opset 20) and the Erf and Tanh patterns -> ``gelu`` (``approximate``); ``x * Sigmoid(x)``
  -> ``silu``. **Clip** with bounds 0 and 6, or any two bounds -> relu6 (two compares per
  element); with one bound -> relu (one compare); with none it is dropped.
* Element-wise math of activations, broadcast as ONNX broadcasts (each operand viewed as the
  output when its layout differs): Add/Sum -> add; Mul -> mul; Max -> max. **Sub counts as
  add, Div and Pow as mul, Min as max**: the same one op per element. Where -> one op per
  element: of two activation values, a ``max``; of one and a constant scalar (a causal mask's
  fill), a ``scale`` with ``factor=1.0``.
* With one constant operand: a per-channel constant makes Add/Sub an ``offset`` and Mul/Div a
  learnt ``scale`` (C parameters each); one value per index of another axis (a layer scale on
  tokens) the same on a view that puts that axis first; a scalar makes Mul/Div a ``scale``
  with that fixed ``factor`` (no parameters: frameworks trace Python numbers as constants),
  and Add/Sub/Pow/a scalar divided by ``x`` a ``scale`` with ``factor=1.0``, which costs the
  same one op per element and no parameters (the IR has no add-a-constant op); Max/Min with a
  scalar is a relu. A Mul by a constant whose only consumer adds a per-channel constant is one
  ``scale`` with a bias (Caffe's Scale layer). An Add of a constant of the activation's whole
  shape, held by a table of rows of its last axis's features (directly, or rows gathered by
  contiguous constant ids or sliced: GPT-2's positions from a cache of ``L`` tokens) ->
  ``positional_embedding`` (``max_positions`` the table's rows, ``offset`` its first row
  read). Any other constant operand is a layer of its own (below) and the op an add, mul or
  max of two layers.
* A constant read as data (a class token in a Concat, a relative-position bias added to
  attention scores, an attention mask) -> a ``parameter`` of its shape named after the weight
  it holds; rows of a table gathered by constant indices (Swin's and MaxViT's relative-position
  bias when not folded) -> a network ``input`` for the indices (a buffer read from memory), an
  ``embedding`` of the table and a view; no weights at all (computed from shapes, or a mask) ->
  a network ``input`` of its shape, named after it.
* Gather of rows of a constant ``[rows, features]`` table by activation ids -> ``embedding``;
  Gather of an activation at constant indices (a scalar, ``x[:, 0]``, or evenly spaced ones)
  and Slice (bounds constant, or folded; positive steps) -> ``slice`` along each axis it cuts.
* Concat on any axis -> concat (constant inputs as above); a Concat of a graph input (the keys
  or values of earlier tokens) with computed ones whose result is a graph output (``present``)
  -> ``kv_append`` on the cache. Split -> split (outputs ``name:i``).
* Reshape/Flatten/Squeeze/Unsqueeze/Transpose of any rank -> flatten when the result is ``(N,
  F)`` holding the whole input, else reshape (a view). Reshape ``(N, g, C/g, H, W)`` ->
  Transpose ``[0, 2, 1, 3, 4]`` -> Reshape back to ``(N, C, H, W)`` is ONE channel_shuffle
  layer, named after the Transpose. Expand and Tile of an activation -> an ``upsample``
  (nearest: copies, no arithmetic) along each repeated axis (one that adds no elements: a
  reshape). Cast of an activation is dropped (perfsim has one precision), as is Identity.
* DepthToSpace/SpaceToDepth -> depth_to_space/space_to_depth; Resize/Upsample (nearest,
  linear) with integer scales -> upsample nearest/bilinear.
* Pad (constant amounts, or amounts computed from shapes and folded) on rows and columns of
  ``(N, C, H, W)`` whose only consumer is a Conv/MaxPool/AveragePool is folded into that
  layer's padding; otherwise it is a ``max_pool`` with a 1x1 window, stride 1 and that
  padding, on the one or two axes it pads (viewed as rows and columns): a copy of every
  element into the padded map, one op per output element, which is what padding costs. A Pad
  of nothing (Swin's window padding when the windows divide the map) is dropped.
* Softmax -> softmax over its axis (before opset 13, over the axes from ``axis`` on, as one);
  Dropout -> dropout (``ratio``).
* LSTM/GRU/RNN -> lstm/gru/rnn (``hidden_size``, bias from ``B``; a bidirectional node is a
  forward and a reverse layer concatenated over channels; ``initial_h``/``initial_c`` inputs are
  ignored, peepholes and the ``Y_h``/``Y_c`` outputs are unsupported); a Squeeze of the
  direction axis right after ``Y`` (PyTorch's export) belongs to the layer.

Any other op is unsupported: a :class:`~perfsim.errors.WorkloadError` naming the op, the node
and the supported list, or, with ``allow_unsupported``, a ``placeholder`` layer of the node's
output shape that costs nothing, that reports flag as not costed, and that keeps the MACs its
ONNX shapes say it does (a MatMul, Gemm, Einsum or convolution) as ``uncosted_macs``, so the
totals say what share of the network is missing. A shape onnx's inference cannot give is an
error naming the node that leaves it open and why (an input it computes from, whose value
perfsim cannot fold, and what that value depends on).
"""

from __future__ import annotations

import heapq
import json
import math
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from google.protobuf.message import DecodeError

from perfsim.errors import WorkloadError
from perfsim.io.onnx_fold import FOLD_LIMIT, FOLDED_OPS, attributes as _attrs, axes_of, evaluate
from perfsim.io.onnx_patterns import Match, find_patterns
from perfsim.workload.network import Layer, Network, infer_shapes, parse_ref
from perfsim.workload.ops import (
    GRU, LRN, LSTM, RNN, AvgPool, BatchNorm, ChannelShuffle, Concat, Conv, DepthToSpace,
    Dropout, Embedding, Flatten, FullyConnected, Gelu, GlobalAvgPool, GlobalMaxPool, GroupNorm,
    HardSigmoid, HardSwish, Input, KvAppend, LayerNorm, LeakyRelu, Linear, MatMul, MaxPool,
    OPS, Offset, Op, Parameter, Placeholder, PositionalEmbedding, PRelu, Reduce, Relu, Relu6,
    Reshape, RmsNorm, Scale, Shape, ShapeError, Shift, Silu, Softmax, SpaceToDepth,
    SpatialPyramidPool, Split, Upsample, elems, fmt_shape, make_op)

FIXED_WEIGHTS_KEY = "perfsim.fixed_weights"
"""Model metadata key: a JSON list of weight tensors that are fixed, not trainable."""

Dims = list[int | None]
"""ONNX dimensions, ``None`` where unknown."""

# Inputs that carry weights or settings rather than activations: a graph input consumed only
# at these positions is a constant of its declared shape, not a network input.
CONST_SLOTS = {
    "Conv": (1, 2), "Gemm": (1, 2), "MatMul": (1,), "BatchNormalization": (1, 2, 3, 4),
    "InstanceNormalization": (1, 2), "GroupNormalization": (1, 2), "PRelu": (1,),
    "LSTM": (1, 2, 3, 4, 5, 6, 7), "GRU": (1, 2, 3, 4, 5), "RNN": (1, 2, 3, 4, 5),
    "Reshape": (1,), "Resize": (1, 2, 3), "Upsample": (1,), "Clip": (1, 2), "Pad": (1, 2, 3),
    "Split": (1,), "Squeeze": (1,), "Unsqueeze": (1,), "Dropout": (1, 2),
    "LayerNormalization": (1, 2), "Slice": (1, 2, 3, 4), "Expand": (1,), "Tile": (1,),
    "ReduceMean": (1,), "ReduceSum": (1,), "ReduceMax": (1,), "ReduceMin": (1,),
}
RECURRENT = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}
# Ops whose output has their first input's shape but for which onnx infers none (function ops).
SAME_SHAPE = ("GroupNormalization",)
# Single-input ops a time-major sequence passes through unchanged on its way to a recurrent
# node (so a graph input read through them is time-major too).
_PASS_THROUGH = ("Identity", "Dropout", "Relu", "Tanh", "Sigmoid", "Clip", "LeakyRelu")
# Ops a weight passes through unchanged in number (a transpose, a view, a gather of rows by
# constant indices): a constant reached from a weight only through these holds that weight.
_WEIGHT_VIEWS = ("Identity", "Cast", "Reshape", "Transpose", "Unsqueeze", "Squeeze", "Flatten",
                 "Expand", "Tile", "Slice", "Gather", "Concat")
# The inputs of each op that are settings computed from shapes: what "cannot infer the shape"
# names when one of them is unknown.
_SETTINGS = {"Reshape": (1,), "Expand": (1,), "Tile": (1,), "Pad": (1, 2, 3),
             "Slice": (1, 2, 3, 4), "ConstantOfShape": (0,), "Range": (0, 1, 2),
             "Resize": (1, 2, 3), "Upsample": (1,), "Unsqueeze": (1,), "Squeeze": (1,),
             "Split": (1,), "TopK": (1,), "OneHot": (1,)}
_FLOAT_TYPES = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16,
                onnx.TensorProto.DOUBLE}


class _Unsupported(Exception):
    """A node perfsim cannot map; ``detail`` says what about it, if not its op type."""

    def __init__(self, detail: str = ""):
        super().__init__(detail)
        self.detail = detail


def _f32(value: float) -> float:
    """A float as stored in ONNX (float32), written back as its shortest decimal, so
    ``1e-3`` stays ``0.001``."""
    return float(str(np.float32(value)))


def _prod(values) -> int:
    """Product of integer dimensions (1 for none)."""
    return math.prod(int(v) for v in values)


def _per_sample(dims: list[int], batch_axis: int | None, rnn_output: bool = False) -> Shape:
    """perfsim's ``(C, H, W)`` of an ONNX tensor (see the module docstring)."""
    if rnn_output:
        t, d, _, h = dims
        return (d * h, 1, t)
    if batch_axis is None:  # no batch axis: read as if a batch of one were in front
        dims, batch_axis = [1, *dims], 0
    if batch_axis >= 1:
        return (_prod(dims[batch_axis + 1:]), 1, _prod(dims[:batch_axis]))
    rest = dims[1:]
    if len(rest) == 0:
        return (1, 1, 1)
    if len(rest) == 1:
        return (rest[0], 1, 1)
    if len(rest) == 2:
        return (rest[0], 1, rest[1])
    return (rest[0], rest[1], _prod(rest[2:]))


def _placement(rank: int, batch_axis: int | None, rnn_output: bool = False) -> list[int | None]:
    """perfsim's axis (0, 1 or 2) holding each ONNX axis in :func:`_per_sample`; None for the
    batch axis."""
    if rnn_output:
        return [2, 0, None, 0]
    if batch_axis is None:
        return _placement(rank + 1, 0)[1:]
    if batch_axis >= 1:
        return [2] * batch_axis + [None] + [0] * (rank - batch_axis - 1)
    rest = {0: [], 1: [0], 2: [0, 2]}.get(rank - 1)
    return [None] + (rest if rest is not None else [0, 1] + [2] * (rank - 3))


def _prefix_axis(in_dims: list[int], out_dims: list[int], axis: int | None) -> int | None:
    """Where the batch axis lands after a reshape: the first output axis of the batch's size
    with the same number of elements before it; None when the reshape merges it into another
    axis (``[N * heads, T, dh]``), or when the input had none."""
    if axis is None or axis >= len(in_dims):
        return None
    before = _prod(in_dims[:axis])
    for j, size in enumerate(out_dims):
        if _prod(out_dims[:j]) == before and size == in_dims[axis]:
            return j
    return None


def _settle(dims: list[int] | None, axis: int | None) -> int | None:
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


def _same_pads(size: int, kernel: int, stride: int, dilation: int, upper: bool) -> tuple[int, int]:
    """``auto_pad`` SAME_UPPER/SAME_LOWER: output ``ceil(size / stride)``, the odd pixel at the
    end (upper) or the beginning (lower)."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size)
    small, big = total // 2, total - total // 2
    return (small, big) if upper else (big, small)


def _path_prefix(names: list[str]) -> str:
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
def load_onnx(path: str | Path, input_shape: tuple[int, int, int] | None = None,
              allow_unsupported: bool = False) -> Network:
    """Read the ONNX model at ``path`` into a validated :class:`Network` (batch 1).

    ``input_shape`` ``(C, H, W)`` sets the dynamic dimensions of the model's single input (a
    time-major sequence input is ``(features, 1, T)``). ``allow_unsupported`` imports ops
    perfsim cannot map as zero-cost ``placeholder`` layers instead of failing. Every problem
    (unreadable or corrupt file, missing shapes, cycles, dangling inputs, unsupported ops) is a
    :class:`~perfsim.errors.WorkloadError` naming the file and, where there is one, the node or
    tensor."""
    return _Importer(Path(path), _read(Path(path)), input_shape, allow_unsupported).network()


def _read(path: Path) -> onnx.ModelProto:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise WorkloadError(f"{path}: no such file") from None
    except OSError as err:
        raise WorkloadError(f"{path}: cannot read: {err.strerror or err}") from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, ValueError, RuntimeError):
        raise WorkloadError(f"{path}: not an ONNX model: the file does not parse as an ONNX "
                            f"protobuf (truncated, corrupt, or another format)") from None
    if model.ir_version < 1 or not model.HasField("graph") or not model.graph.node:
        raise WorkloadError(f"{path}: not an ONNX model: it has no IR version or no graph "
                            f"nodes")
    if not any(o.domain in ("", "ai.onnx") for o in model.opset_import):
        raise WorkloadError(f"{path}: the model imports no version of the standard ONNX "
                            f"operator set")
    return model


def _subgraph_inputs(node: onnx.NodeProto) -> list[str]:
    """Outer-scope tensors the subgraphs of a control-flow node read (implicit inputs)."""
    names = []
    for a in node.attribute:
        graphs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
        for g in graphs:
            local = {t.name for t in g.initializer} | {v.name for v in g.input}
            for inner in g.node:
                local.update(inner.output)
            for inner in g.node:
                names += [t for t in list(inner.input) + _subgraph_inputs(inner)
                          if t and t not in local]
    return names




class _Importer:
    """One import: the model, its analysis, and the layers built so far."""

    def __init__(self, path: Path, model: onnx.ModelProto, input_shape, allow_unsupported: bool):
        self.path = path
        self.model = model
        self.graph = model.graph
        self.opset = next((o.version for o in model.opset_import
                           if o.domain in ("", "ai.onnx")), 1)
        self.allow_unsupported = allow_unsupported
        self.nodes = list(self.graph.node)
        self.fixed = self._fixed_weights()
        self._order()
        self._consumers()
        self._constants()
        self._sequence_inputs()
        self._fix_inputs(input_shape)
        self._infer()
        # Mapping state.
        self.refs: dict[str, str] = {}          # ONNX tensor -> perfsim tensor reference
        self.const_refs: dict[str, str] = {}    # constant read as data -> its layer
        self.layers: list[Layer] = []
        self.ir_shapes: dict[str, tuple[Shape, ...]] = {}
        self.taken: set[str] = set()
        self.counts: dict[str, int] = {}
        self.absorbed: set[int] = set()
        self.patterns: dict[int, Match] = {}
        self.pad_fold: dict[int, tuple[str, tuple[int, int, int, int]]] = {}
        self.rnn_outputs: set[str] = set()      # recurrent outputs Y, (T, D, N, H)
        self.counted: set[str] = set()          # weights some layer's parameters hold
        self.root_memo: dict[str, list[str] | None] = {}

    def _fixed_weights(self) -> set[str]:
        for prop in self.model.metadata_props:
            if prop.key == FIXED_WEIGHTS_KEY:
                try:
                    names = json.loads(prop.value)
                except ValueError:
                    names = None
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise WorkloadError(f"{self.path}: metadata '{FIXED_WEIGHTS_KEY}' must be a "
                                        f"JSON list of tensor names")
                return set(names)
        return set()

    def where(self, index: int) -> str:
        node = self.nodes[index]
        label = f"'{node.name}'" if node.name else f"#{index}"
        return f"node {label} ({node.op_type})"

    def _order(self) -> None:
        """Producers and a topological order (the file's where it is one), or an error for a
        tensor produced twice, a dangling input or a cycle."""
        self.initializers = {t.name: t for t in self.graph.initializer}
        graph_inputs = {v.name for v in self.graph.input}
        self.producer: dict[str, int] = {}
        for i, node in enumerate(self.nodes):
            for t in node.output:
                if not t:
                    continue
                if t in self.producer or t in self.initializers or t in graph_inputs:
                    raise WorkloadError(f"{self.path}: {self.where(i)}: tensor '{t}' is produced "
                                        f"more than once")
                self.producer[t] = i
        known = set(self.producer) | set(self.initializers) | set(graph_inputs)
        deps: list[set[int]] = []
        for i, node in enumerate(self.nodes):
            needs = set()
            for t in list(node.input) + _subgraph_inputs(node):
                if not t:
                    continue
                if t not in known:
                    raise WorkloadError(f"{self.path}: {self.where(i)}: input '{t}' is not "
                                        f"produced by any node, initializer or graph input "
                                        f"(a dangling input)")
                if t in self.producer:
                    needs.add(self.producer[t])
            deps.append(needs)
        users: list[list[int]] = [[] for _ in self.nodes]
        for i, needs in enumerate(deps):
            for j in needs:
                users[j].append(i)
        waiting = [len(d) for d in deps]
        ready = [i for i, n in enumerate(waiting) if n == 0]
        heapq.heapify(ready)
        self.order: list[int] = []
        while ready:
            i = heapq.heappop(ready)
            self.order.append(i)
            for j in users[i]:
                waiting[j] -= 1
                if waiting[j] == 0:
                    heapq.heappush(ready, j)
        if len(self.order) < len(self.nodes):
            stuck = [self.where(i) for i, n in enumerate(waiting) if n > 0]
            raise WorkloadError(f"{self.path}: the graph has a cycle through "
                                f"{', '.join(stuck[:6])}{' ...' if len(stuck) > 6 else ''}")

    def _constants(self) -> None:
        """Network inputs, and the constant tensors: initializers, graph inputs read only where
        weights or settings go, and outputs of nodes computed from constants alone (or from
        shapes, which are known)."""
        self.weight_inputs: set[str] = set()
        self.real_inputs: list[onnx.ValueInfoProto] = []
        for v in self.graph.input:
            if v.name in self.initializers:
                continue
            slots = self.consumers.get(v.name, [])
            if slots and all(k in CONST_SLOTS.get(self.nodes[i].op_type, ())
                             for i, k in slots):
                self.weight_inputs.add(v.name)
            else:
                self.real_inputs.append(v)
        if not self.real_inputs:
            raise WorkloadError(f"{self.path}: the graph has no input (every graph input is an "
                                f"initializer or a weight)")
        self.const = set(self.initializers) | self.weight_inputs
        self.const_nodes: set[int] = set()
        for i in self.order:
            node = self.nodes[i]
            inputs = [t for t in node.input if t]
            if node.op_type in ("Shape", "Size") or all(t in self.const for t in inputs):
                self.const_nodes.add(i)
                self.const.update(t for t in node.output if t)

    def _sequence_inputs(self) -> None:
        """The batch axis of each tensor, starting with the inputs: 1 for a time-major input
        that a recurrent node reads as ``X`` (directly or through pass-through ops), else 0."""
        self.batch_axis: dict[str, int] = {}
        names = {v.name for v in self.real_inputs}
        for node in self.nodes:
            if node.op_type in RECURRENT and node.input:
                t = node.input[0]
                while t in self.producer and self.nodes[self.producer[t]].op_type in _PASS_THROUGH:
                    t = self.nodes[self.producer[t]].input[0]
                if t in names:
                    self.batch_axis[t] = 1

    def _consumers(self) -> None:
        """Who reads each tensor: ``(node index, input position)`` pairs."""
        self.consumers: dict[str, list[tuple[int, int]]] = {}
        for i, node in enumerate(self.nodes):
            for k, t in enumerate(node.input):
                if t:
                    self.consumers.setdefault(t, []).append((i, k))
        self.outputs = {v.name for v in self.graph.output}

    def _fix_inputs(self, input_shape) -> None:
        """Batch dimensions become 1; ``input_shape`` sets the single input's others."""
        if input_shape is not None and len(self.real_inputs) != 1:
            names = ", ".join(f"'{v.name}'" for v in self.real_inputs)
            raise WorkloadError(f"{self.path}: input_shape is ambiguous: the model has "
                                f"{len(self.real_inputs)} inputs ({names}); perfsim sets the "
                                f"shape of a single input only")
        self.dynamic_inputs: list[str] = []  # inputs whose non-batch dimensions input_shape set
        for v in self.real_inputs:
            if not v.type.HasField("tensor_type"):
                raise WorkloadError(f"{self.path}: input '{v.name}' is not a tensor")
            tensor = v.type.tensor_type
            axis = self.batch_axis.get(v.name, 0)
            if not tensor.HasField("shape"):
                if input_shape is None:
                    raise WorkloadError(f"{self.path}: input '{v.name}' declares no shape; give "
                                        f"its shape as input_shape (C, H, W) (--input-shape)")
                for _ in range(3 if axis else 4):
                    tensor.shape.dim.add()
            declared = [d.dim_value if d.HasField("dim_value") else None
                        for d in tensor.shape.dim]
            if not declared:
                raise WorkloadError(f"{self.path}: input '{v.name}' is a scalar, not a tensor "
                                    f"of samples")
            if input_shape is not None:
                wanted = self._input_dims(v.name, declared, axis, tuple(input_shape))
                if any(d is None for i, d in enumerate(declared) if i != axis):
                    self.dynamic_inputs.append(v.name)
            else:
                wanted = list(declared)
                if wanted[axis] is None:
                    wanted[axis] = 1
                if None in wanted:
                    shown = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?")
                             for d in tensor.shape.dim]
                    raise WorkloadError(f"{self.path}: input '{v.name}' has dynamic dimensions "
                                        f"{shown}; give its shape as input_shape (C, H, W) "
                                        f"(--input-shape)")
            for d, value in zip(tensor.shape.dim, wanted):
                d.Clear()
                d.dim_value = value
        for name in self.weight_inputs:
            v = next(v for v in self.graph.input if v.name == name)
            dims = v.type.tensor_type.shape.dim
            if not v.type.tensor_type.HasField("shape") or any(
                    not d.HasField("dim_value") for d in dims):
                raise WorkloadError(f"{self.path}: weight input '{name}' has no fixed shape")

    def _input_dims(self, name: str, declared: Dims, axis: int, shape) -> list[int]:
        c, h, w = shape
        rank = len(declared)
        if axis == 1 and rank == 3 and h == 1:
            wanted = [w, None, c]
        elif axis == 0 and rank == 4:
            wanted = [None, c, h, w]
        elif axis == 0 and rank == 3 and h == 1:
            wanted = [None, c, w]
        elif axis == 0 and rank == 2 and h == w == 1:
            wanted = [None, c]
        else:
            raise WorkloadError(f"{self.path}: input '{name}' has rank {rank}; input_shape "
                                f"{fmt_shape(shape)} does not fit it (rank 4 is [C, H, W], rank "
                                f"3 [C, 1, L], rank 2 [F, 1, 1], a sequence [F, 1, T])")
        wanted[axis] = declared[axis] if declared[axis] is not None else 1
        for i, (have, want) in enumerate(zip(declared, wanted)):
            if have is not None and have != want:
                raise WorkloadError(f"{self.path}: input '{name}' has the fixed dimension "
                                    f"{have} at axis {i}; input_shape {fmt_shape(shape)} asks "
                                    f"for {want}")
        return wanted

    # ------------------------------------------------------------------ shape inference


    # ------------------------------------------------------------------ shape inference

    def _infer(self) -> None:
        """ONNX shape inference alternating with shape folding, until nothing new folds.
        Every node reading a folded tensor reads its value (as an initializer) from then on."""
        known_ops = {i for i, n in enumerate(self.nodes)
                     if n.domain in ("", "ai.onnx") and onnx.defs.has(n.op_type)}
        # Declared shapes of tensors onnx can infer are dropped (they may be stale: exported
        # at another input size); those of unknown ops are all there is, so they stay.
        keep = {t for i, n in enumerate(self.nodes) if i not in known_ops for t in n.output}
        kept = [v for v in self.graph.value_info if v.name in keep]
        del self.graph.value_info[:]
        self.graph.value_info.extend(kept)
        for v in self.graph.output:
            if v.name not in keep:
                v.type.tensor_type.ClearField("shape")
        while True:
            try:
                inferred = onnx.shape_inference.infer_shapes(self.model, data_prop=True)
            except Exception as err:  # onnx raises several types; all mean a malformed model
                raise WorkloadError(f"{self.path}: ONNX shape inference failed: "
                                    f"{str(err).strip().splitlines()[0]}") from None
            self.shapes = self._collect_shapes(inferred.graph)
            self.values = self._fold()
            changed = False
            for node in self.nodes:
                if (node.op_type in SAME_SHAPE and self.shapes.get(node.input[0])
                        and node.output[0] not in self.shapes):
                    self.graph.value_info.append(onnx.helper.make_tensor_value_info(
                        node.output[0], onnx.TensorProto.FLOAT, self.shapes[node.input[0]]))
                    changed = True
            for node in self.nodes:
                for k, t in enumerate(node.input):
                    value = self.values.get(t)
                    if (t in self.initializers or value is None
                            or not (np.issubdtype(value.dtype, np.integer)
                                    or node.op_type in ("Resize", "Upsample"))):
                        continue
                    name = f"{t}::folded"
                    if name not in self.initializers:
                        init = numpy_helper.from_array(value, name)
                        self.graph.initializer.append(init)
                        self.initializers[name] = init
                        self.const.add(name)
                    node.input[k] = name
                    changed = True
            if not changed:
                break
        self._consumers()

    def _collect_shapes(self, graph: onnx.GraphProto) -> dict[str, Dims | None]:
        shapes: dict[str, Dims | None] = {}
        for v in list(graph.input) + list(graph.value_info) + list(graph.output):
            tensor = v.type.tensor_type
            if v.type.HasField("tensor_type") and tensor.HasField("shape"):
                shapes[v.name] = [d.dim_value if d.HasField("dim_value") else None
                                  for d in tensor.shape.dim]
        for t in graph.initializer:
            shapes[t.name] = list(t.dims)
        return shapes

    def _fold(self) -> dict[str, np.ndarray]:
        values: dict[str, np.ndarray] = {}
        for name, t in self.initializers.items():
            if (t.data_location != onnx.TensorProto.EXTERNAL and _prod(t.dims) <= FOLD_LIMIT):
                try:
                    values[name] = numpy_helper.to_array(t)
                except Exception:  # a malformed or empty initializer: its value is unknown
                    pass
        for i in self.order:
            if i not in self.const_nodes:
                continue
            node = self.nodes[i]
            try:
                out = evaluate(node, [values.get(t) if t else None for t in node.input],
                               [self.shapes.get(t) for t in node.input])
            except Exception:  # anything the folder does not understand stays unknown
                out = None
            if out is not None and out.size <= FOLD_LIMIT:
                values[node.output[0]] = out
        return values

    def _known(self, t: str) -> bool:
        dims = self.shapes.get(t)
        return dims is not None and None not in dims

    def _why_unknown(self, t: str) -> tuple[str, bool]:
        """Why onnx's shape inference leaves ``t`` open: the first node on the way back whose
        inputs are known but whose output is not, and what it lacks; and whether a dynamic
        input dimension may be the cause."""
        seen: set[str] = set()
        while True:
            i = self.producer.get(t)
            if i is None:
                return f"'{t}' is a graph input without a full declared shape", False
            node = self.nodes[i]
            open_inputs = [u for u in node.input if u and not self._known(u) and u not in seen]
            if not open_inputs:
                break
            seen.add(t)
            t = open_inputs[0]
        here = self.where(i)
        if not (node.domain in ("", "ai.onnx") and onnx.defs.has(node.op_type)):
            return (f"onnx has no shape inference for {node.op_type} ({here}): declare the "
                    f"shape of '{node.output[0]}' in the graph's value_info"), False
        for k in _SETTINGS.get(node.op_type, ()):
            u = node.input[k] if k < len(node.input) else ""
            if u and u not in self.initializers and self.values.get(u) is None:
                return (f"{here} computes it from '{u}' (input {k}), whose value perfsim "
                        f"cannot fold: {self._why_no_value(u)}"), bool(self.dynamic_inputs)
        return (f"onnx's shape inference gives {here} no output shape from inputs of known "
                f"shapes"), bool(self.dynamic_inputs)

    def _why_no_value(self, t: str) -> str:
        """Why the folding has no value for ``t``."""
        while True:
            i = self.producer.get(t)
            if i is None:
                kind = "a graph input" if t not in self.const else "a weight without data"
                return f"'{t}' is {kind}, not a constant"
            node = self.nodes[i]
            if i not in self.const_nodes:
                return (f"it depends on the values of '{t}' ({self.where(i)}), which are "
                        f"computed at run time, not from shapes")
            missing = [u for u in node.input if u and self.values.get(u) is None
                       and node.op_type not in ("Shape", "Size")]
            if not missing:
                break
            t = missing[0]
        if node.op_type not in FOLDED_OPS:
            return f"perfsim does not evaluate {node.op_type} ({self.where(i)})"
        if node.op_type in ("Shape", "Size"):
            return f"the shape {self.where(i)} reads is not known"
        return (f"{self.where(i)} computes more than {FOLD_LIMIT} elements or values it "
                f"does not take")

    # ------------------------------------------------------------------ tensors

    def dims(self, t: str, index: int) -> list[int]:
        """Fully known ONNX dimensions of ``t`` (read by node ``index``), or an error that
        says which node leaves it open and why."""
        dims = self.shapes.get(t)
        if dims is None or any(d is None for d in dims):
            origin = self.producer.get(t)
            place = f"output of {self.where(origin)}" if origin is not None else "a graph input"
            if origin != index:
                place += f", read by {self.where(index)}"
            shown = "unknown" if dims is None else str(["?" if d is None else d for d in dims])
            reason, dynamic = self._why_unknown(t)
            hint = ""
            if dynamic:
                hint = (f"; input(s) {', '.join(repr(n) for n in self.dynamic_inputs)} had "
                        f"dynamic dimensions, set from input_shape (--input-shape): check "
                        f"that the model takes that shape")
            raise WorkloadError(f"{self.path}: cannot infer the shape of tensor '{t}' ({place}): "
                                f"its shape is {shown}; {reason}{hint}")
        if any(d == 0 for d in dims):
            raise WorkloadError(f"{self.path}: tensor '{t}' (read by {self.where(index)}) is "
                                f"empty: shape {dims}")
        return dims

    def batch(self, t: str) -> int | None:
        """The batch axis of ``t`` (None: it has none, merged into another axis)."""
        return self.batch_axis.get(t, 0)

    def set_batch(self, t: str, axis: int | None) -> None:
        self.batch_axis[t] = _settle(self.shapes.get(t), axis)

    def sample_shape(self, t: str, index: int) -> Shape:
        return _per_sample(self.dims(t, index), self.batch(t), t in self.rnn_outputs)

    def placement(self, t: str, index: int) -> list[int | None]:
        return _placement(len(self.dims(t, index)), self.batch(t), t in self.rnn_outputs)

    def data(self, index: int, k: int, batch_first: bool = True, tensor: str | None = None) -> str:
        """The perfsim reference of input ``k`` of node ``index`` (an activation)."""
        t = tensor or self.nodes[index].input[k]
        if t in self.const:
            raise _Unsupported(f"its input '{t}' is a constant, not an activation")
        if batch_first and self.batch(t) != 0:
            what = "a time-major sequence" if self.batch(t) else "a tensor whose batch axis " \
                "is merged into another"
            raise _Unsupported(f"its input '{t}' is {what}")
        if t not in self.refs:
            raise WorkloadError(f"{self.path}: {self.where(index)}: input '{t}' was not imported")
        return self.refs[t]

    def operand(self, index: int, t: str) -> str:
        """The perfsim reference of ``t``, an activation or a constant read as data (a
        :meth:`constant` layer)."""
        if t in self.const:
            return self.constant(index, t)
        return self.data(index, 0, batch_first=False, tensor=t)

    def weight_dims(self, index: int, k: int) -> list[int]:
        node = self.nodes[index]
        if k >= len(node.input) or not node.input[k]:
            raise _Unsupported(f"input {k} is missing")
        t = node.input[k]
        if t not in self.const:
            raise _Unsupported(f"its weight '{t}' is computed at run time")
        return self.dims(t, index)

    def optional(self, index: int, k: int) -> str | None:
        node = self.nodes[index]
        return node.input[k] if k < len(node.input) and node.input[k] else None

    def scalar(self, t: str | None) -> float | None:
        value = self.values.get(t) if t else None
        return float(value.reshape(-1)[0]) if value is not None and value.size == 1 else None

    def only_consumer(self, t: str) -> tuple[int, onnx.NodeProto] | None:
        users = self.consumers.get(t, [])
        if len(users) != 1 or t in self.outputs:
            return None
        i = users[0][0]
        return (i, self.nodes[i]) if i not in self.const_nodes else None

    def used(self, t: str) -> bool:
        return bool(t) and (t in self.consumers or t in self.outputs)

    def _dtype(self, t: str) -> int | None:
        """The element type of a constant that starts a chain (see :meth:`sources`)."""
        if t in self.initializers:
            return self.initializers[t].data_type
        for v in self.graph.input:
            if v.name == t:
                return v.type.tensor_type.elem_type
        i = self.producer.get(t)
        if i is None:
            return None
        a = _attrs(self.nodes[i])
        if self.nodes[i].op_type == "ConstantOfShape":
            return a["value"].data_type if "value" in a else onnx.TensorProto.FLOAT
        if self.nodes[i].op_type == "Constant" and "value" in a:
            return a["value"].data_type
        return None

    def sources(self, t: str) -> list[str] | None:
        """The constants constant ``t`` holds unchanged in number: the initializers, weight
        inputs and ``Constant``/``ConstantOfShape`` outputs it is reached from through
        :data:`_WEIGHT_VIEWS` (the data input of a Gather, Slice, Expand, Tile or Reshape),
        each once; None when ``t`` is computed by arithmetic (a mask)."""
        if t in self.root_memo:
            return self.root_memo[t]
        i = self.producer.get(t)
        if i is None or self.nodes[i].op_type in ("Constant", "ConstantOfShape"):
            found: list[str] | None = [t]
        elif self.nodes[i].op_type in ("Shape", "Size") or t in self.initializers:
            found = [t] if t in self.initializers else []
        elif self.nodes[i].op_type in _WEIGHT_VIEWS:
            node = self.nodes[i]
            data = list(node.input) if node.op_type == "Concat" else [node.input[0]]
            found = []
            for u in data:
                below = self.sources(u) if u else []
                if below is None:
                    found = None
                    break
                found += [s for s in below if s not in found]
        else:
            found = None
        self.root_memo[t] = found
        return found

    def stored(self, t: str) -> list[str]:
        """The initializers and weight inputs constant ``t`` is computed from, through any op
        (not through the shape a Shape reads)."""
        if t in self.initializers or t in self.weight_inputs:
            return [t]
        i = self.producer.get(t)
        if i is None or self.nodes[i].op_type in ("Shape", "Size"):
            return []
        key = f"{t}::stored"
        if key not in self.root_memo:
            found: list[str] = []
            for u in self.nodes[i].input:
                found += [s for s in (self.stored(u) if u else []) if s not in found]
            self.root_memo[key] = found
        return self.root_memo[key]  # type: ignore[return-value]

    def weights_of(self, t: str) -> list[str]:
        """The trainable weights constant ``t`` holds: its :meth:`sources` of a float type,
        not fixed; when it is computed by arithmetic, the float initializers it is computed
        from (an attention mask built from shapes holds none)."""
        found = self.sources(t)
        if found is None:
            found = self.stored(t)
        return [s for s in found if self._dtype(s) in _FLOAT_TYPES and s not in self.fixed]

    # ------------------------------------------------------------------ layers

    def claim(self, base: str, op_type: str) -> str:
        """A unique layer name from a node name (``OpType_N`` when empty); a trailing ``:N``
        would read as an output index, so its colon becomes ``_``."""
        if not base:
            self.counts[op_type] = self.counts.get(op_type, 0) + 1
            base = f"{op_type}_{self.counts[op_type]}"
        head, sep, tail = base.rpartition(":")
        if sep and tail.isdigit():
            base = f"{head}_{tail}"
        name, n = base, 1
        while name in self.taken:
            n += 1
            name = f"{base}_{n}"
        self.taken.add(name)
        return name

    def base(self, index: int) -> str:
        """The name a node's layers start from: its own, else ``OpType_index``."""
        node = self.nodes[index]
        return node.name or f"{node.op_type}_{index}"

    def emit(self, index: int, op: Op, inputs: list[str], outputs: list[str],
             name: str | None = None, batch_axis: int | None = 0, views: bool = False) -> str:
        """Append a layer for node ``index`` (named after it unless ``name``) and bind its
        outputs, checking their shapes against ONNX's. With ``views``, an output whose shape
        differs from ONNX's (in elements alike) is bound through a reshape view
        ``<layer>/out_view`` instead."""
        node = self.nodes[index]
        layer = Layer(self.claim(node.name if name is None else name, node.op_type), op,
                      tuple(inputs))
        try:
            shapes = infer_shapes(self.path.stem, layer, self.ir_shapes)
        except WorkloadError as err:
            raise WorkloadError(f"{self.path}: {self.where(index)}: {err}") from None
        self.ir_shapes[layer.name] = shapes
        self.layers.append(layer)
        for i, t in enumerate(outputs):
            if not t:
                continue
            self.set_batch(t, batch_axis)
            ref = f"{layer.name}:{i}" if i else layer.name
            if self.used(t):
                onnx_shape = self.sample_shape(t, index)
                if views and onnx_shape != shapes[i] and elems(onnx_shape) == elems(shapes[i]):
                    view = Layer(self.claim(f"{layer.name}/out_view", node.op_type),
                                 Reshape(shape=onnx_shape), (ref,))
                    self.ir_shapes[view.name] = (onnx_shape,)
                    self.layers.append(view)
                    ref = view.name
                elif onnx_shape != shapes[i]:
                    raise WorkloadError(
                        f"{self.path}: {self.where(index)}: perfsim computes the output "
                        f"'{t}' as {fmt_shape(shapes[i])} ({op.kind}) but ONNX shape inference "
                        f"gives {self.dims(t, index)} ({fmt_shape(onnx_shape)} per sample)")
            self.refs[t] = ref
        return layer.name

    def view(self, index: int, ref: str, shape: Shape, name: str) -> str:
        """``ref`` relabelled as ``shape`` (a reshape view named ``name``), or ``ref`` when it
        has that shape."""
        if self.ir_shape(ref) == shape:
            return ref
        return self.emit(index, Reshape(shape=shape), [ref], [], name=name)

    def along(self, index: int, t: str, ref: str, axes, *, single: bool = False,
              last: bool = False, name: str | None = None) -> tuple[str, tuple[int, ...]]:
        """``ref`` (ONNX tensor ``t``) laid out so that the ONNX ``axes`` are perfsim axes of
        their own, and those axes: as it is when they already are (every other ONNX axis on
        the same perfsim axes has size 1, and with ``single`` they are one perfsim axis),
        else through a view ``(before, axes, after)`` (``(before, 1, axes)`` with ``last``
        when nothing follows them; named ``name``, by default ``<node>/in_view``). The batch
        axis cannot be among them."""
        dims = self.dims(t, index)
        rank = len(dims)
        axes = sorted({int(a) % rank for a in axes}) if rank else []
        place = self.placement(t, index)
        if any(place[a] is None for a in axes):
            raise _Unsupported("it works along the batch axis")
        ir = sorted({place[a] for a in axes})
        clean = all(dims[j] == 1 for j in range(rank)
                    if j not in axes and place[j] is not None and place[j] in ir)
        if clean and not (single and len(ir) > 1):
            return ref, tuple(ir)
        per_sample = [j for j in range(rank) if place[j] is not None]
        pos = [per_sample.index(a) for a in axes]
        if pos != list(range(pos[0], pos[-1] + 1)):
            raise _Unsupported(f"it works along axes {axes} that are not adjacent")
        sizes = [dims[j] for j in per_sample]
        before, inner = _prod(sizes[:pos[0]]), _prod(sizes[pos[0]:pos[-1] + 1])
        after = _prod(sizes[pos[-1] + 1:])
        if last and after == 1:
            shape, axis = (before, 1, inner), 2
        else:
            shape, axis = (before, inner, after), 1
        return self.view(index, ref, shape, name or f"{self.base(index)}/in_view"), (axis,)

    def check_params(self, index: int, names: list[str], weights: list[str | None],
                     tied: bool = False) -> None:
        """The layers' parameters must equal the trainable weight elements the file holds for
        them (``tied``: less those an earlier layer holds, which it shares)."""
        counted = sum(layer.op.params(tuple(self.ir_shape(r) for r in layer.inputs))
                      for layer in self.layers if layer.name in names)
        new = [s for t in weights if t and t not in self.fixed for s in self.weights_of(t)
               if not (tied and s in self.counted)]
        held = sum(_prod(self.dims(s, index)) for s in dict.fromkeys(new))
        if counted != held:
            raise WorkloadError(f"{self.path}: {self.where(index)}: perfsim counts {counted} "
                                f"parameters but the file's weights hold {held}")
        self.counted.update(new)

    def tied(self, weight: str) -> bool:
        """Whether every trainable weight ``weight`` holds is held by an earlier layer."""
        found = self.weights_of(weight)
        return bool(found) and all(s in self.counted for s in found)

    def ir_shape(self, ref: str) -> Shape:
        """perfsim's shape of a layer output imported so far."""
        source, k = parse_ref(ref)
        return self.ir_shapes[source][k]

    def alias(self, index: int, source: str, output: str | None = None) -> None:
        """Node ``index`` passes ``source`` through unchanged (Identity): no layer."""
        node = self.nodes[index]
        output = output or node.output[0]
        self.refs[output] = self.refs[source]
        self.batch_axis[output] = self.batch(source)
        if source in self.rnn_outputs:
            self.rnn_outputs.add(output)

    def constant(self, index: int, t: str) -> str:
        """A layer standing for constant ``t`` where a node reads it as data (a class token
        concatenated with the tokens, a learnt bias added to attention scores, an attention
        mask): a ``parameter`` of its shape, named after the weight it holds, when it holds
        trainable weights of as many elements; rows of a table gathered by constant indices
        (:meth:`_gathered`); a network ``input`` named after it when it holds none (computed
        from shapes, or an additive mask: data read from memory, not parameters)."""
        if t in self.const_refs:
            return self.const_refs[t]
        dims = self.dims(t, index)
        self.batch_axis[t] = _settle(dims, None)
        shape = _per_sample(dims, self.batch(t))
        weights = [s for s in self.weights_of(t) if s not in self.counted]
        if not weights or self._additive_mask(weights):
            name = self.emit(index, Input(shape=shape), [], [], name=t)
        elif sum(_prod(self.dims(s, index)) for s in weights) == elems(shape):
            name = self.emit(index, Parameter(shape=shape), [], [],
                             name=weights[0] if len(weights) == 1 else t)
            self.check_params(index, [name], weights)
        else:
            name = self._gathered(index, t, weights, shape)
        self.const_refs[t] = name
        return name

    def _gathered(self, index: int, t: str, weights: list[str], shape: Shape) -> str:
        """Constant ``t`` made of rows of one table gathered by constant indices (Swin's and
        MaxViT's relative position bias, unless the exporter folded it): the indices a network
        ``input`` (a buffer read from memory), the table an ``embedding`` looked up by them,
        and a view as ``t``."""
        u = t
        while True:
            i = self.producer.get(u)
            node = self.nodes[i] if i is not None else None
            if node is None or node.op_type not in _WEIGHT_VIEWS or node.op_type == "Concat":
                node = None
                break
            if node.op_type == "Gather":
                break
            u = node.input[0]
        table = self.dims(weights[0], index) if len(weights) == 1 else []
        if (node is None or len(table) != 2 or _attrs(node).get("axis", 0) != 0
                or self.weights_of(node.input[0]) != weights):
            held = sum(_prod(self.dims(s, index)) for s in weights)
            raise _Unsupported(f"it reads constant '{t}' ({elems(shape)} elements) made from "
                               f"{held} weight elements, which perfsim has no layer for")
        ids = node.input[1]
        stored = self.stored(ids)
        n = _prod(self.dims(ids, index))
        ref = self.emit(index, Input(shape=(n, 1, 1)), [], [],
                        name=stored[0] if len(stored) == 1 else ids)
        ref = self.emit(index, Embedding(num_embeddings=table[0], dim=table[1]), [ref], [],
                        name=weights[0])
        self.check_params(index, [ref], weights)
        return self.view(index, ref, shape, f"{weights[0]}/view")

    def _additive_mask(self, weights: list[str]) -> bool:
        """Whether float constants ``weights`` hold an additive attention mask an exporter
        folded into an initializer (Swin's shifted-window mask): zeros and one large negative
        fill (at most -100), nothing else. Such a tensor is data, not parameters."""
        fills = set()
        for w in weights:
            init = self.initializers.get(w)
            if init is None or init.data_location == onnx.TensorProto.EXTERNAL:
                return False
            try:
                fills.update(np.unique(numpy_helper.to_array(init)).tolist())
            except Exception:  # no data: a weight whose values are not in the file
                return False
        return len(fills) == 2 and 0 in fills and min(fills) <= -100

    def network(self) -> Network:
        """Map every node (in topological order) and return the network."""
        for v in self.real_inputs:
            name = self.claim(v.name, "input")
            dims = [d.dim_value for d in v.type.tensor_type.shape.dim]
            shape = _per_sample(dims, self.batch_axis.get(v.name, 0))
            if min(shape) < 1:
                raise WorkloadError(f"{self.path}: input '{v.name}' is empty: shape {dims}")
            try:
                self.layers.append(Layer(name, Input(shape=shape)))
            except ValueError as err:  # a dimension beyond perfsim's limits
                raise WorkloadError(f"{self.path}: input '{v.name}': {err}") from None
            self.ir_shapes[name] = (shape,)
            self.refs[v.name] = name
        position = {index: n for n, index in enumerate(self.order)}
        for match in find_patterns(self):
            last = max(match.nodes, key=position.__getitem__)
            self.patterns[last] = match
            self.absorbed.update(i for i in match.nodes if i != last)
        for index in self.order:
            if index in self.const_nodes or index in self.absorbed:
                continue
            node = self.nodes[index]
            try:
                if index in self.patterns:
                    _pattern(self, index, self.patterns[index])
                    continue
                if node.domain not in ("", "ai.onnx"):
                    raise _Unsupported(f"it is in the custom domain '{node.domain}'")
                handler = HANDLERS.get(node.op_type)
                if handler is not None:
                    handler(self, index, node)
                elif node.op_type in registry_ops():
                    _unary(self, index, node, registry_ops()[node.op_type]())
                else:
                    raise _Unsupported()
            except _Unsupported as err:
                self.placeholder(index, err.detail)
            except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as err:
                # A required attribute or input missing, or one of the wrong kind or value.
                raise WorkloadError(f"{self.path}: {self.where(index)}: malformed node "
                                    f"({type(err).__name__}: {err})") from None
        description = self.model.doc_string or self.graph.doc_string
        return Network(self.path.stem, tuple(self.layers), 1, description, str(self.path))

    def placeholder(self, index: int, detail: str) -> None:
        node = self.nodes[index]
        if index in self.patterns:
            node = self.nodes[min(self.patterns[index].nodes)]
        what = f"{self.where(index)}: unsupported ONNX op {node.op_type}"
        if detail:
            what += f" ({detail})"
        if not self.allow_unsupported:
            raise WorkloadError(f"{self.path}: {what}; supported ops: "
                                f"{', '.join(supported_ops())}; "
                                f"allow_unsupported (--allow-unsupported) imports it as a "
                                f"zero-cost placeholder")
        outputs = [self.patterns[index].output] if index in self.patterns else list(node.output)
        if any(self.used(t) for t in outputs[1:]):
            raise WorkloadError(f"{self.path}: {what}, and a placeholder stands for one output "
                                f"but the graph reads several")
        reads = [self.patterns[index].x] if index in self.patterns else \
            [t for t in node.input if t]
        if index in self.pad_fold:
            reads[0] = self.pad_fold[index][0]
        sources = [t for t in reads if t not in self.const and t in self.refs]
        inputs = [self.refs[t] for t in sources]
        self.set_batch(outputs[0], self.batch(sources[0]) if sources else 0)
        shape = self.sample_shape(outputs[0], index)
        op_type = f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") \
            else node.op_type
        self.emit(index, Placeholder(onnx_op=op_type, shape=shape,
                                     uncosted_macs=self.onnx_macs(node)),
                  inputs, [outputs[0]], batch_axis=self.batch(outputs[0]))

    def onnx_macs(self, node: onnx.NodeProto) -> int:
        """The MACs of a node perfsim could not map, per sample, from its ONNX shapes: a
        MatMul, Gemm, Einsum, Conv or ConvTranspose (0 for other ops, or when shapes are
        unknown)."""
        shapes = [self.shapes.get(t) for t in node.input] + \
            [self.shapes.get(t) for t in node.output[:1]]
        if any(s is None or None in s for s in shapes[:2] + shapes[-1:]):
            return 0
        out = shapes[-1]
        a = _attrs(node)
        if node.op_type == "MatMul":
            return _prod(out) * shapes[0][-1]
        if node.op_type == "Gemm":
            return _prod(out) * shapes[0][0 if a.get("transA", 0) else -1]
        if node.op_type == "Conv":
            return _prod(out) * _prod(shapes[1][1:])
        if node.op_type == "ConvTranspose":
            return _prod(shapes[0]) * _prod(shapes[1][1:])
        if node.op_type == "Einsum" and len(node.input) == 2:
            lhs = a.get("equation", "").replace(" ", "").partition("->")[0].split(",")
            sizes = {}
            for letters, dims in zip(lhs, shapes[:2]):
                if "." in letters or len(letters) != len(dims):
                    return 0
                sizes.update(zip(letters, dims))
            return _prod(sizes.values())
        return 0


# --------------------------------------------------------------------------- node handlers


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
        pairs = [_same_pads(s, k, st, d, auto == "SAME_UPPER")
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
        raise _Unsupported(f"a {len(in_dims) - 2}-D convolution")
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
        raise _Unsupported("its Indices output is read")
    x_t = _input_of(imp, index)
    x = imp.data(index, 0, tensor=x_t)
    in_dims = imp.dims(x_t, index)
    if len(in_dims) not in (3, 4):
        raise _Unsupported(f"{len(in_dims) - 2}-D pooling")
    a = _attrs(node)
    dilations = _spatial(a, "dilations", len(in_dims), 1)
    if any(d != 1 for d in dilations):
        raise _Unsupported("dilated pooling")
    (kernel, strides, _), padding = _window(imp, index, in_dims, list(a["kernel_shape"]),
                                            dilations)
    cls = MaxPool if node.op_type == "MaxPool" else AvgPool
    imp.emit(index, cls(kernel_size=tuple(kernel), strides=tuple(strides), padding=padding,
                        ceil_mode=bool(a.get("ceil_mode", 0))), [x], [node.output[0]])


def _global_pool(imp: _Importer, index: int, node) -> None:
    if _spp(imp, index, node):
        return
    if len(imp.dims(node.input[0], index)) < 3:
        raise _Unsupported("its input has no spatial axes")
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
    if _prod(w) != k * n:
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
        raise _Unsupported("transA=1")
    if node.input[1] not in imp.const:
        raise _Unsupported("it multiplies two activations (only a constant weight maps to fc)")
    in_dims = imp.dims(node.input[0], index)
    w = imp.weight_dims(index, 1)
    if len(in_dims) != 2 or len(w) != 2:
        raise _Unsupported("its operands are not matrices")
    k = w[0] if a.get("transB", 0) else w[1]
    bias = imp.optional(index, 2)
    if bias is not None and bias not in imp.const:
        raise _Unsupported("its C input is an activation")
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
            raise _Unsupported("its first operand is a vector")
        axis = None if rank == 2 and imp.batch(a_t) == 0 else rank - 1
        _weighted(imp, index, a_t, b_t, b_dims[1], None, axis, absorb_bias=True)
        return
    if min(len(a_dims), len(b_dims)) < 2:
        raise _Unsupported("an operand is a vector")
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
            raise _Unsupported(f"operand '{t}' does not fit '{letters}'")
        for letter, d in zip(letters, dims):
            if sizes.get(letter, d) != d and 1 not in (sizes[letter], d):
                raise _Unsupported(f"its operands disagree on the size of '{letter}'")
            sizes[letter] = max(sizes.get(letter, 1), d)
    both = set(a_letters) & set(b_letters)
    g = [c for c in out_letters if c in both]
    m = [c for c in out_letters if c in a_letters and c not in both]
    n = [c for c in out_letters if c in b_letters and c not in both]
    k = [c for c in a_letters if c in both and c not in out_letters]
    if set(out_letters) - set(a_letters) - set(b_letters) or \
            set(a_letters + b_letters) - set(out_letters) - set(k):
        raise _Unsupported("it sums over an axis of one operand alone")
    size = lambda letters: _prod(sizes[c] for c in letters)  # noqa: E731
    own = lambda t, letters: _prod(d for c, d in zip(letters, imp.dims(t, index))  # noqa: E731
                                   if c in g)
    g_a, g_b = own(a_t, a_letters), own(b_t, b_letters)
    if g_a not in (1, size(g)) or g_b not in (1, size(g)):
        raise _Unsupported("its operands broadcast against each other along some axes only")
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
        raise _Unsupported(f"equation '{equation}' is not a product of two tensors")
    consts = [t in imp.const for t in node.input]
    if consts == [True, True]:
        raise _Unsupported("both operands are constants")
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
            k = _prod(imp.dims(w_t, index)) // elems(imp.ir_shape(imp.refs[x_t]))
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
        raise _Unsupported("its Mean or InvStdDev output is read")
    x_t = node.input[0]
    rank = len(imp.dims(x_t, index))
    axis = a.get("axis", -1) % rank
    x = imp.data(index, 0, batch_first=False)
    ref, (ir,) = imp.along(index, x_t, x, range(axis, rank), single=True, last=True)
    bias = imp.optional(index, 2)
    name = imp.emit(index, LayerNorm(axis=ir, eps=_f32(a.get("epsilon", 1e-5)),
                                     bias=bias is not None),
                    [ref], [node.output[0]], batch_axis=imp.batch(x_t), views=True)
    imp.check_params(index, [name], [node.input[1], bias])


def _pattern(imp: _Importer, index: int, match: Match) -> None:
    """The layer of a pattern :func:`~perfsim.io.onnx_patterns.find_patterns` found, named
    after what its nodes' names share (PyTorch's module path)."""
    members = sorted(match.nodes)
    name = _path_prefix([imp.nodes[i].name for i in members]) or imp.nodes[members[0]].name
    x_t = match.x
    x = imp.data(index, 0, batch_first=False, tensor=x_t)
    if match.kind in ("layer_norm", "rms_norm"):
        dims = imp.dims(x_t, index)
        features = _prod(dims[a] for a in match.axes)
        for w in match.weights:
            if _prod(imp.dims(w, index)) != features:
                raise _Unsupported(f"its weight '{w}' is not one value per normalised feature")
        ref, (ir,) = imp.along(index, x_t, x, match.axes, single=True, last=True,
                               name=f"{name or imp.base(index)}/in_view")
        eps = _f32(match.settings["eps"])
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
    eps = _f32(a.get("epsilon", 1e-5))
    x = imp.data(index, 0)
    op_type = node.op_type
    if op_type == "BatchNormalization":
        if any(imp.used(t) for t in node.output[1:]):
            raise _Unsupported("its training-mode outputs are read")
        op: Op = BatchNorm(eps=eps)
    elif len(imp.dims(node.input[0], index)) < 3:
        raise _Unsupported("its input has no spatial axes")
    elif op_type == "InstanceNormalization":
        op = GroupNorm(num_groups=imp.ir_shape(x)[0], eps=eps)
    else:
        op = GroupNorm(num_groups=a["num_groups"], eps=eps)
    name = imp.emit(index, op, [x], [node.output[0]])
    imp.check_params(index, [name], [imp.optional(index, 1), imp.optional(index, 2)])


def _lrn(imp: _Importer, index: int, node) -> None:
    a = _attrs(node)
    imp.emit(index, LRN(size=a["size"], alpha=_f32(a.get("alpha", 1e-4)),
                        beta=_f32(a.get("beta", 0.75)), k=_f32(a.get("bias", 1.0))),
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
        raise _Unsupported(f"approximate='{approximate}'")
    _unary(imp, index, node, Gelu(approximate=approximate))


def _leaky_relu(imp: _Importer, index: int, node) -> None:
    _unary(imp, index, node, LeakyRelu(negative_slope=_f32(_attrs(node).get("alpha", 0.01))))


def _prelu(imp: _Importer, index: int, node) -> None:
    if node.input[1] not in imp.const:
        raise _Unsupported("its slope is computed at run time")
    kind = _constant_kind(imp, index, node.input[0], node.input[1])
    if kind == "scalar":
        _unary(imp, index, node, LeakyRelu(negative_slope=_f32(imp.scalar(node.input[1]) or 0.25)))
        return
    if kind != "channel":
        raise _Unsupported(f"its slope has shape {imp.dims(node.input[1], index)}")
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
        raise _Unsupported("its mask output is read")
    ratio = _attrs(node).get("ratio")
    if ratio is None:
        ratio = imp.scalar(imp.optional(index, 1))
    _unary(imp, index, node, Dropout(p=_f32(0.5 if ratio is None else ratio)))


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
    shape = _per_sample(full, axis)
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
        raise _Unsupported("it combines several constants")
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
        _scale(imp, index, node, x_k, _f32(1.0 if value is None else value), [])
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
    if len(weights) != 1 or _prod(imp.dims(weights[0], index)) % features:
        return False
    rows = _prod(imp.dims(weights[0], index)) // features
    offset = _row_offset(imp, c_t, weights[0])
    tokens = _prod(full) // features
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
        raise _Unsupported("it broadcasts a recurrent layer's output")
    b = _settle(out_dims, b)
    views = []
    for t, ref in zip(tensors, refs):
        dims = imp.dims(t, index)
        full = [1] * (rank - len(dims)) + list(dims)
        views.append(imp.view(index, ref, _per_sample(full, b), f"{imp.base(index)}/in_view"))
    try:
        fits = op.out_shapes(tuple(imp.ir_shape(v) for v in views))[0] == \
            _per_sample(out_dims, b)
    except ShapeError:
        fits = False
    if not fits:
        raise _Unsupported("its operands broadcast along axes perfsim keeps merged")
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
            _prod(imp.dims(u, index)) == 1 for u in others):
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
        raise _Unsupported("its axes are computed at run time")
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
    shape = (_prod(sizes[:p]), sizes[p], _prod(sizes[p + 1:]))
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
            raise _Unsupported("its bounds are computed at run time")
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
            raise _Unsupported("a reversed slice (negative step)")
        s, e = int(s), int(e)
        s = min(max(s + d if s < 0 else s, 0), d)
        e = min(max(e + d if e < 0 else e, 0), d)
        if e <= s:
            raise _Unsupported("an empty slice")
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
            raise _Unsupported("it cuts the batch axis")
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
            raise _Unsupported(f"a gather from a constant of shape {table} along axis {axis} "
                               f"(an embedding table is [rows, features], gathered on axis 0)")
        if any(s in imp.counted for s in imp.weights_of(data_t)):
            raise _Unsupported("its table is read by an earlier layer too")
        ids = imp.data(index, 1, batch_first=False)
        tokens = elems(imp.ir_shape(ids))
        ref = imp.view(index, ids, (tokens, 1, 1), f"{imp.base(index)}/in_view")
        name = imp.emit(index, Embedding(num_embeddings=table[0], dim=table[1]), [ref],
                        [node.output[0]], batch_axis=imp.batch(ids_t), views=True)
        imp.check_params(index, [name], [data_t])
        return
    if data_t in imp.const or ids_t not in imp.const:
        raise _Unsupported("its indices are computed at run time")
    value = imp.values.get(ids_t)
    dims = imp.dims(data_t, index)
    axis %= len(dims)
    if value is None:
        raise _Unsupported("its indices are unknown")
    ids = [int(v) % dims[axis] for v in value.reshape(-1)]
    step = ids[1] - ids[0] if len(ids) > 1 else 1
    if step < 1 or ids != list(range(ids[0], ids[0] + step * len(ids), step)):
        raise _Unsupported("it gathers indices that are not evenly spaced")
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
        raise _Unsupported("its inputs have different ranks")
    rank = len(imp.dims(first, index))
    axis %= rank
    views, outer = [], set()
    for t, ref in zip(inputs, refs):
        if t in imp.rnn_outputs:
            raise _Unsupported("its inputs have different layouts")
        axes, sizes = _per_sample_axes(imp, index, t)
        if axis not in axes:
            raise _Unsupported("it works along the batch axis")
        p = axes.index(axis)
        outer.add((_prod(sizes[:p]), _prod(sizes[p + 1:])))
        views.append(_axis_view(imp, index, ref, sizes, p))
    if len(outer) != 1:
        raise _Unsupported("its inputs differ off the concatenation axis")
    data = [t for t in inputs if t not in imp.const]
    imp.emit(index, Concat(axis=1), views, [out],
             batch_axis=imp.batch(data[0]) if data else 0, views=True)


def _kv_append(imp: _Importer, index: int, inputs: list[str], axis: int, out: str) -> None:
    cache_t, new_t = inputs
    cache = imp.refs[cache_t]
    new = imp.data(index, 1, batch_first=False, tensor=new_t)
    ref, (ir,) = imp.along(index, cache_t, cache, [axis], single=True)
    if ref != cache or imp.batch(new_t) != imp.batch(cache_t):
        raise _Unsupported("its cache is not laid out as perfsim's (heads, tokens, features)")
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
        axis = _prefix_axis(in_dims, out_dims, b)
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
    if _prod(in_dims) == _prod(out_dims):
        imp.set_batch(out, _prefix_axis(in_dims, out_dims, imp.batch(t)))
        imp.emit(index, Reshape(shape=imp.sample_shape(out, index)), [x], [out],
                 batch_axis=imp.batch(out))
        return
    full = [1] * (len(out_dims) - len(in_dims)) + list(in_dims)
    b = imp.batch(t)
    b = None if b is None else b + len(out_dims) - len(in_dims)
    repeats = [(j, o // i) for j, (i, o) in enumerate(zip(full, out_dims)) if o != i]
    if any(j == b for j, _ in repeats) or any(o % i for i, o in zip(full, out_dims)):
        raise _Unsupported("it repeats the batch axis")
    sizes = [d for j, d in enumerate(full) if j != b]
    ref = imp.view(index, x, _per_sample(full, b), f"{imp.base(index)}/in_view")
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
        raise _Unsupported(f"mode '{mode}'")
    x = imp.data(index, 0)
    in_dims, out_dims = imp.dims(node.input[0], index), imp.dims(node.output[0], index)
    if (len(in_dims) != 4 or out_dims[:2] != in_dims[:2]
            or any(o % i for o, i in zip(out_dims[2:], in_dims[2:]))):
        raise _Unsupported(f"it resizes {in_dims} to {out_dims}, not by integer factors of "
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
            raise _Unsupported("its pads are computed at run time")
        pads = [int(p) for p in value]
    axes_t = imp.optional(index, 3)
    axes = list(range(rank))
    if axes_t:
        value = imp.values.get(axes_t)
        if value is None:
            raise _Unsupported("its axes are computed at run time")
        axes = [int(v) % rank for v in value]
    begin, end = [0] * rank, [0] * rank
    for i, ax in enumerate(axes):
        begin[ax], end[ax] = pads[i], pads[len(axes) + i]
    if min(begin + end) < 0:
        raise _Unsupported("negative pads (cropping)")
    padded = [j for j in range(rank) if begin[j] or end[j]]
    if not padded:
        imp.alias(index, t)
        return
    b = imp.batch(t)
    if b in padded or t in imp.rnn_outputs:
        raise _Unsupported("it pads the batch axis")
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
        raise _Unsupported("it pads more than two axes")
    kept, sizes = _per_sample_axes(imp, index, t)
    ps = [kept.index(j) for j in padded]
    other = _prod(s for p, s in enumerate(sizes) if p not in ps)
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
        raise _Unsupported("batch-first layout (layout=1)")
    if imp.optional(index, 7):
        raise _Unsupported("peephole weights (input P)")
    if any(imp.used(t) for t in node.output[1:]):
        raise _Unsupported("its Y_h/Y_c outputs are read (perfsim maps Y)")
    x_t = node.input[0]
    if imp.batch_axis.get(x_t, 0) != 1 or len(imp.dims(x_t, index)) != 3:
        raise _Unsupported(f"its input '{x_t}' is not a time-major sequence (T, N, F)")
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
