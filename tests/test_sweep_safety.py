"""Sweeps that never leak, mix or hang: local workers die with a SIGKILLed or interrupted
sweep, one sweep at a time holds a directory, damaged parts and stale temporary files are
dealt with on the next run, sizes are counted before anything is made, and a real Dask cluster
losing every worker or its scheduler ends in one clean line and a sweep that resumes."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pandas as pd
import psutil
import pytest

import perfsim
from perfsim import load_hw
from perfsim.cli import main
from perfsim.io.examples import example_networks
from perfsim.sweeps.executors import Dask, ExecutorError, Serial
from perfsim.sweeps.space import points_of
from perfsim.sweeps.spec import load_spec
from perfsim.sweeps.store import SweepError, SweepStore

HW = load_hw("matrix_engine")
GRID = {"engines.mxu.rows": [16, 32, 64, 128], "memory.sram.size_kib": [512, 2048, 8192],
        "memory.dram.bandwidth_gb_per_s": [10, 30, 100]}
SPEC = ("workloads: [mobilenet_v1]\nhw: matrix_engine\ngrid:\n"
        + "".join(f"  {k}: {v}\n" for k, v in GRID.items()))
DEADLINE_S = 30


@pytest.fixture(scope="module")
def reference():
    return perfsim.sweep("mobilenet_v1", HW, grid=GRID, executor="serial")


def _start(tmp_path, *args) -> subprocess.Popen:
    """``perfsim sweep`` in its own session (so a signal can go to its whole process group,
    as a terminal's Ctrl-C does), with a line on stderr per part written."""
    return subprocess.Popen([sys.executable, "-m", "perfsim", "sweep", *map(str, args),
                             "--verbose"], cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def _wait_for_part(process: subprocess.Popen) -> None:
    for line in process.stderr:  # type: ignore[union-attr]
        if "part 1 written" in line:
            return
    raise AssertionError(f"the sweep ended before its first part: {process.wait()}")


def _gone(processes: list[psutil.Process]) -> bool:
    """Poll (with a deadline) until every process has exited."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        alive = [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return True
        time.sleep(0.05)
    return False


def _cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def _resumes(out: Path, reference) -> None:
    """The same sweep (from Python, as the spec says it) completes what is in ``out``."""
    events = []
    perfsim.sweep("mobilenet_v1", HW, grid=GRID, executor=2, out=out, progress=events.append)
    assert events[0].skipped >= 1
    pd.testing.assert_frame_equal(pd.read_parquet(out / "sweep.parquet"), reference)


@pytest.mark.parametrize("how", ["sigkill", "ctrl-c"])
def test_a_killed_or_interrupted_sweep_takes_its_workers_with_it(tmp_path, reference, how):
    """SIGKILL the sweep's process alone (its workers are not told), or send SIGINT to its
    process group (Ctrl-C in a terminal): the workers are gone, the parts written stay, and
    the sweep resumes to every point exactly once."""
    (tmp_path / "spec.yaml").write_text(SPEC)
    process = _start(tmp_path, "spec.yaml", "--out", "out", "--workers", "2", "--part-rows", "1")
    _wait_for_part(process)
    workers = psutil.Process(process.pid).children(recursive=True)
    assert len(workers) == 2
    if how == "sigkill":
        process.kill()
    else:
        os.killpg(process.pid, signal.SIGINT)
    stderr = process.stderr.read()  # type: ignore[union-attr]
    code = process.wait(timeout=DEADLINE_S)
    assert _gone(workers), [w.pid for w in workers if w.is_running()]
    if how == "ctrl-c":
        assert code == 130 and stderr.splitlines()[-1] == "perfsim: interrupted", stderr
        assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    else:
        assert code == -signal.SIGKILL
    assert any((tmp_path / "out" / "parts").glob("totals-*.parquet"))
    _resumes(tmp_path / "out", reference)


def test_a_second_sweep_on_a_busy_directory_exits_2_and_the_first_completes(
        tmp_path, reference, capsys, monkeypatch):
    (tmp_path / "spec.yaml").write_text(SPEC)
    other = tmp_path / "other.yaml"
    other.write_text("workloads: [alexnet]\nhw: matrix_engine\n"
                     "grid: {engines.mxu.rows: [8, 16]}\n")
    first = _start(tmp_path, "spec.yaml", "--out", "out", "--workers", "1", "--part-rows", "1")
    _wait_for_part(first)
    monkeypatch.chdir(tmp_path)
    code, _, err = _cli(capsys, "sweep", other, "--out", "out", "--workers", "1")
    assert code == 2 and err == (f"perfsim: error: out is in use by another sweep (process "
                                 f"{first.pid}); wait for it to end, or give another output "
                                 f"directory\n")
    first.stderr.read()  # type: ignore[union-attr]
    assert first.wait(timeout=300) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["workloads"] == ["mobilenet_v1"]
    frame = pd.read_parquet(tmp_path / "out" / "sweep.parquet")
    pd.testing.assert_frame_equal(frame, reference)
    parts = pd.concat(pd.read_parquet(p) for p in (tmp_path / "out" / "parts").glob("*"))
    assert set(parts["workload"]) == {"mobilenet_v1"} and len(parts) == 36  # nothing mixed


def test_one_process_cannot_open_a_directory_twice(tmp_path):
    manifest = {"sweep": 1}
    with SweepStore(tmp_path / "out", manifest, [], ["alexnet"], [1]):
        with pytest.raises(SweepError, match="in use by another sweep in this process"):
            SweepStore(tmp_path / "out", manifest, [], ["alexnet"], [1])
    with SweepStore(tmp_path / "out", manifest, [], ["alexnet"], [1]):
        pass  # released on exit


def test_damaged_parts_are_computed_again_and_stale_temp_files_removed(tmp_path):
    grid = {"engines.mxu.rows": [32, 128], "memory.dram.bandwidth_gb_per_s": [10, 30]}
    out = tmp_path / "out"
    reference = perfsim.sweep("alexnet", HW, grid=grid, executor="serial", out=out,
                              part_rows=1)
    parts = sorted((out / "parts").glob("totals-*.parquet"))
    assert len(parts) == 4
    parts[0].write_bytes(b"")  # a power loss before the data reached the disk
    parts[1].write_bytes(parts[1].read_bytes()[:100])  # truncated
    temps = [out / "parts" / ".totals-x.parquet.999999.abc.tmp",
             out / ".sweep.parquet.999999.def.tmp", out / ".sweep.csv.x1y2z3"]
    for temp in temps:
        temp.write_bytes(b"\0" * 100_000)
    events = []
    again = perfsim.sweep("alexnet", HW, grid=grid, executor="serial", out=out,
                          progress=events.append)
    assert events[0].skipped == 2 and events[-1].done == 4 and events[-1].parts == 1
    pd.testing.assert_frame_equal(again, reference)
    assert not any(temp.exists() for temp in temps)
    assert not parts[0].exists() and not parts[1].exists()


def test_a_damaged_manifest_is_rewritten_when_alone_and_refused_beside_parts(tmp_path):
    grid = {"engines.mxu.rows": [32, 128]}
    out = tmp_path / "out"
    out.mkdir()
    (out / "manifest.json").write_bytes(b"")
    perfsim.sweep("alexnet", HW, grid=grid, executor="serial", out=out)
    assert json.loads((out / "manifest.json").read_text())["workloads"] == ["alexnet"]
    (out / "manifest.json").write_text('{"perfsim_version": "0.')
    with pytest.raises(SweepError, match=r"manifest.json: damaged \(.*\), so the parts beside "
                                         r"it cannot be matched to this sweep; delete"):
        perfsim.sweep("alexnet", HW, grid=grid, executor="serial", out=out)


def test_an_out_path_that_is_a_file_or_a_symlinked_output_is_refused(tmp_path, capsys,
                                                                        monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text("workloads: [alexnet]\nhw: matrix_engine\n")
    Path("file").write_text("mine")
    code, _, err = _cli(capsys, "sweep", "spec.yaml", "--out", "file", "--workers", "1")
    assert code == 2 and "file: exists and is not a directory" in err
    Path("out").mkdir()
    Path("out/sweep.csv").symlink_to("../file")
    code, _, err = _cli(capsys, "sweep", "spec.yaml", "--out", "out", "--workers", "1")
    assert code == 2 and err.startswith("perfsim: error: out/sweep.csv: is a symbolic link")
    assert Path("file").read_text() == "mine" and sorted(os.listdir("out")) == ["sweep.csv"]


def test_a_billion_points_are_counted_not_made_and_refused_without_yes(tmp_path, capsys,
                                                                        monkeypatch):
    values = list(range(1, 1001))
    grid = {"engines.mxu.rows": values, "engines.mxu.cols": values, "engines.vpu.lanes": values}
    space = points_of(grid)
    assert len(space) == 10**9
    assert space[10**9 - 1] == {"engines.mxu.rows": 1000, "engines.mxu.cols": 1000,
                                "engines.vpu.lanes": 1000}
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text(f"workloads: [alexnet]\nhw: matrix_engine\ngrid: {grid}\n")
    code, _, err = _cli(capsys, "sweep", "spec.yaml", "--out", "out")
    assert code == 2 and err == (
        "perfsim: error: this sweep makes 1,000,000,000 rows (1,000,000,000 point(s) x 1 "
        "workload(s) x 1 batch(es)), more than 1,000,000; confirm with --yes (max_rows=None "
        "from Python), or sweep fewer values\n")
    assert not Path("out").exists()


class _FirstRows(Exception):
    pass


def test_a_confirmed_huge_sweep_streams_its_points(tmp_path):
    """Ten million points with max_rows=None: the first rows arrive (and are flushed to a
    part) with a few MiB allocated, as points are made a chunk at a time."""
    values = list(range(1, 217))
    grid = {"engines.mxu.rows": values, "engines.mxu.cols": values, "engines.vpu.lanes": values}

    def stop(event):
        if event.done:
            raise _FirstRows

    tracemalloc.start()
    try:
        with pytest.raises(_FirstRows):
            perfsim.sweep("lenet5", HW, grid=grid, executor=Serial(), max_rows=None,
                          out=tmp_path / "out", progress=stop)
        peak_bytes = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(points_of(grid)) == 216**3 > 10**7
    assert peak_bytes < 64 * 2**20, peak_bytes  # listing the points alone takes GiBs
    assert len(list((tmp_path / "out" / "parts").glob("totals-*.parquet"))) == 1


def test_workers_above_the_cpu_count_are_capped_with_a_notice(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text("workloads: [lenet5]\nhw: matrix_engine\n")
    cores = len(os.sched_getaffinity(0))
    code, _, err = _cli(capsys, "sweep", "spec.yaml", "--out", "out", "--workers", "64")
    assert code == 0, err
    assert err == (f"perfsim: sweep: --workers 64 is more than the {cores} CPU(s) here; "
                   f"using {cores}\n")


@pytest.mark.parametrize("address", ["garbage://x", "http://localhost:8786", "inproc://x", "",
                                     "tcp://host", "localhost:8786"])
def test_a_bad_scheduler_address_is_one_clean_error_before_anything_runs(
        tmp_path, capsys, monkeypatch, address):
    monkeypatch.chdir(tmp_path)
    Path("spec.yaml").write_text("workloads: [lenet5]\nhw: matrix_engine\n")
    code, _, err = _cli(capsys, "sweep", "spec.yaml", "--out", "out", "--scheduler", address)
    assert code == 2 and err.startswith(f"perfsim: error: {address!r} is not a Dask scheduler "
                                        f"address: expected tcp://host:port"), err
    assert len(err.splitlines()) == 1 and not Path("out").exists()


def _dask(command: str, *args, cwd) -> subprocess.Popen:
    """``dask scheduler`` or ``dask worker`` run by this Python (with this perfsim)."""
    return subprocess.Popen([sys.executable, "-m", f"distributed.cli.dask_{command}",
                             *map(str, args)], cwd=cwd, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _scheduler(tmp_path) -> tuple[subprocess.Popen, str]:
    file = tmp_path / "scheduler.json"
    scheduler = _dask("scheduler", "--port", "0", "--no-dashboard", "--scheduler-file", file,
                      cwd=tmp_path)
    deadline = time.monotonic() + DEADLINE_S
    while not (file.exists() and file.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return scheduler, json.loads(file.read_text())["address"]


def _worker(address: str) -> subprocess.Popen:
    """A worker without a nanny (so nothing restarts it) running in ``/``: it sees no file
    the sweep's directory holds."""
    return _dask("worker", address, "--no-nanny", "--nthreads", "1", "--no-dashboard",
                 cwd="/")


def test_a_dask_cluster_losing_its_workers_then_its_scheduler(tmp_path, monkeypatch):
    """A real cluster (``dask scheduler`` and ``dask worker`` processes) runs a spec given by
    a relative path whose network file sits beside it (the workers, in ``/``, cannot see it).
    Every worker is SIGKILLed mid-sweep: the sweep stops once none is back for the timeout.
    Then the scheduler is SIGKILLed under ``perfsim sweep``: exit 2, one line. Run again
    on local processes, the sweep completes with every point once."""
    specs = tmp_path / "specs"
    specs.mkdir()
    shutil.copy(example_networks()["tiny_cnn"], specs / "net.yaml")  # as installed
    (specs / "spec.yaml").write_text(
        "workloads: [net.yaml]\nhw: matrix_engine\n"
        "grid:\n  engines.mxu.rows: [8, 16, 32, 64, 128]\n"
        "  memory.dram.bandwidth_gb_per_s: [1, 3, 10, 30, 100]\n")
    monkeypatch.chdir(tmp_path)
    spec = load_spec("specs/spec.yaml")
    reference = perfsim.sweep(list(spec.workloads), spec.hw, points=spec.points,
                              executor="serial")
    scheduler, address = _scheduler(tmp_path)
    workers = [_worker(address), _worker(address)]
    try:
        def kill_workers(event):
            if event.done >= 2 and workers[0].poll() is None:
                for worker in workers:
                    worker.kill()

        with pytest.raises(ExecutorError) as err:
            perfsim.sweep(list(spec.workloads), spec.hw, points=spec.points, out="out",
                          executor=Dask(address, no_worker_timeout_s=1.0), chunk_tasks=1,
                          part_rows=1, progress=kill_workers)
        assert str(err.value).startswith(f"the Dask cluster at {address} has had no worker "
                                         f"for 1 s; start workers, then run the sweep again; "
                                         f"the ")
        assert str(err.value).endswith(" rows finished are kept in out: run the sweep again "
                                       "to resume")
        kept = list(Path("out/parts").glob("totals-*.parquet"))
        assert len(kept) >= 2
        workers.append(_worker(address))
        process = _start(tmp_path, "specs/spec.yaml", "--out", "out", "--scheduler", address,
                         "--part-rows", "1")
        _wait_for_part(process)
        scheduler.kill()
        stderr = process.stderr.read()  # type: ignore[union-attr]
        assert process.wait(timeout=DEADLINE_S) == 2, stderr
        lines = stderr.splitlines()
        assert lines[-1].startswith(f"perfsim: error: lost the Dask scheduler at {address} ("), \
            stderr
        assert lines[-1].endswith("run the sweep again to resume"), stderr
        assert not [line for line in lines if "written" not in line][:-1], stderr
        assert len(list(Path("out/parts").glob("totals-*.parquet"))) > len(kept)
    finally:
        for process in (scheduler, *workers):
            process.kill()
            process.wait()
    kept = list(Path("out/parts").glob("totals-*.parquet"))  # one row each (--part-rows 1)
    events = []  # local worker processes this time: the loaded network is shipped to them
    resumed = perfsim.sweep(list(spec.workloads), spec.hw, points=spec.points, out="out",
                            executor=2, progress=events.append)
    assert events[0].skipped == len(kept) > 2
    pd.testing.assert_frame_equal(resumed, reference)
    pd.testing.assert_frame_equal(pd.read_parquet("out/sweep.parquet"), reference)


def test_chunks_cancelled_under_a_wait_are_a_lost_scheduler(monkeypatch):
    """Newer Dask raises ``FuturesCancelledError`` from ``wait`` when the client loses its
    scheduler while it waits (the race the test above can meet on a loaded machine): the
    sweep stops with the one-line error, not a traceback."""
    import dask.distributed
    from distributed.client import FuturesCancelledError

    from perfsim.sweeps.executors import _Cluster

    def cancelled(*args, **kwargs):
        raise FuturesCancelledError([])

    monkeypatch.setattr(dask.distributed, "wait", cancelled)
    cluster = _Cluster(client=None, where="tcp://127.0.0.1:8786", no_worker_timeout_s=1.0)
    with pytest.raises(ExecutorError, match=r"^lost the Dask scheduler at tcp://127\.0\.0\.1:"
                                            r"8786 \(its chunks were cancelled\)$"):
        cluster.wait_one(["a chunk"])
