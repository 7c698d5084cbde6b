"""The event schedule against the analytic one (DESIGN section 5), and its own invariants:
bytes and work conserved on every resource, one thing at a time per resource, coalescing
that changes nothing alone, contention that only ever adds cycles."""

from __future__ import annotations

import dataclasses
import json
import math
import subprocess
import sys
from types import SimpleNamespace

import pandas as pd
import pytest
import simpy
from matplotlib.image import imread

from perfsim import NetworkBuilder, load_hw, simulate
from perfsim.hardware.loading import resolve_hw_path
from perfsim.report.trace import chrome_trace
from perfsim.report.timeline import both_busy_cycles
from perfsim.hardware.model import VectorEngine
from perfsim.schedule.analytic import plan_layers
from perfsim.schedule.event import (OVERLAPS, TileWork, _Simulation, _steady_steps,
                                    physics_violations, simulate_events, tile_work)
from perfsim.io.load import load_workload
from perfsim.mapping.fusion import inference_graph
from perfsim.workload.recurrence import causal
from perfsim.workload.zoo import workload_names

CONFIGS = ("matrix_engine", "hetero", "vector_engine", "tpu_v1", "eyeriss", "edge_npu")
# Every zoo network on two configs with two engines each, and a branchy and a plain network
# on every shipped config.
CASES = ([(n, "matrix_engine") for n in workload_names()]
         + [(n, "hetero") for n in workload_names()]
         + [(n, hw) for n in ("googlenet", "mobilenet_v2", "resnext50_32x4d", "squeezenet1_0")
            for hw in CONFIGS if hw not in ("matrix_engine", "hetero")])


@pytest.mark.parametrize("network,hw", CASES)
def test_event_schedule_contract(network, hw):
    analytic = simulate(network, hw)
    alone = simulate(network, hw, fidelity="event", overlap="none")
    graph = simulate(network, hw, fidelity="event", overlap="graph", overlap_levels=True)
    # Layer after layer nothing contends: every layer takes exactly its analytic cycles,
    # back to back.
    assert [r.total_cycles for r in alone.layers] == [r.total_cycles for r in analytic.layers]
    assert alone.totals["cycles"] == analytic.totals["cycles"]
    assert [r.start_cycle for r in alone.layers[1:]] == [r.end_cycle for r in alone.layers[:-1]]
    assert all(r.queue_cycles == 0 and r.wait_cycles == 0 for r in alone.layers)
    # Every row of either run obeys physics (tests/test_event_physics.py).
    assert physics_violations(alone) == [] and physics_violations(graph) == []
    # Overlap never costs time, and never beats the whole network's roofline. (A graph run
    # also runs the layer level, for the speed-ups its summary reports.)
    levels = graph.overlap_cycles
    assert set(levels) == set(OVERLAPS) and levels["graph"] == graph.totals["cycles"]
    assert levels["none"] == alone.totals["cycles"]
    t = analytic.totals
    roofline = max(t["macs"] / alone.hw.peak_macs_per_cycle,
                   t["dram_bytes"] / alone.hw.dram_bytes_per_cycle)
    for level in ("layer", "graph"):
        assert levels[level] <= levels["none"], level
        assert levels[level] >= math.floor(roofline), level


def test_overlap_levels_are_runs_of_their_own():
    graph = simulate("resnext50_32x4d", "hetero", fidelity="event", overlap="graph",
                     overlap_levels=True)
    layer = simulate("resnext50_32x4d", "hetero", fidelity="event", overlap="layer")
    assert graph.overlap_cycles["layer"] == layer.totals["cycles"]
    assert layer.overlap_cycles == {k: graph.overlap_cycles[k] for k in ("none", "layer")}
    # unless asked for, a run simulates its own level only, to the same rows and timeline
    lean = simulate("resnext50_32x4d", "hetero", fidelity="event", overlap="graph")
    assert lean.overlap_cycles == {k: graph.overlap_cycles[k] for k in ("none", "graph")}
    assert lean.layers == graph.layers and lean.timeline.equals(graph.timeline)
    assert not any("parallel branches" in line for line in lean.summary())


