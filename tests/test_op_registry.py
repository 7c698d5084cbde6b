"""The op registry: an op kind is declared once, by its class, and everything reads it there.

A new op kind defined here, in the test file and nowhere else, runs end to end: a network file
uses it, ``perfsim show`` counts it, ``perfsim run`` costs it on a shipped config, the lecture
table and a report table list it, and ONNX export and import carry it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import ClassVar

import pandas as pd
import pytest

from perfsim.workload.ops import OPS, OTHER_KIND, Op, elems, reader_kind_order

KIND = "softsign_test"


@pytest.fixture
def softsign():
    """x / (1 + |x|), declared here only: an absolute value, an add and a divide per element."""

    @dataclass(frozen=True)
    class Softsign(Op):
        kind: ClassVar[str] = KIND
        category: ClassVar[str] = "element"
        tile_local: ClassVar[bool] = True
        lecture_type: ClassVar[str | None] = "Nonl"
        onnx_name: ClassVar[str | None] = "Softsign"

        def ops(self, in_shapes):
            return 3 * elems(in_shapes[0])

    yield Softsign
    del OPS[KIND]  # the registry is the process's; leave it as the other tests expect


NETWORK = f"""
version: 1
name: softsign_net
input_shape: [8, 16, 16]
layers:
  - {{name: conv, op: conv, out_channels: 32, kernel: 3, padding: 1}}
  - {{name: soft, op: {KIND}}}
  - {{name: gap, op: global_avg_pool}}
  - {{name: fc, op: fc, out_features: 10}}
"""


def run_cli(capsys, *argv) -> str:
    from perfsim.cli import main

    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_a_new_op_kind_registers_by_its_class(softsign):
    assert OPS[KIND] is softsign
    assert reader_kind_order()[-1] == OTHER_KIND
    assert softsign.reader_kind(groups=1, kernel=(1, 1), out_channels=4) == OTHER_KIND


def test_declaring_a_kind_twice_is_refused(softsign):
    with pytest.raises(TypeError, match="declared twice"):
        @dataclass(frozen=True)
        class Again(Op):
            kind: ClassVar[str] = KIND


def test_a_new_op_kind_runs_end_to_end(softsign, tmp_path, capsys):
    path = tmp_path / "softsign_net.yaml"
    path.write_text(NETWORK)
    elements = 32 * 16 * 16  # the conv's output, per sample

    shown = json.loads(run_cli(capsys, "show", str(path), "--format", "json"))
    row = next(r for r in shown["layers"] if r["name"] == "soft")
    assert (row["op"], row["ops"], row["macs"], row["params"]) == (KIND, 3 * elements, 0, 0)

    out = tmp_path / "run"
    run_cli(capsys, "run", str(path), "--hw", "matrix_engine", "--out", str(out))
    layers = pd.read_csv(out / "layers.csv")
    soft = layers.set_index("layer").loc["soft"]
    # matrix_engine's vector unit: 128 lanes, 8 cycles of pipeline latency; a vector engine
    # spends ceil(ops / outputs) = 3 cycles per pass of 128 outputs
    assert soft["engine"] == "vpu"
    assert soft["compute_cycles"] == -(-elements // 128) * 3 + 8

    run_cli(capsys, "report", str(out))
    html = (out / "report.html").read_text()
    assert ">soft<" in html  # a row of the per-layer table

    from perfsim.report import layer_table, load_run
    table = layer_table(load_run(out).layers)
    assert table.set_index("layer").loc["soft", "kind"] == OTHER_KIND

    from perfsim.io.load import load_workload
    from perfsim.workload.lecture import lecture_table
    lecture = lecture_table(load_workload(str(path)))
    assert lecture.set_index("layer").iloc[2]["type"] == "Nonl"


def test_a_new_op_kind_with_an_onnx_name_exports_and_imports(softsign, tmp_path):
    onnx = pytest.importorskip("onnx")
    from perfsim.io.load import load_workload
    from perfsim.io.onnx_export import export_onnx

    path = tmp_path / "softsign_net.yaml"
    path.write_text(NETWORK)
    network = load_workload(str(path))
    export_onnx(network, tmp_path / "net.onnx")
    model = onnx.load(str(tmp_path / "net.onnx"))
    assert "Softsign" in {node.op_type for node in model.graph.node}
    back = load_workload(str(tmp_path / "net.onnx"))
    assert [layer.op.kind for layer in back.layers].count(KIND) == 1
