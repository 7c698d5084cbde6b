"""Sweeps on a real Dask cluster (two worker processes), including one whose worker is killed
mid-sweep: the result is complete and equal to a serial run."""

from __future__ import annotations

import os
import signal

import pandas as pd
import pytest

import perfsim
from perfsim import load_hw
from perfsim.sweeps.executors import Dask

distributed = pytest.importorskip("dask.distributed")

HW = load_hw("matrix_engine")
GRID = {"engines.mxu.rows": [16, 32, 64, 128], "memory.dram.bandwidth_gb_per_s": [10, 30, 100]}


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                                       dashboard_address=None)
    with distributed.Client(cluster) as c:
        yield c
    cluster.close()


@pytest.fixture(scope="module")
def reference():
    return perfsim.sweep(["alexnet", "mobilenet_v1"], HW, grid=GRID, executor="serial")


def test_sweep_on_a_dask_cluster_by_address_equals_serial(client, reference, tmp_path):
    frame = perfsim.sweep(["alexnet", "mobilenet_v1"], HW, grid=GRID,
                          executor=client.scheduler.address, chunk_tasks=2,
                          out=tmp_path / "out")
    pd.testing.assert_frame_equal(frame, reference)
    ran_on = client.run(lambda: "perfsim.sweeps.evaluate" in __import__("sys").modules)
    assert len(ran_on) == 2 and all(ran_on.values())  # both workers took part (warm-up)


def test_killed_worker_mid_sweep_still_gives_every_point_exactly(client, reference):
    """SIGKILL one worker as soon as the first chunk is back (while the others are in
    flight); the scheduler reruns its chunks on the survivor (and the restarted worker)."""
    pids = client.run(os.getpid)
    killed = []

    def progress(event):
        if event.done > 0 and not killed:
            busy = [w for w, keys in client.processing().items() if keys] or list(pids)
            killed.append(pids[busy[0]])
            os.kill(pids[busy[0]], signal.SIGKILL)

    frame = perfsim.sweep(["alexnet", "mobilenet_v1"], HW, grid=GRID,
                          executor=Dask(client), chunk_tasks=1, progress=progress)
    assert killed and killed[0] not in client.run(os.getpid).values()
    assert frame["point_id"].is_unique
    pd.testing.assert_frame_equal(frame, reference)