@pytest.mark.parametrize("network,hw", [("googlenet", "hetero"), ("mobilenet_v1", "edge_npu"),
                                        ("alexnet", "tpu_v1"), ("resnet50", "matrix_engine")])
def test_coalescing_does_not_change_an_uncontended_layer(network, hw):
    net = load_workload(network)
    config = load_hw(hw)
    plans = plan_layers(net, config)
    rows = [p.row for p in plans]
    one = simulate_events(net, config, plans, "none", max_chunks=1)
    many = simulate_events(net, config, plans, "none", max_chunks=1000)
    assert [r.total_cycles for r in one.layers] == [r.total_cycles for r in many.layers]
    assert [r.total_cycles for r in one.layers] == [r.total_cycles for r in rows]
    # ... while the uncoalesced run really has more events.
    assert len(many.timeline) > len(one.timeline)


def test_the_steady_steps_alone_are_the_chunk_recurrence_worked_by_hand():
    # Tiles load 6 cycles, store 4 and compute 4; 5 steady tiles in chunks of 2, 2 and 1,
    # double buffered (slack 0), from cycle 100. Each chunk's transfers (load then store)
    # and compute begin together once the chunk before has done both: transfer-bound, so a
    # chunk takes m (L + S) = 20, 20 and 10 cycles and the compute ends first.
    work = TileWork("fc", "mxu", 6, 6.0, 4.0, 4.0, 0.0, 0, 1, 0)

    def steady(work=work, horizon=math.inf, needed=math.inf, gapless=False):
        return _steady_steps(work, [2, 2, 1], 0, 100.0, 1, horizon, needed, gapless=gapless)

    steps = steady()
    assert steps.sizes == [2, 2, 1] and steps.resume_tile == 6
    assert steps.delay_cycles == 50.0  # (n - 1) max(L + S, c): the pipeline formula's steps
    assert steps.records == [
        ("mxu", "compute", "fc", 0, 2, 100, 108), ("dram", "load", "fc", 1, 2, 100, 112),
        ("dram", "store", "fc", 1, 2, 112, 120), ("mxu", "compute", "fc", 2, 2, 120, 128),
        ("dram", "load", "fc", 3, 2, 120, 132), ("dram", "store", "fc", 3, 2, 132, 140),
        ("mxu", "compute", "fc", 4, 1, 140, 144), ("dram", "load", "fc", 5, 1, 140, 146),
        ("dram", "store", "fc", 5, 1, 146, 150)]
    assert sorted(steps.busy) == [(100, 108), (100, 112), (112, 120), (120, 128), (120, 132),
                                  (132, 140), (140, 144), (140, 146), (146, 150)]
    # Something else happens at cycle 130: only the first chunk is replayed, and the
    # simulation goes on at the second's start (cycle 120, tile 3).
    first = steady(horizon=130.0)
    assert (first.sizes, first.delay_cycles, first.resume_tile) == ([2], 20.0, 3)
    assert first.records == steps.records[:3]
    # At cycle 140 exactly: its order among the events there is simpy's, so not the second.
    assert steady(horizon=140.0).sizes == [2]
    # A consumer waits for 4 tiles: the second chunk's compute gets there and wakes it, so
    # only the first is replayed; waiting for 2, the first chunk wakes it.
    assert steady(needed=4).sizes == [2]
    assert steady(needed=2) is None
    # A prefetch queues for the channel: the transfers follow each other with no free
    # instant, so both chunks but the last are replayed; compute-bound, the channel is free
    # between chunks (the prefetch would take it), so none is.
    assert steady(gapless=True).sizes == [2, 2]
    compute_bound = dataclasses.replace(work, busy_cycles=12.0)
    assert steady(compute_bound, gapless=True) is None
    # Compute and transfers of a chunk that end at one instant: simpy's order, not replayed.
    balanced = dataclasses.replace(work, busy_cycles=10.0)
    assert steady(balanced) is None


