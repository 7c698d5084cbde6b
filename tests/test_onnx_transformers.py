"""ONNX import of today's networks, on files these tests write with ``onnx.helper`` the way
PyTorch's exporter writes them (no downloads, no torch), at opsets 13 and 17: each
transformer-era op and each pattern exporters decompose a layer into, with parameters and
MACs worked out by hand; the shape folding; channels-last and batch-merged tensors; a ViT
encoder block as Hugging Face writes it and as torchvision's nn.MultiheadAttention runs it, a
GPT-2 decode step with its key/value cache, a ConvNeXt block; the errors."""

from __future__ import annotations

import math
import subprocess
import sys

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from perfsim import WorkloadError, simulate, totals
from perfsim.io.onnx_import import load_onnx
from perfsim.workload.ops import user_attributes

F = TensorProto.FLOAT
OPSETS = (13, 17)


class Graph:
    """An ONNX graph written node by node: :meth:`op` returns the new node's output."""

    def __init__(self, opset: int):
        self.opset = opset
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self.count = 0

    def weight(self, name: str, *dims) -> str:
        """A weight initializer (random values: no accidental mask)."""
        value = np.random.default_rng(len(self.initializers)).standard_normal(dims)
        self.initializers.append(numpy_helper.from_array(value.astype(np.float32), name))
        return name

    def const(self, value, dtype=np.float32) -> str:
        self.count += 1
        name = f"c{self.count}"
        self.initializers.append(numpy_helper.from_array(np.array(value, dtype=dtype), name))
        return name

    def ints(self, *values) -> str:
        return self.const(list(values), np.int64)

    def op(self, op_type: str, *inputs: str, name: str | None = None, outputs: int = 1,
           **attributes) -> str:
        self.count += 1
        name = name or f"/{op_type}_{self.count}"
        outs = [f"{name}:out{i}" for i in range(outputs)]
        self.nodes.append(helper.make_node(op_type, list(inputs), outs, name=name,
                                           **attributes))
        return outs[0] if outputs == 1 else outs

    # PyTorch's way of writing common modules, by opset

    def unsqueeze(self, x: str, *axes: int, name: str | None = None) -> str:
        if self.opset < 13:
            return self.op("Unsqueeze", x, axes=list(axes), name=name)
        return self.op("Unsqueeze", x, self.ints(*axes), name=name)

    def reduce_mean(self, x: str, *axes: int, keepdims: int = 1, name=None) -> str:
        if self.opset < 18:
            return self.op("ReduceMean", x, axes=list(axes), keepdims=keepdims, name=name)
        return self.op("ReduceMean", x, self.ints(*axes), keepdims=keepdims, name=name)

    def linear(self, x: str, d_in: int, d_out: int, name: str, bias: bool = True) -> str:
        """PyTorch's nn.Linear on a rank-3 or rank-4 input: MatMul by the transposed weight,
        then Add of the bias (the bias first, as the exporter writes it)."""
        y = self.op("MatMul", x, self.weight(f"{name}.weight_t", d_in, d_out),
                    name=f"{name}/MatMul")
        if bias:
            y = self.op("Add", self.weight(f"{name}.bias", d_out), y, name=f"{name}/Add")
        return y

    def layer_norm(self, x: str, d: int, name: str, eps: float = 1e-5) -> str:
        """nn.LayerNorm: LayerNormalization from opset 17, written out before."""
        gamma, beta = self.weight(f"{name}.weight", d), self.weight(f"{name}.bias", d)
        if self.opset >= 17:
            return self.op("LayerNormalization", x, gamma, beta, axis=-1, epsilon=eps,
                           name=f"{name}/LayerNormalization")
        mean = self.reduce_mean(x, -1, name=f"{name}/ReduceMean")
        d_ = self.op("Sub", x, mean, name=f"{name}/Sub")
        var = self.reduce_mean(self.op("Pow", d_, self.const(2.0), name=f"{name}/Pow"), -1,
                               name=f"{name}/ReduceMean_1")
        s = self.op("Sqrt", self.op("Add", var, self.const(eps), name=f"{name}/Add"),
                    name=f"{name}/Sqrt")
        n = self.op("Div", d_, s, name=f"{name}/Div")
        return self.op("Add", self.op("Mul", n, gamma, name=f"{name}/Mul"), beta,
                       name=f"{name}/Add_1")

    def gelu(self, x: str, name: str) -> str:
        """nn.GELU() before opset 20: Div(sqrt 2), Erf, Add(1), Mul(x), Mul(0.5)."""
        e = self.op("Erf", self.op("Div", x, self.const(math.sqrt(2)), name=f"{name}/Div"),
                    name=f"{name}/Erf")
        a = self.op("Add", e, self.const(1.0), name=f"{name}/Add")
        return self.op("Mul", self.op("Mul", x, a, name=f"{name}/Mul"), self.const(0.5),
                       name=f"{name}/Mul_1")

    def gelu_tanh(self, x: str, name: str) -> str:
        """Hugging Face's gelu_new: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
        half = self.op("Mul", self.const(0.5), x, name=f"{name}/Mul")
        cube = self.op("Pow", x, self.const(3.0), name=f"{name}/Pow")
        inner = self.op("Add", x, self.op("Mul", self.const(0.044715), cube,
                                          name=f"{name}/Mul_1"), name=f"{name}/Add")
        t = self.op("Tanh", self.op("Mul", self.const(math.sqrt(2 / math.pi)), inner,
                                    name=f"{name}/Mul_2"), name=f"{name}/Tanh")
        return self.op("Mul", half, self.op("Add", self.const(1.0), t, name=f"{name}/Add_1"),
                       name=f"{name}/Mul_3")

    def save(self, tmp_path, inputs: dict, outputs=None, name="model", types=None) -> str:
        outputs = outputs or [self.nodes[-1].output[0]]
        types = types or {}
        graph = helper.make_graph(
            self.nodes, name,
            [helper.make_tensor_value_info(k, types.get(k, F), v) for k, v in inputs.items()],
            [helper.make_tensor_value_info(o, F, None) for o in outputs],
            initializer=self.initializers)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)])
        path = tmp_path / f"{name}_{self.opset}.onnx"
        onnx.save(model, str(path))
        return path


def kinds(net) -> list[str]:
    return [layer.op.kind for layer in net.layers]


def layer(net, kind: str, n: int = 0):
    return [x for x in net.layers if x.op.kind == kind][n]


def attrs(net, kind: str, n: int = 0) -> dict:
    return user_attributes(layer(net, kind, n).op)


def params_of(net, kind: str) -> int:
    return sum(x.op.params(net.in_shapes(x)) for x in net.layers if x.op.kind == kind)


# --------------------------------------------------------------------------- single ops


@pytest.mark.parametrize("opset", OPSETS)
def test_a_linear_per_token_with_its_bias_add_and_a_product_of_two_activations(tmp_path, opset):
    t, d, k = 5, 8, 12
    g = Graph(opset)
    y = g.linear("x", d, k, "fc")                                         # [1, 5, 12]
    q = g.op("Reshape", y, g.ints(1, t, 3, 4))                            # [1, T, h, dh]
    q = g.op("Transpose", q, perm=[0, 2, 1, 3])                           # [1, h, T, dh]
    kt = g.op("Transpose", q, perm=[0, 1, 3, 2])                          # [1, h, dh, T]
    s = g.op("MatMul", q, kt, name="scores")                              # [1, h, T, T]
    # rank 3 with the batch: [1, T, K] @ [1, K, T] is (T, 1, K) @ ..., viewed as (1, T, K).
    gram = g.op("MatMul", y, g.op("Transpose", y, perm=[0, 2, 1]), name="gram")
    # one side broadcast: [1, h, T, dh] @ [1, 1, dh, T] (keys shared by the heads)
    shared = g.op("MatMul", q, g.reduce_mean(kt, 1), name="shared")
    net = load_onnx(g.save(tmp_path, {"x": [1, t, d]}, outputs=[s, gram, shared]))
    assert kinds(net)[:6] == ["input", "linear", "reshape", "reshape", "reshape", "matmul"]
    assert net.layer("gram").inputs == ("gram/in_view", "gram/in_view_2")
    assert net.shape_of("gram/in_view") == (1, t, k) and net.shape_of("gram") == (1, t, t)
    assert net.shape_of("gram/out_view") == (t, 1, t)
    assert net.in_shapes(net.layer("shared")) == ((3, t, 4), (1, 4, t))
    assert attrs(net, "linear") == {"out_features": k, "axis": 2, "bias": True, "tied": False}
    assert net.shape_of("fc/MatMul") == (t, 1, k)       # tokens (T, 1, D)
    assert net.shape_of("scores") == (3, t, t)          # heads (h, T, T)
    # D*K weights + K biases; T*D*K MACs, then h*T*dh*T for the scores, T*K*T for gram and
    # h*T*dh*T again for the shared keys.
    assert totals(net)["params"] == d * k + k
    assert totals(net)["macs"] == t * d * k + 3 * t * 4 * t + t * k * t + 3 * t * 4 * t


@pytest.mark.parametrize("opset", OPSETS)
def test_layer_norm_decomposed_or_as_one_op_is_one_layer_with_gamma_and_beta(tmp_path, opset):
    t, d = 4, 6
    g = Graph(opset)
    g.layer_norm("x", d, "ln", eps=1e-6)
    net = load_onnx(g.save(tmp_path, {"x": [1, t, d]}))
    assert kinds(net) == ["input", "layer_norm"]
    assert net.layers[1].name == ("ln/LayerNormalization" if opset >= 17 else "ln")
    assert attrs(net, "layer_norm") == {"axis": 2, "eps": 1e-6, "bias": True}
    assert totals(net)["params"] == 2 * d
    assert totals(net)["ops"] == 7 * t * d            # layer_norm: 7 ops per element


@pytest.mark.parametrize("opset", OPSETS)
def test_rms_norm_pattern_and_gelu_erf_tanh_and_silu_patterns(tmp_path, opset):
    d = 6
    g = Graph(opset)
    s = g.op("Pow", "x", g.const(2.0), name="/rms/Pow")                     # LLaMA's RMSNorm
    r = g.reduce_mean(s, -1, name="/rms/ReduceMean")
    r = g.op("Sqrt", g.op("Add", r, g.const(1e-6), name="/rms/Add"), name="/rms/Sqrt")
    r = g.op("Mul", "x", g.op("Reciprocal", r, name="/rms/Reciprocal"), name="/rms/Mul")
    x = g.op("Mul", g.weight("rms.weight", d), r, name="/rms/Mul_1")
    x = g.gelu(x, "/act1")
    x = g.gelu_tanh(x, "/act2")
    x = g.op("Mul", x, g.op("Sigmoid", x, name="/act3/Sigmoid"), name="/act3/Mul")
    net = load_onnx(g.save(tmp_path, {"x": [1, 3, d]}))
    assert [(layer.name, layer.op.kind) for layer in net.layers] == [
        ("x", "input"), ("/rms", "rms_norm"), ("/act1", "gelu"), ("/act2", "gelu"),
        ("/act3", "silu")]
    assert attrs(net, "rms_norm") == {"axis": 2, "eps": 1e-6}
    assert attrs(net, "gelu", 1) == {"approximate": "tanh"}
    assert totals(net)["params"] == d
    # 4 (RMS) + 5 (exact GELU) + 11 (tanh GELU) + 4 (SiLU) ops per element.
    assert totals(net)["ops"] == (4 + 5 + 11 + 4) * 3 * d


@pytest.mark.parametrize("opset", OPSETS)
def test_a_pattern_whose_constants_differ_is_mapped_node_by_node(tmp_path, opset):
    g = Graph(opset)
    e = g.op("Erf", g.op("Div", "x", g.const(1.3)))         # not sqrt(2): not a GELU
    g.op("Mul", g.op("Mul", "x", g.op("Add", e, g.const(1.0))), g.const(0.5))
    net = load_onnx(g.save(tmp_path, {"x": [1, 2, 3]}), allow_unsupported=True)
    assert "gelu" not in kinds(net) and "placeholder" in kinds(net)


def test_gelu_hard_sigmoid_and_hard_swish_ops(tmp_path):
    g = Graph(20)
    x = g.op("Gelu", "x", approximate="tanh", name="gelu")
    x = g.op("HardSigmoid", x, alpha=1 / 6, beta=0.5, name="hsig")
    g.op("HardSwish", x, name="hswish")
    net = load_onnx(g.save(tmp_path, {"x": [1, 4, 2, 2]}))
    assert kinds(net)[1:] == ["gelu", "hard_sigmoid", "hard_swish"]
    assert totals(net)["ops"] == (11 + 4 + 5) * 16
    # Before opset 14 PyTorch writes hard swish as x * HardSigmoid(x).
    g = Graph(13)
    g.op("Mul", "x", g.op("HardSigmoid", "x", alpha=1 / 6, beta=0.5, name="/hs/HardSigmoid"),
         name="/hs/Mul")
    assert kinds(load_onnx(g.save(tmp_path, {"x": [1, 4, 2, 2]}))) == ["input", "hard_swish"]


@pytest.mark.parametrize("opset", OPSETS)
def test_softmax_on_any_axis_and_reductions(tmp_path, opset):
    g = Graph(opset)
    a = g.op("Softmax", "x", axis=1, name="over_channels")
    b = g.op("Softmax", a, axis=-1, name="over_columns")
    c = g.reduce_mean(b, 2, 3, keepdims=0, name="gap")              # MNASNet's x.mean([2, 3])
    g.op("ReduceMax", b, axes=[1], keepdims=1, name="max")
    net = load_onnx(g.save(tmp_path, {"x": [1, 4, 5, 6]}, outputs=[c, "max:out0"]))
    assert [(x.name, x.op.kind) for x in net.layers][1:] == [
        ("over_channels", "softmax"), ("over_columns", "softmax"), ("gap", "global_avg_pool"),
        ("max", "reduce")]
    assert attrs(net, "softmax") == {"axis": 0} and attrs(net, "softmax", 1) == {"axis": 2}
    assert attrs(net, "reduce") == {"mode": "max", "axes": [0]}
    assert net.shape_of("gap") == (4, 1, 1) and net.shape_of("max") == (1, 5, 6)


def test_reduce_axes_as_an_input_from_opset_18(tmp_path):
    g = Graph(18)
    g.op("ReduceSum", "x", g.ints(-1), keepdims=0, name="sum")
    net = load_onnx(g.save(tmp_path, {"x": [1, 3, 7]}))
    # [1, 3, 7] is (3, 1, 7); summing the 7 columns leaves (3, 1, 1): 21 adds.
    assert attrs(net, "reduce") == {"mode": "sum", "axes": [2]}
    assert net.shape_of("sum") == (3, 1, 1) and totals(net)["ops"] == 21


@pytest.mark.parametrize("opset", OPSETS)
def test_slices_and_gathers_of_activations(tmp_path, opset):
    g = Graph(opset)
    first = g.op("Gather", "x", g.const(0, np.int64), axis=1, name="class_out")  # x[:, 0]
    half = g.op("Slice", "x", g.ints(2), g.ints(6), g.ints(2), name="half")     # x[..., 2:6]
    net = load_onnx(g.save(tmp_path, {"x": [1, 5, 8]}, outputs=[first, half]))
    assert attrs(net, "slice") == {"axis": 0, "start": 0, "stop": 1, "step": 1}
    assert net.shape_of("class_out") == (1, 1, 8)     # out_view of [1, 8]: (8, 1, 1)
    assert net.shape_of(net.layers[-1].name) == (5, 1, 4)
    assert attrs(net, "slice", 1) == {"axis": 2, "start": 2, "stop": 6, "step": 1}


@pytest.mark.parametrize("opset", OPSETS)
def test_token_and_position_embeddings_and_a_class_token(tmp_path, opset):
    vocab, d, t = 100, 8, 5
    g = Graph(opset)
    tokens = g.op("Gather", g.weight("wte", vocab, d), "ids", name="wte")     # [1, T, D]
    # torchvision's ViT: the class token expanded to the batch (its -1s made 1s by a Where)
    # and concatenated in front.
    shape = g.ints(1, -1, -1)
    shape = g.op("Where", g.op("Equal", shape, g.ints(-1, -1, -1)), g.ints(1, 1, 1), shape)
    cls = g.op("Expand", g.weight("class_token", 1, 1, d), shape)
    x = g.op("Concat", cls, tokens, axis=1, name="cat")                      # [1, T+1, D]
    x = g.op("Add", x, g.weight("pos_embedding", 1, t + 1, d), name="pos")
    net = load_onnx(g.save(tmp_path, {"ids": [1, t]}, types={"ids": TensorProto.INT64}))
    assert [(x.name, x.op.kind) for x in net.layers] == [
        ("ids", "input"), ("wte", "embedding"), ("class_token", "parameter"), ("cat", "concat"),
        ("pos", "positional_embedding")]
    assert net.shape_of("ids") == (t, 1, 1) and net.shape_of("cat") == (t + 1, 1, d)
    assert attrs(net, "positional_embedding") == {"max_positions": t + 1, "offset": 0}
    # vocab x D table, D class token, (T + 1) x D positions.
    assert totals(net)["params"] == vocab * d + d + (t + 1) * d


@pytest.mark.parametrize("opset", OPSETS)
def test_broadcasting_element_wise_math_expand_and_where(tmp_path, opset):
    g = Graph(opset)
    s = g.op("Mul", "x", "gate", name="gated")                  # [1,2,3,4] * [1,1,3,4]
    e = g.op("Expand", "gate", g.ints(1, 2, 3, 4), name="copies")
    mask = g.const(np.tril(np.ones((3, 4), bool)), np.bool_)
    w = g.op("Where", mask, e, g.const(-1e4), name="masked")
    d = g.op("Div", s, w, name="ratio")
    g.op("Pow", d, g.const(2.0), name="square")
    net = load_onnx(g.save(tmp_path, {"x": [1, 2, 3, 4], "gate": [1, 1, 3, 4]}))
    assert [(x.name, x.op.kind) for x in net.layers if x.op.kind != "reshape"][2:] == [
        ("gated", "mul"), ("copies", "upsample"), ("masked", "scale"), ("ratio", "mul"),
        ("square", "scale")]
    assert attrs(net, "upsample") == {"scale": [2, 1], "mode": "nearest"}
    assert totals(net)["ops"] == 4 * 24                    # one op per element, four times


@pytest.mark.parametrize("opset", OPSETS)
def test_pad_amounts_computed_at_run_time_fold_to_constants(tmp_path, opset):
    # Swin's window padding: pad_r = (window - W % window) % window, from the shape.
    g = Graph(opset)
    w = g.op("Gather", g.op("Shape", "x"), g.const(2, np.int64))
    pad = g.op("Mod", g.op("Sub", g.const(4, np.int64), g.op("Mod", w, g.const(4, np.int64))),
               g.const(4, np.int64))
    pads = g.op("Concat", g.ints(0, 0, 0, 0, 0, 0), g.unsqueeze(pad, 0), g.ints(0), axis=0)
    g.op("Pad", "x", pads, name="pad")                                   # on W of [N, H, W, C]
    net = load_onnx(g.save(tmp_path, {"x": [1, 6, 6, 3]}))
    # 6 % 4 = 2, so 2 columns: (6, 6, 3) becomes (6, 8, 3), one op per output element; W
    # of [N, H, W, C] is perfsim's second axis, padded at its end (top, left, bottom, right).
    assert net.shape_of("pad") == (6, 8, 3) and totals(net)["ops"] == 6 * 8 * 3
    assert attrs(net, "max_pool")["padding"] == [0, 0, 2, 0]


@pytest.mark.parametrize("opset", OPSETS)
def test_a_shape_tensor_read_by_two_nodes_folds_for_both(tmp_path, opset):
    # The bug: the second reader of a computed shape kept no value. Here the target
    # [1, C/2, -1] needs a Div, which onnx's own data propagation does not compute.
    g = Graph(opset)
    c = g.op("Gather", g.op("Shape", "x"), g.ints(1))
    half = g.op("Div", c, g.ints(2))
    target = g.op("Concat", g.ints(1), half, g.ints(-1), axis=0)
    a = g.op("Reshape", "x", target, name="first")
    b = g.op("Reshape", g.op("Relu", "x", name="relu"), target, name="second")
    net = load_onnx(g.save(tmp_path, {"x": [1, 8, 3, 3]}, outputs=[a, b]))
    assert net.shape_of("first") == net.shape_of("second") == (4, 1, 18)


@pytest.mark.parametrize("opset", OPSETS)
def test_rank_six_window_partitions_are_views(tmp_path, opset):
    # Swin/MaxViT: [1, H, W, C] -> [1, H/w, w, W/w, w, C] -> windows [nW, w*w, C] (the batch
    # merged with the windows), a per-token linear on every window, and back.
    h, w, c, k = 8, 8, 3, 5
    g = Graph(opset)
    x = g.op("Reshape", "x", g.ints(1, 2, 4, 2, 4, c))
    x = g.op("Transpose", x, perm=[0, 1, 3, 2, 4, 5])
    x = g.op("Reshape", x, g.ints(-1, 16, c), name="windows")
    x = g.linear(x, c, k, "proj")
    x = g.op("Reshape", x, g.ints(1, 2, 2, 4, 4, k))
    g.op("Reshape", g.op("Transpose", x, perm=[0, 1, 3, 2, 4, 5]), g.ints(1, h, w, k),
         name="merged")
    net = load_onnx(g.save(tmp_path, {"x": [1, h, w, c]}))
    assert net.shape_of("windows") == (4, 16, c)         # [4, 16, 3] has no batch axis
    assert attrs(net, "linear") == {"out_features": k, "axis": 2, "bias": True, "tied": False}
    assert net.shape_of("merged") == (h, w, k)
    assert totals(net)["macs"] == h * w * c * k and totals(net)["params"] == c * k + k


# --------------------------------------------------------------------------- blocks


def _encoder_block(g: Graph, x: str, t: int, d: int, heads: int, name: str) -> str:
    """A pre-LN ViT encoder block as Hugging Face writes it: Q, K, V linears, heads as a
    rank-4 [1, h, T, dh] tensor, two MatMuls, Softmax, output projection, GELU MLP."""
    dh = d // heads
    a = g.layer_norm(x, d, f"{name}/ln1")
    q, k, v = (g.linear(a, d, d, f"{name}/{p}") for p in "qkv")
    split = [g.op("Transpose", g.op("Reshape", u, g.ints(1, t, heads, dh)), perm=[0, 2, 1, 3])
             for u in (q, k, v)]
    kt = g.op("Transpose", split[1], perm=[0, 1, 3, 2])
    s = g.op("Div", g.op("MatMul", split[0], kt, name=f"{name}/scores"),
             g.const(math.sqrt(dh)))
    o = g.op("MatMul", g.op("Softmax", s, axis=-1), split[2], name=f"{name}/context")
    o = g.op("Reshape", g.op("Transpose", o, perm=[0, 2, 1, 3]), g.ints(1, t, d))
    x = g.op("Add", x, g.linear(o, d, d, f"{name}/out"))
    m = g.linear(g.layer_norm(x, d, f"{name}/ln2"), d, 4 * d, f"{name}/fc1")
    return g.op("Add", x, g.linear(g.gelu(m, f"{name}/gelu"), 4 * d, d, f"{name}/fc2"))


def _block_counts(t: int, d: int) -> tuple[int, int]:
    """Parameters and MACs of one encoder block (attention included), by hand."""
    params = 2 * (2 * d) + 4 * (d * d + d) + (d * 4 * d + 4 * d) + (4 * d * d + d)
    macs = 4 * t * d * d + 2 * t * t * d + 2 * t * d * 4 * d
    return params, macs


@pytest.mark.parametrize("opset", OPSETS)
def test_a_vit_encoder_block_with_rank_four_attention(tmp_path, opset):
    t, d, heads = 5, 8, 2
    g = Graph(opset)
    _encoder_block(g, "x", t, d, heads, "block")
    net = load_onnx(g.save(tmp_path, {"x": [1, t, d]}))
    params, macs = _block_counts(t, d)
    assert (totals(net)["params"], totals(net)["macs"]) == (params, macs)
    # 4 * 5 * 64 + 2 * 25 * 8 + 2 * 5 * 8 * 32 = 1280 + 400 + 2560
    assert macs == 4240
    assert kinds(net).count("linear") == 6 and kinds(net).count("matmul") == 2
    assert kinds(net).count("layer_norm") == 2 and kinds(net).count("gelu") == 1
    assert net.shape_of("block/scores") == (heads, t, t)
    assert "placeholder" not in kinds(net)
    # [1, T, D] tensors are token tensors (show prints them T x D); the heads are not.
    assert {"x", layer(net, "layer_norm").name, "block/q/MatMul", "block/gelu"} <= net.tokens
    assert "block/scores" not in net.tokens


@pytest.mark.parametrize("opset", OPSETS)
def test_an_encoder_block_the_way_torchvisions_multihead_attention_runs(tmp_path, opset):
    # F.multi_head_attention_forward: sequence first [T, N, D], one packed in-projection, the
    # batch merged with the heads [N*h, T, dh], bmm, out-projection as a Gemm on [T*N, D].
    t, d, heads = 5, 8, 2
    dh = d // heads
    g = Graph(opset)
    x = g.op("Transpose", "x", perm=[1, 0, 2], name="seq_first")          # [T, 1, D]
    proj = g.linear(x, d, 3 * d, "in_proj")                               # [T, 1, 3D]
    proj = g.op("Reshape", proj, g.ints(t, 1, 3, d))
    proj = g.op("Transpose", g.unsqueeze(proj, 0), perm=[3, 1, 2, 0, 4])  # [3, T, 1, 1, D]
    proj = g.op("Squeeze", proj, g.ints(3)) if opset >= 13 else proj     # [3, T, 1, D]
    q, k, v = (g.op("Gather", proj, g.const(i, np.int64), axis=0, name=f"qkv{i}")
               for i in range(3))
    q, k, v = (g.op("Transpose", g.op("Reshape", u, g.ints(t, heads, dh)), perm=[1, 0, 2])
               for u in (q, k, v))                                        # [N*h, T, dh]
    s = g.op("MatMul", g.op("Mul", q, g.const(dh ** -0.5)),
             g.op("Transpose", k, perm=[0, 2, 1]), name="scores")         # [h, T, T]
    o = g.op("MatMul", g.op("Softmax", s, axis=-1), v, name="context")   # [h, T, dh]
    o = g.op("Reshape", g.op("Transpose", o, perm=[1, 0, 2]), g.ints(t, d))  # [T*N, D]
    o = g.op("Gemm", o, g.weight("out_proj.weight", d, d), g.weight("out_proj.bias", d),
             transB=1, name="out_proj")
    o = g.op("Transpose", g.op("Reshape", o, g.ints(t, 1, d)), perm=[1, 0, 2])
    g.op("Add", "x", o, name="residual")
    net = load_onnx(g.save(tmp_path, {"x": [1, t, d]}))
    assert net.shape_of("scores") == (heads, t, t)
    assert attrs(net, "linear", 1) == {"out_features": d, "axis": 2, "bias": True,
                                       "tied": False}
    # in-projection 3*D*D + 3*D, out-projection D*D + D; MACs 3TD^2 + 2T^2 D + TD^2.
    assert totals(net)["params"] == 3 * d * d + 3 * d + d * d + d
    assert totals(net)["macs"] == 3 * t * d * d + 2 * t * t * d + t * d * d
    assert net.shape_of("residual") == (t, 1, d) and "placeholder" not in kinds(net)


@pytest.mark.parametrize("opset", OPSETS)
def test_a_gpt2_decode_step_with_past_keys_and_values(tmp_path, opset):
    vocab, positions, d, heads, past = 50, 16, 8, 2, 6
    dh = d // heads
    g = Graph(opset)
    tok = g.op("Gather", g.weight("wte", vocab, d), "ids", name="wte")    # [1, 1, D]
    # position_ids = arange(past, past + 1), from the cache's shape: folded to [6].
    start = g.op("Gather", g.op("Shape", "past_k"), g.const(2, np.int64))
    ids = g.op("Range", start, g.op("Add", start, g.const(1, np.int64)), g.const(1, np.int64))
    pos = g.op("Gather", g.weight("wpe", positions, d), g.unsqueeze(ids, 0))  # [1, 1, D]
    x = g.op("Add", tok, pos, name="pos")
    a = g.layer_norm(x, d, "ln_1")
    qkv = g.linear(a, d, 3 * d, "c_attn")
    q, k, v = g.op("Split", qkv, g.ints(d, d, d), axis=2, outputs=3, name="split")
    q, k, v = (g.op("Transpose", g.op("Reshape", u, g.ints(1, 1, heads, dh)),
                    perm=[0, 2, 1, 3]) for u in (q, k, v))                # [1, h, 1, dh]
    k = g.op("Concat", "past_k", k, axis=2, name="present_k")             # [1, h, 7, dh]
    v = g.op("Concat", "past_v", v, axis=2, name="present_v")
    s = g.op("MatMul", q, g.op("Transpose", k, perm=[0, 1, 3, 2]), name="scores")
    s = g.op("Where", g.const(np.ones((1, 1, 1, past + 1), bool), np.bool_), s,
             g.const(-1e4), name="causal")
    o = g.op("MatMul", g.op("Softmax", s, axis=-1), v, name="context")    # [1, h, 1, dh]
    o = g.op("Reshape", g.op("Transpose", o, perm=[0, 2, 1, 3]), g.ints(1, 1, d))
    x = g.op("Add", x, g.linear(o, d, d, "c_proj"))
    m = g.linear(g.layer_norm(x, d, "ln_2"), d, 4 * d, "c_fc")
    x = g.op("Add", x, g.linear(g.gelu_tanh(m, "gelu"), 4 * d, d, "mlp_proj"))
    x = g.layer_norm(x, d, "ln_f")
    logits = g.op("MatMul", x, g.op("Transpose", "wte", perm=[1, 0]), name="lm_head")
    path = g.save(tmp_path, {"ids": [1, 1], "past_k": [1, heads, past, dh],
                             "past_v": [1, heads, past, dh]},
                  outputs=[logits, "present_k:out0", "present_v:out0"],
                  types={"ids": TensorProto.INT64})
    net = load_onnx(path)
    assert attrs(net, "positional_embedding") == {"max_positions": positions, "offset": past}
    assert [x.name for x in net.layers if x.op.kind == "kv_append"] == ["present_k",
                                                                       "present_v"]
    assert attrs(net, "kv_append") == {"axis": 1}
    assert net.shape_of("present_k") == (heads, past + 1, dh)
    assert user_attributes(net.layer("lm_head").op) == {"out_features": vocab, "axis": 2,
                                                        "bias": False, "tied": True}
    # wte and wpe, three layer norms, c_attn, c_proj, the MLP; the head shares wte.
    assert totals(net)["params"] == (vocab * d + positions * d + 3 * 2 * d
                                     + d * 3 * d + 3 * d + d * d + d
                                     + d * 4 * d + 4 * d + 4 * d * d + d)
    # One token: 3D^2 (qkv) + 2 * D * 7 (scores and context over 7 positions) + D^2 + 8D^2
    # (MLP) + D * vocab (head).
    assert totals(net)["macs"] == 3 * d * d + 2 * d * (past + 1) + d * d + 8 * d * d + d * vocab
    run = simulate(net, "matrix_engine")
    assert {r.layer: r.in_location for r in run.layers}["present_k"] is not None


@pytest.mark.parametrize("opset", OPSETS)
def test_a_convnext_block_channels_last(tmp_path, opset):
    c, h = 8, 6
    g = Graph(opset)
    y = g.op("Conv", "x", g.weight("dw.weight", c, 1, 7, 7), g.weight("dw.bias", c),
             group=c, kernel_shape=[7, 7], pads=[3, 3, 3, 3], name="dwconv")
    y = g.op("Transpose", y, perm=[0, 2, 3, 1], name="to_nhwc")           # [N, H, W, C]
    y = g.layer_norm(y, c, "norm", eps=1e-6)
    y = g.linear(y, c, 4 * c, "pwconv1")
    y = g.linear(g.gelu(y, "act"), 4 * c, c, "pwconv2")
    y = g.op("Transpose", y, perm=[0, 3, 1, 2], name="to_nchw")
    y = g.op("Mul", g.weight("layer_scale", c, 1, 1), y, name="layer_scale")
    g.op("Add", "x", y, name="residual")
    net = load_onnx(g.save(tmp_path, {"x": [1, c, h, h]}))
    assert net.shape_of("to_nhwc") == (h, h, c)           # channels last: (H, W, C)
    assert attrs(net, "layer_norm")["axis"] == 2 and attrs(net, "linear")["axis"] == 2
    assert attrs(net, "scale") == {"bias": False, "factor": None}
    # depthwise 7x7 with bias, LN, two linears, layer scale.
    assert totals(net)["params"] == (c * 49 + c) + 2 * c + (c * 4 * c + 4 * c) + \
        (4 * c * c + c) + c
    assert totals(net)["macs"] == h * h * c * 49 + 2 * h * h * c * 4 * c


# --------------------------------------------------------------------------- errors


def test_cannot_infer_a_shape_names_the_node_and_why_without_blaming_the_input(tmp_path):
    # A reshape target read from the data itself: no shape inference can know it.
    g = Graph(17)
    target = g.op("Cast", g.op("ReduceMax", "x", axes=[1, 2], keepdims=0, name="peak"), to=7,
                  name="cast")
    g.op("Reshape", "x", g.op("Concat", g.ints(1), target, g.ints(-1), axis=0, name="target"),
         name="reshape")
    g.op("Relu", g.nodes[-1].output[0], name="relu")
    path = g.save(tmp_path, {"x": [1, 4, 4]})
    with pytest.raises(WorkloadError) as err:
        load_onnx(path, allow_unsupported=True)  # the Concat of the data: a placeholder
    message = str(err.value)
    assert message.startswith(f"{path}: cannot infer the shape of tensor 'reshape:out0'")
    assert "node 'reshape' (Reshape) computes it from 'target:out0'" in message
    assert "computed at run time, not from shapes" in message
    assert "--input-shape" not in message


def test_cannot_infer_a_shape_mentions_input_shape_when_the_input_was_dynamic(tmp_path):
    g = Graph(17)
    g.op("Reshape", "x", g.ints(1, 5, -1), name="reshape")     # 5 does not divide 4 x 4
    g.op("Relu", g.nodes[-1].output[0], name="relu")
    path = g.save(tmp_path, {"x": ["N", 4, "H", "W"]})
    with pytest.raises(WorkloadError) as err:
        load_onnx(path, input_shape=(4, 2, 2))
    assert "--input-shape" in str(err.value) and "'x'" in str(err.value)


def test_allow_unsupported_says_how_much_is_not_costed_on_stderr_and_in_the_totals(tmp_path):
    g = Graph(17)
    y = g.op("Conv", "x", g.weight("w", 4, 2, 3, 3), name="conv")            # [1, 4, 3, 3]
    y = g.op("Erf", y, name="erf")
    g.op("ConvTranspose", y, g.weight("wt", 4, 6, 2, 2), strides=[2, 2], name="up")
    path = g.save(tmp_path, {"x": [1, 2, 5, 5]})
    net = load_onnx(path, allow_unsupported=True)
    # conv: 36 outputs x 2 x 9 = 648 MACs; the transposed conv: 36 inputs x 6 x 4 = 864.
    assert user_attributes(net.layer("up").op)["uncosted_macs"] == 864
    t = totals(net)
    assert (t["macs"], t["uncosted_layers"], t["uncosted_macs"]) == (648, 2, 864)
    run = simulate(net, "matrix_engine")
    assert run.totals["uncosted_layers"] == 2 and run.totals["uncosted_macs"] == 864
    # 864 / (648 + 864) = 57%
    assert "2 of 4 layers not costed (unsupported ONNX ops), 57% of the MACs" in \
        run.summary()[0]
    shown = subprocess.run([sys.executable, "-m", "perfsim", "show", str(path),
                            "--allow-unsupported"], cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr.strip() == (
        f"perfsim: {path.stem}: 2 of 4 layers not costed (unsupported ONNX ops), 57% of the "
        f"MACs by their ONNX shapes (864 of 1,512): Erf x1, ConvTranspose x1")
    assert "uncosted_layers 2, uncosted_macs 864" in shown.stdout
