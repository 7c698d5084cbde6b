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
5. map every remaining node onto layers (:mod:`perfsim.io.onnx_handlers`, one function per op
   type; the tensor layouts: :mod:`perfsim.io.onnx_tensors`). Nodes whose inputs are all
   constant (initializers, ``Constant``, ``ConstantOfShape``, ``Shape``, and anything computed
   only from those) are not layers.

**Tensors.** Per-sample shapes are ``(C, H, W)``; an ONNX tensor's batch axis is dropped and the
rest laid out by rank: rank 4 ``(N, C, H, W)`` is ``(C, H, W)`` (a channels-last ``(N, H, W,
C)``, as ConvNeXt and Swin permute to, is ``(H, W, C)``); rank 3 ``(N, T, D)`` is ``(T, 1, D)``
(tokens; a 1-D map ``(N, C, L)`` alike is ``(C, 1, L)``); rank 2 ``(N, F)`` is ``(F, 1, 1)``;
higher ranks fold their trailing dimensions into ``W``. A recurrent node's input ``X`` is
time-major ``(T, N, F)``: ``(F, 1, T)``, and its output ``Y`` ``(T, D, N, H)`` is ``(D*H, 1,
T)``. Which axis is the batch is followed through transposes, reshapes, gathers and
reductions. In a network with a transformer op (linear, layer_norm, rms_norm, embedding,
matmul) the layers bound to ``[N, T, D]`` tensors are declared token tensors
(:attr:`Network.tokens <perfsim.workload.network.Network.tokens>`: ``perfsim show`` prints
them ``TxD``); a file perfsim exported lists its network's in the metadata entry
:data:`~perfsim.io.onnx_tensors.TOKENS_KEY`.

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
from pathlib import Path

import numpy as np
import onnx
from onnx import numpy_helper
from google.protobuf.message import DecodeError

from perfsim.errors import WorkloadError
from perfsim.io.onnx_fold import FOLD_LIMIT, FOLDED_OPS, attributes as _attrs, evaluate
from perfsim.io.onnx_handlers import RECURRENT, map_node, map_pattern, supported_ops
from perfsim.io.onnx_patterns import Match, find_patterns
from perfsim.io.onnx_tensors import (FIXED_WEIGHTS_KEY, TOKEN_OPS, TOKENS_KEY, Dims,
                                     Unsupported, axis_placement, per_sample, prod,
                                     settle_batch)