def test_a_consumer_waiting_for_tiles_wakes_once_they_are_done(monkeypatch):
    # A producer computes a tile every 10 cycles; pipelined consumers wait for half of its
    # 8 tiles and for all of them. Each wakes once, when its tiles are done, and not at
    # each tile before: 8 timeouts, 3 process starts and ends, per consumer the event of
    # its tiles and the condition it waits on (theirs or the producer's end), and the step
    # that finds nothing left. (Woken at each tile they would take 16 more: an event per
    # tile, a condition per wake.)
    env = simpy.Environment()
    sim = SimpleNamespace(env=env)
    producer = SimpleNamespace(work=SimpleNamespace(tiles=8), tiles_done=0, done=env.event(),
                               waiters=[])
    woke = []

    def consumer(share):
        waits = SimpleNamespace(waits=[])
        yield from _Simulation._wait_for(sim, waits, [producer], share)
        woke.append((share, env.now, waits.waits))

    def produce():
        for tile in range(1, 9):
            yield env.timeout(10)
            _Simulation._progress(sim, producer, tile)

    steps = [0]
    step = simpy.Environment.step

    def counted(self):
        steps[0] += 1
        return step(self)

    monkeypatch.setattr(simpy.Environment, "step", counted)
    for process in (consumer(0.5), consumer(1.0), produce()):
        env.process(process)
    env.run()
    assert woke == [(0.5, 40, [(0, 40)]), (1.0, 80, [(0, 80)])]
    assert producer.waiters == [] and steps[0] == 8 + 3 + 3 + 2 * 2 + 1


REPLAY_CASES = [("alexnet_torchvision", "matrix_engine", "graph", 1),
                ("gpt2", "matrix_engine", "graph", 1), ("googlenet", "hetero", "graph", 1),
                ("squeezenet1_1", "hetero", "layer", 8), ("lenet5", "edge_npu", "graph", 8),
                ("resnet50", "tpu_v1", "layer", 1)]


@pytest.mark.parametrize("network,hw,overlap,batch", REPLAY_CASES)
@pytest.mark.parametrize("buffers", [2, 3])
def test_replaying_the_chunks_nothing_can_meet_changes_no_row_and_no_timeline_row(
        network, hw, overlap, batch, buffers, monkeypatch):
    config = load_hw(hw)
    config = dataclasses.replace(config, sram=dataclasses.replace(config.sram, buffers=buffers))
    net = inference_graph(causal(load_workload(network).with_batch(batch)), config, None)
    plans = plan_layers(net, config)
    steps = []
    step = simpy.Environment.step

    def counted(env):
        steps[-1] += 1
        return step(env)

    monkeypatch.setattr(simpy.Environment, "step", counted)
    runs = {}
    for replay in (False, True):
        steps.append(0)
        runs[replay] = simulate_events(net, config, plans, overlap, replay_alone=replay)
    assert runs[True].layers == runs[False].layers
    assert runs[True].timeline.equals(runs[False].timeline)
    assert runs[True].cycles == runs[False].cycles
    # ... with fewer events: some chunks were replayed.
    assert steps[1] < steps[0]


@pytest.mark.parametrize("level", OVERLAPS)
@pytest.mark.parametrize("network,hw", [("googlenet", "hetero"), ("resnet50", "matrix_engine"),
                                        ("mobilenet_v1", "vector_engine")])
