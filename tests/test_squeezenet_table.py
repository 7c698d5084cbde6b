"""SqueezeNet v1.0 against the paper's Table 1 (refs/squeezenet_layers.csv): per row (conv1,
fire2..fire9, conv10) the paper's params, their weights/biases split, and the output shape and
MACs at 227 (the table's 111x111 conv1 output) and at torchvision's 224. Every row of the table
is consistent, so every cell is asserted exactly."""

from __future__ import annotations

import csv

import pytest

from refdata import REFS
from perfsim import load_workload, totals
from perfsim.workload.ops import Conv

with open(REFS / "squeezenet_layers.csv", newline="") as f:
    TABLE = list(csv.DictReader(f))


def table_rows(network) -> dict[str, dict]:
    """Per table row (layers grouped by name prefix, ``fire2/...`` -> ``fire2``): params,
    weights, biases, MACs and the group's output shape as ``HxWxC``."""
    rows: dict[str, dict] = {}
    for layer in network.layers:
        prefix = layer.name.split("/")[0]
        if prefix not in ("conv1", "conv10") and not prefix.startswith("fire"):
            continue
        row = rows.setdefault(prefix, dict.fromkeys(("params", "weights", "biases", "macs"), 0))
        op, shapes = layer.op, network.in_shapes(layer)
        bias = op.out_channels if isinstance(op, Conv) and op.bias else 0
        row["params"] += op.params(shapes)
        row["weights"] += op.params(shapes) - bias
        row["biases"] += bias
        row["macs"] += op.macs(shapes)
        c, h, w = network.out_shapes[layer.name][0]
        row["out_shape"] = f"{h}x{w}x{c}"
    return rows


@pytest.fixture(scope="module")
def rows_227():
    return table_rows(load_workload("squeezenet1_0", input_shape=(3, 227, 227)))


@pytest.fixture(scope="module")
def rows_224():
    return table_rows(load_workload("squeezenet1_0"))


def test_the_table_has_every_weight_layer_group(rows_227):
    assert [r["layer"] for r in TABLE] == list(rows_227)
    assert [r["layer"] for r in TABLE] == ["conv1", *(f"fire{i}" for i in range(2, 10)),
                                           "conv10"]


@pytest.mark.parametrize("ref", TABLE, ids=[r["layer"] for r in TABLE])
def test_row_params_and_split(ref, rows_227, rows_224):
    assert ref["consistent"] == "True"
    for rows in (rows_227, rows_224):
        got = rows[ref["layer"]]
        assert got["params"] == int(ref["paper_params"]) == int(ref["computed_params"])
        assert got["weights"] == int(ref["weights"])
        assert got["biases"] == int(ref["biases"])


@pytest.mark.parametrize("ref", TABLE, ids=[r["layer"] for r in TABLE])
def test_row_output_shape_and_macs_at_227_and_224(ref, rows_227, rows_224):
    assert rows_227[ref["layer"]]["out_shape"] == ref["out_shape_227"]
    assert rows_227[ref["layer"]]["macs"] == int(ref["macs_227"])
    assert rows_224[ref["layer"]]["out_shape"] == ref["out_shape_224"]
    assert rows_224[ref["layer"]]["macs"] == int(ref["macs_224"])


def test_rows_sum_to_the_network_totals():
    for input_shape, column in (((3, 227, 227), "macs_227"), ((3, 224, 224), "macs_224")):
        got = totals(load_workload("squeezenet1_0", input_shape=input_shape))
        assert got["params"] == sum(int(r["paper_params"]) for r in TABLE) == 1_248_424
        assert got["macs"] == sum(int(r[column]) for r in TABLE)
