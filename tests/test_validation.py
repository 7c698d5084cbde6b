"""The validation suite's machinery (``validation/``, run as ``python -m validation``).

The published numbers are checked against their sources as issue 13 quotes them and as we
re-read them (Eyeriss JSSC 2017, TPU ISCA 2017, the NVDLA primer); the configs and networks
against the facts they are built from, by hand; the error is (model - published) / published;
and the suite runs end to end on a subset. Whether perfsim meets the targets is not asserted:
the model is changing, and the suite's tables report how far off it is.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from perfsim import PerfsimError, load_hw, simulate, totals

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "validation"


@pytest.fixture(scope="module")
def v():
    """The ``validation`` package of the checkout (it is not installed: it ships beside
    ``scripts/``), with its modules."""
    if "validation" not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            "validation", PACKAGE / "__init__.py", submodule_search_locations=[str(PACKAGE)])
        module = importlib.util.module_from_spec(spec)
        sys.modules["validation"] = module
        spec.loader.exec_module(module)
    from validation import cases, compare, networks, outputs, published, sensitivity, suite
    return type("V", (), {"cases": cases, "compare": compare, "networks": networks,
                          "outputs": outputs, "published": published,
                          "sensitivity": sensitivity, "suite": suite})


@pytest.fixture(scope="module")
def pub(v):
    return v.published.load_published()


def values(pub, case, metric):
    return {ref.layer_label: ref.value for ref in pub[case].references if ref.metric == metric}


# --- the published numbers are their sources' -----------------------------------------------

def test_eyeriss_numbers_are_table_v(pub):
    # Issue 13 quotes JSSC 2017 Table V (p. 136): AlexNet CONV1-5 at batch 4, 200 MHz,
    # processing latency 16.5, 39.2, 21.8, 16.0, 10.0 ms; they add up to 103.5 ms, the
    # processing latency we re-read beside the 115.3 ms total latency.
    latency = values(pub, "eyeriss_alexnet", "latency_ms")
    assert latency == {"conv1": 16.5, "conv2": 39.2, "conv3": 21.8, "conv4": 16.0,
                       "conv5": 10.0}
    assert sum(latency.values()) == pytest.approx(103.5)
    # "For a batch of four frames, the required DRAM access is 15.4 MB, or 0.0029
    # access/MAC" (p. 136): 15.4e6 B / 2 B per access / 2.66e9 MACs = 0.00289.
    dram = values(pub, "eyeriss_alexnet", "dram_mb")
    assert dram["conv1-conv5"] == 15.4
    assert 15.4e6 / 2 / 2.66e9 == pytest.approx(0.0029, abs=5e-5)
    per_layer = [dram[f"conv{i}"] for i in range(1, 6)]
    assert sum(per_layer) == pytest.approx(15.4, abs=0.05 * 5)  # one-decimal rounding
    facts = pub["eyeriss_alexnet"].facts
    assert (facts["batch"], facts["core_clock_mhz"], facts["link_clock_mhz"]) == (4, 200, 60)
    unchecked = {r.layer_label for r in pub["eyeriss_alexnet"].references if not r.rechecked}
    assert unchecked == {f"conv{i}" for i in range(1, 6)}  # the per-layer DRAM values only


def test_tpu_numbers_are_tables_1_and_3(pub):
    # ISCA 2017 Table 3 row 9 (TOPS measured) and Table 1 (layers, weights, batch), as issue
    # 13 quotes them; CNN0 is issue 13's item 6. Section 4: MLPs and LSTMs memory bound,
    # CNNs computation bound.
    expected = {"tpu_mlp0": (12.3, "memory", 5, 0, 20e6, 200, 200),
                "tpu_mlp1": (9.7, "memory", 4, 0, 5e6, 168, 168),
                "tpu_lstm0": (3.7, "memory", 24, 0, 52e6, 64, 64),
                "tpu_cnn0": (86.0, "compute", 0, 16, 8e6, 8, 2888)}
    for case, (tops, bound, fc, conv, weights, batch, intensity) in expected.items():
        facts = pub[case].facts
        assert values(pub, case, "tops") == {"network": tops}, case
        assert values(pub, case, "bound") == {"network": bound}, case
        assert (facts["fc_layers"], facts["conv_layers"], facts["weights"], facts["batch"],
                facts["ops_per_weight_byte"]) == (fc, conv, weights, batch, intensity), case


def test_nvdla_numbers_are_the_primer_table(pub):
    # The primer's "Example Area and Performance with NVDLA": #MACs, conv. buffer (KB),
    # SDRAM (GB/s), int8 ResNet-50 frames/s at 1 GHz.
    rows = [(2048, 512, 20, 269), (1024, 256, 15, 153), (512, 256, 10, 93),
            (256, 256, 5, 46), (128, 256, 2, 20), (64, 128, 1, 7.3), (32, 128, 0.5, 3.6)]
    for macs, kb, gb_per_s, fps in rows:
        case = pub[f"nvdla_{macs}"]
        assert (case.facts["macs"], case.facts["conv_buffer_kb"], case.facts["sdram_gb_per_s"],
                case.facts["clock_ghz"]) == (macs, kb, gb_per_s, 1.0)
        assert values(pub, f"nvdla_{macs}", "fps") == {"network": fps}
        assert case.source.kind == "estimator"  # the primer's table is an estimate


def test_targets_are_the_issues(pub):
    targets = {(r.case, r.metric): r.target_pct for c in pub.values() for r in c.references}
    assert {targets[("eyeriss_alexnet", m)] for m in ("latency_ms", "dram_mb")} == {20}
    assert {targets[(c, "tops")] for c in ("tpu_mlp0", "tpu_mlp1", "tpu_lstm0")} == {15}
    assert targets[("tpu_cnn0", "tops")] is None  # the issue sets none: its item is the bound
    assert {t for (c, _), t in targets.items() if c.startswith("nvdla")} == {25}
    assert {c.source.kind for n, c in pub.items() if not n.startswith("nvdla")} == {"silicon"}


def test_published_file_is_read_strictly(v, tmp_path):
    text = (PACKAGE / "published.yaml").read_text()
    bad = tmp_path / "published.yaml"
    bad.write_text(text.replace("{metric: tops, value: 12.3", "{metric: topps, value: 12.3"))
    line = text[:text.index("{metric: tops, value: 12.3")].count("\n") + 1
    with pytest.raises(PerfsimError, match=rf"published.yaml:{line}: .*unknown metric"):
        v.published.load_published(bad)


# --- the configs and networks are the facts they are built from --------------------------------

def test_every_case_is_published_and_every_published_case_runs(v, pub):
    assert [c.name for c in v.cases.CASES] == list(pub)


def test_case_batches_are_the_published_ones(v, pub):
    for case in v.cases.CASES:
        assert case.batch == pub[case.name].facts.get("batch", 1), case.name


def test_nvdla_configs_are_the_primer_rows(v, pub):
    for macs in v.cases.NVDLA_MACS:
        facts = pub[f"nvdla_{macs}"].facts
        hw = load_hw(v.cases.HW_DIR / f"nvdla_{macs}.yaml")
        (cmac,) = [e for e in hw.engines if e.kind == "matrix"]
        assert cmac.rows * cmac.cols == facts["macs"]
        assert hw.sram.size_kib == facts["conv_buffer_kb"]
        assert hw.dram.bandwidth_gb_per_s == facts["sdram_gb_per_s"]
        assert hw.clock_ghz == facts["clock_ghz"]
        assert (hw.precision.activation_bytes, hw.precision.weight_bytes) == (1, 1)  # int8


def test_eyeriss_case_is_table_v_setup(v, pub):
    case = next(c for c in v.cases.CASES if c.name == "eyeriss_alexnet")
    hw = case.config()
    assert hw.clock_ghz * 1e3 == pub["eyeriss_alexnet"].facts["core_clock_mhz"]
    # 64-bit link (p. 129) at the 60 MHz link clock of Table V: 8 B x 60e6 /s = 0.48 GB/s.
    assert hw.dram.bandwidth_gb_per_s == pytest.approx(8 * 60e6 / 1e9)
    net = case.network(**case.parameters)
    assert net.layers[0].op.shape == (3, 227, 227)
    # CONV1-5 of the two-tower AlexNet: 105,415,200 + 223,948,800 + 149,520,384 +
    # 112,140,288 + 74,760,192 = 665,784,864 MACs an image (ISSCC 2016: "666 million"),
    # x 4 = 2.663e9, Table V's 2.66 G.
    conv = net.with_batch(4).to_frame().query("op == 'conv'")
    assert conv["macs"].sum() == 4 * 665_784_864
    assert round(conv["macs"].sum() / 1e9, 2) == pub["eyeriss_alexnet"].facts["conv_gmacs"]


def weights_and_intensity(net, batch):
    """Weights (no biases: params) and MACs per weight byte (int8) at ``batch``."""
    t = totals(net)
    return t["params"], t["macs"] * batch / t["params"]


def test_tpu_networks_have_table_1_layers_weights_and_intensity(v, pub):
    n = v.networks
    mlp0 = n.tpu_mlp("mlp0", width=2048, layers=5)
    mlp1 = n.tpu_mlp("mlp1", width=1024, layers=4)
    lstm0 = n.tpu_lstm("lstm0", hidden=1024, layers=6, steps=n.LSTM0_STEPS)
    cnn0 = n.tpu_cnn0(filters=256)
    ops = lambda net: [layer.op.kind for layer in net.layers]  # noqa: E731
    assert ops(mlp0).count("fc") == pub["tpu_mlp0"].facts["fc_layers"]
    assert ops(mlp1).count("fc") == pub["tpu_mlp1"].facts["fc_layers"]
    assert 4 * ops(lstm0).count("lstm") == pub["tpu_lstm0"].facts["fc_layers"]  # 4 gates
    assert ops(cnn0).count("conv") == pub["tpu_cnn0"].facts["conv_layers"]
    # Weights by hand: 5 x 2048^2 = 20,971,520; 4 x 1024^2 = 4,194,304;
    # 6 x 4 x 1024 x (1024 + 1024) = 50,331,648; CNN0: 48 x 25 x 256 + 14 x 9 x 256^2 + 256
    # = 307,200 + 8,257,536 + 256 = 8,564,992.
    # MACs per weight byte: an FC weight is used once a sample, so the batch (200, 168); an
    # LSTM weight once a sample and step (64); a CNN0 weight at each of the 19 x 19 = 361
    # board points of each of 8 boards (2888): Table 1's "TPU Ops / Weight Byte".
    assert weights_and_intensity(mlp0, 200) == (20_971_520, 200)
    assert weights_and_intensity(mlp1, 168) == (4_194_304, 168)
    assert weights_and_intensity(lstm0, 64) == (50_331_648, 64)
    assert weights_and_intensity(cnn0, 8) == (8_564_992, 2888)
    # and perfsim's LSTM0 run fetches its weights at that intensity: 64 MACs per DRAM byte
    # (its activations stay in the Unified Buffer; the inputs and states add 0.3%)
    run = simulate(lstm0, "tpu_v1", batch=64).totals
    assert run["macs"] / run["dram_read_bytes"] == pytest.approx(64, rel=0.005)
    for case, net in (("tpu_mlp0", mlp0), ("tpu_mlp1", mlp1), ("tpu_lstm0", lstm0),
                      ("tpu_cnn0", cnn0)):
        assert weights_and_intensity(net, 1)[0] == pytest.approx(
            pub[case].facts["weights"], rel=0.17), case  # widths assumed: 4-16% off
    # The cases run these very networks.
    built = {c.name: c.network(**c.parameters) for c in v.cases.CASES if c.name.startswith("tpu")}
    assert totals(built["tpu_mlp0"]) == totals(mlp0)
    assert totals(built["tpu_cnn0"]) == totals(cnn0)


def test_every_study_lists_its_baseline_once(v):
    by_name = {c.name: c for c in v.cases.CASES}
    for study in v.sensitivity.STUDIES:
        case = by_name[study.case]
        baselines = [label for label, s in study.settings
                     if v.sensitivity.is_baseline(case, s)]
        assert len(baselines) == 1, (study.case, study.parameter, baselines)
    eyeriss = by_name["eyeriss_alexnet"]
    assert v.sensitivity.current_value(eyeriss, "memory.sram.bandwidth_bytes_per_cycle") == 64
    assert v.sensitivity.current_value(eyeriss, "network") == "alexnet_bvlc_grouped"


# --- the comparison -------------------------------------------------------------------------

def test_error_is_model_minus_published_over_published(v):
    assert v.compare.relative_error_pct(11.0, 10.0) == pytest.approx(10.0)
    assert v.compare.relative_error_pct(9.0, 10.0) == pytest.approx(-10.0)
    assert v.compare.relative_error_pct(12.3, 12.3) == 0.0
    assert v.compare.relative_error_pct(135.0, 270.0) == pytest.approx(-50.0)


def test_trend_is_the_direction_from_layer_to_layer(v):
    assert v.compare.trend([16.5, 39.2, 21.8, 16.0, 10.0]) == "up, down, down, down"
    assert v.compare.trend([1.0, 1.0, 2.0]) == "flat, up"


def test_measure_reads_cycles_macs_and_bytes(v):
    """Two hand-made rows on a 0.7 GHz config at batch 168: ``a`` 700 cycles, 49,000 MACs,
    1,000 + 500 DRAM bytes, memory-bound; ``b`` 300 cycles, no MACs, compute-bound."""
    run = v.cases.CASES[2].simulate()  # tpu_mlp1: any run, its rows replaced
    template = run.layers[1]
    a = replace(template, layer="a", macs=49_000, total_cycles=700, dram_read_bytes=1_000,
                dram_write_bytes=500, bound="memory")
    b = replace(template, layer="b", macs=0, total_cycles=300, dram_read_bytes=0,
                dram_write_bytes=0, bound="compute")
    run = replace(run, layers=(a, b))
    assert (run.hw.clock_ghz, run.batch) == (0.7, 168)
    m = v.compare.measure
    # 1,000 cycles / 0.7e9 Hz = 1.428571 us = 1.428571e-3 ms
    assert m(run, "latency_ms") == pytest.approx(1e3 / 0.7e9 * 1e3)
    assert m(run, "latency_ms", ("a",)) == pytest.approx(700 / 0.7e9 * 1e3)
    # (1,000 + 500) B / 1e6 = 0.0015 MB
    assert m(run, "dram_mb", ("a",)) == pytest.approx(0.0015)
    # 2 x 49,000 = 98,000 ops in 1,000 cycles at 0.7 GHz: 98 x 0.7e9 = 6.86e10 /s = 0.0686 TOPS
    assert m(run, "tops") == pytest.approx(0.0686)
    # 168 frames in 1,000 cycles at 0.7 GHz: 168 x 0.7e6 = 1.176e8 frames/s
    assert m(run, "fps") == pytest.approx(1.176e8)
    bound = m(run, "bound")  # memory holds 700 of the 1,000 cycles
    assert (bound.bound, bound.shares) == ("memory", (("memory", 0.7), ("compute", 0.3)))
    assert v.compare.detail(run) == "30% of cycles in layers without MACs"
    with pytest.raises(KeyError, match="no layer"):
        m(run, "latency_ms", ("c",))


def test_utilization_bound_is_the_roofline_compute_side(v):
    run = v.cases.CASES[2].simulate()
    rows = tuple(replace(r, bound="utilization") for r in run.layers)
    assert v.compare.measure(replace(run, layers=rows), "bound").bound == "compute"


# --- the suite, end to end ------------------------------------------------------------------

def test_suite_runs_a_subset_and_writes_tables_and_plot(tmp_path):
    out = tmp_path / "report"
    # from a directory holding the suite but not the checkout's perfsim/, so that the perfsim
    # it runs is the installed one (a plain install has hw_configs inside it; the checkout's
    # source folder does not)
    (tmp_path / "validation").symlink_to(ROOT / "validation", target_is_directory=True)
    result = subprocess.run([sys.executable, "-m", "validation", "tpu_mlp1", "nvdla_64",
                             "--out", str(out)], cwd=tmp_path, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert "| case" in result.stdout and "tpu_mlp1" in result.stdout  # the printed summary
    for name in ("validation.csv", "validation.md", "sensitivity.csv", "sensitivity.md",
                 "README.md"):
        assert (out / name).stat().st_size > 0, name
    assert (out / "parity.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = pd.read_csv(out / "validation.csv")
    assert set(table["case"]) == {"tpu_mlp1", "nvdla_64"}
    numeric = table[table["error_pct"].notna()]
    assert set(numeric["metric"]) == {"tops", "fps"}
    model, published = numeric["model"].astype(float), numeric["published"].astype(float)
    assert numeric["error_pct"].tolist() == pytest.approx(
        (100 * (model - published) / published).tolist())
    # The sensitivity's baseline is the comparison's run: the same setup, the same number.
    sens = pd.read_csv(out / "sensitivity.csv")
    tops = sens[(sens["case"] == "tpu_mlp1") & (sens["metric"] == "tops")]
    (baseline,) = tops[tops["baseline"]]["model"].astype(float)
    (compared,) = numeric[numeric["case"] == "tpu_mlp1"]["model"].astype(float)
    assert baseline == pytest.approx(compared)
    assert set(sens["setting"].astype(str)) == {"1024", "1118", "1280"}


def test_unknown_case_is_a_user_error(v, capsys):
    from validation.__main__ import main
    assert main(["no_such_case"]) == 2
    assert "unknown case(s) no_such_case" in capsys.readouterr().err


def test_parity_figure_has_a_panel_per_source(v):
    frame = pd.DataFrame([
        {"case": "tpu_mlp0", "source": "tpu_isca2017", "metric": "tops", "unit": "TOPS",
         "layers": "network", "published": 12.3, "model": 12.9, "error_pct": 4.9,
         "target_pct": 15.0, "within_target": True},
        {"case": "nvdla_64", "source": "nvdla_primer", "metric": "fps", "unit": "frames/s",
         "layers": "network", "published": 7.3, "model": 3.0, "error_pct": -58.9,
         "target_pct": 25.0, "within_target": False},
        {"case": "tpu_mlp0", "source": "tpu_isca2017", "metric": "bound", "unit": "",
         "layers": "network", "published": "memory", "model": "memory", "error_pct": None,
         "target_pct": None, "within_target": True}])
    fig = v.outputs.parity_figure(frame)
    assert [ax.get_title() for ax in fig.axes] == [v.outputs.PANEL_TITLES["tpu_isca2017"],
                                                   v.outputs.PANEL_TITLES["nvdla_primer"]]
    assert {(ax.get_xscale(), ax.get_yscale()) for ax in fig.axes} == {("log", "log")}
    assert "estimator, not silicon" in fig.axes[1].get_title()
