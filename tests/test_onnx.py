"""ONNX import and export: real ONNX files built with ``onnx.helper``, each op's attributes and
parameter counts, the patterns that fold into one layer, the round trip of every zoo network,
and every kind of bad file as one clean WorkloadError (and exit 2 at the command line)."""

from __future__ import annotations

import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from cli_runs import perfsim_cli as perfsim
from perfsim import Layer, Network, WorkloadError, load_hw, load_workload, simulate, totals
from perfsim.io.onnx_export import export_onnx, to_onnx
from perfsim.io.onnx_import import FIXED_WEIGHTS_KEY, load_onnx, supported_ops
from perfsim.workload import NetworkBuilder
from perfsim.workload.ops import OPS, Input, Placeholder, Relu, user_attributes
from perfsim.workload.lecture import lecture_table
from perfsim.workload.stats import layer_table
from perfsim.workload.zoo import build_workload, workload_names

F = TensorProto.FLOAT


def weight(name, *dims):
    """A real initializer of zeros."""
    return numpy_helper.from_array(np.zeros(dims, np.float32), name)


def ints(name, *values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def scalar(name, value):
    return numpy_helper.from_array(np.array(value, np.float32), name)


def node(op_type, inputs, outputs, name, **attributes):
    return helper.make_node(op_type, inputs, outputs, name=name, **attributes)


def save(tmp_path, nodes, inputs, initializers=(), name="model", opset=17, outputs=None,
         metadata=None):
    """Write a model: ``inputs`` maps names to dims, ``outputs`` default to the last node's
    first output (its shape left to inference)."""
    outputs = outputs or [nodes[-1].output[0]]
    graph = helper.make_graph(
        nodes, name, [helper.make_tensor_value_info(k, F, v) for k, v in inputs.items()],
        [helper.make_tensor_value_info(o, F, None) for o in outputs],
        initializer=list(initializers))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    if metadata:
        helper.set_model_props(model, metadata)
    path = tmp_path / f"{name}.onnx"
    onnx.save(model, str(path))
    return path


def layers(net):
    """``(name, op kind)`` of every layer."""
    return [(layer.name, layer.op.kind) for layer in net.layers]


def inputs_first(net):
    """The layers, network inputs first: an ONNX graph lists its inputs before its nodes, so
    an input a network declares halfway (a decode step's cache) comes back in front."""
    return sorted(net.layers, key=lambda layer: layer.op.kind != "input")


def attrs(net, name):
    return user_attributes(net.layer(name).op)


def params(net, name):
    layer = net.layer(name)
    return layer.op.params(net.in_shapes(layer))


# --------------------------------------------------------------------------- op mapping


def test_grouped_depthwise_and_dilated_convs_with_their_parameters(tmp_path):
    path = save(tmp_path, [
        node("Conv", ["x", "w1", "b1"], ["c1"], "grouped", group=2, kernel_shape=[3, 3],
             pads=[1, 1, 1, 1], strides=[2, 2]),
        node("Conv", ["c1", "w2"], ["c2"], "depthwise", group=16, dilations=[2, 2],
             pads=[2, 2, 2, 2]),
    ], {"x": [1, 8, 16, 16]}, [weight("w1", 16, 4, 3, 3), weight("b1", 16),
                               weight("w2", 16, 1, 3, 3)])
    net = load_onnx(path)
    assert layers(net) == [("x", "input"), ("grouped", "conv"), ("depthwise", "conv")]
    assert net.name == "model" and net.source == str(path) and net.batch == 1
    assert attrs(net, "grouped") == {"out_channels": 16, "kernel": [3, 3], "stride": [2, 2],
                                     "padding": [1, 1, 1, 1], "dilation": [1, 1], "groups": 2,
                                     "bias": True}
    assert attrs(net, "depthwise")["groups"] == 16 and attrs(net, "depthwise")["bias"] is False
    assert attrs(net, "depthwise")["dilation"] == [2, 2]
    assert net.shape_of("grouped") == (16, 8, 8) and net.shape_of("depthwise") == (16, 8, 8)
    # K*C/G*FY*FX + K from the initializers.
    assert params(net, "grouped") == 16 * 4 * 9 + 16 and params(net, "depthwise") == 16 * 9
    assert totals(net)["macs"] == 16 * 64 * 4 * 9 + 16 * 64 * 9


def test_ceil_mode_pooling_asymmetric_pads_and_auto_pad(tmp_path):
    path = save(tmp_path, [
        node("MaxPool", ["x"], ["p1"], "pool_ceil", kernel_shape=[3, 3], strides=[2, 2],
             ceil_mode=1),
        node("AveragePool", ["p1"], ["p2"], "pool_asym", kernel_shape=[2, 2],
             strides=[2, 2], pads=[0, 0, 1, 1]),
        node("Conv", ["p2", "w"], ["c1"], "same_upper", auto_pad="SAME_UPPER",
             kernel_shape=[4, 4], strides=[2, 2]),
        node("Conv", ["c1", "w2"], ["c2"], "same_lower", auto_pad="SAME_LOWER",
             kernel_shape=[2, 2]),
        node("MaxPool", ["c2"], ["p3"], "valid", auto_pad="VALID", kernel_shape=[3, 3]),
    ], {"x": [1, 4, 112, 112]}, [weight("w", 4, 4, 4, 4), weight("w2", 4, 4, 2, 2)])
    net = load_onnx(path)
    # 112 -> ceil((112 - 3) / 2) + 1 = 56 (floor mode would give 55).
    assert attrs(net, "pool_ceil")["ceil_mode"] is True and net.shape_of("pool_ceil")[1:] == (56, 56)
    assert attrs(net, "pool_asym")["padding"] == [0, 0, 1, 1]
    assert net.shape_of("pool_asym")[1:] == (28, 28)
    # SAME: output ceil(28 / 2) = 14 needs 13*2 + 4 - 28 = 2 pixels, 1 on each side; an
    # even 1-pixel total goes to the end (upper) or the beginning (lower).
    assert attrs(net, "same_upper")["padding"] == [1, 1, 1, 1]
    assert attrs(net, "same_lower")["padding"] == [1, 1, 0, 0]
    assert net.shape_of("same_lower")[1:] == (14, 14)
    assert attrs(net, "valid")["padding"] == [0, 0, 0, 0] and net.shape_of("valid")[1:] == (12, 12)
    # Pooling costs FY*FX per output element.
    table = layer_table(net).set_index("layer")
    assert table.loc["pool_ceil", "ops"] == 9 * 4 * 56 * 56


def test_channel_shuffle_pattern_is_one_layer_named_after_the_transpose(tmp_path):
    path = save(tmp_path, [
        node("Conv", ["x", "w"], ["c"], "conv", group=3),
        node("Reshape", ["c", "grouped"], ["r"], "split_groups"),
        node("Transpose", ["r"], ["t"], "shuffle", perm=[0, 2, 1, 3, 4]),
        node("Reshape", ["t", "merged"], ["y"], "merge_groups"),
        node("Relu", ["y"], ["z"], "relu"),
    ], {"x": [1, 12, 8, 8]}, [weight("w", 12, 4, 1, 1), ints("grouped", 1, 3, 4, 8, 8),
                              ints("merged", 1, 12, 8, 8)])
    net = load_onnx(path)
    assert layers(net) == [("x", "input"), ("conv", "conv"), ("shuffle", "channel_shuffle"),
                           ("relu", "relu")]
    assert attrs(net, "shuffle") == {"num_groups": 3}
    assert net.layer("relu").inputs == ("shuffle",)


def test_lstm_parameters_equal_pytorchs_and_the_direction_squeeze_is_part_of_it(tmp_path):
    i, h, t = 10, 20, 7
    path = save(tmp_path, [
        node("LSTM", ["x", "W", "R", "B"], ["y"], "lstm", hidden_size=h),
        node("Squeeze", ["y", "axis1"], ["s"], "squeeze"),
        node("Tanh", ["s"], ["o"], "tanh"),
    ], {"x": ["T", "N", i]}, [weight("W", 1, 4 * h, i), weight("R", 1, 4 * h, h),
                              weight("B", 1, 8 * h), ints("axis1", 1)])
    with pytest.raises(WorkloadError, match="dynamic dimensions"):
        load_onnx(path)
    net = load_onnx(path, input_shape=(i, 1, t))     # a sequence is (features, 1, T)
    assert layers(net) == [("x", "input"), ("lstm", "lstm"), ("tanh", "tanh")]
    assert net.shape_of("x") == (i, 1, t) and net.shape_of("tanh") == (h, 1, t)
    # PyTorch's nn.LSTM(10, 20): 4*(H*(I+H) + 2H).
    assert params(net, "lstm") == 4 * (h * (i + h) + 2 * h) == 2560
    assert attrs(net, "lstm") == {"hidden_size": h, "bias": True}


def test_bidirectional_gru_is_two_layers_concatenated(tmp_path):
    i, h = 6, 5
    path = save(tmp_path, [
        node("GRU", ["x", "W", "R"], ["y"], "gru", hidden_size=h, direction="bidirectional"),
        node("Transpose", ["y"], ["t"], "to_tnd", perm=[0, 2, 1, 3]),
        node("Reshape", ["t", "shape"], ["o"], "merge_directions"),
    ], {"x": [9, 1, i]}, [weight("W", 2, 3 * h, i), weight("R", 2, 3 * h, h),
                          ints("shape", 9, 1, 2 * h)])
    net = load_onnx(path)
    assert layers(net)[1:4] == [("gru/forward", "gru"), ("gru/reverse", "gru"), ("gru", "concat")]
    assert net.shape_of("gru") == (2 * h, 1, 9) and net.shape_of("merge_directions") == (2 * h, 1, 9)
    # PyTorch's bidirectional GRU without bias: 2 * 3*H*(I+H).
    assert totals(net)["params"] == 2 * 3 * h * (i + h)


def test_gemm_transb_matmul_with_bias_and_a_pytorch_flatten(tmp_path):
    # x.view(x.size(0), -1) as PyTorch exports it: Shape -> Gather -> Unsqueeze -> Concat.
    path = save(tmp_path, [
        node("Shape", ["x"], ["shape"], "shape"),
        node("Gather", ["shape", "zero"], ["n"], "gather", axis=0),
        node("Unsqueeze", ["n", "axis0"], ["n1"], "unsqueeze"),
        node("Concat", ["n1", "minus1"], ["target"], "concat", axis=0),
        node("Reshape", ["x", "target"], ["flat"], "flatten"),
        node("Gemm", ["flat", "w1", "b1"], ["f1"], "fc1", transB=1),
        node("Gemm", ["f1", "w2"], ["f2"], "fc2"),
        node("MatMul", ["f2", "w3"], ["m"], "fc3"),
        node("Add", ["m", "b3"], ["f3"], "fc3_bias"),
    ], {"x": [1, 4, 5, 5]}, [numpy_helper.from_array(np.array(0, np.int64), "zero"),
                             ints("axis0", 0), ints("minus1", -1),
                             weight("w1", 30, 100), weight("b1", 30), weight("w2", 30, 20),
                             weight("w3", 20, 10), weight("b3", 10)])
    net = load_onnx(path)
    assert layers(net) == [("x", "input"), ("flatten", "flatten"), ("fc1", "fc"), ("fc2", "fc"),
                           ("fc3", "fc")]
    assert net.shape_of("flatten") == (100, 1, 1) and net.shape_of("fc3") == (10, 1, 1)
    assert params(net, "fc1") == 30 * 100 + 30 and params(net, "fc2") == 30 * 20
    assert attrs(net, "fc3")["bias"] is True and params(net, "fc3") == 20 * 10 + 10
    assert totals(net)["macs"] == 3000 + 600 + 200


def test_dynamic_dimensions_take_input_shape(tmp_path):
    path = save(tmp_path, [node("Conv", ["img", "w"], ["c"], "conv", pads=[1, 1, 1, 1]),
                           node("GlobalAveragePool", ["c"], ["g"], "gap")],
                {"img": ["batch", 3, "height", "width"]}, [weight("w", 8, 3, 3, 3)])
    with pytest.raises(WorkloadError) as err:
        load_onnx(path)
    assert str(path) in str(err.value) and "'img'" in str(err.value)
    assert "['batch', 3, 'height', 'width']" in str(err.value) and "--input-shape" in str(err.value)
    net = load_onnx(path, input_shape=(3, 40, 30))
    assert net.shape_of("img") == (3, 40, 30) and net.shape_of("conv") == (8, 40, 30)
    with pytest.raises(WorkloadError, match="fixed dimension 3 at axis 1"):
        load_onnx(path, input_shape=(4, 40, 30))
    # A static model needs no input_shape; its batch is perfsim's, not the file's.
    static = save(tmp_path, [node("Relu", ["x"], ["y"], "relu")], {"x": ["N", 2, 3, 4]},
                  name="static")
    assert load_workload(static, batch=4).batch == 4
    assert load_workload(static).shape_of("relu") == (2, 3, 4)


def test_identity_is_dropped_and_dropout_kept(tmp_path):
    path = save(tmp_path, [
        node("Identity", ["x"], ["i"], "identity"),
        node("Dropout", ["i", "ratio"], ["d"], "drop"),
        node("Identity", ["d"], ["i2"], ""),
        node("Relu", ["i2"], ["r"], ""),
        node("Relu", ["r"], ["r2"], ""),
    ], {"x": [1, 3, 4, 4]}, [scalar("ratio", 0.2)])
    net = load_onnx(path)
    assert layers(net) == [("x", "input"), ("drop", "dropout"), ("Relu_1", "relu"),
                           ("Relu_2", "relu")]
    assert net.layer("drop").inputs == ("x",) and net.layer("Relu_1").inputs == ("drop",)
    assert attrs(net, "drop") == {"p": 0.2}


def test_pad_folds_into_the_conv_it_feeds_only(tmp_path):
    path = save(tmp_path, [
        node("Pad", ["x", "pads"], ["p"], "pad"),
        node("Conv", ["p", "w"], ["c"], "conv"),
        node("Pad", ["c", "pads2"], ["q"], "pad_shared"),
        node("MaxPool", ["q"], ["m"], "pool", kernel_shape=[2, 2], strides=[2, 2]),
        node("Add", ["q", "q"], ["s"], "sum"),
    ], {"x": [1, 3, 10, 10]}, [ints("pads", 0, 0, 1, 2, 0, 0, 3, 4), weight("w", 5, 3, 3, 3),
                               ints("pads2", 0, 0, 1, 1, 0, 0, 1, 1)],
        outputs=["m", "s"])
    net = load_onnx(path)
    assert layers(net) == [("x", "input"), ("conv", "conv"), ("pad_shared", "max_pool"),
                           ("pool", "max_pool"), ("sum", "add")]
    assert attrs(net, "conv")["padding"] == [1, 2, 3, 4] and net.layer("conv").inputs == ("x",)
    assert net.shape_of("conv") == (5, 12, 14)
    # A pad read twice is a copy into the padded map: a 1x1 window with that padding.
    assert attrs(net, "pad_shared") == {"kernel": [1, 1], "stride": [1, 1],
                                        "padding": [1, 1, 1, 1], "ceil_mode": False}
    assert net.shape_of("pad_shared") == (5, 14, 16)


def test_parameters_come_from_weight_shapes_even_external_or_as_graph_inputs(tmp_path):
    missing = weight("w", 8, 3, 3, 3)
    missing.ClearField("raw_data")
    missing.data_location = TensorProto.EXTERNAL
    missing.external_data.add(key="location", value="weights_that_are_not_there.bin")
    nodes = [node("Conv", ["x", "w", "b"], ["c"], "conv"),
             node("BatchNormalization", ["c", "s", "bb", "mean", "var"], ["n"], "bn",
                  epsilon=1e-3),
             node("InstanceNormalization", ["n", "s", "bb"], ["i"], "in"),
             node("PRelu", ["i", "slope"], ["p"], "prelu")]
    stats = [weight(k, 8) for k in ("b", "s", "bb", "mean", "var")] + [weight("slope", 8, 1, 1)]
    path = save(tmp_path, nodes, {"x": [1, 3, 9, 9]}, [missing] + stats)
    net = load_onnx(path)
    assert layers(net)[1:] == [("conv", "conv"), ("bn", "batch_norm"), ("in", "group_norm"),
                               ("prelu", "prelu")]
    # BN and instance norm count scale and bias (2C), not the running statistics.
    assert [params(net, n) for n in ("conv", "bn", "in", "prelu")] == [8 * 27 + 8, 16, 16, 8]
    assert attrs(net, "bn")["eps"] == 0.001 and attrs(net, "in")["num_groups"] == 8
    # The same weights as graph inputs without data: weights, not network inputs.
    as_inputs = save(tmp_path, nodes, {"x": [1, 3, 9, 9], "w": [8, 3, 3, 3], "b": [8],
                                       "s": [8], "bb": [8], "mean": [8], "var": [8],
                                       "slope": [8, 1, 1]}, name="as_inputs")
    again = load_onnx(as_inputs)
    assert layers(again)[0] == ("x", "input") and totals(again) == totals(net)


def test_activations_and_element_wise_ops_map_to_the_closest_op(tmp_path):
    path = save(tmp_path, [
        node("Clip", ["x", "zero", "six"], ["a"], "relu6"),
        node("Clip", ["a", "zero"], ["b"], "relu_clip"),
        node("HardSwish", ["b"], ["c"], "hswish"),
        node("HardSigmoid", ["c"], ["d"], "hsigmoid"),
        node("LeakyRelu", ["d"], ["e"], "leaky", alpha=0.1),
        node("Sub", ["e", "d"], ["f"], "sub"),
        node("Div", ["f", "two"], ["g"], "half"),
        node("Mul", ["g", "gamma"], ["h"], "affine"),
        node("Add", ["h", "beta"], ["i"], "affine_bias"),
        node("Add", ["i", "two"], ["j"], "plus_two"),
        node("Max", ["j", "i", "g"], ["k"], "max3"),
        node("Resize", ["k", "", "scales"], ["l"], "up", mode="linear"),
        node("DepthToSpace", ["l"], ["m"], "d2s", blocksize=2),
        node("Softmax", ["m"], ["n"], "softmax", axis=1),
    ], {"x": [1, 4, 3, 3]}, [scalar("zero", 0.0), scalar("six", 6.0), scalar("two", 2.0),
                             weight("gamma", 4, 1, 1), weight("beta", 1, 4, 1, 1),
                             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32),
                                                     "scales")])
    net = load_onnx(path)
    assert layers(net)[1:] == [
        ("relu6", "relu6"), ("relu_clip", "relu"), ("hswish", "hard_swish"),
        ("hsigmoid", "hard_sigmoid"),
        ("leaky", "leaky_relu"), ("sub", "add"), ("half", "scale"), ("affine", "scale"),
        ("plus_two", "scale"), ("max3", "max"), ("up", "upsample"), ("d2s", "depth_to_space"),
        ("softmax", "softmax")]
    assert attrs(net, "leaky") == {"negative_slope": 0.1}
    assert attrs(net, "half") == {"bias": False, "factor": 0.5}
    assert attrs(net, "affine") == {"bias": True, "factor": None}
    assert params(net, "affine") == 8 and params(net, "half") == 0
    assert attrs(net, "plus_two") == {"bias": False, "factor": 1.0}
    assert attrs(net, "up") == {"scale": [2, 2], "mode": "bilinear"}
    assert net.shape_of("d2s") == (1, 12, 12)


