"""A user's first hour (issue 16): examples by name, `perfsim list`, terminal tables that fit,
one utilisation, validated pins, Ctrl-C, `--out` safety, notebook reprs and the Python API,
and the pictures' fixes. CLI tests run the installed `perfsim` from outside the checkout."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from matplotlib.ticker import NullFormatter

from cli_runs import assert_one_line_error as one_line_error, perfsim_cli
import perfsim
from perfsim.report import load_run, save_run, write_run_report
from perfsim.report.compare import run_labels
from perfsim.report.plots import cycles_figure, roofline_figure
from perfsim.report.timeline import gantt_figure
from perfsim.results import display_frame
from perfsim.sweeps.plots import pareto_scatter


@pytest.fixture(scope="module")
def tiny_run():
    return perfsim.simulate("tiny_cnn", "matrix_engine")


# -- examples and `perfsim list` ---------------------------------------------------------

def test_list_names_every_network_with_its_size_and_every_config_in_one_line(tmp_path):
    data = json.loads(perfsim_cli("list", "--format", "json", cwd=tmp_path).stdout)
    networks = {n["name"]: n for n in data["workloads"]}
    assert {"mobilenet_v1", "tiny_cnn", "lstm_tagger"} <= set(networks)
    mobilenet = networks["mobilenet_v1"]
    assert (mobilenet["input"], mobilenet["macs"], mobilenet["params"]) == (
        "3x224x224", 568_740_352, 4_231_976)
    assert all(n["description"] and n["macs"] > 0 for n in networks.values())
    assert networks["tiny_cnn"]["family"] == "example"
    configs = {c["name"]: c["description"] for c in data["hw"]}
    assert configs["tpu_v1"].startswith("0.7 GHz int8: mxu 256x256 WS array")
    assert {s["name"] for s in data["sweeps"]} >= {"sweep_small"}
    table = perfsim_cli("list", cwd=tmp_path).stdout
    assert max(map(len, table.splitlines())) <= 120
    assert re.search(r"^mobilenet_v1\s+3x224x224\s+569M\s+4\.23M\s+MobileNet V1", table, re.M)
    rows = list(csv.DictReader(io.StringIO(perfsim_cli("list", "--format", "csv",
                                                       cwd=tmp_path).stdout)))
    assert {r["type"] for r in rows} == {"network", "hw", "sweep"}
    assert "| name" in perfsim_cli("list", "--format", "md", cwd=tmp_path).stdout


def test_examples_are_reachable_by_name_and_misspellings_suggested(tmp_path):
    shown = perfsim_cli("show", "lstm_tagger", "--format", "json", cwd=tmp_path)
    assert json.loads(shown.stdout)["network"] == "lstm_tagger"
    one_line_error(perfsim_cli("show", "tiny_cn", cwd=tmp_path), "did you mean: tiny_cnn?")
    one_line_error(perfsim_cli("sweep", "sweep_smal", "--out", "x", cwd=tmp_path),
                   "did you mean: sweep_small?")


# -- the run table -----------------------------------------------------------------------

def test_run_table_columns_sort_top_and_quiet(tmp_path):
    base = ("run", "tiny_cnn", "--hw", "matrix_engine")
    top = perfsim_cli(*base, "--top", "2", "--columns", "layer,engine,total_cycles,reason",
                      cwd=tmp_path).stdout.splitlines()
    assert top[0].split() == ["layer", "engine", "total_cycles", "reason"]
    frame = perfsim.simulate("tiny_cnn", "matrix_engine").to_frame()
    slowest = frame.nlargest(2, "total_cycles")["layer"].tolist()
    assert [line.split()[0] for line in top[2:4]] == slowest and top[4] == ""
    by_name = perfsim_cli(*base, "--sort", "layer", "--columns", "layer",
                          cwd=tmp_path).stdout.splitlines()
    names = by_name[2:by_name.index("")]
    assert names == sorted(frame["layer"])
    quiet = perfsim_cli(*base, "--quiet", cwd=tmp_path).stdout
    assert quiet.startswith("totals: ") and "hardware: " in quiet and "by kind:" in quiet
    one_line_error(perfsim_cli(*base, "--columns", "layr", cwd=tmp_path),
                   "unknown column 'layr'", "did you mean: layer?")
    one_line_error(perfsim_cli(*base, "--sort", "start_cycle", cwd=tmp_path),
                   "column 'start_cycle' is not in this run's rows")


def test_run_table_sorts_numbers_down_missing_last_and_intensity_by_its_value(tmp_path):
    base = ("run", "alexnet", "--hw", "matrix_engine", "--columns",
            "layer,macs,macs_per_dram_byte,intensity")
    frame = perfsim.simulate("alexnet", "matrix_engine").to_frame()
    dram = frame["dram_read_bytes"] + frame["dram_write_bytes"]
    work = frame["macs"].where(frame["macs"] > 0, frame["ops"])

    def layers(*args):
        lines = perfsim_cli(*base, *args, cwd=tmp_path).stdout.splitlines()
        return [line.split() for line in lines[2:lines.index("")]]

    by_ratio = layers("--sort", "macs_per_dram_byte")
    known = frame.dropna(subset=["macs_per_dram_byte"])
    assert [r[0] for r in by_ratio[:len(known)]] == \
        known.sort_values("macs_per_dram_byte", ascending=False, kind="stable")["layer"].tolist()
    assert {r[0] for r in by_ratio[len(known):]} == \
        set(frame["layer"][frame["macs_per_dram_byte"].isna()])  # missing: last
    by_intensity = [r[0] for r in layers("--sort", "intensity")]
    per_byte = {layer: (w / d if d else np.inf) for layer, w, d in
                zip(frame["layer"], work, dram)}  # the hand rule: MACs, else ops, per byte
    assert [per_byte[name] for name in by_intensity] == \
        sorted(per_byte.values(), reverse=True)
    # a layer without MACs shows no MACs per DRAM byte, though the column is asked for alone
    alone = perfsim_cli("run", "alexnet", "--hw", "matrix_engine", "--columns",
                        "layer,macs_per_dram_byte", cwd=tmp_path).stdout.splitlines()
    pool = next(line.split() for line in alone if line.startswith("pool1 "))
    assert frame.set_index("layer").at["pool1", "macs"] == 0 and pool == ["pool1", "-"]


@pytest.mark.parametrize("command", ["run tiny_cnn --hw hetero --sort intensity", "show tiny_cnn"])
@pytest.mark.parametrize("fmt", ["table", "md", "csv", "json"])
def test_run_and_show_print_without_pandas(tmp_path, command, fmt):
    # pandas takes a fifth of a second to import: the printed rows do not need it
    code = ("import sys; from perfsim.cli import main; "
            f"main({command.split()!r} + ['--format', '{fmt}']); "
            "print(sorted(m for m in sys.modules if m.startswith('pandas')))")
    run = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "[]" and "conv" in run.stdout


def test_one_utilisation_in_rows_reasons_and_totals(tiny_run):
    frame = perfsim.simulate("mobilenet_v1", "matrix_engine").to_frame()
    quoted = 0
    for row in frame.itertuples():
        if row.bound in ("utilization", "compute"):
            percent = re.match(r"\w+: (?:\w+ )?([\d.]+)% ", row.reason)
            assert percent and float(percent.group(1)) == round(100 * row.utilization, 1), \
                (row.layer, row.utilization, row.reason)
            quoted += 1
    assert quoted >= 20
    cells = display_frame(pd.DataFrame({"utilization": [0.0986], "cycle_share": [0.5]}))
    assert list(cells.iloc[0]) == ["9.9%", "50.0%"]


def test_intensity_is_mac_per_byte_or_ops_per_byte_as_the_reason_says(tmp_path):
    out = perfsim_cli("run", "mobilenet_v1", "--hw", "matrix_engine", "--residency", "dram",
                      "--graph", "raw", "--columns", "layer,macs,intensity,reason",
                      cwd=tmp_path, env={**os.environ, "COLUMNS": "400"}).stdout
    bn = next(line for line in out.splitlines() if line.startswith("conv1/bn "))
    per_byte = re.search(r"([\d,.]+ ops/B)", bn).group(1)
    assert bn.count(per_byte) == 2  # the intensity column and the reason agree
    conv = next(line for line in out.splitlines() if line.startswith("conv1 "))
    assert re.search(r"[\d.]+ MAC/B", conv)


def test_run_prints_the_hardware_file_it_used(tmp_path):
    (tmp_path / "mine.yaml").write_text(
        (perfsim.load_hw.__globals__["resolve_hw_path"]("edge_npu")).read_text())
    out = perfsim_cli("run", "tiny_cnn", "--hw", "mine.yaml", "--quiet", cwd=tmp_path)
    assert f"hardware: {tmp_path / 'mine.yaml'}\n" in out.stdout
    csv_run = perfsim_cli("run", "tiny_cnn", "--hw", "edge_npu", "--format", "csv",
                          cwd=tmp_path)
    assert "edge_npu.yaml (shipped)" in csv_run.stderr and "hardware" not in csv_run.stdout


# -- pins --------------------------------------------------------------------------------

@pytest.mark.parametrize("pins, message", [
    (["depthwise=mxu"], "unknown op kind 'depthwise'; did you mean: conv:depthwise?"),
    (["convolution=mxu"], "unknown op kind 'convolution'; did you mean: conv?"),
    (["conv:depth=vpu"], "variants: conv:dense, conv:grouped, conv:depthwise"),
    (["conv=mxu", "conv=vpu"], "--pin conv is given twice"),
    (["conv=npu"], "no engine 'npu'")])
def test_bad_pins_are_one_line_errors(tmp_path, pins, message):
    args = [a for pin in pins for a in ("--pin", pin)]
    one_line_error(perfsim_cli("run", "tiny_cnn", "--hw", "matrix_engine", *args,
                               cwd=tmp_path), message)


def test_depthwise_is_pinned_apart_from_dense_convolution():
    free = {r.layer: r.engine for r in perfsim.simulate("mobilenet_v1", "matrix_engine").layers}
    assert free["block1/dw"] == "vpu" and free["block1/pw"] == "mxu"
    pinned = {r.layer: r.engine for r in perfsim.simulate(
        "mobilenet_v1", "matrix_engine", pin={"conv": "vpu", "conv:depthwise": "mxu"}).layers}
    assert pinned["block1/dw"] == "mxu" and pinned["block1/pw"] == "vpu"
    with pytest.raises(perfsim.WorkloadError, match="unknown op kind 'convolution'"):
        perfsim.simulate("tiny_cnn", "matrix_engine", pin={"convolution": "mxu"})


# -- Ctrl-C, --out, the Numba notice -------------------------------------------------------

def test_ctrl_c_while_numba_compiles_exits_130_with_one_line(tmp_path):
    """A cold Numba cache (an empty NUMBA_CACHE_DIR, and no kept answers) prints the notice;
    Ctrl-C then stops the run: exit 130, one line, no traceback."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           "PERFSIM_CACHE_DIR": str(tmp_path / "answers")}
    process = subprocess.Popen([sys.executable, "-m", "perfsim", "run", "resnet50", "--hw",
                                "matrix_engine"], cwd=tmp_path, env=env, text=True,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    notice = process.stderr.readline()
    assert "compiling the cost model's kernels with Numba" in notice
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=120)
    assert process.returncode == 130
    assert rest.strip() == "perfsim: interrupted"


