"""Event rows obey physics (issue 13): a row's utilisation never exceeds 1 and its cycles never
beat its roofline; time queued for a busy resource or waiting for a producer is its own
column, never a memory stall; summaries rank layers by their own busy time; and more DRAM
bandwidth never slows a run by more than the documented scheduling-anomaly tolerance.

``scripts/check_event_physics.py`` checks the whole zoo on every shipped config; these tests
hold the rules on a subset, and check the checker against rows broken on purpose."""

from __future__ import annotations

import dataclasses
import math

import pytest
from matplotlib.colors import to_hex

from perfsim import NetworkBuilder, load_hw, load_workload, simulate
from perfsim.report.plots import (BOUND_COLORS, QUEUE_COLOR, STALL_COLOR, WAIT_COLOR,
                                  cycles_figure)
from perfsim.report.tables import layer_table
from perfsim.results import EVENT_COLUMNS
from perfsim.schedule.analytic import plan_layers
from perfsim.schedule.event import (DRAM_ANOMALY_TOLERANCE, OVERLAPS, physics_violations,
                                    row_roofline_cycles, tile_work)
from test_local_levels import with_local_buffer

SHIPPED = ("edge_npu", "eyeriss", "hetero", "matrix_engine", "tpu_v1", "vector_engine")


def _row(result, name):
    return next(r for r in result.layers if r.layer == name)


def test_row_roofline_is_the_slowest_of_compute_and_each_level():
    hw = load_hw("hetero")  # 1 GHz, DRAM 51.2 GB/s = 51.2 B/cycle, SRAM 4096 B/cycle
    row = _row(simulate("lenet5", hw), "conv1")
    # 512,000 DRAM bytes / 51.2 = 10,000 cycles; 8,192,000 SRAM bytes / 4096 = 2,000 cycles
    memory = dataclasses.replace(row, compute_cycles=3_000, dram_read_bytes=500_000,
                                 dram_write_bytes=12_000, sram_read_bytes=8_000_000,
                                 sram_write_bytes=192_000)
    assert row_roofline_cycles(memory, hw) == pytest.approx(10_000)
    # 40,960,000 SRAM bytes / 4096 = 10,000 < compute 12,000
    compute = dataclasses.replace(memory, compute_cycles=12_000, sram_read_bytes=40_960_000,
                                  sram_write_bytes=0)
    assert row_roofline_cycles(compute, hw) == 12_000
    # a local level "lb" at 512 B/cycle: 10,240,000 bytes / 512 = 20,000 cycles
    local = dataclasses.replace(compute, local_bytes=(("lb", 10_000_000, 240_000),))
    assert row_roofline_cycles(local, with_local_buffer(hw)) == pytest.approx(20_000)


def test_the_checker_names_every_broken_rule():
    result = simulate("lenet5", "hetero", fidelity="event", overlap="graph")
    assert physics_violations(result) == []
    i, row = next((i, r) for i, r in enumerate(result.layers) if r.engine != "-" and r.macs)
    roof = math.ceil(row_roofline_cycles(row, result.hw))
    broken = {
        "utilization 1.5000 > 1": dataclasses.replace(row, utilization=1.5),
        "below its roofline": dataclasses.replace(
            row, total_cycles=roof - 1, stall_cycles=roof - 1 - row.compute_cycles,
            end_cycle=row.end_cycle - (row.total_cycles - roof + 1)),
        "stall": dataclasses.replace(row, stall_cycles=row.stall_cycles + 1),
        "span": dataclasses.replace(row, queue_cycles=row.queue_cycles + 1),
        "< 0": dataclasses.replace(row, wait_cycles=-1, queue_cycles=row.queue_cycles + 1),
    }
    for words, bad in broken.items():
        layers = result.layers[:i] + (bad,) + result.layers[i + 1:]
        found = physics_violations(dataclasses.replace(result, layers=layers))
        assert len(found) == 1 and words in found[0] and row.layer in found[0], (words, found)


