"""Sweeps: key paths and variants, rows and statuses, executors against the serial reference,
the resumable directory (including a real SIGKILL of ``perfsim sweep``) and spec errors."""

from __future__ import annotations

import dataclasses
import gc
import os
import signal
import subprocess
import sys
import textwrap

import pandas as pd
import psutil
import pytest

import perfsim
from perfsim import ConfigError, load_hw, simulate
from perfsim.results import EVENT_COLUMNS
from perfsim.sweeps import run as sweep_run
from perfsim.sweeps.evaluate import Task, evaluate, evaluate_chunk
from perfsim.sweeps import executors, stop_workers
from perfsim.sweeps.executors import SERIAL_SECONDS, Processes, executor_for
from perfsim.sweeps.space import key_paths, points_of, variant
from perfsim.sweeps.store import SweepError

from machines import with_local_buffer

HW = load_hw("matrix_engine")
GRID = {"engines.mxu.rows": [32, 128], "memory.dram.bandwidth_gb_per_s": [10, 30]}


def test_key_paths_address_fields_as_in_yaml_with_engines_by_name():
    paths = key_paths(HW)
    for path in ("engines.mxu.rows", "engines.mxu.cols", "engines.vpu.lanes", "clock_ghz",
                 "memory.sram.size_kib", "memory.dram.bandwidth_gb_per_s",
                 "precision.weight_bytes", "energy_pj.dram_byte"):
        assert path in paths
    config = variant(HW, {"engines.mxu.rows": 64, "memory.sram.size_kib": 1024,
                          "clock_ghz": 0.5})
    assert config.engine("mxu").rows == 64 and config.engine("mxu").cols == 128
    assert config.sram.size_kib == 1024 and config.clock_ghz == 0.5
    assert config.engine("vpu") == HW.engine("vpu")


def test_a_variant_leaves_the_next_one_as_the_config_was():
    """Variants start from the config's document, made once per config: setting a value in
    one must not reach the next."""
    assert variant(HW, {"engines.mxu.rows": 8}).engine("mxu").rows == 8
    again = variant(HW, {"memory.sram.size_kib": 512})
    assert again.engine("mxu") == HW.engine("mxu") and again.sram.size_kib == 512


def test_a_variant_made_again_is_the_same_and_equal_values_of_other_types_are_not():
    """A variant is kept (a one-key sweep validates each value alone, then runs it as its
    point): made again, it is the same config; but a value's type is part of what is kept,
    so 64.0 and True are refused for an integer field after 64 was accepted, and a value
    that does not hash (a list) is still set."""
    first = variant(HW, {"engines.mxu.rows": 64})
    assert variant(HW, {"engines.mxu.rows": 64}) is first
    for wrong in (64.0, True):
        with pytest.raises(ConfigError, match="engines.mxu.rows: expected int"):
            variant(HW, {"engines.mxu.rows": wrong})
    assert variant(HW, {"memory.sram.holds": ["input", "output"]}).sram.holds == (
        "input", "output")


def test_a_sweep_point_leaves_no_cyclic_garbage():
    """Sweep chunks keep what they make out of the cyclic garbage collector's reach
    (:func:`gc.freeze`), and pause it while they run: that loses nothing only if a point
    makes no reference cycle (a nested recursive function did, five objects a point)."""
    tasks = [Task(i, str(i), {"engines.mxu.rows": rows}, "lenet5", 1)
             for i, rows in enumerate((8, 12, 16, 24))]
    for rows in (10, 14, 18, 20):  # loads the network and every kernel the points use (Numba
        # makes a class, a cycle, when it first loads a kernel from its cache)
        evaluate(HW, Task(0, "0", {"engines.mxu.rows": rows}, "lenet5", 1))
    gc.collect()
    gc.disable()
    try:
        for task in tasks:
            assert evaluate(HW, task)[0]["status"] == "ok"
        assert gc.collect() == 0
    finally:
        gc.enable()