def test_an_old_opset_with_settings_as_attributes(tmp_path):
    # Opset 9: Pad, Clip, Dropout, Split and Squeeze take their settings as attributes.
    path = save(tmp_path, [
        node("Pad", ["x"], ["p"], "pad", pads=[0, 0, 1, 1, 0, 0, 1, 1]),
        node("Conv", ["p", "w"], ["c"], "conv"),
        node("Clip", ["c"], ["r"], "relu6", min=0.0, max=6.0),
        node("Upsample", ["r", "scales"], ["u"], "up"),
        node("Dropout", ["u"], ["d"], "drop", ratio=0.1),
        node("Split", ["d"], ["s0", "s1"], "split", axis=1, split=[2, 4]),
        node("Concat", ["s1", "s0"], ["cat"], "cat", axis=1),
        node("GlobalAveragePool", ["cat"], ["g"], "gap"),
        node("Squeeze", ["g"], ["q"], "squeeze", axes=[2, 3]),
        node("Gemm", ["q", "fw"], ["f"], "fc", transB=1),
    ], {"x": [1, 3, 6, 6]}, [weight("w", 6, 3, 3, 3),
                             numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales"),
                             weight("fw", 5, 6)], opset=9)
    net = load_onnx(path)
    assert layers(net)[1:] == [("conv", "conv"), ("relu6", "relu6"), ("up", "upsample"),
                               ("drop", "dropout"), ("split", "split"), ("cat", "concat"),
                               ("gap", "global_avg_pool"), ("squeeze", "flatten"), ("fc", "fc")]
    assert attrs(net, "conv")["padding"] == [1, 1, 1, 1] and attrs(net, "drop") == {"p": 0.1}
    assert attrs(net, "split") == {"sizes": [2, 4], "axis": 0}
    assert net.layer("cat").inputs == ("split:1", "split")
    assert net.shape_of("up") == (6, 12, 12) and net.shape_of("fc") == (5, 1, 1)


