"""ONNX models as perfsim networks.

:func:`load_onnx` reads a model with the ``onnx`` package and maps its whole graph onto the IR.
It never runs the model: no operator of the file is executed and no weight is read, only
weight *shapes* (external data may be missing, weights may be ``ConstantOfShape`` nodes).

Steps:

1. parse the protobuf and check the graph: every tensor produced once, no dangling input, no
   cycle (subgraph references of control-flow nodes count as inputs);
2. fix the inputs' dynamic dimensions: the batch dimension becomes 1 (perfsim's batch is
   separate) and ``input_shape`` ``(C, H, W)`` sets the others of the single image input;
3. infer shapes with ``onnx.shape_inference`` (data propagation on), alternating with folding
   the integer shape computations onnx's propagation leaves open (PyTorch's
   ``x.view(x.size(0), -1)`` is Shape -> Gather -> Unsqueeze -> Concat -> Reshape): ``Shape``
   of a tensor of known shape, ``Constant``, ``ConstantOfShape`` (small), ``Gather``,
   ``Unsqueeze``, ``Squeeze``, ``Concat``, ``Slice``, ``Cast``, ``Reshape``, ``Add``, ``Sub``,
   ``Mul``, ``Div``, ``Equal``, ``Where`` and ``Identity`` on vectors of at most
   :data:`FOLD_LIMIT` elements. Their results become initializers and inference runs again;
4. map every remaining node onto a layer. Nodes whose inputs are all constant (initializers,
   ``Constant``, ``ConstantOfShape``, ``Shape``, and anything computed only from those) are not
   layers.

**Tensors.** ONNX tensors are NCHW with the batch first: rank 4 ``(N, C, H, W)`` is ``(C, H,
W)``, rank 3 ``(N, C, L)`` is ``(C, 1, L)``, rank 2 ``(N, F)`` is ``(F, 1, 1)``, higher ranks
fold their trailing dimensions into ``W``. A recurrent node's input ``X`` is time-major
``(T, N, F)``: ``(F, 1, T)``, and its output ``Y`` ``(T, D, N, H)`` is ``(D*H, 1, T)``. Which
axis is the batch is followed through transposes and reshapes. Every layer's perfsim shape is
checked against ONNX's inferred shape; a disagreement is an error naming the node (one case: a
ceil-mode pool whose last window would start in the padding, which PyTorch and perfsim drop and
onnx's shape inference keeps).

**Parameters** come from the weight shapes in the file, so they equal what the framework
reports: a Conv's ``W`` and optional ``B``, Gemm/MatMul ``B`` and ``C``, BatchNormalization's
scale and bias (not the running statistics), InstanceNormalization's scale and bias, a
recurrent node's ``W``, ``R`` and ``B``, per-channel ``Mul``/``Add`` constants, PRelu slopes.
Each layer's count is checked against the file's. A graph input consumed only where weights go
(a Conv's ``W``, ...) is a weight, not a network input. Weights named in the model metadata
entry :data:`FIXED_WEIGHTS_KEY` (a JSON list of tensor names) are fixed, not trainable:
an fc whose weights are fixed is ``trainable=False`` (LeNet-5's RBF units), and a depthwise
convolution with fixed weights and no bias that keeps the map size is a ``shift`` (Wu et al.
2018: a shift is a depthwise convolution with one-hot kernels); fixed weights anywhere else are
an error.

**Op mapping** (ONNX -> perfsim):

* Conv -> conv (``group``, ``dilations``, ``pads``, ``auto_pad`` SAME_UPPER/SAME_LOWER/VALID,
  ``strides``, bias from a third input); 1-D convolutions on ``(N, C, L)`` use ``H = 1``.
* Gemm (``transB``; ``transA`` unsupported), MatMul with a constant weight on a ``(N, F)``
  input, and Einsum contracting every non-batch axis of its input with a constant (perfsim's
  exporter writes an fc on a map this way) -> fc. A MatMul or Einsum followed by an Add of a
  rank-1 constant of ``K`` elements is one fc with a bias (PyTorch's Linear).
* MaxPool/AveragePool -> max_pool/avg_pool (``ceil_mode``, ``pads``, ``auto_pad``);
  GlobalAveragePool/GlobalMaxPool -> global_avg_pool/global_max_pool. Pools of one tensor,
  each flattened and concatenated, with square outputs and no padding, are one ``spp``.
* LRN -> lrn; BatchNormalization -> batch_norm; InstanceNormalization -> group_norm with
  ``num_groups = C``; GroupNormalization (opset 21: per-channel scale) -> group_norm.
* Relu -> relu; LeakyRelu -> leaky_relu; PRelu -> prelu (a single shared slope -> leaky_relu,
  whose one parameter perfsim does not count); Sigmoid -> sigmoid; Tanh -> tanh;
  **HardSigmoid -> sigmoid** (it stands where a sigmoid gate would; 3 ops per element against
  its true 4); **HardSwish -> relu6** (MobileNetV3's replacement for ReLU6, built on it: 2 ops
  per element against its true 5). **Clip** with bounds 0 and 6, or any two bounds -> relu6 (two
  compares per element); with one bound -> relu (one compare); with none it is dropped.
* Add/Sum of activations -> add; Mul -> mul; Max -> max. **Sub counts as add and Div as mul**:
  the same one op per element. With one constant operand: a per-channel constant makes Add/Sub
  an ``offset`` and Mul/Div a learnt ``scale`` (C parameters each); a scalar makes Mul/Div a
  ``scale`` with that fixed ``factor`` (no parameters: frameworks trace Python numbers as
  constants), and Add/Sub/a scalar divided by ``x`` a ``scale`` with ``factor=1.0``, which costs
  the same one op per element and no parameters (the IR has no add-a-constant op); Max with a
  scalar is a relu. A Mul by a constant whose only consumer adds a per-channel constant is one
  ``scale`` with a bias (Caffe's Scale layer).
* Concat -> concat; Split -> split (outputs ``name:i``).
* Reshape/Flatten/Squeeze/Unsqueeze/Transpose -> flatten when the result is ``(N, F)`` holding
  the whole input, else reshape (a view). Reshape ``(N, g, C/g, H, W)`` -> Transpose
  ``[0, 2, 1, 3, 4]`` -> Reshape back to ``(N, C, H, W)`` is ONE channel_shuffle layer, named
  after the Transpose.
* DepthToSpace/SpaceToDepth -> depth_to_space/space_to_depth; Resize/Upsample (nearest,
  linear) with integer scales -> upsample nearest/bilinear.
* Pad (constant pads, on H and W only) whose only consumer is a Conv/MaxPool/AveragePool is
  folded into that layer's padding; otherwise it is a ``max_pool`` with a 1x1 window, stride 1
  and that padding: a copy of every element into the padded map, one op per output element,
  which is what padding costs (reshape cannot change the element count).
* Softmax -> softmax; Dropout -> dropout (``ratio``); Identity is dropped (inputs rewired).
* LSTM/GRU/RNN -> lstm/gru/rnn (``hidden_size``, bias from ``B``; a bidirectional node is a
  forward and a reverse layer concatenated over channels; ``initial_h``/``initial_c`` inputs are
  ignored, peepholes and the ``Y_h``/``Y_c`` outputs are unsupported); a Squeeze of the
  direction axis right after ``Y`` (PyTorch's export) belongs to the layer.

Any other op is unsupported: a :class:`~perfsim.errors.WorkloadError` naming the op, the node
and the supported list, or, with ``allow_unsupported``, a ``placeholder`` layer of the node's
output shape that costs nothing and that reports flag as not costed.
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
from perfsim.workload.network import Layer, Network, infer_shapes, parse_ref
from perfsim.workload.ops import (
    GRU, LRN, LSTM, RNN, AvgPool, BatchNorm, ChannelShuffle, Concat, Conv, DepthToSpace,
    Dropout, Flatten, FullyConnected, GlobalAvgPool, GlobalMaxPool, GroupNorm, Input, LeakyRelu,
    MaxPool, OPS, Offset, Op, Placeholder, PRelu, Relu, Relu6, Reshape, Scale, Shape, Shift,
    Sigmoid, Softmax, SpaceToDepth, SpatialPyramidPool, Split, Upsample, elems, fmt_shape, make_op)

FIXED_WEIGHTS_KEY = "perfsim.fixed_weights"
"""Model metadata key: a JSON list of weight tensors that are fixed, not trainable."""
FOLD_LIMIT = 4096
"""Largest tensor (elements) the shape folding computes: shape vectors, never weights."""

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
}
RECURRENT = {"LSTM": LSTM, "GRU": GRU, "RNN": RNN}
# Ops whose output has their first input's shape but for which onnx infers none (function ops).
SAME_SHAPE = ("GroupNormalization",)
# Single-input ops a time-major sequence passes through unchanged on its way to a recurrent
# node (so a graph input read through them is time-major too).
_PASS_THROUGH = ("Identity", "Dropout", "Relu", "Tanh", "Sigmoid", "Clip", "LeakyRelu")


class _Unsupported(Exception):
    """A node perfsim cannot map; ``detail`` says what about it, if not its op type."""

    def __init__(self, detail: str = ""):
        super().__init__(detail)
        self.detail = detail


def _f32(value: float) -> float:
    """A float as stored in ONNX (float32), written back as its shortest decimal, so
    ``1e-3`` stays ``0.001``."""
    return float(str(np.float32(value)))


def _attrs(node: onnx.NodeProto) -> dict:
    """A node's attributes by name, strings decoded."""
    out = {}
    for a in node.attribute:
        value = onnx.helper.get_attribute_value(a)
        out[a.name] = value.decode() if isinstance(value, bytes) else value
    return out


