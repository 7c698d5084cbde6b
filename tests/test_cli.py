"""The command line as a user runs it: real subprocesses of the installed ``perfsim``."""

from __future__ import annotations

import csv
import io
import json

import pytest

from cli_runs import assert_one_line_error as assert_user_error, perfsim_cli as perfsim
from refdata import REFS, reference_networks


def test_lecture_view_reproduces_the_alexnet_seed_table_cell_for_cell(tmp_path):
    result = perfsim("show", "alexnet", "--view", "lecture", "--format", "csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    got = list(csv.reader(io.StringIO(result.stdout)))
    with open(REFS / "alexnet_seed_table.csv", newline="") as f:
        want = [row for row in csv.reader(f)]
    assert got[0] == "layer,type,B,Ni,M,P,F,S,No,MACs,InMap,Parameter,OutMap,AllMem".split(",")
    assert len(want) == 23 and got == want


def test_lecture_view_totals_match_the_documented_column_sums(tmp_path):
    result = perfsim("show", "alexnet", "--view", "lecture", "--format", "json", cwd=tmp_path)
    data = json.loads(result.stdout)
    sums = reference_networks()["alexnet"]["lecture_table_totals"]
    assert data["totals"] == {"MACs": sums["macs_column_sum"],
                              "Parameter": sums["parameter_column_sum"]}
    conv_fc = sum(r["MACs"] for r in data["layers"] if r["type"] in ("Conv", "Full"))
    assert conv_fc == sums["conv_fc_macs_incl_bias_add"]


def test_show_json_fields(tmp_path):
    result = perfsim("show", "mobilenet_v2", "--format", "json", "--batch", "2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["network"] == "mobilenet_v2" and data["batch"] == 2
    ref = reference_networks()["mobilenet_v2"]
    assert data["totals"]["params"] == ref["params"]
    assert data["totals"]["macs"] == 2 * ref["macs"]
    required = {"name", "op", "inputs", "in_shape", "out_shape", "kernel", "stride", "groups",
                "macs", "params", "receptive_field"}
    for layer in data["layers"]:
        assert required <= set(layer)
    dw = next(layer for layer in data["layers"] if layer["name"] == "block2/dw")
    assert dw["op"] == "conv" and dw["groups"] == dw["in_shape"][0] == dw["out_shape"][0]
    assert dw["kernel"] == [3, 3] and dw["stride"] == [2, 2]
    fc = next(layer for layer in data["layers"] if layer["name"] == "fc")
    assert fc["op"] == "fc" and fc["out_shape"] == [1000, 1, 1]
    assert sum(layer["macs"] for layer in data["layers"]) == data["totals"]["macs"]


def test_grouped_convolutions_are_conv_ops(tmp_path):
    data = json.loads(perfsim("show", "alexnet_bvlc_grouped", "--format", "json",
                              cwd=tmp_path).stdout)
    conv2 = next(layer for layer in data["layers"] if layer["name"] == "conv2")
    assert conv2["op"] == "conv" and conv2["groups"] == 2
    assert {layer["op"] for layer in data["layers"] if layer["name"].startswith("fc")} == {"fc"}


def test_list_json_from_another_directory_lists_every_network(tmp_path):
    result = perfsim("list", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"workloads", "hw", "sweeps"}
    expected = set(reference_networks()) | {"resnet50_v1_5", "resnet101_v1_5",
                                            "resnet152_v1_5"}
    assert expected <= {network["name"] for network in data["workloads"]}


@pytest.mark.parametrize("fmt", ["table", "csv", "md"])
def test_show_text_formats(tmp_path, fmt):
    result = perfsim("show", "resnet18", "--format", fmt, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "layer1.0/conv1" in result.stdout or "conv" in result.stdout


def test_unknown_workload_is_one_line_with_suggestions(tmp_path):
    result = perfsim("show", "mobilenet_v3", cwd=tmp_path)
    assert_user_error(result, "unknown workload 'mobilenet_v3'", "did you mean:",
                      "mobilenet_v2", "mobilenet_v1")


def test_malformed_network_file_exits_2(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\ninput_shape: [3, 8, 8]\nlayers:\n"
                    "  - {name: c, op: conv, out_channels: 4, kernel: 3, strid: 2}\n")
    assert_user_error(perfsim("show", path, cwd=tmp_path), f"{path}:4:", "strid",
                      "did you mean: stride")


@pytest.mark.parametrize("args", [["show", "alexnet", "--batch", "0"],
                                  ["show", "alexnet", "--format", "xml"],
                                  ["show", "alexnet", "--input-shape", "3,224"],
                                  ["frobnicate"]])
def test_bad_arguments_exit_2(tmp_path, args):
    result = perfsim(*args, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr


def test_input_shape_rebuilds_a_zoo_network(tmp_path):
    data = json.loads(perfsim("show", "squeezenet1_0", "--input-shape", "3,227,227",
                              "--format", "json", cwd=tmp_path).stdout)
    assert data["totals"]["macs"] == reference_networks()["squeezenet1_0"]["macs_at_227"]


@pytest.mark.parametrize("command", [[], ["show"], ["list"], ["run"], ["validate"]])
def test_help_on_every_command(tmp_path, command):
    result = perfsim(*command, "--help", cwd=tmp_path)
    assert result.returncode == 0 and "usage:" in result.stdout
