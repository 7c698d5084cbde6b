"""Recurrent layers are costed causally: the input projection of every step at once, then the
steps one after another, the recurrent weights staying on chip across steps only if they fit
(hand-worked on ``tpu_v1``, whose Weight FIFO holds 256 KiB of weights)."""

from __future__ import annotations

import pytest

from perfsim import NetworkBuilder
from perfsim.mapping.kernels.nest_tiling import search_orders
from perfsim.simulate import simulate
from perfsim.workload import loopnest
from perfsim.workload.recurrence import causal


def cell(kind: str, features: int, hidden: int, steps: int):
    b = NetworkBuilder(kind, (features, 1, steps))
    b.add(kind, b.input, name="cell", hidden_size=hidden)
    return b.build()


def rows(kind: str, features: int, hidden: int, steps: int):
    result = simulate(cell(kind, features, hidden, steps), "tpu_v1", pin={kind: "mxu"})
    named = {r.layer: r for r in result.layers}
    return named["cell/input"], named["cell"]


# (kind, input features, hidden, steps, gates), int8. W_ih = gates x hidden x features,
# W_hh = gates x hidden x hidden, two bias vectors per gate (in the projection).
CASES = {
    # W_hh = 4 x 128 x 128 = 65,536 B: two buffers (128 KiB) fit the 256 KiB FIFO
    "lstm, recurrent weights fit": ("lstm", 64, 128, 16, 4),
    # W_hh = 4 x 1024 x 1024 = 4,194,304 B: no; the case (4.2 + 32 x 4.2 = 138 MB)
    "lstm, recurrent weights do not fit": ("lstm", 1024, 1024, 32, 4),
    # W_hh = 3 x 128 x 128 = 49,152 B: fit
    "gru, recurrent weights fit": ("gru", 64, 128, 16, 3),
    # W_hh = 3 x 512 x 512 = 786,432 B: no
    "gru, recurrent weights do not fit": ("gru", 256, 512, 20, 3),
}


@pytest.mark.parametrize("name", CASES)
def test_the_projection_reads_everything_once_and_the_steps_reread_weights_that_do_not_fit(
        name):
    kind, n, h, t, gates = CASES[name]
    projection, steps = rows(kind, n, h, t)
    w_ih, w_hh, biases = gates * h * n, gates * h * h, 2 * gates * h
    # the projection: W_ih and the biases once, the input sequence (n x t) once
    assert projection.dram_read_bytes == w_ih + biases + n * t
    fits = 2 * w_hh <= 256 * 1024  # two buffers of the recurrent weights in the FIFO
    assert fits == ("do not" not in name)
    # the steps: W_hh once if it stays on chip, else every step; the projection they read
    # stays on chip (24 MiB Unified Buffer)
    assert steps.dram_read_bytes == (w_hh if fits else t * w_hh)
    assert steps.in_location == "sram"


def test_the_split_keeps_the_layers_counts():
    network = cell("lstm", 1024, 1024, 32)
    split = causal(network)
    assert [layer.name for layer in split.layers] == ["input", "cell/input", "cell"]
    whole = network.layer("cell")
    parts = [split.layer("cell/input"), split.layer("cell")]
    shapes = network.in_shapes(whole)
    assert sum(p.op.params(split.in_shapes(p)) for p in parts) == whole.op.params(shapes)
    assert sum(p.op.macs(split.in_shapes(p)) for p in parts) == whole.op.macs(shapes)
    assert {p.op.kind for p in parts} == {"lstm"}  # both parts are the layer's work
    assert split.out_shapes["cell"] == network.out_shapes["cell"]
    # a single step has no recurrence to split
    one = cell("gru", 8, 8, 1)
    assert causal(one) is one


def test_every_tiling_of_the_steps_runs_them_one_after_another():
    nest = loopnest.recurrent(batch=4, steps=6, hidden=8, gates=4)
    assert nest.dim("T").split == "single"
    assert all(order[0] == "T" for order in search_orders(nest))
