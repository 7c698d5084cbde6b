"""``perfsim run`` as a user runs it: the JSON contract, the files --out writes, and clean
errors for bad hardware, unknown engines and layers that cannot run."""

from __future__ import annotations

import hashlib
import json

import pandas as pd
import pytest

from cli_runs import perfsim_cli as perfsim
from perfsim.hardware.loading import resolve_hw_path

LAYER_COLUMNS = {"layer", "op", "engine", "macs", "params", "in_bytes", "out_bytes",
                 "weight_bytes", "dram_read_bytes", "dram_write_bytes", "sram_read_bytes",
                 "sram_write_bytes", "compute_cycles", "memory_cycles", "total_cycles",
                 "stall_cycles", "utilization", "macs_per_dram_byte", "bound", "reason",
                 "energy_pj", "out_shape", "kernel", "groups"}


def test_run_json_contract(tmp_path):
    result = perfsim("run", "mobilenet_v1", "--hw", "matrix_engine.yaml", "--format", "json",
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert (data["network"], data["hw"], data["batch"], data["fidelity"]) == \
        ("mobilenet_v1", "matrix_engine", 1, "analytic")
    summary = data["hw_summary"]
    assert summary["clock_ghz"] == 1.0 and summary["dram_bytes_per_cycle"] == 30.0
    assert summary["sram_bytes"] == 8192 * 1024
    assert {e["name"]: e["peak_macs_per_cycle"] for e in summary["engines"]} == \
        {"mxu": 16384, "vpu": 128}
    for layer in data["layers"]:
        assert LAYER_COLUMNS <= set(layer)
    totals = data["totals"]
    assert {"cycles", "time_ms", "macs", "macs_per_cycle", "utilization", "dram_bytes",
            "energy_pj"} <= set(totals)
    assert totals["cycles"] == sum(layer["total_cycles"] for layer in data["layers"])
    assert totals["macs"] == 568740352
    assert totals["time_ms"] == pytest.approx(totals["cycles"] / 1e6)
    assert totals["energy_pj"] > 0
    assert len(data["summary"]) == 3 and "depthwise conv" in data["summary"][1]


def test_run_table_explains_the_depthwise_layers(tmp_path):
    result = perfsim("run", "mobilenet_v1", "--hw", "matrix_engine", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    # the summary's three lines, each wrapped to 120 columns (continuations indented)
    summary = result.stdout.strip().split("\n\n")[-1].replace("\n  ", " ").splitlines()
    assert summary[0].startswith("mobilenet_v1 on matrix_engine, batch 1:")
    assert "depthwise conv 3% of MACs in" in summary[1]
    assert summary[2].startswith("slowest:")
    assert "block1/dw" in result.stdout and "on mxu" in result.stdout


def test_run_out_dir_files_and_provenance(tmp_path):
    out = tmp_path / "run"
    result = perfsim("run", "alexnet", "--hw", "matrix_engine", "--batch", "4", "--out", out,
                     cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    csv = pd.read_csv(out / "layers.csv")
    parquet = pd.read_parquet(out / "layers.parquet")
    assert list(csv["layer"]) == list(parquet["layer"])
    assert (parquet["batch"] == 4).all() and (parquet["total_cycles"] >= 0).all()
    run = json.loads((out / "run.json").read_text())
    prov = run["provenance"]
    hw_file = resolve_hw_path("matrix_engine")
    assert prov["hw_sha256"] == hashlib.sha256(hw_file.read_bytes()).hexdigest()
    assert prov["hw_config"]["engines"][0]["rows"] == 128
    assert prov["command"][:2] == ["perfsim", "run"] and "--out" in prov["command"]
    assert prov["perfsim_version"] and prov["options"]["residency"] == "auto"
    assert not list(out.glob(".*"))  # no temporary files left behind


def test_run_csv_and_md(tmp_path):
    csv = perfsim("run", "lenet5", "--hw", "edge_npu", "--format", "csv", cwd=tmp_path)
    assert csv.returncode == 0 and csv.stdout.startswith("workload,hw,batch,fidelity,layer")
    md = perfsim("run", "lenet5", "--hw", "edge_npu", "--format", "md", cwd=tmp_path)
    assert md.returncode == 0 and "| layer" in md.stdout


@pytest.mark.parametrize("args,fragments", [
    (["run", "alexnet", "--hw", "matrix_engin"], ["no hardware config 'matrix_engin'",
                                                  "did you mean: matrix_engine"]),
    (["run", "alexnet", "--hw", "matrix_engine", "--pin", "conv=gpu"], ["no engine 'gpu'"]),
    (["run", "alexnet", "--hw", "matrix_engine", "--pin", "relu=mxu"],
     ["pinned to engine 'mxu'", "cannot run it"]),
    (["run", "alexnet", "--hw", "matrix_engine", "--pin", "conv"], ["--pin takes OP=ENGINE"]),
    (["run", "alexnex", "--hw", "matrix_engine"], ["unknown workload 'alexnex'"]),
])
def test_run_user_errors_exit_2(tmp_path, args, fragments):
    result = perfsim(*args, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr


def test_infeasible_tiling_exits_2_naming_the_layer(tmp_path):
    hw = tmp_path / "tiny.yaml"
    hw.write_text("schema_version: 1\nname: tiny\nclock_ghz: 1.0\n"
                  "precision: {activation_bytes: 1, weight_bytes: 1, accumulator_bytes: 4}\n"
                  "engines:\n  - {name: mxu, kind: matrix, rows: 8, cols: 8, "
                  "dataflow: weight_stationary}\n  - {name: vpu, kind: vector, lanes: 8}\n"
                  "memory:\n  sram: {size_kib: 0.05, bandwidth_bytes_per_cycle: 8}\n"
                  "  dram: {bandwidth_gb_per_s: 1}\n")
    result = perfsim("run", "alexnet", "--hw", hw, cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "layer 'conv1' does not fit in SRAM" in result.stderr
    assert "bytes free" in result.stderr


def test_run_help(tmp_path):
    result = perfsim("run", "--help", cwd=tmp_path)
    assert result.returncode == 0 and "--residency" in result.stdout


def test_unwritable_out_dir_is_a_user_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    result = perfsim("run", "lenet5", "--hw", "edge_npu", "--out", blocker / "run", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "cannot write the run to" in result.stderr


def test_run_a_scalesim_topology_on_a_scalesim_config(tmp_path):
    topology = tmp_path / "net.csv"
    topology.write_text("Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, "
                        "Channels, Num Filter, Strides,\nConv1, 227, 227, 11, 11, 3, 96, 4,\n")
    config = tmp_path / "scale.cfg"
    config.write_text("[general]\nrun_name = t\n\n[architecture_presets]\nArrayHeight: 32\n"
                      "ArrayWidth: 32\nIfmapSramSzkB: 64\nFilterSramSzkB: 64\nOfmapSramSzkB: 64\n"
                      "Dataflow: os\nBandwidth: 10\n\n[run_presets]\nInterfaceBandwidth: CALC\n")
    result = perfsim("run", topology, "--hw", config, "--format", "json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    conv = next(r for r in json.loads(result.stdout)["layers"] if r["layer"] == "Conv1")
    # DESIGN 4.1, output stationary on 32x32: Np = 55*55 = 3025 -> 95 row folds, K = 96 -> 3
    # column folds, T_red = 363: 285 folds of 363 + 32 + 32 - 2 = 425 cycles.
    assert conv["engine"] == "array" and conv["compute_cycles"] == 285 * 425
    assert conv["total_cycles"] == conv["compute_cycles"]


def test_export_onnx_then_show_it(tmp_path):
    model = tmp_path / "m.onnx"
    assert perfsim("export", "mobilenet_v2", model, cwd=tmp_path).returncode == 0
    shown = json.loads(perfsim("show", model, "--format", "json", cwd=tmp_path).stdout)
    assert shown["totals"]["params"] == 3504872 and shown["totals"]["macs"] == 300774272
