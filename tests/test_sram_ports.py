"""An SRAM whose per-operand buffers have a port each (the TPU's Unified Buffer, Weight FIFO
and accumulators): each buffer's traffic takes its own port's time and the busiest port
sets the pace, by hand on one of AlphaGo's layers (issue 13: CNN0 is compute-bound)."""

from __future__ import annotations

import numpy as np
import pytest

from perfsim import NetworkBuilder, load_hw, simulate
from perfsim.mapping.kernels import nest_kernels
from perfsim.mapping.kernels import nest_search as ns
from perfsim.mapping.kernels import nest_tiling as kern
from perfsim.sweeps.space import variant


def test_the_busiest_port_sets_the_level_time():
    # engine bytes per role (100, 50, 400) plus 20 input bytes from above, over ports of 10, 10
    # and 20 B/cycle: 12, 5 and 20 cycles, so 20; over one 40 B/cycle port: 570 / 40 = 14.25
    moved = np.array([20, 0, 0], dtype=np.int64)
    ports = ns.Rates(0.0, 550.0, 40.0, 1.0, engine_role_bytes=(100.0, 50.0, 400.0),
                     port_bytes_per_cycle=(10.0, 10.0, 20.0)).record[0]
    shared = ns.Rates(0.0, 550.0, 40.0, 1.0).record[0]
    # with no compute, one tile and no link, the pipeline takes the level's time
    assert nest_kernels.pipeline_cycles(moved, 0.0, 1, ports) == pytest.approx(20)
    assert nest_kernels.pipeline_cycles(moved, 0.0, 1, shared) == pytest.approx(14.25)
    for rates in (ports, shared):  # the specification agrees
        assert nest_kernels.pipeline_cycles(moved, 0.0, 1, rates) == pytest.approx(
            kern.pipeline_cycles_ref([20, 0, 0], 0.0, 1, rates))


def alphago_pair():
    """Two of CNN0's 3x3 convolutions, 256 -> 256 filters on the 19x19 board: the second reads
    its input from the Unified Buffer."""
    b = NetworkBuilder("cnn0_pair", (256, 19, 19))
    x = b.add("conv", b.input, out_channels=256, kernel=3, padding=1, bias=False, name="first")
    b.add("conv", x, out_channels=256, kernel=3, padding=1, bias=False, name="second")
    return b.build()


def second(hw):
    run = simulate(alphago_pair(), hw, batch=8, split_batch=False)
    return next(r for r in run.layers if r.layer == "second")


def test_alphago_layer_by_hand_on_the_tpu_ports():
    # Batch 8: Np = 8 x 361 = 2,888 pixels, T_red = 256 x 9 = 2,304, K = 256 on a 256x256
    # weight-stationary array: 9 row folds, 1 column fold, each 2,888 + 256 + 256 - 2 = 3,398
    # cycles, plus the first fold's 256-cycle preload (the rest hidden: weight_buffers 2):
    # 30,838 compute cycles.
    # Ports: inputs 2,888 x 2,304 = 6,653,952 B through the Unified Buffer's 256 B/cycle =
    # 25,992 cycles; weights 589,824 B (+ as many from DRAM) through the FIFO's 256;
    # partial sums 2,888 x 256 x 8 folds x 4 B = 23,658,496 B read back and as many written,
    # plus 739,328 B of int8 results, plus the 739,328 written to DRAM (the network's output):
    # 48,795,648 B through the accumulators' 2,048 B/cycle = 23,826 cycles. Compute wins.
    hw = load_hw("tpu_v1")
    row = second(hw)
    assert (row.in_location, row.compute_cycles, row.bound) == ("sram", 30_838, "compute")
    assert row.sram_read_bytes == 6_653_952 + 589_824 + 23_658_496 + 739_328
    # Accumulators written only (one 1024 B/cycle port): 48,795,648 / 1,024 = 47,652 cycles,
    # memory-bound, as perfsim's one shared SRAM port made all of CNN0 before.
    half = variant(hw, {"memory.sram.ofmap_bandwidth_bytes_per_cycle": 1024,
                        "memory.sram.bandwidth_bytes_per_cycle": 1536})
    slow = second(half)
    assert slow.bound == "memory"
    assert slow.reason.startswith("memory: SRAM ofmap port 47,652 cycles >= compute 30,838 "
                                  "(48,795,648 B at 1024 B/cycle)")
    assert slow.total_cycles >= 47_652


def test_wider_ports_never_cost_cycles():
    """Each port at the whole of tpu_v1's SRAM bandwidth: more bandwidth never costs a network
    cycles (beyond the tiling objective's 1%)."""
    hw = load_hw("tpu_v1")
    shared = hw.sram.bandwidth_bytes_per_cycle
    wide = variant(hw, {"memory.sram.ifmap_bandwidth_bytes_per_cycle": shared,
                        "memory.sram.filter_bandwidth_bytes_per_cycle": shared,
                        "memory.sram.ofmap_bandwidth_bytes_per_cycle": shared,
                        "memory.sram.bandwidth_bytes_per_cycle": 3 * shared})
    for network in ("resnet50", "mobilenet_v1", "alexnet"):
        ported = simulate(network, hw, batch=8).totals["cycles"]
        assert simulate(network, wide, batch=8).totals["cycles"] <= ported * 1.01