def _prod(values) -> int:
    """Product of integer dimensions (1 for none)."""
    return math.prod(int(v) for v in values)


def _per_sample(dims: list[int], batch_axis: int, rnn_output: bool = False) -> Shape:
    """perfsim's ``(C, H, W)`` of an ONNX tensor (see the module docstring)."""
    if rnn_output:
        t, d, _, h = dims
        return (d * h, 1, t)
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


def _prefix_axis(in_dims: list[int], out_dims: list[int], axis: int) -> int:
    """Where the batch axis lands after a reshape: the first output axis of the batch's size
    with the same number of elements before it (0 when the reshape mixes the batch in)."""
    if axis >= len(in_dims):
        return 0
    before = _prod(in_dims[:axis])
    for j, size in enumerate(out_dims):
        if _prod(out_dims[:j]) == before and size == in_dims[axis]:
            return j
    return 0


def _same_pads(size: int, kernel: int, stride: int, dilation: int, upper: bool) -> tuple[int, int]:
    """``auto_pad`` SAME_UPPER/SAME_LOWER: output ``ceil(size / stride)``, the odd pixel at the
    end (upper) or the beginning (lower)."""
    out = -(-size // stride)
    total = max(0, (out - 1) * stride + (kernel - 1) * dilation + 1 - size)
    small, big = total // 2, total - total // 2
    return (small, big) if upper else (big, small)


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
        self.layers: list[Layer] = []
        self.ir_shapes: dict[str, tuple[Shape, ...]] = {}
        self.taken: set[str] = set()
        self.counts: dict[str, int] = {}
        self.absorbed: set[int] = set()
        self.pad_fold: dict[int, tuple[str, tuple[int, int, int, int]]] = {}
        self.rnn_outputs: set[str] = set()      # recurrent outputs Y, (T, D, N, H)

    # ------------------------------------------------------------------ analysis

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
        """ONNX shape inference alternating with shape folding, until nothing new folds."""
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
        folded: set[str] = set()
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
            for i, node in enumerate(self.nodes):
                if i in self.const_nodes:
                    continue
                for k, t in enumerate(node.input):
                    value = self.values.get(t)
                    if (t in self.initializers or t in folded or value is None
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
                    folded.add(t)
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
                out = _evaluate(node, [values.get(t) if t else None for t in node.input],
                                [self.shapes.get(t) for t in node.input])
            except Exception:  # anything the folder does not understand stays unknown
                out = None
            if out is not None and out.size <= FOLD_LIMIT:
                values[node.output[0]] = out
        return values

    # ------------------------------------------------------------------ tensors

    def dims(self, t: str, index: int) -> list[int]:
        """Fully known ONNX dimensions of ``t`` (read by node ``index``), or an error."""
        dims = self.shapes.get(t)
        if dims is None or any(d is None for d in dims):
            origin = self.producer.get(t)
            place = f"output of {self.where(origin)}" if origin is not None else "a graph input"
            if origin != index:
                place += f", read by {self.where(index)}"
            shown = "unknown" if dims is None else str(["?" if d is None else d for d in dims])
            producer = self.nodes[origin] if origin is not None else None
            if producer is not None and not (producer.domain in ("", "ai.onnx")
                                             and onnx.defs.has(producer.op_type)):
                hint = (f"onnx has no shape inference for {producer.op_type}: declare the shape "
                        f"of '{t}' in the graph's value_info")
            else:
                hint = ("if the model's input has dynamic dimensions, give input_shape "
                        "(--input-shape C,H,W)")
            raise WorkloadError(f"{self.path}: cannot infer the shape of tensor '{t}' ({place}): "
                                f"its shape is {shown}; {hint}")
        if any(d == 0 for d in dims):
            raise WorkloadError(f"{self.path}: tensor '{t}' (read by {self.where(index)}) is "
                                f"empty: shape {dims}")
        return dims

    def sample_shape(self, t: str, index: int) -> Shape:
        return _per_sample(self.dims(t, index), self.batch_axis.get(t, 0),
                           t in self.rnn_outputs)

    def data(self, index: int, k: int, batch_first: bool = True, tensor: str | None = None) -> str:
        """The perfsim reference of input ``k`` of node ``index`` (an activation)."""
        t = tensor or self.nodes[index].input[k]
        if t in self.const:
            raise _Unsupported(f"its input '{t}' is a constant, not an activation")
        if batch_first and self.batch_axis.get(t, 0) != 0:
            raise _Unsupported(f"its input '{t}' is a time-major sequence")
        if t not in self.refs:
            raise WorkloadError(f"{self.path}: {self.where(index)}: input '{t}' was not imported")
        return self.refs[t]

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

    def emit(self, index: int, op: Op, inputs: list[str], outputs: list[str],
             name: str | None = None, batch_axis: int = 0) -> str:
        """Append a layer for node ``index`` (named after it unless ``name``) and bind its
        outputs, checking their shapes against ONNX's."""
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
            self.batch_axis[t] = batch_axis
            if self.used(t):
                onnx_shape = self.sample_shape(t, index)
                if onnx_shape != shapes[i]:
                    raise WorkloadError(
                        f"{self.path}: {self.where(index)}: perfsim computes the output "
                        f"'{t}' as {fmt_shape(shapes[i])} ({op.kind}) but ONNX shape inference "
                        f"gives {self.dims(t, index)} ({fmt_shape(onnx_shape)} per sample)")
            self.refs[t] = f"{layer.name}:{i}" if i else layer.name
        return layer.name

    def check_params(self, index: int, names: list[str], weights: list[str | None]) -> None:
        """The layers' parameters must equal the file's trainable weight elements."""
        counted = sum(layer.op.params(tuple(self.ir_shape(r) for r in layer.inputs))
                      for layer in self.layers if layer.name in names)
        held = sum(_prod(self.dims(t, index)) for t in weights if t and t not in self.fixed)
        if counted != held:
            raise WorkloadError(f"{self.path}: {self.where(index)}: perfsim counts {counted} "
                                f"parameters but the file's weights hold {held}")

    def ir_shape(self, ref: str) -> Shape:
        """perfsim's shape of a layer output imported so far."""
        source, k = parse_ref(ref)
        return self.ir_shapes[source][k]

    def alias(self, index: int, source: str) -> None:
        """Node ``index`` passes ``source`` through unchanged (Identity): no layer."""
        node = self.nodes[index]
        self.refs[node.output[0]] = self.refs[source]
        self.batch_axis[node.output[0]] = self.batch_axis.get(source, 0)
        if source in self.rnn_outputs:
            self.rnn_outputs.add(node.output[0])

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
        for index in self.order:
            if index in self.const_nodes or index in self.absorbed:
                continue
            node = self.nodes[index]
            try:
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
        what = f"{self.where(index)}: unsupported ONNX op {node.op_type}"
        if detail:
            what += f" ({detail})"
        if not self.allow_unsupported:
            raise WorkloadError(f"{self.path}: {what}; supported ops: "
                                f"{', '.join(supported_ops())}; "
                                f"allow_unsupported (--allow-unsupported) imports it as a "
                                f"zero-cost placeholder")
        if any(self.used(t) for t in node.output[1:]):
            raise WorkloadError(f"{self.path}: {what}, and a placeholder stands for one output "
                                f"but the graph reads several")
        reads = [t for t in node.input if t]
        if index in self.pad_fold:
            reads[0] = self.pad_fold[index][0]
        sources = [t for t in reads if t not in self.const and t in self.refs]
        inputs = [self.refs[t] for t in sources]
        self.batch_axis[node.output[0]] = self.batch_axis.get(sources[0], 0) if sources else 0
        shape = self.sample_shape(node.output[0], index)
        op_type = f"{node.domain}.{node.op_type}" if node.domain not in ("", "ai.onnx") \
            else node.op_type
        self.emit(index, Placeholder(onnx_op=op_type, shape=shape), inputs,
                  [node.output[0]], batch_axis=self.batch_axis[node.output[0]])


# --------------------------------------------------------------------------- shape folding


def _axes(node, values, k: int) -> list[int] | None:
    """A Squeeze/Unsqueeze's axes: an attribute before opset 13, input ``k`` after."""
    attrs = _attrs(node)
    if "axes" in attrs:
        return list(attrs["axes"])
    if k < len(values) and values[k] is not None:
        return [int(a) for a in values[k]]
    return None


def _evaluate(node: onnx.NodeProto, values: list, shapes: list) -> np.ndarray | None:
    """The value of a constant node's first output, for the few integer ops shape computations
    use; ``None`` when unknown."""
    op, a = node.op_type, _attrs(node)
    if op == "Constant":
        if "value" in a:
            return numpy_helper.to_array(a["value"])
        for key in ("value_float", "value_floats", "value_int", "value_ints"):
            if key in a:
                return np.array(a[key], dtype=np.float32 if "float" in key else np.int64)
        return None
    if op in ("Shape", "Size"):
        dims = shapes[0]
        if dims is None or None in dims:
            return None
        if op == "Size":
            return np.array(_prod(dims), dtype=np.int64)
        start, end = a.get("start", 0), a.get("end", len(dims))
        return np.array(dims[start:end], dtype=np.int64)
    if any(v is None for v, t in zip(values, node.input) if t):
        return None
    x = values[0] if values else None
    if op == "Identity":
        return x
    if op == "Cast":
        return x.astype(onnx.helper.tensor_dtype_to_np_dtype(a["to"]))
    if op == "Gather":
        return np.take(x, values[1].astype(np.int64), axis=a.get("axis", 0))
    if op == "Concat":
        return np.concatenate([np.atleast_1d(v) for v in values], axis=a.get("axis", 0))
    if op == "Unsqueeze":
        axes = _axes(node, values, 1)
        rank = x.ndim + len(axes)
        for ax in sorted(ax % rank for ax in axes):
            x = np.expand_dims(x, ax)
        return x
    if op == "Squeeze":
        axes = _axes(node, values, 1)
        return np.squeeze(x) if axes is None else np.squeeze(x, axis=tuple(axes))
    if op == "Slice":
        if "starts" in a:
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
    if op == "Reshape":
        shape = [int(s) for s in values[1]]
        shape = [x.shape[i] if s == 0 else s for i, s in enumerate(shape)]
        return x.reshape(shape)
    if op == "ConstantOfShape":
        shape = [int(s) for s in x]
        if _prod(shape) > FOLD_LIMIT:
            return None
        fill = numpy_helper.to_array(a["value"]) if "value" in a else np.zeros(1, np.float32)
        return np.full(shape, fill.reshape(-1)[0], dtype=fill.dtype)
    if op in ("Add", "Sub", "Mul"):
        return {"Add": np.add, "Sub": np.subtract, "Mul": np.multiply}[op](x, values[1])
    if op == "Div":
        if np.issubdtype(x.dtype, np.integer):
            return np.trunc(x / values[1]).astype(x.dtype)
        return x / values[1]
    if op == "Equal":
        return np.equal(x, values[1])
    if op == "Where":
        return np.where(x, values[1], values[2])
    return None


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


def _fc(imp: _Importer, index: int, node) -> None:
    """Gemm, MatMul or Einsum with a constant weight (and a following bias Add) -> fc."""
    a = _attrs(node)
    op_type = node.op_type
    if op_type == "Gemm":
        if a.get("transA", 0):
            raise _Unsupported("transA=1")
        x_k, w_k = 0, 1
    elif op_type == "MatMul":
        x_k, w_k = 0, 1
        if node.input[0] in imp.const:
            raise _Unsupported("the constant is its first operand")
    else:
        x_k, w_k = _einsum(imp, index, node)
    if node.input[w_k] not in imp.const:
        raise _Unsupported("it multiplies two activations (only a constant weight maps to fc)")
    x_t = node.input[x_k]
    in_dims = imp.dims(x_t, index)
    w = imp.weight_dims(index, w_k)
    x = imp.data(index, x_k, batch_first=op_type != "Einsum")
    features = elems(imp.ir_shape(x))
    if op_type == "Gemm":
        if len(in_dims) != 2 or len(w) != 2:
            raise _Unsupported("its operands are not matrices")
        k = w[0] if a.get("transB", 0) else w[1]
        bias = imp.optional(index, 2)
        if bias is not None and bias not in imp.const:
            raise _Unsupported("its C input is an activation")
    elif op_type == "MatMul":
        if len(in_dims) != 2 or len(w) != 2:
            raise _Unsupported(f"its input has rank {len(in_dims)} (a per-position linear "
                               f"layer; perfsim's fc takes a (N, F) matrix)")
        k = w[1]
        bias = None
    else:
        k = _prod(w) // features
        bias = None
    if _prod(w) != k * features:
        raise WorkloadError(f"{imp.path}: {imp.where(index)}: weight '{node.input[w_k]}' of "
                            f"shape {w} does not map {features} features to {k}")
    output = node.output[0]
    if op_type != "Gemm":
        step = imp.only_consumer(output)
        if step is not None and step[1].op_type == "Add" and len(step[1].input) == 2:
            other = [t for t in step[1].input if t != output]
            if (len(other) == 1 and other[0] in imp.const
                    and imp.shapes.get(other[0]) == [k]):
                imp.absorbed.add(step[0])
                bias, output = other[0], step[1].output[0]
    weight = node.input[w_k]
    fixed = weight in imp.fixed
    if bias is not None and (bias in imp.fixed) != fixed:
        raise WorkloadError(f"{imp.path}: {imp.where(index)}: its weight and bias must both be "
                            f"fixed or both trainable ({FIXED_WEIGHTS_KEY})")
    name = imp.emit(index, FullyConnected(out_features=k, bias=bias is not None,
                                          trainable=not fixed), [x], [output])
    imp.check_params(index, [name], [weight, bias])


def _einsum(imp: _Importer, index: int, node) -> tuple[int, int]:
    """An Einsum that is a fully connected layer: one activation, one constant, the output
    ``(N, K)`` contracting every non-batch axis of the activation. Returns the operand
    positions (activation, weight)."""
    equation = _attrs(node).get("equation", "").replace(" ", "")
    lhs, arrow, out = equation.partition("->")
    operands = lhs.split(",")
    if not arrow or len(operands) != 2 or "." in equation or len(node.input) != 2:
        raise _Unsupported(f"equation '{equation}' is not a fully connected layer")
    x_k = 0 if node.input[1] in imp.const else 1
    w_k = 1 - x_k
    x_letters, w_letters = operands[x_k], operands[w_k]
    axis = imp.batch_axis.get(node.input[x_k], 0)
    if (len(set(x_letters)) != len(x_letters) or len(set(w_letters)) != len(w_letters)
            or axis >= len(x_letters) or len(out) != 2 or out[0] != x_letters[axis]
            or out[1] not in w_letters or out[1] in x_letters
            or set(w_letters) - {out[1]} != set(x_letters) - {out[0]}):
        raise _Unsupported(f"equation '{equation}' is not a fully connected layer")
    return x_k, w_k


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


_ACTIVATIONS = {"HardSigmoid": Sigmoid, "HardSwish": Relu6, "Softmax": Softmax}
"""ONNX activations read as a perfsim op they are not one to one with (the one-to-one ones:
:func:`registry_ops`)."""


def _activation(imp: _Importer, index: int, node) -> None:
    _unary(imp, index, node, _ACTIVATIONS[node.op_type]())


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
    imp.data(index, 0, batch_first=False)
    imp.alias(index, node.input[0])


def _constant_kind(imp: _Importer, index: int, x_t: str, c_t: str) -> str:
    """How constant ``c_t`` broadcasts against activation ``x_t``: "scalar", "channel" (one
    value per channel) or "other"."""
    x_dims, c_dims = imp.dims(x_t, index), imp.dims(c_t, index)
    if len(c_dims) > len(x_dims):
        return "other"
    full = [1] * (len(x_dims) - len(c_dims)) + list(c_dims)
    axis = imp.batch_axis.get(x_t, 0)
    if full[axis] != 1:
        return "other"
    shape = _per_sample(full, axis)
    if shape == (1, 1, 1):
        return "scalar"
    channels = imp.sample_shape(x_t, index)[0]
    return "channel" if shape == (channels, 1, 1) else "other"


_ARITH = {"Add": "add", "Sub": "add", "Sum": "add", "Mul": "mul", "Div": "mul", "Max": "max"}


def _arith(imp: _Importer, index: int, node) -> None:
    kind = _ARITH[node.op_type]
    data = [(k, t) for k, t in enumerate(node.input) if t and t not in imp.const]
    consts = [(k, t) for k, t in enumerate(node.input) if t and t in imp.const]
    if not consts:
        if len(data) == 1:
            imp.alias(index, data[0][1])
            return
        refs = [imp.data(index, k, batch_first=False) for k, _ in data]
        ranks = [len(imp.dims(t, index)) for _, t in data]
        widest = data[ranks.index(max(ranks))][1]
        axis = imp.batch_axis.get(widest, 0)
        if widest in imp.rnn_outputs:
            imp.rnn_outputs.add(node.output[0])
        imp.emit(index, make_op(kind), refs, [node.output[0]], batch_axis=axis)
        return
    if len(data) != 1 or len(consts) != 1:
        raise _Unsupported("it combines several constants")
    (x_k, x_t), (c_k, c_t) = data[0], consts[0]
    shape = _constant_kind(imp, index, x_t, c_t)
    if shape == "other":
        raise _Unsupported(f"its constant operand '{c_t}' of shape {imp.dims(c_t, index)} is "
                           f"neither a scalar nor one value per channel")
    weights: list[str | None] = [c_t] if shape == "channel" else []
    output = node.output[0]
    if kind == "max":
        if shape != "scalar":
            raise _Unsupported("Max with a per-channel constant")
        op: Op = Relu()
    elif kind == "add":
        op = Offset() if shape == "channel" else Scale(factor=1.0)
    else:
        factor = None
        if shape == "scalar":
            value = imp.scalar(c_t)
            if value is not None and node.op_type == "Div":
                value = 1.0 / value if c_k == 1 and value != 0 else None
            factor = _f32(1.0 if value is None else value)
        bias = False
        step = imp.only_consumer(output)
        if step is not None and step[1].op_type in ("Add", "Sub") and len(step[1].input) == 2:
            other = [t for t in step[1].input if t != output]
            if (len(other) == 1 and other[0] in imp.const
                    and _constant_kind(imp, step[0], output, other[0]) == "channel"):
                imp.absorbed.add(step[0])
                bias, output = True, step[1].output[0]
                weights.append(other[0])
        op = Scale(bias=bias, factor=factor)
    name = _unary_from(imp, index, x_k, op, output)
    imp.check_params(index, [name], weights)


def _unary_from(imp: _Importer, index: int, k: int, op: Op, output: str) -> str:
    """Layer ``op`` on input ``k`` of node ``index``, keeping its shape and layout, bound to
    ONNX tensor ``output``."""
    t = imp.nodes[index].input[k]
    x = imp.data(index, k, batch_first=False)
    if t in imp.rnn_outputs:
        imp.rnn_outputs.add(output)
    return imp.emit(index, op, [x], [output], batch_axis=imp.batch_axis.get(t, 0))


def _ir_axis(imp: _Importer, t: str, axis: int, index: int) -> int:
    """perfsim's axis (0 channels, 1 rows, 2 columns) for ONNX ``axis`` of tensor ``t``."""
    dims = imp.dims(t, index)
    rank = len(dims)
    axis = axis % rank if rank else 0
    b = imp.batch_axis.get(t, 0)
    if t in imp.rnn_outputs:
        if axis == 2:
            raise _Unsupported("it works along the batch axis")
        return 2 if axis == 0 else 0
    if axis == b:
        raise _Unsupported("it works along the batch axis")
    if b >= 1:
        return 2 if axis < b else 0
    j = axis - 1
    if rank == 3:
        return 0 if j == 0 else 2
    return min(j, 2)


def _concat(imp: _Importer, index: int, node) -> None:
    inputs = [t for t in node.input if t]
    refs = [imp.data(index, k, batch_first=False) for k, t in enumerate(node.input) if t]
    first = inputs[0]
    layouts = {(len(imp.dims(t, index)), imp.batch_axis.get(t, 0), t in imp.rnn_outputs)
               for t in inputs}
    if len(layouts) != 1:
        raise _Unsupported("its inputs have different layouts")
    axis = _ir_axis(imp, first, _attrs(node)["axis"], index)
    if first in imp.rnn_outputs:
        imp.rnn_outputs.add(node.output[0])
    imp.emit(index, Concat(axis=axis), refs, [node.output[0]],
             batch_axis=imp.batch_axis.get(first, 0))


def _split(imp: _Importer, index: int, node) -> None:
    t = node.input[0]
    x = imp.data(index, 0, batch_first=False)
    outputs = list(node.output)
    if len(outputs) == 1:
        imp.alias(index, t)
        return
    axis = _ir_axis(imp, t, _attrs(node).get("axis", 0), index)
    b = imp.batch_axis.get(t, 0)
    sizes = []
    for o in outputs:
        imp.batch_axis[o] = b
        if t in imp.rnn_outputs:
            imp.rnn_outputs.add(o)
        sizes.append(imp.sample_shape(o, index)[axis])
    imp.emit(index, Split(sizes=tuple(sizes), axis=axis), [x], outputs, batch_axis=b)


def _view(imp: _Importer, index: int, node) -> None:
    if node.op_type == "Reshape" and _channel_shuffle(imp, index, node):
        return
    t, out = node.input[0], node.output[0]
    x = imp.data(index, 0, batch_first=False)
    in_dims, out_dims = imp.dims(t, index), imp.dims(out, index)
    b = imp.batch_axis.get(t, 0)
    if t in imp.rnn_outputs:
        b = 2
    if node.op_type == "Transpose":
        perm = list(_attrs(node).get("perm", range(len(in_dims) - 1, -1, -1)))
        axis = perm.index(b) if b < len(perm) else 0
    else:
        axis = _prefix_axis(in_dims, out_dims, b)
    imp.batch_axis[out] = axis
    shape = imp.sample_shape(out, index)
    op: Op
    if axis == 0 and len(out_dims) <= 2 and shape == (elems(imp.ir_shape(x)), 1, 1):
        op = Flatten()
    else:
        op = Reshape(shape=shape)
    imp.emit(index, op, [x], [out], batch_axis=axis)


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
    a = _attrs(node)
    t = node.input[0]
    x = imp.data(index, 0)
    rank = len(imp.dims(t, index))
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
    if rank not in (3, 4) or begin[:2] != [0, 0] or end[:2] != [0, 0]:
        raise _Unsupported("it pads other axes than rows and columns")
    padding = ((begin[2], begin[3], end[2], end[3]) if rank == 4
               else (0, begin[2], 0, end[2]))
    step = imp.only_consumer(node.output[0])
    if (step is not None and step[1].op_type in ("Conv", "MaxPool", "AveragePool")
            and step[1].input[0] == node.output[0]
            and _attrs(step[1]).get("auto_pad", "NOTSET") == "NOTSET"):
        imp.pad_fold[step[0]] = (t, padding)
        return
    imp.emit(index, MaxPool(kernel_size=(1, 1), strides=(1, 1), padding=padding), [x],
             [node.output[0]])


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
               and _axes(step[1], [imp.values.get(t) for t in step[1].input], 1) in ([1], [-3]))
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
    "GlobalMaxPool": _global_pool, "Gemm": _fc, "MatMul": _fc, "Einsum": _fc,
    "BatchNormalization": _norm, "InstanceNormalization": _norm, "GroupNormalization": _norm,
    "LRN": _lrn, "HardSigmoid": _activation, "HardSwish": _activation, "Softmax": _activation,
    "LeakyRelu": _leaky_relu, "PRelu": _prelu, "Clip": _clip, "Dropout": _dropout,
    "Identity": _identity, "Add": _arith, "Sub": _arith, "Mul": _arith, "Div": _arith,
    "Max": _arith, "Sum": _arith, "Concat": _concat, "Split": _split, "Reshape": _view,
    "Flatten": _view, "Squeeze": _view, "Unsqueeze": _view, "Transpose": _view,
    "DepthToSpace": _rearrange, "SpaceToDepth": _rearrange, "Resize": _resize,
    "Upsample": _resize, "Pad": _pad, "LSTM": _recurrent, "GRU": _recurrent, "RNN": _recurrent,
}
"""ONNX op type -> the function that maps a node of it onto layers."""



def registry_ops() -> dict[str, type[Op]]:
    """ONNX op type -> the perfsim op class that declares it as its one-to-one, attribute-free
    ONNX form (:attr:`perfsim.workload.ops.Op.onnx_name`): imported without a converter."""
    return {cls.onnx_name: cls for cls in OPS.values() if cls.onnx_name}


def supported_ops() -> tuple[str, ...]:
    """Every ONNX op type the importer maps, sorted."""
    return tuple(sorted({*HANDLERS, *registry_ops()}))
"""The ONNX op types perfsim maps (besides constants and shape computations, which fold)."""