@pytest.mark.parametrize("hw", SHIPPED)
def test_rows_obey_physics_at_every_overlap_level(hw):
    for network in ("googlenet", "mobilenet_v2", "resnext50_32x4d"):
        for level in OVERLAPS:
            result = simulate(network, hw, fidelity="event", overlap=level)
            assert physics_violations(result) == [], (network, level)


def test_rows_obey_physics_with_a_local_level_and_deeper_buffers():
    hw = with_local_buffer(load_hw("edge_npu"))
    three = dataclasses.replace(hw, sram=dataclasses.replace(hw.sram, buffers=3))
    for config in (hw, three):
        result = simulate("resnet18", config, fidelity="event", overlap="graph")
        assert "lb_read_bytes" in result.to_frame()
        assert physics_violations(result) == []


def test_issue_13_googlenet_rows():
    # On main, 46 rows of GoogLeNet on tpu_v1 had a utilisation above 1 (up to 12.25): ReLU
    # layers streaming behind their producer counted their waits twice.
    tpu = simulate("googlenet", "tpu_v1", fidelity="event")
    assert max(r.utilization for r in tpu.layers) <= 1.0
    assert physics_violations(tpu) == []
    # On hetero, inception_3b/pool (449 cycles of compute) spent most of its span queued
    # behind the other branches on the vector engine or waiting for its producer, and was
    # listed as the 2nd slowest layer with 66,454 stall cycles "waiting for memory".
    hw = load_hw("hetero")
    hetero = simulate("googlenet", hw, fidelity="event")
    pool = _row(hetero, "inception_3b/pool")
    assert pool.compute_cycles == 449
    # Its busy time is its own work: at most its engine time, its DRAM transfers and one
    # DRAM latency end to end (plus the two whole-cycle roundings of queue and wait).
    work = tile_work(hw, next(p for p in plan_layers(load_workload("googlenet"), hw)
                              if p.row.layer == "inception_3b/pool"))
    own = (work.tiles * work.busy_cycles + (pool.dram_read_bytes + pool.dram_write_bytes)
           / hw.dram_bytes_per_cycle + hw.dram_latency_cycles)
    assert row_roofline_cycles(pool, hw) <= pool.total_cycles <= math.ceil(own) + 2
    assert pool.stall_cycles == pool.total_cycles - 449
    # What held it up is in its own columns: most of its span.
    assert pool.queue_cycles > 0 and pool.wait_cycles > 0
    assert pool.queue_cycles + pool.wait_cycles > 10 * pool.total_cycles
    busiest = sorted(hetero.layers, key=lambda r: -r.total_cycles)
    assert pool not in busiest[:20]
    lines = hetero.summary()
    assert "inception_3b/pool" not in lines[2]
    assert lines[2].startswith(f"slowest: {busiest[0].layer} ")
    queued = max(hetero.layers, key=lambda r: r.queue_cycles)
    assert f"longest queue: {queued.layer}, ready but queued {queued.queue_cycles:,}" \
        in lines[3]


def _two_global_pools():
    b = NetworkBuilder("two_global_pools", (64, 56, 56))
    x = b.add("input", name="data")
    conv = b.add("conv", x, out_channels=64, kernel=3, padding=1, name="conv")
    avg = b.add("global_avg_pool", conv, name="avg")
    top = b.add("global_max_pool", conv, name="max")
    b.add("concat", avg, top, name="joined")  # an add would be fused into max's output path
    return b.build()


