"""Every zoo network against the reference counts (tests/refs/networks.json): params exactly,
MACs exactly, and the structural breakdown (weights, biases, BN scale/shift, FC MACs, conv and
FC layer counts) wherever the reference gives one."""

from __future__ import annotations

import pytest

from refdata import reference_networks
from perfsim import load_workload, totals
from perfsim.workload.ops import BatchNorm, Conv, FullyConnected
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
        if isinstance(op, (Conv, FullyConnected)):
            bias = op.out_channels if isinstance(op, Conv) else op.out_features
            bias = bias if op.bias else 0
            out["conv_fc_weights"] += op.weight_elems(shapes) - bias
            out["conv_fc_bias"] += bias
            out["n_conv" if isinstance(op, Conv) else "n_fc"] += 1
            if isinstance(op, FullyConnected):
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