# --------------------------------------------------------------------------- round trip


def test_every_zoo_network_round_trips_with_the_same_layers_and_totals(tmp_path):
    for name in workload_names():
        net = build_workload(name)
        path = tmp_path / f"{name}.onnx"
        export_onnx(net, path)
        back = load_onnx(path)
        assert [(layer.name, layer.op.kind, user_attributes(layer.op), net.out_shapes[layer.name])
                for layer in inputs_first(net)] == \
               [(layer.name, layer.op.kind, user_attributes(layer.op), back.out_shapes[layer.name])
                for layer in back.layers], name
        assert totals(back) == totals(net), name
        assert back.tokens == net.tokens, name
    assert os.path.getsize(tmp_path / "vgg16.onnx") < 20_000  # shapes only, not 138M weights


def test_exported_files_are_valid_onnx_with_fixed_weights_marked(tmp_path):
    path = tmp_path / "lenet.onnx"
    export_onnx(build_workload("lenet5_lecun1998"), path)
    model = onnx.load(str(path))
    onnx.checker.check_model(model, full_check=True)
    assert {p.key: p.value for p in model.metadata_props}[FIXED_WEIGHTS_KEY] == '["RBF.weight"]'
    back = load_onnx(path)
    assert attrs(back, "RBF")["trainable"] is False and totals(back)["params"] == 60_000
    assert [n.op_type for n in model.graph.node if n.name == "C1"] == ["Conv"]
    assert not any(n.domain for n in model.graph.node)
    assert lecture_table(back).equals(lecture_table(build_workload("lenet5_lecun1998")))