@pytest.mark.parametrize("enabled", [True, False])
def test_a_chunk_runs_with_the_collector_paused_and_leaves_it_as_it_was(enabled):
    """A chunk makes no cycle (test above), so the collector is paused while it runs, and
    left as it was after, on an error's way out too."""
    seen = []

    def chunk(fail: bool):
        seen.append(gc.isenabled())
        if fail:
            raise ValueError("a chunk failed")
        return "done"

    (gc.enable if enabled else gc.disable)()
    try:
        assert executors._kept(chunk, False) == "done"
        assert gc.isenabled() == enabled
        with pytest.raises(ValueError):
            executors._kept(chunk, True)
        assert gc.isenabled() == enabled
    finally:
        gc.enable()
        gc.unfreeze()
    assert seen == [False, False]


def test_a_local_sweep_gives_the_collector_back_what_it_froze(monkeypatch):
    """Chunks run in this process are frozen after each, and the sweep unfreezes them on
    its way out, an error's too (the default executor's serial start, as in a new
    process)."""
    monkeypatch.setattr(executors, "_cpu_seconds_here", 0.0)
    frozen = []
    perfsim.sweep("lenet5", HW, grid={"engines.mxu.rows": [16, 32]}, executor="serial",
                  chunk_tasks=1, progress=lambda _: frozen.append(gc.get_freeze_count()))
    assert max(frozen) > 0 and gc.get_freeze_count() == 0

    def stop(progress):
        if progress.done:
            raise KeyboardInterrupt

    frozen.clear()
    with pytest.raises(KeyboardInterrupt):
        perfsim.sweep("lenet5", HW, grid={"engines.mxu.rows": [16, 32]},
                      executor=executor_for(None), chunk_tasks=1,
                      progress=lambda p: (frozen.append(gc.get_freeze_count()), stop(p)))
    assert max(frozen) > 0 and gc.get_freeze_count() == 0


def test_unknown_key_path_names_the_valid_ones_and_the_closest():
    with pytest.raises(ConfigError) as err:
        perfsim.sweep("alexnet", HW, grid={"engines.mxu.rowz": [8]}, executor="serial")
    text = str(err.value)
    assert "engines.mxu.rowz" in text and "did you mean: engines.mxu.rows" in text
    assert "valid: " in text and "memory.dram.bandwidth_gb_per_s" in text


def test_invalid_value_names_key_path_and_point():
    with pytest.raises(ConfigError) as err:
        perfsim.sweep("alexnet", HW, grid={"engines.mxu.rows": [32, -4]}, executor="serial")
    assert "point 1" in str(err.value) and "engines.mxu.rows" in str(err.value)
    assert "must be > 0" in str(err.value)
    with pytest.raises(ConfigError, match="engines.mxu.rows: expected int"):
        variant(HW, {"engines.mxu.rows": 2.5})


def test_product_and_zip_modes():
    assert len(points_of(GRID)) == 4
    assert list(points_of(GRID, mode="zip")) == [
        {"engines.mxu.rows": 32, "memory.dram.bandwidth_gb_per_s": 10},
        {"engines.mxu.rows": 128, "memory.dram.bandwidth_gb_per_s": 30}]
    with pytest.raises(ConfigError, match="one length"):
        points_of({"clock_ghz": [1.0], "engines.mxu.rows": [8, 16]}, mode="zip")


def test_a_grid_in_order_varies_the_paths_given_fastest_and_keeps_each_points_index():
    """Worked by hand: a 2 x 3 x 2 grid (the last path fastest, so point i has a = i // 6,
    b = i // 2 % 3, c = i % 2) with ``b`` run fastest visits, for each (a, c), the three
    values of b: points 0, 2, 4, then 1, 3, 5, then 6, 8, 10, then 7, 9, 11."""
    space = points_of({"a": [1, 2], "b": [10, 20, 30], "c": ["x", "y"]})
    visited = list(space.in_order(["b"]))
    assert [index for index, _ in visited] == [0, 2, 4, 1, 3, 5, 6, 8, 10, 7, 9, 11]
    assert all(point == space[index] and list(point) == ["a", "b", "c"]
               for index, point in visited)
    assert list(space.in_order(["d"])) == list(enumerate(space))  # not a path of the grid
    zipped = points_of({"a": [1, 2], "b": [10, 20]}, mode="zip")
    assert list(zipped.in_order(["b"])) == list(enumerate(zipped))