def test_timeline_conserves_work_and_never_double_books(network, hw, level):
    result = simulate(network, hw, fidelity="event", overlap=level)
    timeline = result.timeline
    frame = result.to_frame()
    assert list(timeline.columns) == ["resource", "kind", "layer", "tile", "tiles",
                                      "start_cycle", "end_cycle"]
    for resource, rows in timeline.groupby("resource"):
        rows = rows.sort_values("start_cycle")
        # A resource does one thing at a time.
        assert (rows["start_cycle"].to_numpy()[1:] >= rows["end_cycle"].to_numpy()[:-1]).all()
        assert (rows["end_cycle"] >= rows["start_cycle"]).all()
    # Every DRAM byte crosses the channel once, for its layer's link time: its bytes at the
    # bandwidth in whole bursts, plus per-transfer setup (each event rounds to a whole cycle
    # at each end, hence the slack). With graph overlap a prefetched weight tile may serve an
    # engine that tiles differently, so only the other levels are exact.
    dram = timeline[timeline["resource"] == "dram"]
    moved = (dram["end_cycle"] - dram["start_cycle"]).sum()
    hw_config = result.hw
    plans = plan_layers(inference_graph(causal(load_workload(network)), hw_config, None),
                        hw_config)  # the layers simulate costs, at batch 1
    expected = sum(p.tiling.dram_link_cycles for p in plans if p.tiling is not None)
    assert expected >= (frame["dram_read_bytes"] + frame["dram_write_bytes"]).sum() \
        / hw_config.dram_bytes_per_cycle
    if level != "graph":
        assert moved == pytest.approx(expected, abs=len(dram) + 1)
    # Every layer's work is done on the engine its row names, all of it.
    compute = timeline[timeline["kind"] == "compute"]
    assert (compute["resource"] == compute["layer"].map(
        dict(zip(frame["layer"], frame["engine"])))).all()
    spans = compute["end_cycle"] - compute["start_cycle"]
    busy = spans.groupby(compute["layer"]).sum()
    pieces = compute.groupby("layer").size()
    costed = frame[frame["engine"] != "-"].set_index("layer")
    for name, row in costed.iterrows():
        if row["compute_cycles"]:  # at least its compute cycles, give or take the rounding
            assert busy[name] >= row["compute_cycles"] - pieces[name], name
    # Layers start after their inputs start, and end within the run.
    assert (frame["start_cycle"] <= frame["end_cycle"]).all()
    assert frame["end_cycle"].max() == result.totals["cycles"]


def _two_pool_branches():
    b = NetworkBuilder("two_pools", (64, 112, 112))
    x = b.add("input", name="data")
    left = b.add("max_pool", x, kernel=3, stride=1, padding=1, name="left")
    right = b.add("avg_pool", x, kernel=3, stride=1, padding=1, name="right")
    b.add("concat", left, right, name="joined")
    return b.build()


def _two_vector_engines():
    hw = load_hw("vector_engine")
    lanes = hw.engines[0].lanes
    return dataclasses.replace(hw, name="two_vpus", engines=(
        VectorEngine(name="vpu0", lanes=lanes, pipeline_latency_cycles=8),
        VectorEngine(name="vpu1", lanes=lanes, pipeline_latency_cycles=8)))


def test_branches_run_in_parallel_and_contend_for_dram():
    network, hw = _two_pool_branches(), _two_vector_engines()
    analytic = simulate(network, hw, residency="dram")
    graph = simulate(network, hw, residency="dram", fidelity="event", overlap="graph")
    a = analytic.to_frame().set_index("layer")
    g = graph.to_frame().set_index("layer")
    # The two pools run on the two engines at the same time ...
    assert {g.loc["left", "engine"], g.loc["right", "engine"]} == {"vpu0", "vpu1"}
    assert g.loc["left", "start_cycle"] < g.loc["right", "end_cycle"]
    assert g.loc["right", "start_cycle"] < g.loc["left", "end_cycle"]
    # ... and both are DRAM-bound, so sharing the channel makes each take longer than alone:
    # queued while the other moves its bytes, which is not its own busy time ...
    assert (a.loc[["left", "right"], "bound"] == "memory").all()
    for name in ("left", "right"):
        span = g.loc[name, "end_cycle"] - g.loc[name, "start_cycle"]
        assert span > a.loc[name, "total_cycles"]
        assert g.loc[name, "queue_cycles"] > 0 and g.loc[name, "wait_cycles"] == 0
    # ... and the whole is still held to the channel: no faster than its bytes allow.
    dram_cycles = analytic.totals["dram_bytes"] / hw.dram_bytes_per_cycle
    assert graph.totals["cycles"] >= dram_cycles
    assert graph.totals["cycles"] < analytic.totals["cycles"]