def _image_ops() -> Network:
    b = NetworkBuilder("image_ops", (8, 16, 16))
    x = b.add("conv", b.input, out_channels=16, kernel=3, padding=(1, 0, 2, 1), dilation=2,
              stride=(1, 2), name="c")
    x = b.add("group_norm", x, num_groups=4, name="gn")
    x = b.add("group_norm", x, num_groups=16, name="in")
    x = b.add("prelu", x, name="prelu")
    x = b.add("leaky_relu", x, negative_slope=0.2, name="leaky")
    x = b.add("offset", x, name="off")
    x = b.add("scale", x, name="sc")
    x = b.add("scale", x, factor=0.5, bias=True, name="scf")
    y = b.add("relu6", x, name="r6")
    z = b.add("max", x, y, name="mx")
    m = b.add("mul", x, y, name="m2")
    a = b.add("add", x, y, z, name="a3")
    x = b.add("concat", m, a, axis=2, name="cat_w")
    x = b.add("concat", x, x, axis=1, name="cat_h")
    s = b.add("split", x, sizes=(4, 4, 8), axis=0, name="sp")
    x = b.add("concat", f"{s}:2", s, f"{s}:1", name="cat_c")
    x = b.add("space_to_depth", x, block=2, name="s2d")
    x = b.add("depth_to_space", x, block=2, name="d2s")
    x = b.add("upsample", x, scale=2, mode="bilinear", name="up")
    x = b.add("upsample", x, scale=(1, 2), name="up2")
    x = b.add("avg_pool", x, kernel=3, stride=2, padding=1, ceil_mode=True, name="ap")
    x = b.add("max_pool", x, kernel=(2, 1), stride=1, padding=(0, 0, 1, 0), name="mp")
    x = b.add("lrn", x, size=3, name="lrn")
    x = b.add("shift", x, kernel=5, name="shift")
    x = b.add("channel_shuffle", x, num_groups=4, name="shuf")
    x = b.add("reshape", x, shape=(16, 29, 31), name="reshape")
    x = b.add("global_max_pool", b.add("sigmoid", x, name="sig"), name="gmp")
    x = b.add("relu", b.add("global_avg_pool", x, name="gap"), name="relu")
    t = b.add("spp", "shift", levels=(1, 2, 3), mode="avg", name="spp")
    t = b.add("softmax", t, name="sm")
    q = b.add("fc", x, out_features=7, bias=False, name="fc_map")
    q = b.add("offset", q, name="off_nf")
    q = b.add("batch_norm", q, name="bn1d")
    b.add("concat", q, t, name="cat_nf")
    return b.build()


