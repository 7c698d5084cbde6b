"""The workload IR: op semantics checked against hand-worked numbers and framework formulas,
and graph validation errors that name both layers and both shapes."""

from __future__ import annotations

import dataclasses

import pytest

from perfsim import WorkloadError
from perfsim.workload import Layer, Network, NetworkBuilder, OPS, make_op
from perfsim.workload.stats import layer_table, receptive_fields, totals


def one_layer(kind, in_shape, **attrs):
    """A network input -> one layer; returns (network, layer)."""
    b = NetworkBuilder("t", in_shape)
    name = b.add(kind, b.input, name="x", **attrs)
    net = b.build()
    return net, net.layer(name)


def stats(kind, in_shape, **attrs):
    net, layer = one_layer(kind, in_shape, **attrs)
    shapes = net.in_shapes(layer)
    return (net.out_shapes["x"], layer.op.params(shapes), layer.op.macs(shapes),
            layer.op.ops(shapes))


def test_conv_shapes_params_and_macs_by_hand():
    # AlexNet conv1 (lecture): 224 + 3 px total padding, 11x11/4 -> 55x55.
    out, params, macs, _ = stats("conv", (3, 224, 224), out_channels=96, kernel=11, stride=4,
                                 padding=(1, 1, 2, 2))
    assert out == ((96, 55, 55),)
    assert params == 96 * 3 * 121 + 96
    assert macs == 96 * 55 * 55 * 3 * 121


def test_grouped_and_depthwise_conv():
    out, params, macs, _ = stats("conv", (96, 27, 27), out_channels=256, kernel=5, padding=2,
                                 groups=2)
    assert out == ((256, 27, 27),) and params == 256 * 48 * 25 + 256
    assert macs == 256 * 27 * 27 * 48 * 25
    out, params, macs, _ = stats("conv", (32, 112, 112), out_channels=32, kernel=3, padding=1,
                                 groups=32, bias=False)
    assert out == ((32, 112, 112),) and params == 32 * 9 and macs == 32 * 112 * 112 * 9


def test_dilated_conv_uses_the_dilated_extent():
    # 3x3 dilation 2 has a 5x5 extent: 32 - 5 + 1 = 28 without padding.
    out, params, macs, _ = stats("conv", (8, 32, 32), out_channels=4, kernel=3, dilation=2)
    assert out == ((4, 28, 28),) and params == 4 * 8 * 9 + 4 and macs == 4 * 28 * 28 * 8 * 9
    net, _ = one_layer("conv", (8, 32, 32), out_channels=4, kernel=3, dilation=2)
    assert receptive_fields(net)["x"] == (5, 5)


def test_asymmetric_padding_and_rectangular_kernels():
    out, *_ = stats("conv", (3, 10, 10), out_channels=1, kernel=(1, 7), padding=(0, 3, 0, 3))
    assert out == ((1, 10, 10),)
    out, *_ = stats("conv", (3, 10, 10), out_channels=1, kernel=3, padding=(0, 0, 1, 1),
                    stride=2)
    assert out == ((1, 5, 5),)


def test_pool_ceil_mode_follows_pytorch():
    # GoogLeNet's 112 -> 56 with 3x3/2 ceil mode; floor mode gives 55.
    assert stats("max_pool", (64, 112, 112), kernel=3, stride=2, ceil_mode=True)[0] == \
        ((64, 56, 56),)
    assert stats("max_pool", (64, 112, 112), kernel=3, stride=2)[0] == ((64, 55, 55),)
    # A last window that would start in the padding is dropped (PyTorch's rule).
    assert stats("max_pool", (1, 5, 5), kernel=2, stride=2, padding=1, ceil_mode=True)[0] == \
        ((1, 3, 3),)
    out, _, _, ops = stats("max_pool", (96, 55, 55), kernel=3, stride=2)
    assert out == ((96, 27, 27),) and ops == 9 * 96 * 27 * 27


def test_fully_connected_flattens_and_checks_in_features():
    out, params, macs, ops = stats("fc", (256, 6, 6), out_features=4096)
    assert out == ((4096, 1, 1),) and params == 9216 * 4096 + 4096 and macs == 9216 * 4096
    assert ops == 4096
    with pytest.raises(WorkloadError, match=r"expects 9000 input features, got 9216"):
        one_layer("fc", (256, 6, 6), out_features=10, in_features=9000)


def test_fixed_weights_cost_macs_but_are_not_params():
    _, params, macs, _ = stats("fc", (84, 1, 1), out_features=10, bias=False, trainable=False)
    assert params == 0 and macs == 840