def test_a_sweep_runs_sram_sizes_fastest_and_returns_its_rows_in_the_grids_order(
        monkeypatch):
    """The sweep runs the SRAM's sizes fastest (the points a layer's cost is reused across:
    here the chunks it runs are recorded), and its rows, on workers too, are the grid's
    points in the grid's order, as the same points listed one by one (never reordered)
    give them."""
    grid = {"memory.sram.size_kib": [256, 1024, 4096], "engines.mxu.rows": [16, 64],
            "memory.dram.bandwidth_gb_per_s": [10, 40]}
    listed = list(points_of(grid))
    reference = perfsim.sweep("mobilenet_v1", HW, points=listed, executor="serial")
    ran = []

    def recorded(hw, tasks, *args):
        ran.extend(task.point["memory.sram.size_kib"] for task in tasks)
        return evaluate_chunk(hw, tasks, *args)

    with monkeypatch.context() as patch:
        patch.setattr(sweep_run, "evaluate_chunk", recorded)
        frame = perfsim.sweep("mobilenet_v1", HW, grid=grid, executor="serial", chunk_tasks=2)
    assert ran == [256, 1024, 4096] * 4
    pd.testing.assert_frame_equal(frame, reference)
    frame = perfsim.sweep("mobilenet_v1", HW, grid=grid, executor=2, chunk_tasks=2)
    assert list(frame["point"]) == list(range(12))
    pd.testing.assert_frame_equal(frame, reference)


def test_rows_are_tidy_and_equal_simulate_on_the_variant():
    frame = perfsim.sweep(["alexnet", "mobilenet_v1"], HW, grid=GRID, executor="serial")
    assert len(frame) == 8 and (frame["status"] == "ok").all()
    assert list(frame["workload"][:2]) == ["alexnet", "mobilenet_v1"]
    assert frame["point_id"].is_unique
    row = frame[(frame["workload"] == "mobilenet_v1") & (frame["engines.mxu.rows"] == 32)
                & (frame["memory.dram.bandwidth_gb_per_s"] == 10)].iloc[0]
    config = variant(HW, {"engines.mxu.rows": 32, "memory.dram.bandwidth_gb_per_s": 10})
    totals = simulate("mobilenet_v1", config).totals
    for column in ("cycles", "macs", "dram_bytes", "sram_bytes"):
        assert row[column] == totals[column]
    assert row["energy_pj"] == pytest.approx(totals["energy_pj"])
    assert row["peak_macs_per_cycle"] == 32 * 128 + 128
    assert row["sram_size_bytes"] == 8192 * 1024
    bound = row[["compute_bound_cycles", "utilization_bound_cycles", "memory_bound_cycles"]]
    assert bound.sum() == row["cycles"]


def test_infeasible_points_are_rows_with_a_reason():
    frame = perfsim.sweep("alexnet", HW, points=[
        {"memory.sram.size_kib": 0.1}, {"memory.sram.ifmap_kib": 64},
        {"memory.sram.size_kib": 8192}], executor="serial")
    assert list(frame["status"]) == ["infeasible", "infeasible", "ok"]
    assert "does not fit in SRAM" in frame["reason"][0]
    assert "give all of ifmap_kib, filter_kib, ofmap_kib" in frame["reason"][1]
    assert pd.isna(frame["cycles"][0]) and frame["cycles"][2] > 0


def test_batch_list_gives_a_row_per_batch():
    frame = perfsim.sweep("alexnet", HW, points=[{"clock_ghz": 1.0}], batch=[1, 4],
                          executor="serial")
    assert list(frame["batch"]) == [1, 4]
    assert frame["macs"][1] == 4 * frame["macs"][0]