def _sequence_ops() -> Network:
    b = NetworkBuilder("sequence_ops", (16, 1, 12), input_name="tokens")
    r = b.add("lstm", b.input, hidden_size=12, name="lstm")
    r = b.add("tanh", r, name="tanh")
    r = b.add("gru", r, hidden_size=6, name="gru")
    r = b.add("rnn", r, hidden_size=5, bias=False, name="rnn")
    r = b.add("softmax", r, name="softmax")
    r = b.add("fc", r, out_features=7, name="fc_seq")
    r = b.add("dropout", r, p=0.3, name="drop")
    b.add("flatten", r, name="flat")
    return b.build()


def _transformer_ops() -> Network:
    """The transformer-era ops, each in every layout the exporter writes it in: token
    tensors, heads, channels-last and channel-first maps, (N, F) vectors."""
    b = NetworkBuilder("transformer_ops", (6, 1, 1), input_name="ids")
    x = b.add("embedding", b.input, num_embeddings=50, dim=16, name="embed")
    x = b.add("positional_embedding", x, max_positions=10, offset=2, name="pos")
    cls = b.add("parameter", shape=(1, 1, 16), name="cls")
    x = b.add("concat", cls, x, axis=0, name="tokens")                       # (7, 1, 16)
    n = b.add("layer_norm", x, eps=1e-6, name="ln")
    q = b.add("linear", n, out_features=16, name="q")
    k = b.add("linear", n, out_features=16, bias=False, name="k")
    v = b.add("linear", n, out_features=16, name="v")
    qh = b.add("reshape", q, shape=(4, 7, 4), name="q_heads")
    kt = b.add("reshape", k, shape=(4, 4, 7), name="k_t")
    past = b.add("input", shape=(4, 3, 4), name="past_v")
    vh = b.add("kv_append", past, b.add("reshape", v, shape=(4, 7, 4), name="v_heads"),
               axis=1, name="present_v")                                     # (4, 10, 4)
    s = b.add("matmul", qh, kt, name="scores")
    p = b.add("softmax", s, axis=2, name="probs")
    keys = b.add("slice", vh, axis=1, start=3, stop=10, name="new_v")
    o = b.add("matmul", p, keys, name="attend")                              # (4, 7, 4)
    shared = b.add("reduce", keys, mode="mean", axes=(0,), name="mean_head")  # (1, 7, 4)
    o = b.add("matmul", p, shared, name="attend_shared")                     # broadcast G=1
    o = b.add("reshape", o, shape=(7, 1, 16), name="merge")
    o = b.add("rms_norm", o, eps=1e-6, name="rms")
    h = b.add("gelu", b.add("linear", o, out_features=32, name="fc1"), name="gelu")
    h = b.add("gelu", h, approximate="tanh", name="gelu_tanh")
    h = b.add("silu", h, name="silu")
    h = b.add("hard_swish", b.add("hard_sigmoid", h, name="hsig"), name="hswish")
    h = b.add("reduce", h, mode="sum", axes=(2,), name="sum")                # (7, 1, 1)
    m = b.add("reshape", x, shape=(16, 7, 1), name="as_map")                 # channels first
    m = b.add("layer_norm", m, axis=0, bias=False, name="ln_c")
    m = b.add("linear", m, out_features=8, axis=0, name="pw")
    m = b.add("linear", m, out_features=3, axis=1, bias=False, name="rows")
    m = b.add("rms_norm", m, axis=1, name="rms_h")
    m = b.add("reduce", m, mode="max", axes=(0, 2), name="max")              # (1, 3, 1)
    f = b.add("flatten", b.add("global_avg_pool", b.add("reshape", n, shape=(16, 7, 1),
                                                      name="n_map"), name="gap"),
              name="flat")
    f = b.add("linear", f, out_features=5, axis=0, name="on_vector")         # (N, F)
    f = b.add("layer_norm", f, axis=0, name="ln_vector")
    b.add("linear", b.add("slice", o, axis=0, start=0, stop=1, name="first"),
          out_features=50, bias=False, tied=True, name="head")
    b.add("concat", h, b.add("reshape", m, shape=(3, 1, 1), name="m_flat"), axis=0,
          name="out")
    b.add("softmax", f, name="prob")
    return b.build()


