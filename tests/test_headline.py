"""The headline claims, as the numbers have them on the shipped configs (README, "What the
numbers say"). Where a claim of the issue and the model disagree, the test pins the model's
answer and the README says so."""

from __future__ import annotations

import pytest

from perfsim import load_hw, simulate


def frame(network, hw, batch=1, **kw):
    return simulate(network, hw, batch=batch, **kw).to_frame().set_index("layer")


def depthwise(f):
    return f[(f["op"] == "conv") & (f["groups"] > 1)]


def pointwise(f):
    return f[(f["op"] == "conv") & (f["groups"] == 1) & (f["kernel"].map(tuple) == (1, 1))]


def test_depthwise_on_matrix_engine_takes_far_more_cycles_than_macs():
    f = frame("mobilenet_v1", "matrix_engine")
    dw = depthwise(f)
    mac_share = dw["macs"].sum() / f["macs"].sum()
    cycle_share = dw["total_cycles"].sum() / f["total_cycles"].sum()
    assert mac_share == pytest.approx(0.0306, abs=5e-4)
    assert cycle_share > 5 * mac_share  # 48% of the cycles for 3% of the MACs


def test_depthwise_wastes_the_array_and_goes_to_the_vector_unit():
    # The array would use well under 1% of itself on a depthwise layer ...
    on_array = depthwise(frame("mobilenet_v1", "matrix_engine", pin={"conv": "mxu"}))
    assert (on_array["utilization"] < 0.01).all()
    assert set(on_array["bound"]) == {"utilization"}
    # ... so the fastest-engine policy runs every depthwise layer on the small vector unit,
    # where it keeps all 128 lanes busy: compute-bound on that unit, not on the array.
    dw = depthwise(frame("mobilenet_v1", "matrix_engine"))
    assert set(dw["engine"]) == {"vpu"} and set(dw["bound"]) == {"compute"}
    assert (dw["utilization"] > 0.9).all()
    assert dw["reason"].str.contains("on mxu").all()


def test_pointwise_layers_compute_bound_only_on_large_maps():
    pw = pointwise(frame("mobilenet_v1", "matrix_engine"))
    sizes = pw["out_shape"].map(lambda s: s[1])
    assert set(pw[sizes == 28]["bound"]) == {"compute"}
    # 14x14 and 7x7 maps at batch 1 stream too few pixels through a weight-stationary
    # 128x128 array (fill and drain dominate), and the 7x7 layers' 0.5-1 MB of weights are
    # used only 49 times each: memory-bound.
    assert set(pw[sizes == 14]["bound"]) == {"utilization"}
    assert set(pw[sizes == 7]["bound"]) == {"memory"}
    assert pw["macs"].sum() / frame("mobilenet_v1", "matrix_engine")["macs"].sum() > 0.94


@pytest.mark.parametrize("hw,weighted_floor", [("hetero", 0.35), ("vector_engine", 0.12)])
def test_depthwise_utilization_on_vector_engines(hw, weighted_floor):
    # A lane reads an input and a weight per MAC from SRAM. hetero's 4096 lanes would need
    # 8 KiB a cycle from a 4 KiB/cycle SRAM, vector_engine's 256 lanes 512 B from 128 B: so
    # at most 50% and 25% of their lanes work on a depthwise layer (less with the folded bias
    # and ReLU, and the DRAM traffic the SRAM also carries). Still far above the 0.2% an
    # array gives them.
    config = load_hw(hw)
    dw = depthwise(frame("mobilenet_v1", config))
    lanes = {e.name: e.peak_macs_per_cycle for e in config.engines}
    weighted = dw["macs"].sum() / (dw["total_cycles"] * dw["engine"].map(lanes)).sum()
    assert weighted > weighted_floor
    assert set(dw["bound"]) == {"memory"}
    on_chip = dw[dw["reason"].str.startswith("memory: SRAM")]
    assert len(on_chip) >= 6
    if hw == "hetero":
        assert len(on_chip) == len(dw)
        on_array = depthwise(frame("mobilenet_v1", config, pin={"conv": "mxu"}))
        assert weighted > 100 * on_array["utilization"].max()


def test_vector_engine_depthwise_on_large_maps_is_dram_bound():
    # vector_engine.yaml's 512 KiB SRAM cannot keep 112x112 and 56x56 maps on chip: those
    # depthwise layers move their activations through DRAM at ~4.5 MAC per byte.
    dw = depthwise(frame("mobilenet_v1", "vector_engine"))
    big = dw[dw["out_shape"].map(lambda s: s[1]) >= 56]
    assert set(big["bound"]) == {"memory"}
    assert (big["macs_per_dram_byte"] < 10).all()


def test_alexnet_fc_layers_leave_the_memory_bound_regime_with_batch():
    for layer in ("fc6", "fc7"):
        one = frame("alexnet", "matrix_engine", batch=1).loc[layer]
        assert one["bound"] == "memory"
        assert one["macs_per_dram_byte"] == pytest.approx(1.0, rel=1e-3)
        assert "machine balance 546 MAC/B" in one["reason"]
        assert frame("alexnet", "matrix_engine", batch=128).loc[layer]["bound"] == "memory"
        at_256 = frame("alexnet", "matrix_engine", batch=256).loc[layer]
        # out of the memory-bound regime, but a weight-stationary 128x128 array refills its
        # weights for every 256-sample fold: 2*128 + 128 - 2 fill cycles per 256 useful ones.
        assert at_256["bound"] == "utilization"
        assert at_256["utilization"] == pytest.approx(256 / (2 * 128 + 128 + 256 - 2), rel=0.01)
        assert frame("alexnet", "matrix_engine", batch=512).loc[layer]["bound"] == "compute"


def test_tpu_v1_ridge_point_is_1350_macs_per_byte():
    # Jouppi et al., ISCA 2017, Figure 5: the TPU's roofline ridge point is at 1350.
    hw = load_hw("tpu_v1")
    array = max(hw.engines, key=lambda e: e.peak_macs_per_cycle)
    assert array.peak_macs_per_cycle / hw.dram_bytes_per_cycle == pytest.approx(1350, rel=1e-3)