def test_per_layer_rows_add_up_to_the_totals():
    totals = perfsim.sweep("alexnet", HW, grid={"engines.mxu.rows": [32, 64]},
                           executor="serial")
    layers = perfsim.sweep("alexnet", HW, grid={"engines.mxu.rows": [32, 64]},
                           executor="serial", per_layer=True)
    assert {"layer", "bound", "engines.mxu.rows", "point_id"} <= set(layers.columns)
    sums = layers.groupby("point_id", sort=False)["total_cycles"].sum()
    assert list(sums.index) == list(totals["point_id"])
    assert list(sums) == list(totals["cycles"])


@pytest.mark.parametrize("workload,hw,batch", [
    ("mobilenet_v1", load_hw("hetero"), 1),  # two engines: notes on the unused one
    ("resnet50", load_hw("matrix_engine"), 4),  # sub-batches tried
    ("googlenet", with_local_buffer(load_hw("edge_npu")), 1),  # a local level
])
def test_rows_without_reasons_have_the_same_numbers(workload, hw, batch):
    """A sweep of totals costs its points without the rows' reasons and tilings in words
    (``simulate(..., reasons=False)``): every other field of every row is the run's own."""
    run = simulate(workload, hw, batch)
    bare = simulate(workload, hw, batch, reasons=False)
    assert run.options == bare.options and run.totals == bare.totals
    assert all(row.reason for row in run.layers)
    for row, without in zip(run.layers, bare.layers, strict=True):
        assert (without.reason, without.tiling) == ("", "") or without.engine == "-"
        assert dataclasses.replace(without, reason=row.reason, tiling=row.tiling) == row


def test_a_point_beyond_perfsims_counts_names_the_layers_reason(tmp_path):
    """A count beyond what perfsim can count is refused with the layer's reason in words,
    though a sweep of totals writes none (the point is costed again for the message). One
    ReLU over [1024, 1024, 1024] at batch 8,192 through 0.001 GB/s at 100 GHz: 2.8e19
    cycles, beyond 2^63 - 1."""
    net = tmp_path / "big.yaml"
    net.write_text("name: big\ninput_shape: [1024, 1024, 1024]\nlayers:\n"
                   "  - {name: r, op: relu}\n")
    point = {"clock_ghz": 100, "memory.dram.bandwidth_gb_per_s": 0.001,
             "precision.activation_bytes": 16}
    frame = perfsim.sweep(net, HW, points=[point], batch=8192, executor="serial")
    assert list(frame["status"]) == ["infeasible"]
    assert "layer 'r': memory_cycles = 2.81e+19 is beyond what perfsim can count" in \
        frame["reason"][0]
    assert "(the layer is memory-bound: memory: DRAM " in frame["reason"][0]


@pytest.mark.parametrize("workload,hw,grid", [
    ("mobilenet_v1", with_local_buffer(load_hw("edge_npu")),  # a local level
     {"memory.sram.size_kib": [256, 1024]}),
    ("squeezenet1_0", dataclasses.replace(load_hw("vector_engine"), energy_pj=None),
     {"engines.vdsp.lanes": [64, 256]}),  # no energies: a column of None
])
def test_per_layer_rows_are_each_points_run_as_a_frame(workload, hw, grid):
    """A per-layer sweep collects each point's rows as dicts (``RunResult.records``), never
    making a frame per point: its table must be each point's ``to_frame()`` (the point's
    identity and parameters first), the dtypes of the columns included."""
    layers = perfsim.sweep(workload, hw, grid=grid, executor="serial", per_layer=True)
    (path, values), = grid.items()
    frames = []
    for point, value in enumerate(values):
        run = simulate(workload, variant(hw, {path: value}), compare_raw=False)
        frame = run.to_frame()
        frame.insert(0, path, value)
        frame.insert(0, "point", point)
        frames.append(frame)
    want = pd.concat(frames, ignore_index=True)
    assert layers["point_id"].nunique() == len(values)
    pd.testing.assert_frame_equal(layers.drop(columns="point_id"), want)