def test_two_branches_queue_for_one_engine_by_hand():
    """Two global pools read the conv's output from SRAM and write to SRAM (no DRAM bytes,
    so no channel), and only the vector engine of ``hetero`` runs them. Both are ready when
    the conv ends, at S, each with n equal tiles and busy time B. Their runs of tiles take
    turns on the engine, ``avg`` first (network order), and each ends with its last tile
    alone. So the engine computes without a gap from S to S + 2B, and ``max``, which ends
    last, was queued for exactly ``avg``'s busy time B. ``avg`` ends before ``max``'s last
    tile (B / n) but after all the rest: it was queued for B - B / n, rounded up to the whole
    cycle it ends on (0 when the tiler gives each pool one tile). Neither waits for a
    producer: the conv was done before they started."""
    network, hw = _two_global_pools(), load_hw("hetero")
    result = simulate(network, hw, fidelity="event", overlap="graph")
    conv, avg, top = (_row(result, name) for name in ("conv", "avg", "max"))
    analytic = {r.layer: r for r in simulate(network, hw).layers}
    plans = {p.row.layer: p for p in plan_layers(network, hw)}
    assert avg.engine == top.engine == "vpu" and avg.dram_read_bytes == avg.dram_write_bytes == 0
    busy = avg.total_cycles
    tiles = tile_work(hw, plans["avg"]).tiles
    assert tiles == tile_work(hw, plans["max"]).tiles
    assert busy == top.total_cycles == analytic["avg"].total_cycles == avg.compute_cycles
    assert avg.start_cycle == top.start_cycle == conv.end_cycle
    assert top.end_cycle - top.start_cycle == 2 * busy
    assert top.queue_cycles == busy and top.wait_cycles == 0
    assert avg.queue_cycles == math.ceil(busy - busy / tiles) and avg.wait_cycles == 0
    assert avg.utilization == pytest.approx(analytic["avg"].utilization)
    assert top.utilization == pytest.approx(analytic["max"].utilization)


def test_a_prefetched_layer_spans_its_prefetch():
    """A layer whose first weight tile is prefetched starts when that tile takes its SRAM,
    before its request's DRAM latency and transfer: its span holds all of its DRAM bytes."""
    result = simulate("resnet50", "matrix_engine", fidelity="event", overlap="layer")
    t = result.timeline
    prefetches = t[t["kind"] == "prefetch"]
    assert len(prefetches) > 10
    rows = {r.layer: r for r in result.layers}
    latency = result.hw.dram_latency_cycles
    for p in prefetches.itertuples():
        row = rows[p.layer]
        assert row.start_cycle <= p.start_cycle - latency, p.layer
        assert p.end_cycle <= row.end_cycle, p.layer
    assert any(rows[name].wait_cycles > 0 for name in prefetches["layer"])


def test_layer_by_layer_nothing_queues_or_waits():
    result = simulate("googlenet", "hetero", fidelity="event", overlap="none")
    assert all(r.queue_cycles == 0 and r.wait_cycles == 0 for r in result.layers)
    assert "longest queue" not in result.summary()[3]


def _dram_times(hw, factor: float):
    return dataclasses.replace(hw, dram=dataclasses.replace(
        hw.dram, bandwidth_gb_per_s=factor * hw.dram.bandwidth_gb_per_s))


@pytest.mark.parametrize("network,hw", [("googlenet", "hetero"), ("resnext50_32x4d", "hetero"),
                                        ("squeezenet1_0", "matrix_engine"),
                                        ("mobilenet_v2", "edge_npu"), ("inception_v3", "tpu_v1"),
                                        ("dpn92", "hetero")])
def test_twice_the_dram_bandwidth_is_never_slower_beyond_the_tolerance(network, hw):
    config = load_hw(hw)
    base = simulate(network, config, fidelity="event", overlap_levels=True).overlap_cycles
    doubled = simulate(network, _dram_times(config, 2), fidelity="event",
                       overlap_levels=True).overlap_cycles
    for level in OVERLAPS:
        assert doubled[level] <= base[level] * (1 + DRAM_ANOMALY_TOLERANCE[level]), level
    assert DRAM_ANOMALY_TOLERANCE["none"] == 0  # layer by layer: never slower at all


