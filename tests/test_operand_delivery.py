"""A vector engine's lanes get their operands from the memory level they read, at its
bandwidth: two per MAC (an input and a weight), so dense convolutions are bound by that level,
not by the lanes, and ``hetero`` gives them to its array."""

from __future__ import annotations

import pytest

from perfsim import NetworkBuilder
from perfsim.hardware.model import Dram, HwConfig, Precision, Sram, VectorEngine
from perfsim.simulate import simulate


def test_a_dense_convolution_on_simd_lanes_waits_for_its_operands():
    # conv 3x3, 16 -> 16 channels on 8 x 8, pad 1: 16 x 16 x 9 x 64 = 147,456 MACs. Each of
    # the 1,024 outputs takes 144 MACs and a bias add: 4 passes of 256 lanes x 145 = 580
    # cycles. But each MAC reads an input and a weight byte: 294,912 bytes at 128 B/cycle is
    # 2,304 cycles at least; plus the 1,024 output bytes written.
    b = NetworkBuilder("one", (16, 8, 8))
    b.add("conv", b.input, name="conv", out_channels=16, kernel=3, padding=1)
    hw = HwConfig("simd", 1.0, Precision(1, 1, 4), (VectorEngine("vpu", 256),),
                  Sram(1024, 128.0), Dram(100.0, 0.0))
    row = simulate(b.build(), hw).layers[1]
    assert row.macs == 147_456
    assert row.compute_cycles == 580
    engine_reads = row.sram_read_bytes - row.dram_write_bytes
    assert engine_reads == 2 * 147_456
    assert row.sram_write_bytes - row.dram_read_bytes == 1_024
    assert row.total_cycles >= (294_912 + 1_024) / 128
    assert row.bound == "memory" and row.reason.startswith("memory: SRAM")
    assert row.utilization <= 580 / 2_304 + 1e-9


@pytest.mark.parametrize("network", ["resnet50", "vgg16", "googlenet", "alexnet"])
def test_hetero_puts_a_dense_convolution_on_its_lanes_only_where_its_array_is_slower(network):
    # hetero's 4096 lanes and 64x64 array have the same peak, but the lanes need 8 KiB of
    # operands a cycle from a 4 KiB/cycle SRAM: at most half their peak on a dense conv. They
    # still win where the array is used less than that (13x13 and 7x7 maps leave a
    # weight-stationary array filling and draining).
    frame = simulate(network, "hetero").to_frame()
    dense = frame[(frame["op"] == "conv") & (frame["groups"] == 1)]
    lanes = dense[dense["engine"] == "vpu"]
    # the lanes read two operand bytes per MAC from SRAM
    assert (lanes["sram_read_bytes"] - lanes["dram_write_bytes"] >= 2 * lanes["macs"]).all()
    on_array = lanes["reason"].str.extract(r"on mxu ([\d,]+) cycles")[0].str.replace(",", "")
    assert (on_array.astype(int) >= lanes["total_cycles"]).all()
    if network in ("resnet50", "vgg16"):
        share = dense.loc[dense["engine"] == "mxu", "macs"].sum() / dense["macs"].sum()
        assert share > 0.75
