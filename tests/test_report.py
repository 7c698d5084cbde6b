"""Reports of saved runs: the HTML is self-contained, the CLI writes it and fails cleanly on a
bad run directory, every figure has labelled axes, comparison ratios and the roofline's ridge
agree with numbers computed here from the layer frames and the hardware summary."""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser

import numpy as np
import pytest
from matplotlib.figure import Figure

from cli_runs import perfsim_cli
import perfsim
from perfsim.hardware.loading import resolve_hw_path
from perfsim.report import load_run, write_run_report
from perfsim.report.compare import (compare_layers, compare_layers_figure, compare_totals,
                                    compare_totals_figure, write_compare_report)
from perfsim.report.plots import cycles_figure, engine_figure, kind_share_figure, roofline_figure
from perfsim.report.tables import layer_kinds, roofline_points, roofs
from perfsim.report.timeline import gantt_figure
from perfsim.results import layer_kind
from perfsim.report.saved_run import save_run


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """MobileNet V1 on matrix_engine at batch 1 and 2, saved as `perfsim run --out` saves
    them; returns ({batch: run directory}, {batch: RunResult})."""
    hw_path = resolve_hw_path("matrix_engine")
    hw = perfsim.load_hw(hw_path)
    dirs, results = {}, {}
    for batch in (1, 2):
        result = perfsim.simulate(perfsim.load_workload("mobilenet_v1", batch=batch), hw)
        out = tmp_path_factory.mktemp(f"mobilenet_b{batch}")
        save_run(result, out, hw_path=hw_path, source="mobilenet_v1",
                 command=["perfsim", "run", "mobilenet_v1", "--batch", str(batch)])
        dirs[batch], results[batch] = out, result
    return dirs, results


class Tags(HTMLParser):
    """Every start tag of a page with its attributes."""

    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def assert_self_contained(page: str) -> list[dict]:
    """Fail on anything that would need the network or another file; returns the <img>s."""
    parser = Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag not in ("link", "iframe", "object", "embed"), tag
        assert not (tag == "script" and "src" in attrs)
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            assert "//" not in value or value.startswith("data:"), (tag, name, value[:80])
    assert "url(" not in page and "@import" not in page
    images = [attrs for tag, attrs in parser.tags if tag == "img"]
    for image in images:
        assert image["src"].startswith("data:image/png;base64,")
    return images


def test_report_html_is_self_contained_and_has_every_section(runs, tmp_path):
    dirs, _ = runs
    paths = write_run_report(load_run(dirs[1]), tmp_path)
    page = (tmp_path / "report.html").read_text()
    images = assert_self_contained(page)
    assert len(images) == 4  # roofline, cycles, kinds, engines: no timeline in analytic runs
    for heading in ("Roofline", "Where the cycles go", "Engines", "Layers", "Provenance"):
        assert f"<h2>{heading}</h2>" in page
    assert "block1/dw" in page and "hw_sha256" in page
    markdown = (tmp_path / "report.md").read_text()
    pngs = sorted(p.name for p in paths if p.suffix == ".png")
    assert len(pngs) == 4
    for name in pngs:
        assert f"]({name})" in markdown and (tmp_path / name).stat().st_size > 10_000