@pytest.mark.parametrize("build", [_image_ops, _sequence_ops, _transformer_ops])
def test_every_op_round_trips(tmp_path, build):
    net = build()
    path = tmp_path / f"{net.name}.onnx"
    export_onnx(net, path)
    back = load_onnx(path)
    assert [(layer.name, layer.op.kind, user_attributes(layer.op), layer.inputs)
            for layer in back.layers] == \
           [(layer.name, layer.op.kind, user_attributes(layer.op), layer.inputs)
            for layer in inputs_first(net)]
    assert back.out_shapes == net.out_shapes and totals(back) == totals(net)


def test_the_op_set_is_covered_by_the_round_trip_tests():
    kinds = {layer.op.kind for build in (_image_ops, _sequence_ops, _transformer_ops)
             for layer in build().layers}
    assert set(OPS) - kinds == {"placeholder"}


def test_what_cannot_round_trip_one_to_one_keeps_the_totals(tmp_path):
    # A three-way product is a chain of two-input Muls; a sequence made by reshaping a map is
    # laid out time-major by a Squeeze and a Transpose, which read back as reshape views.
    b = NetworkBuilder("extra_nodes", (4, 6, 6))
    x = b.add("relu", b.input, name="relu")
    x = b.add("mul", x, x, x, name="cube")
    x = b.add("reshape", x, shape=(4, 1, 36), name="to_seq")
    b.add("lstm", x, hidden_size=3, name="lstm")
    net = b.build()
    export_onnx(net, tmp_path / "extra.onnx")
    back = load_onnx(tmp_path / "extra.onnx")
    assert [kind for _, kind in layers(back)] == ["input", "relu", "mul", "mul", "reshape",
                                                  "reshape", "reshape", "lstm"]
    assert totals(back) == {**totals(net), "layers": 8}