@pytest.mark.parametrize("network,hw,factor,level,measured", [
    ("dpn92", "hetero", 1, "graph", 0.0444),  # the worst from the shipped bandwidth
    ("googlenet_torchvision", "edge_npu", 1.6818, "graph", 0.0532),  # the worst of all
    ("densenet121", "edge_npu", 1.6818, "layer", 0.0031),  # the worst with layer overlap
])
def test_the_worst_measured_anomalies_are_within_the_tolerance(network, hw, factor, level,
                                                               measured):
    """The worst slow-downs ``scripts/check_event_physics.py`` measured (event.py, *More
    bandwidth*): real, and within the tolerance. Should a change remove or worsen one, this
    fails, and the docstring and README must say so."""
    config = load_hw(hw)
    slow = simulate(network, _dram_times(config, factor), fidelity="event",
                    overlap_levels=True)
    fast = simulate(network, _dram_times(config, 2 * factor), fidelity="event",
                    overlap_levels=True)
    change = fast.overlap_cycles[level] / slow.overlap_cycles[level] - 1
    assert change == pytest.approx(measured, abs=0.0001)
    assert change < DRAM_ANOMALY_TOLERANCE[level]
    # layer by layer the faster channel is faster: the anomaly is the schedule's order
    assert fast.overlap_cycles["none"] < slow.overlap_cycles["none"]
    if network == "dpn92":  # the same engine for every layer, each busy less: only the order
        assert [r.engine for r in fast.layers] == [r.engine for r in slow.layers]
        for engine in config.engines:
            assert sum(r.total_cycles for r in fast.layers if r.engine == engine.name) <= \
                sum(r.total_cycles for r in slow.layers if r.engine == engine.name)


def _legend(figure) -> dict[str, str]:
    """Legend label -> face colour (hex) of a figure's one legend."""
    (legend,) = figure.legends
    return {text.get_text(): to_hex(handle.get_facecolor())
            for text, handle in zip(legend.get_texts(), legend.legend_handles)}


def test_cycle_bars_show_queued_and_waiting_apart_from_memory_stall():
    frame = simulate("googlenet", "hetero", fidelity="event").to_frame()
    legend = _legend(cycles_figure(frame))
    stall = [label for label in legend if label.startswith("memory stall")]
    queued = [label for label in legend if label.startswith("queued")]
    waiting = [label for label in legend if label.startswith("waiting")]
    assert len(stall) == len(queued) == len(waiting) == 1
    assert [legend[stall[0]], legend[queued[0]], legend[waiting[0]]] == [
        STALL_COLOR, QUEUE_COLOR, WAIT_COLOR]
    assert len({STALL_COLOR, QUEUE_COLOR, WAIT_COLOR, *BOUND_COLORS.values()}) == 7
    # Each layer's bar, all its pieces, is its span (every layer drawn).
    axes = cycles_figure(frame, max_layers=len(frame)).axes[0]
    widths: dict[float, float] = {}
    for bar in axes.patches:
        if bar.get_height() > 0:  # not the empty bars behind the legend's entries
            widths[bar.get_y()] = widths.get(bar.get_y(), 0.0) + bar.get_width()
    rows = frame[frame["engine"] != "-"]
    assert [widths[y] for y in sorted(widths)] == pytest.approx(
        (rows["end_cycle"] - rows["start_cycle"]).tolist())
    table = layer_table(frame)
    assert {"queue_cycles", "wait_cycles"} <= set(table)
    # An analytic run, or an event run saved before these columns, has no such bars.
    for old in (simulate("googlenet", "hetero").to_frame(),
                frame.drop(columns=["queue_cycles", "wait_cycles"])):
        labels = _legend(cycles_figure(old))
        assert not any(label.startswith(("queued", "waiting")) for label in labels)
        assert "queue_cycles" not in layer_table(old)


def test_analytic_frames_do_not_carry_the_event_columns():
    analytic = simulate("lenet5", "hetero").to_frame()
    event = simulate("lenet5", "hetero", fidelity="event").to_frame()
    assert not set(EVENT_COLUMNS) & set(analytic)
    assert set(EVENT_COLUMNS) <= set(event)