def test_googlenet_on_hetero_runs_branches_concurrently():
    result = simulate("googlenet", "hetero", fidelity="event", overlap="graph",
                      overlap_levels=True)
    compute = result.timeline[result.timeline["kind"] == "compute"]
    assert set(compute["resource"]) == {"mxu", "vpu"}
    both = both_busy_cycles(result.timeline, "mxu", "vpu")
    assert both > 0.1 * result.totals["cycles"]
    # Layers of one inception module overlap in time.
    frame = result.to_frame().set_index("layer")
    module = frame[frame.index.str.startswith("inception_3a/") & (frame["engine"] != "-")]
    spans = sorted(zip(module["start_cycle"], module["end_cycle"]))
    assert any(s2 < e1 for (s1, e1), (s2, e2) in zip(spans, spans[1:]))
    # A measurable speed-up from each level (README, "What the numbers say").
    levels = result.overlap_cycles
    assert levels["layer"] < levels["none"]
    assert levels["graph"] < 0.95 * levels["none"]
    lines = result.summary()
    assert lines[3].startswith("event schedule, overlap graph")
    assert "parallel branches" in lines[3]


def test_chrome_trace_is_well_formed():
    result = simulate("squeezenet1_0", "hetero", fidelity="event")
    trace = json.loads(json.dumps(chrome_trace(result)))
    events = trace["traceEvents"]
    names = {e["args"]["name"] for e in events if e.get("name") == "thread_name"}
    assert names == {"DRAM channel", "engine mxu", "engine vpu"}
    complete = [e for e in events if e["ph"] == "X"]
    assert len(complete) == len(result.timeline)
    for e in complete:
        assert {"name", "cat", "ts", "dur", "pid", "tid"} <= set(e)
        assert e["dur"] >= 0 and e["ts"] >= 0
    by_tid = pd.DataFrame(complete).sort_values(["tid", "ts"])
    for _, rows in by_tid.groupby("tid"):
        assert (rows["ts"].to_numpy()[1:] + 1e-9
                >= (rows["ts"] + rows["dur"]).to_numpy()[:-1]).all()
    begins = [e for e in events if e["ph"] == "b"]
    ends = {e["id"]: e for e in events if e["ph"] == "e"}
    assert begins and all(ends[b["id"]]["ts"] >= b["ts"] for b in begins)
    # Microseconds at the clock: the last event ends at the run's cycles (events round to the
    # nearest cycle, a layer's end up to the next whole one).
    per_us = result.hw.clock_ghz * 1e3
    last = max(e["ts"] + e["dur"] for e in complete)
    assert last == pytest.approx(result.totals["cycles"] / per_us, abs=1 / per_us)


def test_event_runs_are_deterministic():
    a = simulate("inception_v3", "hetero", fidelity="event")
    b = simulate("inception_v3", "hetero", fidelity="event")
    assert a.to_frame().equals(b.to_frame())
    assert a.timeline.equals(b.timeline)


def test_cli_event_run_writes_timeline_trace_and_gantt(tmp_path):
    out = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "perfsim", "run", "squeezenet1_0", "--hw",
                           "hetero.yaml", "--fidelity", "event", "--overlap", "layer",
                           "--out", str(out), "--format", "json"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert document["fidelity"] == "event" and document["options"]["overlap"] == "layer"
    assert set(document["overlap_cycles"]) == {"none", "layer"}
    assert document["totals"]["cycles"] == document["overlap_cycles"]["layer"]
    assert all({"start_cycle", "end_cycle", "queue_cycles", "wait_cycles"} <= set(row)
               for row in document["layers"])
    timeline = pd.read_csv(out / "timeline.csv")
    assert len(timeline)
    assert 0 <= document["totals"]["cycles"] - timeline["end_cycle"].max() <= 1  # rounding
    trace = json.loads((out / "trace.json").read_text())
    assert sum(e["ph"] == "X" for e in trace["traceEvents"]) == len(timeline)
    image = imread(out / "gantt.png")
    assert image.shape[0] > 200 and image.shape[1] > 600
    saved = json.loads((out / "run.json").read_text())
    assert saved["provenance"]["options"]["overlap"] == "layer"