def test_a_placeholder_cannot_be_exported(tmp_path):
    path = save(tmp_path, [node("Relu", ["x"], ["r"], "relu"),
                           node("Erf", ["r"], ["e"], "erf")], {"x": [1, 2, 3, 3]})
    net = load_onnx(path, allow_unsupported=True)
    with pytest.raises(WorkloadError, match="'erf'.*unsupported ONNX op 'Erf'"):
        to_onnx(net)


# --------------------------------------------------------------------------- bad input


def test_unsupported_op_names_the_op_the_node_and_the_supported_list(tmp_path):
    path = save(tmp_path, [node("Relu", ["x"], ["r"], "relu"),
                           node("Erf", ["r"], ["e"], "gelu_erf"),
                           node("Conv", ["e", "w"], ["c"], "conv")],
                {"x": [1, 2, 5, 5]}, [weight("w", 4, 2, 3, 3)])
    with pytest.raises(WorkloadError) as err:
        load_onnx(path)
    message = str(err.value)
    assert message.startswith(f"{path}: node 'gelu_erf' (Erf): unsupported ONNX op Erf;")
    assert ", ".join(supported_ops()) in message and "--allow-unsupported" in message
    net = load_onnx(path, allow_unsupported=True)
    assert layers(net) == [("x", "input"), ("relu", "relu"), ("gelu_erf", "placeholder"),
                           ("conv", "conv")]
    assert attrs(net, "gelu_erf") == {"onnx_op": "Erf", "shape": [2, 5, 5], "uncosted_macs": 0}
    table = layer_table(net).set_index("layer")
    assert table.loc["gelu_erf", ["params", "macs", "ops"]].tolist() == [0, 0, 0]
    assert "gelu_erf" not in lecture_table(net)["type"].tolist()
    assert totals(net)["params"] == 4 * 2 * 9


def test_placeholder_rows_say_not_costed():
    net = Network("p", (Layer("x", Input(shape=(2, 4, 4))), Layer("relu", Relu(), ("x",)),
                        Layer("mystery", Placeholder(onnx_op="Erf", shape=(2, 4, 4)),
                              ("relu",))))
    rows = {row.layer: row for row in simulate(net, load_hw("tpu_v1")).layers}
    assert rows["mystery"].reason == "not costed: unsupported ONNX op Erf"
    assert rows["mystery"].total_cycles == 0 and rows["mystery"].dram_read_bytes == 0


def _cycle(tmp_path):
    return save(tmp_path, [node("Add", ["x", "b"], ["a"], "first"),
                           node("Relu", ["a"], ["b"], "second")], {"x": [1, 2, 2, 2]},
                name="cycle")


def _dangling(tmp_path):
    return save(tmp_path, [node("Add", ["x", "ghost"], ["a"], "add")], {"x": [1, 2, 2, 2]},
                name="dangling")


def _missing_shapes(tmp_path):
    return save(tmp_path, [node("Relu", ["x"], ["a"], "relu")], {"x": [1, "C", 8, 8]},
                name="missing_shapes")


