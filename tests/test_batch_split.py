"""A batch runs as the fastest sub-batches: never slower per image than batch 1 repeated, and
a split run is its sub-batch's run repeated, row by row and (event) on the timeline."""

from __future__ import annotations

import pytest

from perfsim.results import PER_RUN_FIELDS
from perfsim.simulate import simulate

CONFIGS = ("matrix_engine", "vector_engine", "tpu_v1", "eyeriss", "edge_npu", "hetero")


@pytest.mark.parametrize("hw", CONFIGS)
@pytest.mark.parametrize("network", ["resnet50", "mobilenet_v1"])
def test_a_batch_is_never_slower_per_image_than_batch_1(network, hw):
    one = simulate(network, hw, batch=1).totals["cycles"]
    for batch in (8, 64):
        result = simulate(network, hw, batch=batch)
        assert result.totals["cycles"] <= batch * one
        sub = result.options["sub_batch"]
        assert batch % sub == 0
        # the split is the fastest: the whole batch at once is no faster
        whole = simulate(network, hw, batch=batch, split_batch=False).totals["cycles"]
        assert result.totals["cycles"] <= whole


def test_a_split_run_is_its_sub_batch_repeated():
    split = simulate("resnet50", "matrix_engine", batch=8)
    sub = split.options["sub_batch"]
    assert sub < 8  # at batch 8 the activations no longer all stay on chip
    runs = 8 // sub
    alone = simulate("resnet50", "matrix_engine", batch=sub, split_batch=False)
    assert split.batch == 8 and "sub-batches of" in split.summary()[0]
    for s, a in zip(split.layers, alone.layers):
        for name in PER_RUN_FIELDS:
            if getattr(a, name) is not None:
                assert getattr(s, name) == pytest.approx(runs * getattr(a, name)), name
        assert (s.weight_bytes, s.params, s.bound) == (a.weight_bytes, a.params, a.bound)
    assert split.totals["cycles"] == runs * alone.totals["cycles"]
    assert split.totals["macs"] == 8 * simulate("resnet50", "matrix_engine").totals["macs"]


def test_an_event_run_repeats_its_sub_batch_timeline():
    split = simulate("resnet50", "matrix_engine", batch=8, fidelity="event", overlap="none")
    sub = split.options["sub_batch"]
    runs = 8 // sub
    assert runs > 1
    alone = simulate("resnet50", "matrix_engine", batch=sub, fidelity="event", overlap="none",
                     split_batch=False)
    assert split.totals["cycles"] == runs * alone.totals["cycles"]
    assert len(split.timeline) == runs * len(alone.timeline)
    # one layer at a time, nothing contends: the analytic cycles exactly, split or not
    analytic = simulate("resnet50", "matrix_engine", batch=8)
    assert [r.total_cycles for r in split.layers] == [r.total_cycles for r in analytic.layers]