@pytest.mark.parametrize("fidelity", ["analytic", "event"])
def test_a_runs_records_are_its_frames_rows(fidelity):
    run = simulate("googlenet", with_local_buffer(load_hw("edge_npu")), fidelity=fidelity)
    assert run.local_levels == ["lb"]
    records = run.records()
    frame = run.to_frame()
    assert [list(r) for r in records] == [list(frame.columns)] * len(frame)
    pd.testing.assert_frame_equal(pd.DataFrame(records), frame)
    for record, layer in zip(records, run.layers):  # each field as dataclasses.asdict has it
        fields = dataclasses.asdict(layer)
        (_, read, written), = fields.pop("local_bytes") or (("lb", 0, 0),)
        assert (record.pop("lb_read_bytes"), record.pop("lb_write_bytes")) == (read, written)
        fields["fused"] = list(fields["fused"])
        if fidelity == "analytic":
            fields = {k: v for k, v in fields.items() if k not in EVENT_COLUMNS}
        head = {"workload": "googlenet", "hw": "edge_npu+lb", "batch": 1, "fidelity": fidelity}
        assert record == {**head, **fields}
        assert [type(record[k]) for k in ("out_shape", "kernel", "fused")] == [list] * 3
        assert record["out_shape"] is not layer.out_shape  # a list of its own


def test_processes_equal_serial():
    serial = perfsim.sweep(["alexnet", "mobilenet_v1"], HW, grid=GRID, executor="serial")
    parallel = perfsim.sweep(["alexnet", "mobilenet_v1"], HW, grid=GRID, executor=2,
                             chunk_tasks=1)
    pd.testing.assert_frame_equal(serial, parallel)


def test_the_default_executor_starts_workers_only_for_a_sweep_that_pays_for_them(monkeypatch):
    """In a new process a small sweep runs in this process (no worker started); with a serial
    start of no time at all the same executor forks its workers at once, and so does the
    default one once this process has run its serial start (in earlier sweeps). All equal a
    serial sweep."""
    executors.stop_workers()  # those an earlier test's sweep left
    serial = perfsim.sweep("lenet5", HW, grid={"engines.mxu.rows": [16, 32]},
                           executor="serial")
    for executor, ran_here, workers in ((executor_for(None), 0.0, 0),
                                        (Processes(2, serial_seconds=0.0), 0.0, 2),
                                        (Processes(2, SERIAL_SECONDS), SERIAL_SECONDS, 2)):
        monkeypatch.setattr(executors, "_cpu_seconds_here", ran_here)
        seen = []
        frame = perfsim.sweep("lenet5", HW, grid={"engines.mxu.rows": [16, 32]},
                              executor=executor, chunk_tasks=1, progress=lambda _: seen.append(
                                  len(psutil.Process().children(recursive=True))))
        pd.testing.assert_frame_equal(frame, serial)
        assert max(seen) == workers
        # the chunks run in this process count towards its serial start, the workers' do not
        assert (executors._cpu_seconds_here > ran_here) == (workers == 0)


def _workers_during(executor, grid=None) -> set[int]:
    """The pids of this process's children while a small sweep on ``executor`` runs its
    chunks (it equals the serial sweep)."""
    grid = grid or {"engines.mxu.rows": [16, 32, 64]}
    seen: set[int] = set()
    frame = perfsim.sweep("lenet5", HW, grid=grid, executor=executor, chunk_tasks=1,
                          progress=lambda p: p.done and seen.update(
                              child.pid for child in psutil.Process().children()))
    pd.testing.assert_frame_equal(frame, perfsim.sweep("lenet5", HW, grid=grid,
                                                       executor="serial"))
    return seen