def _no_shape_at_all(tmp_path):
    graph = helper.make_graph([node("Relu", ["x"], ["a"], "relu")], "g",
                              [helper.make_tensor_value_info("x", F, None)],
                              [helper.make_tensor_value_info("a", F, None)])
    path = tmp_path / "no_shape.onnx"
    onnx.save(helper.make_model(graph), str(path))
    return path


def _two_inputs(tmp_path):
    return save(tmp_path, [node("Add", ["x", "y"], ["a"], "add")],
                {"x": [1, 2, "H", 4], "y": [1, 2, "H", 4]}, name="two_inputs")


def _custom_domain(tmp_path, declared=True):
    """A custom op, its output shape declared in value_info (onnx cannot infer it) or not."""
    path = save(tmp_path, [node("Relu", ["x"], ["a"], "relu")], {"x": [1, 2, 2, 2]},
                name="custom")
    model = onnx.load(str(path))
    model.graph.node.append(helper.make_node("FusedThing", ["a"], ["b"], name="fused",
                                             domain="com.example"))
    model.graph.node.append(helper.make_node("Relu", ["b"], ["c"], name="after"))
    if declared:
        model.graph.value_info.append(helper.make_tensor_value_info("b", F, [1, 3, 2, 2]))
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    onnx.save(model, str(path))
    return path


def _truncated(tmp_path):
    path = tmp_path / "truncated.onnx"
    export_onnx(build_workload("lenet5"), path)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    return path


def _random_bytes(tmp_path):
    path = tmp_path / "random.onnx"
    path.write_bytes(np.random.default_rng(8).bytes(4096))
    return path


def _text(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("name: tiny\ninput_shape: [3, 32, 32]\nlayers: []\n")
    return path


def _empty(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    return path


BAD = {
    "truncated": (_truncated, None, "does not parse as an ONNX protobuf"),
    "random bytes": (_random_bytes, None, "not an ONNX model"),
    "text file": (_text, None, "does not parse as an ONNX protobuf"),
    "empty file": (_empty, None, "no graph nodes"),
    "missing file": (lambda tmp_path: tmp_path / "nowhere.onnx", None, "no such file"),
    "missing shapes": (_missing_shapes, None, "input 'x' has dynamic dimensions [1, 'C', 8, 8]"),
    "no shape declared": (_no_shape_at_all, None, "input 'x' declares no shape"),
    "cycle": (_cycle, None, "cycle through node 'first' (Add), node 'second' (Relu)"),
    "dangling input": (_dangling, None, "node 'add' (Add): input 'ghost' is not produced"),
    "several inputs, one shape": (_two_inputs, (2, 3, 4), "input_shape is ambiguous"),
    "unsupported op": (_custom_domain, None, "node 'fused' (FusedThing): unsupported ONNX op"),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_input_is_one_workload_error_naming_the_file(tmp_path, case):
    make, input_shape, fragment = BAD[case]
    path = make(tmp_path)
    with pytest.raises(WorkloadError) as err:
        load_onnx(path, input_shape=input_shape)
    assert str(err.value).startswith(f"{path}: ") and fragment in str(err.value)


def test_placeholders_keep_a_custom_domain_model_importable(tmp_path):
    net = load_onnx(_custom_domain(tmp_path), allow_unsupported=True)
    assert attrs(net, "fused") == {"onnx_op": "com.example.FusedThing", "shape": [3, 2, 2],
                                   "uncosted_macs": 0}
    assert net.shape_of("after") == (3, 2, 2)
    with pytest.raises(WorkloadError, match="declare the shape of 'b' in the graph's value_info"):
        load_onnx(_custom_domain(tmp_path, declared=False), allow_unsupported=True)


def test_workload_dispatch_and_its_flags(tmp_path):
    path = save(tmp_path, [node("Relu", ["x"], ["a"], "relu")], {"x": [1, 2, "H", "W"]})
    assert load_workload(path, input_shape=(2, 5, 6), batch=3).shape_of("relu") == (2, 5, 6)
    assert load_workload(str(path), input_shape=(2, 5, 6)).batch == 1
    with pytest.raises(WorkloadError, match="no such file"):
        load_workload("absent.onnx")
    with pytest.raises(WorkloadError, match="applies to ONNX models"):
        load_workload("alexnet", allow_unsupported=True)


# --------------------------------------------------------------------------- command line


def test_cli_shows_an_onnx_model_and_rejects_bad_ones_with_exit_2(tmp_path):
    good = tmp_path / "shuffle.onnx"
    export_onnx(build_workload("shufflenet_v1_g3"), good)
    shown = perfsim("show", good, "--format", "csv", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "channel_shuffle" in shown.stdout
    dynamic = _missing_shapes(tmp_path)
    assert perfsim("show", dynamic, "--input-shape", "3,8,8", cwd=tmp_path).returncode == 0
    for make in (_truncated, _random_bytes, _text, _cycle, _dangling, _missing_shapes,
                 _custom_domain):
        path = make(tmp_path)
        result = perfsim("show", path, cwd=tmp_path)
        assert result.returncode == 2, (path, result.stderr)
        assert "Traceback" not in result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and str(path.name) in lines[0], result.stderr