def test_cli_overlap_needs_the_event_fidelity(tmp_path):
    done = subprocess.run([sys.executable, "-m", "perfsim", "run", "lenet5", "--hw",
                           "hetero", "--overlap", "graph"],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 2
    assert "--fidelity event" in done.stderr and "Traceback" not in done.stderr


def _with_buffers(hw_name: str, buffers: int):
    hw = load_hw(hw_name)
    return dataclasses.replace(hw, sram=dataclasses.replace(hw.sram, buffers=buffers))


@pytest.mark.parametrize("buffers", [3, 4])
@pytest.mark.parametrize("network,hw", [("googlenet", "hetero"), ("mobilenet_v1", "edge_npu"),
                                        ("resnet50", "matrix_engine")])
def test_deeper_buffering_keeps_the_contract(network, hw, buffers):
    config = _with_buffers(hw, buffers)
    analytic = simulate(network, config)
    alone = simulate(network, config, fidelity="event", overlap="none")
    assert [r.total_cycles for r in alone.layers] == [r.total_cycles for r in analytic.layers]
    graph = simulate(network, config, fidelity="event", overlap="graph", overlap_levels=True)
    assert graph.overlap_cycles["layer"] <= graph.overlap_cycles["none"]
    assert graph.overlap_cycles["graph"] <= graph.overlap_cycles["none"]


def test_deeper_buffering_fits_smaller_tiles_in_the_same_sram():
    net = load_workload("mobilenet_v1")
    for buffers in (2, 4):
        config = _with_buffers("eyeriss", buffers)
        plans = plan_layers(net, config)
        works = {p.row.layer: tile_work(config, p) for p in plans}
        free = {p.row.layer: config.sram.size_bytes - p.placement.resident_bytes
                for p in plans}
        # Every layer's working set, all its buffers counted, fits what is free.
        assert all(w.working_set_bytes <= free[name] for name, w in works.items())
        if buffers == 2:
            double = works
    # With four buffers some layer needs more, smaller tiles to fit.
    assert any(works[name].tiles > double[name].tiles for name in works)


def test_deeper_buffering_lets_loads_run_ahead_of_compute():
    b = NetworkBuilder("one_conv", (256, 28, 28))
    b.add("conv", "input", name="conv", out_channels=256, kernel=3, padding=1)
    network = b.build()

    def loads_ahead(buffers: int) -> int:
        """Chunk loads that start before the compute of the chunk before has ended."""
        result = simulate(network, _with_buffers("matrix_engine", buffers), residency="dram",
                          fidelity="event", overlap="none")
        t = result.timeline
        loads = t[(t["kind"] == "load") & (t["tile"] > 0)].sort_values("start_cycle")
        computes = t[t["kind"] == "compute"].sort_values("start_cycle")
        ahead = 0
        for (_, load), (_, before) in zip(loads.iloc[1:].iterrows(), computes.iterrows()):
            ahead += load["start_cycle"] < before["end_cycle"]
        assert result.totals["cycles"] == simulate(network, _with_buffers(
            "matrix_engine", buffers), residency="dram").totals["cycles"]
        return ahead

    assert loads_ahead(2) == 0  # double buffering: a chunk's loads wait for the compute
    assert loads_ahead(4) > 0   # two more buffers: they start while it finishes


def test_buffers_below_two_is_a_config_error(tmp_path):
    text = (resolve_hw_path("matrix_engine").read_text()
            .replace("sram: {size_kib: 8192,", "sram: {buffers: 1, size_kib: 8192,"))
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    done = subprocess.run([sys.executable, "-m", "perfsim", "validate", str(path)],
                          capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert done.returncode == 2
    assert "memory.sram.buffers" in done.stderr and ">= 2" in done.stderr


def test_both_busy_cycles_counts_cycle_by_cycle():
    rows = [("a", "compute", 0, 10), ("a", "compute", 12, 30), ("a", "load", 0, 40),
            ("b", "compute", 5, 14), ("b", "compute", 20, 21), ("b", "compute", 29, 45)]
    timeline = pd.DataFrame([(r, k, "x", 0, 1, s, e) for r, k, s, e in rows],
                            columns=["resource", "kind", "layer", "tile", "tiles",
                                     "start_cycle", "end_cycle"])
    busy = {name: set() for name in "ab"}
    for resource, kind, start, end in rows:
        if kind == "compute":
            busy[resource].update(range(start, end))
    assert both_busy_cycles(timeline, "a", "b") == len(busy["a"] & busy["b"]) == 9