def _ended(pids: set[int]) -> bool:
    """Whether every process of ``pids`` has ended (waited for, with a deadline)."""
    processes = [p for p in psutil.Process().children() if p.pid in pids]
    _, alive = psutil.wait_procs(processes, timeout=30)
    return not alive


def test_a_sweep_leaves_its_workers_to_the_next_which_asks_for_as_many():
    """The second sweep on two workers runs on the first's; one asking for another number
    starts its own (the kept ones shut down); :func:`stop_workers` ends those kept."""
    executors.stop_workers()
    first = _workers_during(2)
    assert len(first) == 2
    assert _workers_during(2) == first
    assert set(p.pid for p in psutil.Process().children()) == first  # kept, idle
    third = _workers_during(Processes(3))
    assert len(third) == 3 and not third & first and _ended(first)
    stop_workers()  # as the package names it
    assert _ended(third) and not psutil.Process().children()


def test_kept_workers_that_died_idle_are_replaced():
    """A kept worker killed while idle (the out-of-memory killer, a user): the next sweep
    starts new workers rather than failing."""
    executors.stop_workers()
    first = _workers_during(2)
    victim = psutil.Process(min(first))
    victim.kill()
    victim.wait(timeout=30)
    again = _workers_during(2)
    assert len(again) == 2 and not again & first and _ended(first)
    executors.stop_workers()


def test_idle_workers_are_shut_down_and_a_failed_sweep_keeps_none(monkeypatch):
    """Workers idle for :data:`IDLE_WORKERS_S` are shut down; a sweep that stops on an error
    (here its progress callback's) shuts its workers down rather than keeping them."""
    executors.stop_workers()
    monkeypatch.setattr(executors, "IDLE_WORKERS_S", 0.0)
    assert _ended(_workers_during(2))
    monkeypatch.undo()

    seen: set[int] = set()

    def fail(progress):
        seen.update(p.pid for p in psutil.Process().children())
        if progress.done:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        perfsim.sweep("lenet5", HW, grid={"engines.mxu.rows": [16, 32, 64]}, executor=2,
                      chunk_tasks=1, progress=fail)
    assert len(seen) == 2 and _ended(seen) and executors._kept_workers is None