from perfsim.workload.network import Layer, Network, infer_shapes, parse_ref
from perfsim.workload.ops import (Embedding, Input, Op, Parameter, Placeholder, Reshape, Shape,
                                  elems, fmt_shape)


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
        return self._names(FIXED_WEIGHTS_KEY, "tensor") or set()

    def _names(self, key: str, what: str) -> set[str] | None:
        """The JSON list of names in model metadata entry ``key``; None without one."""
        for prop in self.model.metadata_props:
            if prop.key == key:
                try:
                    names = json.loads(prop.value)
                except ValueError:
                    names = None
                if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                    raise WorkloadError(f"{self.path}: metadata '{key}' must be a JSON list of "
                                        f"{what} names")
                return set(names)
        return None

    def _tokens(self) -> set[str]:
        """The layers whose output is a token tensor: those metadata entry
        :data:`TOKENS_KEY` names (perfsim's export), else, in a network with a transformer op
        (:data:`TOKEN_OPS`), the layers bound to a ``[N, T, D]`` tensor (``[T, D]`` with the
        batch merged)."""
        named = self._names(TOKENS_KEY, "layer")
        layers = {layer.name for layer in self.layers}
        if named is not None:
            return named & layers
        if not any(layer.op.kind in TOKEN_OPS for layer in self.layers):
            return set()
        return {parse_ref(ref)[0] for t, ref in self.refs.items()
                if t not in self.rnn_outputs and self.shapes.get(t) is not None
                and (len(self.shapes[t]), self.batch(t)) in ((3, 0), (2, None))
                and self.ir_shape(ref)[1] == 1}

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
            if (t.data_location != onnx.TensorProto.EXTERNAL and prod(t.dims) <= FOLD_LIMIT):
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
        self.batch_axis[t] = settle_batch(self.shapes.get(t), axis)

    def sample_shape(self, t: str, index: int) -> Shape:
        return per_sample(self.dims(t, index), self.batch(t), t in self.rnn_outputs)

    def placement(self, t: str, index: int) -> list[int | None]:
        return axis_placement(len(self.dims(t, index)), self.batch(t), t in self.rnn_outputs)

    def data(self, index: int, k: int, batch_first: bool = True, tensor: str | None = None) -> str:
        """The perfsim reference of input ``k`` of node ``index`` (an activation)."""
        t = tensor or self.nodes[index].input[k]
        if t in self.const:
            raise Unsupported(f"its input '{t}' is a constant, not an activation")
        if batch_first and self.batch(t) != 0:
            what = "a time-major sequence" if self.batch(t) else "a tensor whose batch axis " \
                "is merged into another"
            raise Unsupported(f"its input '{t}' is {what}")
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
            raise Unsupported(f"input {k} is missing")
        t = node.input[k]
        if t not in self.const:
            raise Unsupported(f"its weight '{t}' is computed at run time")
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
            raise Unsupported("it works along the batch axis")
        ir = sorted({place[a] for a in axes})
        clean = all(dims[j] == 1 for j in range(rank)
                    if j not in axes and place[j] is not None and place[j] in ir)
        if clean and not (single and len(ir) > 1):
            return ref, tuple(ir)
        per_sample = [j for j in range(rank) if place[j] is not None]
        pos = [per_sample.index(a) for a in axes]
        if pos != list(range(pos[0], pos[-1] + 1)):
            raise Unsupported(f"it works along axes {axes} that are not adjacent")
        sizes = [dims[j] for j in per_sample]
        before, inner = prod(sizes[:pos[0]]), prod(sizes[pos[0]:pos[-1] + 1])
        after = prod(sizes[pos[-1] + 1:])
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
        held = sum(prod(self.dims(s, index)) for s in dict.fromkeys(new))
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
        self.batch_axis[t] = settle_batch(dims, None)
        shape = per_sample(dims, self.batch(t))
        weights = [s for s in self.weights_of(t) if s not in self.counted]
        if not weights or self._additive_mask(weights):
            name = self.emit(index, Input(shape=shape), [], [], name=t)
        elif sum(prod(self.dims(s, index)) for s in weights) == elems(shape):
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
            held = sum(prod(self.dims(s, index)) for s in weights)
            raise Unsupported(f"it reads constant '{t}' ({elems(shape)} elements) made from "
                               f"{held} weight elements, which perfsim has no layer for")
        ids = node.input[1]
        buffers = self.sources(ids) or []
        n = prod(self.dims(ids, index))
        ref = self.emit(index, Input(shape=(n, 1, 1)), [], [],
                        name=buffers[0] if len(buffers) == 1 else ids)
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
            shape = per_sample(dims, self.batch_axis.get(v.name, 0))
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
                    map_pattern(self, index, self.patterns[index])
                else:
                    map_node(self, index, node)
            except Unsupported as err:
                self.placeholder(index, err.detail)
            except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError) as err:
                # A required attribute or input missing, or one of the wrong kind or value.
                raise WorkloadError(f"{self.path}: {self.where(index)}: malformed node "
                                    f"({type(err).__name__}: {err})") from None
        description = self.model.doc_string or self.graph.doc_string
        return Network(self.path.stem, tuple(self.layers), 1, description, str(self.path),
                       frozenset(self._tokens()))

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
            return prod(out) * shapes[0][-1]
        if node.op_type == "Gemm":
            return prod(out) * shapes[0][0 if a.get("transA", 0) else -1]
        if node.op_type == "Conv":
            return prod(out) * prod(shapes[1][1:])
        if node.op_type == "ConvTranspose":
            return prod(shapes[0]) * prod(shapes[1][1:])
        if node.op_type == "Einsum" and len(node.input) == 2:
            lhs = a.get("equation", "").replace(" ", "").partition("->")[0].split(",")
            sizes = {}
            for letters, dims in zip(lhs, shapes[:2]):
                if "." in letters or len(letters) != len(dims):
                    return 0
                sizes.update(zip(letters, dims))
            return prod(sizes.values())
        return 0
