"""Every zoo network against the reference counts (tests/refs/networks.json): params exactly,
MACs exactly, and the structural breakdown (weights, biases, BN scale/shift, FC MACs, conv and
FC layer counts) wherever the reference gives one. A linear layer applied at every position
(ConvNeXt's MLPs) counts with the FC layers there, as torchvision's ``nn.Linear`` it is."""

from __future__ import annotations

import pytest

from refdata import reference_networks
from perfsim import load_workload, simulate, totals
from perfsim.workload.ops import BatchNorm, Conv, FullyConnected, LayerNorm, Linear, Scale
from perfsim.workload.zoo import workload_names

REFS = reference_networks()
V1_5 = {"resnet50_v1_5": "resnet50", "resnet101_v1_5": "resnet101",
        "resnet152_v1_5": "resnet152"}


def breakdown(network) -> dict[str, int]:
    """The reference's breakdown fields, recomputed from the network's layers."""
    out = dict.fromkeys(("conv_fc_weights", "conv_fc_bias", "bn_affine", "fc_macs", "n_conv",
                         "n_fc"), 0)
    for layer in network.layers:
        op, shapes = layer.op, network.in_shapes(layer)
        if isinstance(op, (Conv, FullyConnected, Linear)):
            bias = op.out_channels if isinstance(op, Conv) else op.out_features
            bias = bias if op.bias else 0
            out["conv_fc_weights"] += op.weight_elems(shapes) - bias
            out["conv_fc_bias"] += bias
            out["n_conv" if isinstance(op, Conv) else "n_fc"] += 1
            if not isinstance(op, Conv):
                out["fc_macs"] += op.macs(shapes)
        if isinstance(op, BatchNorm):
            out["bn_affine"] += op.params(shapes)
    return out


def test_every_reference_network_is_registered():
    missing = sorted(set(REFS) - set(workload_names()))
    assert not missing, f"networks.json names not in the zoo: {missing}"


@pytest.mark.parametrize("name", sorted(REFS))
def test_params_and_macs_match_reference(name):
    ref = REFS[name]
    net = load_workload(name)
    assert list(net.inputs[0].op.shape) == ref["input_shape"]
    got = totals(net)
    assert got["params"] == ref["params"]
    assert got["macs"] == ref["macs"]


@pytest.mark.parametrize("name", sorted(n for n in REFS if "breakdown" in REFS[n]))
def test_structure_matches_reference_breakdown(name):
    ref = REFS[name]["breakdown"]
    got = breakdown(load_workload(name))
    assert got == {k: ref[k] for k in got}


@pytest.mark.parametrize("name,base", sorted(V1_5.items()))
def test_resnet_v1_5_matches_torchvision(name, base):
    got = totals(load_workload(name))
    assert got["params"] == REFS[base]["params"]
    assert got["macs"] == REFS[base]["macs_v1_5_torchvision"]


@pytest.mark.parametrize("name", ["alexnet", "resnet50", "mobilenet_v2"])
def test_macs_scale_with_batch_and_params_do_not(name):
    one, eight = totals(load_workload(name)), totals(load_workload(name, batch=8))
    assert eight["macs"] == 8 * one["macs"] and eight["ops"] == 8 * one["ops"]
    assert eight["params"] == one["params"]


def test_mobilenet_v1_mac_shares_match_the_paper_table_2():
    # Howard et al. 2017, Table 2 (resource per layer type): Conv 1x1 94.86% of Mult-Adds,
    # Conv DW 3x3 3.06%, Fully Connected 0.18%. (Its "Conv 3x3 1.19%" row is an erratum: the
    # first layer's 112*112*32*27 = 10.8M MACs are 1.91% of 568.7M, and the rows then sum to
    # 100%.)
    frame = load_workload("mobilenet_v1").to_frame()
    total = frame["macs"].sum()
    conv = frame[frame["op"] == "conv"]
    depthwise = conv[conv["groups"] > 1]
    pointwise = conv[(conv["groups"] == 1) & (conv["kernel"].map(tuple) == (1, 1))]
    assert round(100 * depthwise["macs"].sum() / total, 2) == 3.06
    assert round(100 * pointwise["macs"].sum() / total, 2) == 94.86
    assert round(100 * frame[frame["op"] == "fc"]["macs"].sum() / total, 2) == 0.18
    first = conv.iloc[0]
    assert first["macs"] == 112 * 112 * 32 * 27


def layer(network, name):
    return next(x for x in network.layers if x.name == name)