def test_recurrent_cells_match_pytorch_parameter_counts():
    # torch.nn.LSTM(128, 256): 4*256*(128+256) + 2*4*256; nn.RNN(64, 32): 32*(64+32) + 2*32.
    out, params, macs, _ = stats("lstm", (128, 1, 10), hidden_size=256)
    assert out == ((256, 1, 10),) and params == 395264 and macs == 10 * 4 * 256 * 384
    _, params, macs, _ = stats("rnn", (64, 1, 5), hidden_size=32)
    assert params == 32 * 96 + 64 and macs == 5 * 32 * 96
    with pytest.raises(WorkloadError, match=r"a sequence must be \[features, 1, T\]"):
        one_layer("lstm", (128, 4, 10), hidden_size=8)


@pytest.mark.parametrize("kind,attrs,in_shape,out_shape", [
    ("space_to_depth", {"block": 2}, (3, 8, 8), (12, 4, 4)),
    ("depth_to_space", {"block": 2}, (12, 4, 4), (3, 8, 8)),
    ("upsample", {"scale": 2, "mode": "bilinear"}, (3, 4, 5), (3, 8, 10)),
    ("upsample", {"scale": (1, 3)}, (3, 4, 5), (3, 4, 15)),
    ("flatten", {}, (256, 6, 6), (9216, 1, 1)),
    ("reshape", {"shape": (4, 6, 1)}, (2, 3, 4), (4, 6, 1)),
    ("channel_shuffle", {"num_groups": 3}, (240, 28, 28), (240, 28, 28)),
    ("shift", {"kernel": 5}, (64, 56, 56), (64, 56, 56)),
    ("global_avg_pool", {}, (1024, 7, 7), (1024, 1, 1)),
    ("spp", {"levels": (1, 2, 4)}, (256, 13, 13), (256 * 21, 1, 1)),
    ("lrn", {"size": 5}, (96, 55, 55), (96, 55, 55)),
    ("group_norm", {"num_groups": 8}, (64, 7, 7), (64, 7, 7)),
])
def test_rearrangement_and_space_ops_shapes(kind, attrs, in_shape, out_shape):
    assert stats(kind, in_shape, **attrs)[0] == (out_shape,)


def test_element_ops_params():
    assert stats("batch_norm", (64, 7, 7))[1] == 128
    assert stats("prelu", (64, 7, 7))[1] == 64
    assert stats("scale", (64, 7, 7), bias=True)[1] == 128
    assert stats("scale", (64, 7, 7), factor=0.17)[1] == 0
    assert stats("offset", (64, 7, 7))[1] == 64
    assert stats("group_norm", (64, 7, 7), num_groups=8)[1] == 128
    assert stats("lrn", (96, 55, 55), size=5)[3] == 9 * 96 * 55 * 55


def test_split_outputs_are_addressable_and_add_broadcasts():
    b = NetworkBuilder("t", (64, 8, 8))
    s = b.add("split", b.input, sizes=[16, 48], name="s")
    assert b.shape("s:1") == (48, 8, 8) and b.shape(s) == (16, 8, 8)
    g = b.add("global_avg_pool", "s:1", name="g")
    m = b.add("mul", "s:1", g, name="m")  # SE-style [C,1,1] x [C,H,W]
    assert b.shape(m) == (48, 8, 8)
    c = b.add("concat", "s:0", m, name="c")
    assert b.shape(c) == (64, 8, 8)
    net = b.build()
    assert totals(net)["ops"] == 48 * 64 + 48 * 64  # global pool reads, mul


def test_shape_mismatch_names_both_layers_and_shapes():
    b = NetworkBuilder("net", (3, 32, 32))
    a = b.add("conv", b.input, out_channels=16, kernel=3, padding=1, name="branch_a")
    c = b.add("conv", b.input, out_channels=8, kernel=3, padding=1, name="branch_b")
    with pytest.raises(WorkloadError) as err:
        b.add("add", a, c, name="sum")
    text = str(err.value)
    for part in ("'sum'", "'branch_a'", "[16, 32, 32]", "'branch_b'", "[8, 32, 32]"):
        assert part in text
    with pytest.raises(WorkloadError, match=r"'cat'.*'branch_a' with shape \[16, 32, 32\].*"
                                            r"'pool' with shape \[16, 16, 16\]"):
        p = b.add("max_pool", a, kernel=2, name="pool")
        b.add("concat", a, p, name="cat")