def test_cli_run_with_report_writes_the_run_and_its_report(tmp_path):
    result = perfsim_cli("run", "mobilenet_v1", "--hw", "matrix_engine.yaml", "--report",
                         "rep", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "rep/report.html" in result.stdout
    written = {p.name for p in (tmp_path / "rep").iterdir()}
    assert {"run.json", "layers.parquet", "report.html", "report.md",
            "report_roofline.png"} <= written
    assert_self_contained((tmp_path / "rep" / "report.html").read_text())


def _break_run_json(run):
    (run / "run.json").write_text('{"network": "x",\n  oops')


def _break_parquet(run):
    (run / "layers.parquet").write_bytes(b"PAR1 this is not parquet")


def _remove_parquet(run):
    (run / "layers.parquet").unlink()


@pytest.mark.parametrize("damage, file", [(None, "nowhere"), (_break_run_json, "run.json"),
                                          (_break_parquet, "layers.parquet"),
                                          (_remove_parquet, "layers.parquet")])
def test_report_on_a_bad_run_dir_is_one_clean_error_naming_the_file(runs, tmp_path, damage,
                                                                    file):
    run = tmp_path / "run"
    if damage is None:
        run = tmp_path / "nowhere"
    else:
        shutil.copytree(runs[0][1], run)
        damage(run)
    result = perfsim_cli("report", run, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and file in lines[0], result.stderr


def test_every_plot_is_a_figure_with_labelled_axes(runs):
    dirs, _ = runs
    one, two = load_run(dirs[1]), load_run(dirs[2])
    frames = {"b1": one.layers, "b2": two.layers}
    totals = compare_totals(frames, {"b1": one.hw_summary, "b2": two.hw_summary})
    figures = [roofline_figure(one.layers, one.hw_summary), cycles_figure(one.layers),
               kind_share_figure(one.layers), engine_figure(one.layers, one.hw_summary),
               compare_totals_figure(totals),
               compare_layers_figure(compare_layers(frames), ["b1", "b2"])]
    for figure in figures:
        assert isinstance(figure, Figure)
        assert figure.axes
        for ax in figure.axes:
            assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), ax


def test_compare_ratios_match_the_layer_frames(runs):
    dirs, results = runs
    one, two = results[1].to_frame(), results[2].to_frame()
    hw = results[1].hw.summary()
    totals = compare_totals({"b1": one, "b2": two}, {"b1": hw, "b2": hw})
    cycles_ratio = two["total_cycles"].sum() / one["total_cycles"].sum()
    assert totals["cycles_ratio"].tolist() == pytest.approx([1.0, cycles_ratio])
    assert totals["time_per_sample_ms_ratio"].iloc[1] == pytest.approx(cycles_ratio / 2)
    assert totals["macs_ratio"].iloc[1] == pytest.approx(2.0)
    assert totals["time_ms"].iloc[1] == pytest.approx(results[2].totals["time_ms"])
    assert 1.0 < cycles_ratio < 2.0  # batch 2 reuses weights: less than twice the time
    layers = compare_layers({"b1": one, "b2": two}).set_index("layer")
    for name in ("block1/dw", "block13/pw", "fc"):
        want = (two.set_index("layer").at[name, "total_cycles"]
                / one.set_index("layer").at[name, "total_cycles"])
        assert layers.at[name, "b2_cycles_ratio"] == pytest.approx(want)


def test_compare_cli_prints_ratios_and_writes_a_self_contained_page(runs, tmp_path):
    dirs, results = runs
    result = perfsim_cli("compare", dirs[1], dirs[2], "--format", "json", "--out", "cmp",
                         cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout.split("\nwrote ")[0])
    assert [r["batch"] for r in data["runs"]] == [1, 2]
    assert data["runs"][1]["cycles_ratio"] == pytest.approx(
        results[2].totals["cycles"] / results[1].totals["cycles"])
    images = assert_self_contained((tmp_path / "cmp" / "compare.html").read_text())
    assert len(images) == 2  # totals and per layer: the runs share their layer names


def test_compare_of_different_networks_has_no_per_layer_section(runs, tmp_path):
    dirs, _ = runs
    other = tmp_path / "tiny"
    hw_path = resolve_hw_path("matrix_engine")
    tiny = perfsim.simulate(perfsim.load_workload("lenet5"), perfsim.load_hw(hw_path))
    save_run(tiny, other, hw_path=hw_path, source="lenet5", command=["perfsim"])
    write_compare_report([load_run(dirs[1]), load_run(other)], tmp_path / "cmp")
    page = (tmp_path / "cmp" / "compare.html").read_text()
    assert "share no layer names" in page and len(assert_self_contained(page)) == 1


def test_roofline_ridge_is_peak_over_dram_bytes_per_cycle(runs):
    dirs, _ = runs
    run = load_run(dirs[1])
    hw = run.hw_summary
    ridges = roofs(hw).set_index("engine")["ridge_macs_per_dram_byte"]
    for engine in hw["engines"]:
        want = engine["peak_macs_per_cycle"] / hw["dram_bytes_per_cycle"]
        assert ridges[engine["name"]] == pytest.approx(want)
    assert ridges["mxu"] == pytest.approx(16384 / 30)  # matrix_engine: 546 MAC per DRAM byte
    ax = roofline_figure(run.layers, hw).axes[0]
    ridge_lines = [line for line in ax.get_lines()
                   if len(set(line.get_xdata())) == 1]  # the vertical ridge markers
    assert sorted(line.get_xdata()[0] for line in ridge_lines) == pytest.approx(
        sorted(ridges))
    roof = [line for line in ax.get_lines() if line.get_label().startswith("mxu roof")][0]
    assert max(roof.get_ydata()) == pytest.approx(16384)


def test_layers_without_dram_traffic_sit_at_the_right_edge(runs):
    dirs, _ = runs
    frame = load_run(dirs[1]).layers.copy()
    dw = frame["layer"] == "block1/dw"
    frame.loc[dw, ["dram_read_bytes", "dram_write_bytes"]] = 0
    points = roofline_points(frame).set_index("layer")
    assert points.at["block1/dw", "no_dram"] and np.isinf(points.at["block1/dw",
                                                                    "macs_per_dram_byte"])
    ax = roofline_figure(frame, load_run(dirs[1]).hw_summary).axes[0]
    xs = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections
                         if hasattr(c, "get_offsets") and len(c.get_offsets())])
    assert np.isfinite(xs).all()
    assert xs.max() > points["macs_per_dram_byte"].replace(np.inf, np.nan).max()
    assert any("no DRAM" in t.get_text() for t in ax.texts)


def test_layer_kinds_of_a_saved_frame_match_layer_kind(runs):
    dirs, results = runs
    saved = load_run(dirs[1]).layers
    assert layer_kinds(saved).tolist() == [layer_kind(r) for r in results[1].layers]


def test_an_event_run_report_embeds_its_gantt_timeline(tmp_path):
    hw_path = resolve_hw_path("hetero")
    result = perfsim.simulate("squeezenet1_0", hw_path, fidelity="event")
    save_run(result, tmp_path / "run", hw_path=hw_path, source="squeezenet1_0",
             command=["perfsim", "run"])
    run = load_run(tmp_path / "run")
    assert run.timeline is not None and run.timeline.equals(result.timeline)
    write_run_report(run, tmp_path / "out")
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<h2>Timeline</h2>" in page and len(assert_self_contained(page)) == 5
    assert (tmp_path / "out" / "report_timeline.png").is_file()
    for figure in (gantt_figure(run.timeline, run.layers, clock_ghz=1.0),
                   gantt_figure(run.timeline, window=(0, 1000))):
        assert figure.axes and all(ax.get_xlabel() and ax.get_ylabel() for ax in figure.axes)
    # The Gantt's rows are the DRAM channel and the engines that did work.
    labels = [t.get_text() for t in gantt_figure(run.timeline).axes[0].get_yticklabels()]
    assert set(labels) == {"DRAM channel"} | set(run.timeline["resource"]) - {"dram"}