def test_convnext_tiny_layer_norms_and_layer_scale_match_torchvision():
    # One layer norm (scale and shift per channel) on the stem, in every block and before
    # every downsampling conv, and one in the head; one layer-scale parameter per channel in
    # every block: stages of 96, 192, 384, 768 channels with 3, 3, 9, 3 blocks.
    blocks = 3 * 96 + 3 * 192 + 9 * 384 + 3 * 768
    assert blocks == 6624
    norm_channels = 96 + blocks + (96 + 192 + 384) + 768
    ref = REFS["convnext_tiny"]["breakdown"]
    net = load_workload("convnext_tiny")
    norms = [x for x in net.layers if isinstance(x.op, LayerNorm)]
    scales = [x for x in net.layers if isinstance(x.op, Scale)]
    assert sum(x.op.params(net.in_shapes(x)) for x in norms) == 2 * norm_channels \
        == ref["ln_affine"] == 16_320
    assert sum(x.op.params(net.in_shapes(x)) for x in scales) == blocks == ref["layer_scale"]
    # and they are the parameters conv, linear and FC layers leave over
    assert ref["ln_affine"] + ref["layer_scale"] == REFS["convnext_tiny"]["params"] - (
        ref["conv_fc_weights"] + ref["conv_fc_bias"])


def test_convnext_tiny_block_is_channels_last_on_the_channel_axis():
    # stage 1 block at 56x56: depthwise 7x7 with bias, layer norm and the 4x MLP over the 96
    # channels (axis 0) at each of the 3,136 positions
    net = load_workload("convnext_tiny")
    positions = 56 * 56
    dw, pw1, pw2 = (layer(net, f"stage1.0/{n}") for n in ("dw", "pw1", "pw2"))
    assert dw.op.macs(net.in_shapes(dw)) == positions * 96 * 7 * 7 == 14_751_744
    assert dw.op.params(net.in_shapes(dw)) == 96 * 49 + 96
    assert pw1.op.macs(net.in_shapes(pw1)) == positions * 96 * 384 == 115_605_504
    assert pw1.op.params(net.in_shapes(pw1)) == 96 * 384 + 384
    assert pw2.op.params(net.in_shapes(pw2)) == 384 * 96 + 96
    assert net.out_shapes["stage1.0/pw1"][0] == (384, 56, 56)
    # no reshape: the receptive field grows by the depthwise 7x7s only (stem 4, then 6 x 4
    # per block at stride 4)
    frame = net.to_frame().set_index("layer")
    assert list(frame.loc["stage1.2/add", "receptive_field"]) == [4 + 3 * 6 * 4] * 2


@pytest.mark.parametrize("name,block,squeeze", [
    # torchvision's _make_divisible(expanded // 4, 8): 72 // 4 = 18 rounds to 16, more than
    # 10% below 18, so up to 24; 120 // 4 = 30 -> 32; 960 // 4 = 240
    ("mobilenet_v3_large", "block4", 24), ("mobilenet_v3_large", "block5", 32),
    ("mobilenet_v3_large", "block15", 240),
    # the first block of Small has SE on 16 channels: 16 // 4 = 4 -> at least 8
    ("mobilenet_v3_small", "block1", 8),
    # EfficientNet squeezes a quarter of the block's input channels: block 2 expands 16 to 96
    ("efficientnet_b0", "block2", 16 // 4), ("efficientnet_b0", "block16", 192 // 4),
])
def test_squeeze_excitation_widths_follow_torchvision(name, block, squeeze):
    net = load_workload(name)
    assert net.out_shapes[f"{block}/se/fc1"][0][0] == squeeze
    fc2 = layer(net, f"{block}/se/fc2")
    assert fc2.op.params(net.in_shapes(fc2)) == squeeze * net.out_shapes[f"{block}/dw"][0][0] \
        + net.out_shapes[f"{block}/dw"][0][0]


@pytest.mark.parametrize("name,activation", [
    ("mobilenet_v3_large", "hard_swish"), ("mobilenet_v3_small", "hard_swish"),
    ("efficientnet_b0", "silu"), ("convnext_tiny", "gelu")])
def test_modern_cnns_run_on_the_matrix_engine_whole(name, activation):
    # every layer is costed (no placeholder), the run's MACs are the reference's (its
    # parameters are the inference graph's: a folded batch norm leaves a bias), and the
    # network's own activation runs in an engine's output path
    run = simulate(name, "matrix_engine", compare_raw=False)
    assert not any(row.op == "placeholder" for row in run.layers)
    assert run.totals["macs"] == REFS[name]["macs"]
    assert any(fused.endswith(activation) for row in run.layers for fused in row.fused)