def test_a_forked_child_has_no_kept_workers():
    """The kept pool is its process's: a process forked from it starts with none."""
    _workers_during(2)
    assert executors._kept_workers is not None
    pid = os.fork()
    if pid == 0:  # the child: report and leave at once, running nothing of pytest's
        os._exit(0 if executors._kept_workers is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    executors.stop_workers()


def test_out_dir_resumes_and_refuses_another_sweep(tmp_path):
    out = tmp_path / "sweep"
    reference = perfsim.sweep("alexnet", HW, grid=GRID, executor="serial")
    first = perfsim.sweep("alexnet", HW, grid=GRID, executor="serial", out=out, part_rows=1)
    pd.testing.assert_frame_equal(first, reference)
    parts = sorted((out / "parts").glob("totals-*.parquet"))
    assert len(parts) == 4
    parts[0].unlink()  # as if the run had been killed before this part
    events = []
    again = perfsim.sweep("alexnet", HW, grid=GRID, executor="serial", out=out,
                          progress=events.append)
    assert events[0].skipped == 3 and events[-1].done == 4
    pd.testing.assert_frame_equal(again, reference)
    on_disk = pd.read_parquet(out / "sweep.parquet")
    pd.testing.assert_frame_equal(on_disk, reference)
    assert len(pd.read_csv(out / "sweep.csv")) == 4
    with pytest.raises(SweepError, match="holds a different sweep .*points"):
        perfsim.sweep("alexnet", HW, grid={"engines.mxu.rows": [16]}, executor="serial",
                      out=out)


def _perfsim(*args, cwd, **kwargs):
    return subprocess.run([sys.executable, "-m", "perfsim", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, **kwargs)


def _spec(tmp_path, text: str):
    path = tmp_path / "spec.yaml"
    path.write_text(textwrap.dedent(text))
    return path


@pytest.mark.parametrize("body, where", [
    ("workloads: [alexnet]\nhw: matrix_engine\ngrid: {engines.mxu.rows: [8]}\nmdoe: zip\n",
     "spec.yaml:4: mdoe: unknown key; did you mean: mode?"),
    ("workloads: [alexnet]\nhw: matrix_engine\ngrid:\n  engines.mxu.rows: [8]\n"
     "  memory.sram.sise_kib: [64]\n",
     "spec.yaml:5: grid.memory.sram.sise_kib: unknown key path 'memory.sram.sise_kib' for "
     "matrix_engine; did you mean: memory.sram.size_kib"),
    ("workloads: [alexnet]\nhw: matrix_engine\ngrid:\n  engines.mxu.rows:\n    - 8\n"
     "    - -1\n", "spec.yaml:6: grid.engines.mxu.rows[1]: engines.mxu.rows: must be > 0"),
    ("workloads: [alexnett]\nhw: matrix_engine\ngrid: {clock_ghz: [1.0]}\n",
     "spec.yaml:1: workloads[0]: unknown workload 'alexnett'; did you mean: alexnet"),
    ("workloads: [alexnet]\nhw: matrix_engine\npoints:\n  - {clock_ghz: 1.0}\n"
     "  - {clock_ghz: fast}\n", "spec.yaml:5: points[1].clock_ghz: clock_ghz: expected a "
                                "number, got 'fast'"),
    ("workloads: [alexnet]\nhw: matrix_engine\ngrid: {clock_ghz: [1.0]}\nbatch: [1, 0]\n",
     "spec.yaml:4: batch[1]: expected a positive integer, got 0"),
])
def test_bad_spec_is_one_clean_message_and_exit_2(tmp_path, body, where):
    spec = _spec(tmp_path, body)
    result = _perfsim("sweep", "spec.yaml", "--out", "out", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith(f"perfsim: error: {where}"), result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.splitlines()) == 1
    assert spec.exists() and not (tmp_path / "out").exists()


def test_cli_sweep_killed_by_sigkill_resumes_with_every_point_once(tmp_path):
    """Start ``perfsim sweep``, SIGKILL it once two parts are on disk (it says so on stderr
    with --verbose), run it again: every point exactly once, equal to a serial run."""
    grid = {"engines.mxu.rows": [16, 32, 64, 128], "memory.sram.size_kib": [512, 2048, 8192],
            "memory.dram.bandwidth_gb_per_s": [10, 30, 100]}
    _spec(tmp_path, f"""\
        workloads: [mobilenet_v1]
        hw: matrix_engine
        grid: {grid}
        """)
    command = [sys.executable, "-m", "perfsim", "sweep", "spec.yaml", "--out", "out",
               "--workers", "1", "--part-rows", "2", "--verbose"]
    process = subprocess.Popen(command, cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    for line in process.stderr:  # type: ignore[union-attr]
        if "part 2 written" in line:
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    parts = list((tmp_path / "out" / "parts").glob("totals-*.parquet"))
    assert 2 <= len(parts) < 18 and not (tmp_path / "out" / "sweep.parquet").exists()
    result = _perfsim("sweep", "spec.yaml", "--out", "out", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "36 rows (36 ok, 0 infeasible)" in result.stdout
    resumed = pd.read_parquet(tmp_path / "out" / "sweep.parquet")
    reference = perfsim.sweep("mobilenet_v1", HW, grid=grid, executor="serial")
    assert resumed["point_id"].is_unique and len(resumed) == 36
    pd.testing.assert_frame_equal(resumed, reference)
    csv = pd.read_csv(tmp_path / "out" / "sweep.csv")
    assert list(csv["cycles"]) == list(reference["cycles"])


def test_readme_example_spec_runs(tmp_path):
    result = _perfsim("sweep", "sweep_small", "--out", "small", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    frame = pd.read_csv(tmp_path / "small" / "sweep.csv")
    assert len(frame) == 12 and set(frame["status"]) == {"ok"}