def test_the_numba_notice_comes_once(tmp_path):
    """The compile notice is printed by the first run after an install (an empty Numba cache)
    and by no run after it: the second run finds every search kernel's cache (the third its
    answers kept, and imports no kernel)."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           "PERFSIM_CACHE_DIR": str(tmp_path / "answers")}
    runs = [perfsim_cli("run", network, "--hw", "matrix_engine", "--quiet", cwd=tmp_path,
                        env=env) for network in ("tiny_cnn", "lenet5", "tiny_cnn")]
    assert [r.returncode for r in runs] == [0, 0, 0]
    assert "compiling the cost model's kernels with Numba" in runs[0].stderr
    assert runs[1].stderr == runs[2].stderr == ""


def test_out_refuses_a_directory_holding_another_run_unless_forced(tmp_path):
    base = ("--hw", "matrix_engine", "--quiet", "--out", "runs")
    assert perfsim_cli("run", "tiny_cnn", *base, cwd=tmp_path).returncode == 0
    assert perfsim_cli("run", "tiny_cnn", *base, cwd=tmp_path).returncode == 0  # same run
    one_line_error(perfsim_cli("run", "lstm_tagger", *base, cwd=tmp_path),
                   "runs holds another run (network 'tiny_cnn')", "--force")
    assert json.loads((tmp_path / "runs" / "run.json").read_text())["network"] == "tiny_cnn"
    assert perfsim_cli("run", "lstm_tagger", *base, "--force", cwd=tmp_path).returncode == 0
    assert json.loads((tmp_path / "runs" / "run.json").read_text())["network"] == "lstm_tagger"


# -- notebook and Python API -------------------------------------------------------------

def test_reprs_are_short_and_html_is_rich(tiny_run):
    network = perfsim.load_workload("mobilenet_v1")
    run = perfsim.simulate(network, "matrix_engine")
    for obj in (network, run):
        assert len(repr(obj)) < 200 and "\n" not in repr(obj)
    assert repr(run).startswith("<RunResult mobilenet_v1 on matrix_engine, batch 1, analytic:")
    html = run._repr_html_()
    assert "by kind: depthwise conv" in html and html.count("</tr>") == 11 and len(html) < 8000
    assert "<table" in network._repr_html_() and "MobileNet V1" in network._repr_html_()
    sweep = perfsim.sweep("tiny_cnn", "matrix_engine", grid={"engines.mxu.rows": [32, 64]},
                          executor="serial")
    assert "<table" in sweep._repr_html_() and len(repr(sweep)) < 2000


def test_report_and_save_work_on_a_run_in_memory(tiny_run, tmp_path):
    paths = write_run_report(tiny_run, tmp_path / "report")
    assert paths[0].name == "report.html" and "A run in memory." in paths[0].read_text()
    saved = save_run(tiny_run, tmp_path / "run")
    provenance = json.loads((saved / "run.json").read_text())["provenance"]
    assert provenance["hw_file"] is None and provenance["workload_source"] == "tiny_cnn"
    assert load_run(saved).layers["total_cycles"].tolist() == [
        r.total_cycles for r in tiny_run.layers]
    assert write_run_report(saved)[0] == saved / "report.html"
    with pytest.raises(perfsim.PerfsimError, match="give out_dir"):
        write_run_report(tiny_run)


def test_variant_changes_fields_by_key_path_and_checks_them():
    hw = perfsim.variant("matrix_engine", {"engines.mxu.rows": 64, "memory.sram.size_kib": 4096})
    assert (hw.engines[0].rows, hw.engines[0].cols, hw.sram.size_kib) == (64, 128, 4096)
    with pytest.raises(perfsim.ConfigError, match="engines.mxu.rows"):
        perfsim.variant(hw, {"engines.mxu.rows": 0})


# -- pictures ----------------------------------------------------------------------------

def test_cycles_title_and_legend_do_not_overlap(tiny_run):
    figure = cycles_figure(tiny_run.to_frame())
    figure.draw_without_rendering()
    title = figure.axes[0].title.get_window_extent()
    legend = figure.legends[0].get_window_extent()
    assert not title.overlaps(legend)


def test_roofline_labels_sit_under_the_points():
    frame = perfsim.simulate("mobilenet_v1", "matrix_engine").to_frame()
    figure = roofline_figure(frame, perfsim.load_hw("matrix_engine").summary())
    ax = figure.axes[0]
    points = min(c.get_zorder() for c in ax.collections)
    labels = [t for t in ax.texts if t.get_text() in set(frame["layer"])]
    assert labels and all(t.get_zorder() < points for t in labels)


def test_pareto_ticks_at_the_grid_values_and_coincident_points_share_a_label():
    frame = pd.DataFrame({"workload": "w", "engines.mxu.rows": [16, 32, 64, 128, 256, 512, 512],
                          "time_ms": [30.0, 11.0, 5.0, 2.0, 1.0, 0.5, 0.5],
                          "tag": [1, 2, 3, 4, 5, 6, 7]})
    figure = pareto_scatter(frame, "engines.mxu.rows", "time_ms", annotate=["tag"])
    ax = figure.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == [
        "16", "32", "64", "128", "256", "512"]
    assert isinstance(ax.xaxis.get_minor_formatter(), NullFormatter)
    assert ax.get_xlabel() == "array rows (PEs)"
    texts = [t.get_text() for t in ax.texts]
    assert "6; 7" in texts or "7; 6" in texts  # one label for the two points on one spot
    boxes = [t.get_window_extent() for t in ax.texts]
    assert not any(a.overlaps(b) for i, a in enumerate(boxes) for b in boxes[i + 1:])


def test_gantt_names_layers_where_they_fit():
    run = perfsim.simulate("tiny_cnn", "matrix_engine", fidelity="event")
    figure = gantt_figure(run.timeline, run.to_frame())
    names = {t.get_text() for t in figure.axes[0].texts}
    assert names and names <= {r.layer for r in run.layers}


def test_compare_labels_runs_by_hardware(tmp_path):
    for hw in ("matrix_engine", "hetero"):
        save_run(perfsim.simulate("tiny_cnn", hw), tmp_path / f"run_{hw}")
    runs = [load_run(tmp_path / f"run_{hw}") for hw in ("matrix_engine", "hetero")]
    assert run_labels(runs) == ["matrix_engine", "hetero"]
    out = perfsim_cli("compare", *(r.path for r in runs), cwd=tmp_path).stdout
    assert out.splitlines()[0].split() == ["matrix_engine", "hetero"]
    assert re.search(r"^utilization\s+[\d.]+%\s+[\d.]+%$", out, re.M)
    assert np.isfinite(float(re.search(r"^energy_pj\s+\S+\s+([\d,.]+)$", out, re.M)
                             .group(1).replace(",", "")))
