"""Timeloop export: one v0.4 problem file per conv and fc layer, read back and checked against
the layers they came from: dimensions, strides, dilations, groups, and Timeloop's MAC count
(the product of all problem dimensions) against perfsim's."""

from __future__ import annotations

import math

import pytest
import yaml

from perfsim import NetworkBuilder, PerfsimError, WorkloadError
from perfsim.io.timeloop import export_timeloop
from perfsim.workload.ops import Conv, FullyConnected
from perfsim.workload.zoo import build_workload

CNN_DIMS = ["C", "M", "R", "S", "N", "P", "Q"]


def read_problems(paths):
    return [yaml.safe_load(path.read_text(encoding="utf-8"))["problem"] for path in paths]


def check_against_layer(problem: dict, network, layer) -> None:
    """Every dimension and coefficient of a problem, from the layer's own attributes."""
    op = layer.op
    c, h, w = network.in_shapes(layer)[0]
    k, oy, ox = network.out_shapes[layer.name][0]
    inst = problem["instance"]
    g = op.groups if isinstance(op, Conv) else 1
    assert problem["version"] == 0.4
    if g > 1:
        assert problem["shape"]["dimensions"] == ["G"] + CNN_DIMS and inst["G"] == g
        for space in problem["shape"]["data_spaces"]:
            assert [["G"]] in space["projection"], space["name"]
    else:
        assert problem["shape"]["dimensions"] == CNN_DIMS and "G" not in inst
    if isinstance(op, Conv):
        (fy, fx), (sy, sx), (dy, dx) = op.kernel, op.stride, op.dilation
        assert (inst["C"], inst["M"]) == (c // g, k // g)
    else:
        fy = fx = sy = sx = dy = dx = 1
        assert (inst["C"], inst["M"]) == (c * h * w, k)
    assert (inst["R"], inst["S"], inst["P"], inst["Q"]) == (fx, fy, ox, oy)
    assert (inst["Wstride"], inst["Hstride"]) == (sx, sy)
    assert (inst["Wdilation"], inst["Hdilation"]) == (dx, dy)
    assert inst["N"] == network.batch
    # Timeloop counts one MAC per point of the problem space.
    dims = problem["shape"]["dimensions"]
    assert math.prod(inst[d] for d in dims) == network.batch * op.macs(network.in_shapes(layer))


def test_alexnet_bvlc_grouped_one_file_per_conv_and_fc(tmp_path):
    network = build_workload("alexnet_bvlc_grouped").with_batch(2)
    paths = export_timeloop(network, tmp_path / "out")
    weighted = [l for l in network.layers if isinstance(l.op, (Conv, FullyConnected))]
    assert [p.name for p in paths] == [f"{i}_{l.name}.yaml" for i, l in enumerate(weighted, 1)]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(p.name for p in paths)
    problems = read_problems(paths)
    for problem, layer in zip(problems, weighted):
        check_against_layer(problem, network, layer)
    groups = {layer.name: problem["instance"].get("G", 1)
              for problem, layer in zip(problems, weighted)}
    assert groups == {"conv1": 1, "conv2": 2, "conv3": 1, "conv4": 2, "conv5": 2, "fc6": 1,
                      "fc7": 1, "fc8": 1}
    conv2 = problems[1]["instance"]
    assert (conv2["C"], conv2["M"], conv2["R"], conv2["P"], conv2["N"]) == (48, 128, 5, 27, 2)
    assert problems[0]["instance"]["Wstride"] == problems[0]["instance"]["Hstride"] == 4
    assert problems[5]["instance"]["C"] == 256 * 6 * 6  # fc6 reads the flattened pool5


def test_dilated_strided_grouped_conv_and_its_input_extent(tmp_path):
    b = NetworkBuilder("odd", (8, 33, 29))
    b.add("conv", b.input, out_channels=12, kernel=(3, 5), stride=(2, 3), dilation=(2, 1),
          padding=(1, 2, 0, 1), groups=4, name="block 1/conv:a")
    network = b.build()
    [path] = export_timeloop(network, tmp_path)
    assert path.name == "1_block_1_conv_a.yaml"
    text = path.read_text(encoding="utf-8")
    assert "padding (top, left, bottom, right) [1, 2, 0, 1]" in text
    [problem] = read_problems([path])
    check_against_layer(problem, network, network.layer("block 1/conv:a"))
    inst = problem["instance"]
    assert (inst["G"], inst["C"], inst["M"]) == (4, 2, 3)
    assert (inst["R"], inst["S"], inst["Wstride"], inst["Hstride"]) == (5, 3, 3, 2)
    assert (inst["Wdilation"], inst["Hdilation"]) == (1, 2)
    # The Inputs projection: the windows span the padded map and the last one starts in it.
    inputs = next(s for s in problem["shape"]["data_spaces"] if s["name"] == "Inputs")
    assert inputs["projection"][-2:] == [[["R", "Wdilation"], ["P", "Wstride"]],
                                         [["S", "Hdilation"], ["Q", "Hstride"]]]
    width = (inst["P"] - 1) * inst["Wstride"] + (inst["R"] - 1) * inst["Wdilation"] + 1
    height = (inst["Q"] - 1) * inst["Hstride"] + (inst["S"] - 1) * inst["Hdilation"] + 1
    assert 29 + 2 + 1 - inst["Wstride"] < width <= 29 + 2 + 1
    assert 33 + 1 + 0 - inst["Hstride"] < height <= 33 + 1 + 0


def test_depthwise_layers_are_g_groups_of_one_channel(tmp_path):
    network = build_workload("mobilenet_v1")
    paths = export_timeloop(network, tmp_path)
    weighted = [l for l in network.layers if isinstance(l.op, (Conv, FullyConnected))]
    assert len(paths) == len(weighted)
    for problem, layer in zip(read_problems(paths), weighted):
        check_against_layer(problem, network, layer)
        if layer.op.groups > 1:
            assert problem["instance"]["C"] == problem["instance"]["M"] == 1
            assert problem["instance"]["G"] == network.in_shapes(layer)[0][0]
    assert paths[0].name.startswith("01_")  # 28 files: two digits keep network order


def test_a_network_without_conv_or_fc_is_an_error(tmp_path):
    b = NetworkBuilder("pool_only", (3, 8, 8))
    b.add("max_pool", b.input, kernel=2)
    with pytest.raises(WorkloadError, match="no conv or fc layer"):
        export_timeloop(b.build(), tmp_path)
    assert not any(tmp_path.iterdir())


def test_an_unwritable_directory_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(PerfsimError, match=f"cannot write the Timeloop problems to {blocker}"):
        export_timeloop(build_workload("lenet5"), blocker)