@pytest.mark.parametrize("layers,message", [
    ([Layer("x", make_op("relu"), ("nowhere",))], "input 'nowhere' is not a layer defined"),
    ([Layer("x", make_op("relu"), ("in",)), Layer("x", make_op("relu"), ("in",))],
     "used by an earlier layer"),
    ([Layer("x", make_op("add"), ("in",))], "takes at least 2 input"),
    ([Layer("x", make_op("relu"), ("in:1",))], "refers to output 1"),
    ([Layer("x", make_op("conv", out_channels=4, kernel=3, groups=2), ("in",))],
     "groups=2 does not divide the 3 input channels"),
    ([Layer("x", make_op("conv", out_channels=4, kernel=9), ("in",))],
     "window of 9 does not fit"),
])
def test_network_validation_errors(layers, message):
    with pytest.raises(WorkloadError, match=message):
        Network("n", (Layer("in", make_op("input", shape=(3, 8, 8))), *layers))


def test_invalid_attributes_are_rejected():
    with pytest.raises(ValueError):
        make_op("conv", out_channels=0, kernel=3)
    with pytest.raises(ValueError):
        make_op("conv", out_channels=4, kernel=3, padding=-1)
    with pytest.raises(TypeError, match="unknown attribute"):
        make_op("conv", out_channels=4, kernal=3)
    with pytest.raises(KeyError):
        make_op("convolution")


def test_layers_and_networks_are_frozen():
    net, layer = one_layer("relu", (3, 4, 4))
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.name = "y"
    with pytest.raises(dataclasses.FrozenInstanceError):
        layer.op.kind = "tanh"
    with pytest.raises(dataclasses.FrozenInstanceError):
        net.batch = 2


def test_every_op_is_documented_and_in_a_category():
    from perfsim.workload.ops import CATEGORIES
    for kind, cls in OPS.items():
        assert cls.kind == kind and cls.category in CATEGORIES and cls.__doc__


def test_batch_scales_activation_statistics_only():
    net, _ = one_layer("conv", (3, 16, 16), out_channels=8, kernel=3)
    one, four = layer_table(net), layer_table(net.with_batch(4))
    for column in ("macs", "ops", "in_elems", "out_elems"):
        assert (four[column] == 4 * one[column]).all()
    for column in ("params", "weight_elems"):
        assert (four[column] == one[column]).all()


def test_receptive_field_follows_the_lecture_rule():
    # conv 3x3/1 -> pool 2x2/2 -> conv 3x3/1: 1 + 2*1 + 1*1 + 2*2 = 8.
    b = NetworkBuilder("rf", (1, 32, 32))
    x = b.add("conv", b.input, out_channels=1, kernel=3, name="c1")
    x = b.add("max_pool", x, kernel=2, name="p1")
    x = b.add("conv", x, out_channels=1, kernel=3, name="c2")
    x = b.add("conv", x, out_channels=1, kernel=1, name="c3")  # 1x1 adds nothing
    x = b.add("flatten", x, name="f")
    fields = receptive_fields(b.build())
    assert fields["c1"] == (3, 3) and fields["p1"] == (4, 4) and fields["c2"] == (8, 8)
    assert fields["c3"] == (8, 8)
    assert fields["f"] == (8 + (13 - 1) * 2,) * 2  # flatten sees the whole 13x13 map


def test_lecture_view_of_a_linear_layer_at_every_position():
    from perfsim.workload.lecture import lecture_table

    # channels of a 4x4 map (axis 0) and a 5-token sequence (axis 2), at batch 2
    b = NetworkBuilder("lin", (8, 4, 4))
    b.add("linear", b.input, out_features=16, axis=0, name="map")
    b.add("linear", b.add("reshape", b.input, shape=(16, 1, 8)), out_features=12, name="tok")
    rows = lecture_table(b.build().with_batch(2)).iloc[1:]
    assert rows[["type", "Ni", "M", "P", "F", "S", "No"]].values.tolist() == [
        ["Full", 8, 4, 0, 1, 1, 16], ["Full", 8, 16, 0, 1, 1, 12]]
    # OutMap = 2 x 16 positions x 16 = 512, MACs = OutMap x (8 weights + 1 bias add),
    # Parameter = 8 x 16 weights + one bias per output element
    assert rows["OutMap"].tolist() == [512, 2 * 16 * 12]
    assert rows["MACs"].tolist() == [512 * 9, 384 * 9]
    assert rows["Parameter"].tolist() == [8 * 16 + 256, 8 * 12 + 16 * 12]


def test_lecture_view_of_convnext_adds_one_bias_add_per_output_to_its_macs():
    from refdata import reference_networks
    from perfsim.workload.lecture import lecture_table
    from perfsim.workload.zoo import build_workload

    ref = reference_networks()["convnext_tiny"]
    table = lecture_table(build_workload("convnext_tiny"))
    weighted = table[table["type"].isin(["Conv", "Full"])]
    # torchvision's forward hooks: every conv and linear output element has a bias add
    assert weighted["MACs"].sum() == ref["macs"] + ref["breakdown"]["bias_adds"]
