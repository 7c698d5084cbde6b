"""A local level per engine (an array's local buffer) in ``simulate``: the bookkeeping of bytes
between the levels, against the same machine without it; the DRAM traffic it must not change
at one placement;
every level's roofline; the energy of every level; one buffer against two; and the event
schedule on such a config."""

from __future__ import annotations

import pandas as pd
import pytest

from perfsim import load_hw
from perfsim.simulate import simulate

from machines import with_local_buffer

NETWORKS = ("resnet18", "mobilenet_v1", "alexnet")


@pytest.fixture(scope="module", params=NETWORKS)
def pair(request):
    """The same network on ``edge_npu`` and on ``edge_npu`` with a local buffer, pinned to
    the same engines (the buffer may change which engine is fastest)."""
    hw = load_hw("edge_npu")
    pin = {"conv": "mac_array", "fc": "mac_array"}
    return (simulate(request.param, hw, pin=pin).to_frame(),
            simulate(request.param, with_local_buffer(hw), pin=pin).to_frame())


@pytest.mark.parametrize("network", NETWORKS)
def test_a_local_level_changes_no_dram_byte_at_one_placement(network):
    """The SRAM's tiling is searched as if the engine read it directly, so under one placement
    (every activation through DRAM here: with ``auto`` the placement is chosen by the
    network's cycles, which a local level changes) no DRAM byte moves."""
    hw = load_hw("edge_npu")
    pin = {"conv": "mac_array", "fc": "mac_array"}
    plain, local = (simulate(network, config, pin=pin, residency="dram").to_frame()
                    for config in (hw, with_local_buffer(hw)))
    columns = ["layer", "engine", "in_location", "out_location", "dram_read_bytes",
               "dram_write_bytes"]
    pd.testing.assert_frame_equal(plain[columns], local[columns])


def test_bytes_are_conserved_between_the_levels(pair):
    # Without the buffer the engine reads R and writes W at the SRAM, which also sends D_w to
    # DRAM and takes D_r from it: sram_read = R + D_w, sram_write = W + D_r. With it, the
    # buffer fills F from the SRAM and writes B back: lb_read = R + B, lb_write = W + F,
    # sram_read = F + D_w, sram_write = B + D_r. So the engine's own bytes, recovered from
    # either machine, agree.
    plain, local = pair
    on_array = local["engine"] == "mac_array"
    assert on_array.sum() > 0
    fill = local["sram_read_bytes"] - local["dram_write_bytes"]
    back = local["sram_write_bytes"] - local["dram_read_bytes"]
    engine_reads = plain["sram_read_bytes"] - plain["dram_write_bytes"]
    engine_writes = plain["sram_write_bytes"] - plain["dram_read_bytes"]
    assert (local["lb_read_bytes"] - back)[on_array].tolist() == \
        engine_reads[on_array].tolist()
    assert (local["lb_write_bytes"] - fill)[on_array].tolist() == \
        engine_writes[on_array].tolist()
    # layers off the array never touch the buffer, and keep their SRAM bytes
    off = ~on_array
    assert (local.loc[off, ["lb_read_bytes", "lb_write_bytes"]] == 0).all().all()
    assert local.loc[off, "sram_read_bytes"].tolist() == plain.loc[off, "sram_read_bytes"].tolist()


def test_no_row_beats_the_roofline_of_any_level(pair):
    _, local = pair
    hw = with_local_buffer(load_hw("edge_npu"))
    rows = local[local["engine"] != "-"]
    for column, bytes_per_cycle in (("lb", 512), ("sram", hw.sram.bandwidth_bytes_per_cycle),
                                    ("dram", hw.dram_bytes_per_cycle)):
        moved = rows[f"{column}_read_bytes"] + rows[f"{column}_write_bytes"]
        assert (rows["total_cycles"] >= moved / bytes_per_cycle - 1e-6).all(), column
    assert (rows["total_cycles"] >= rows["compute_cycles"]).all()
    assert (rows["utilization"] <= 1.0).all()


def test_energy_counts_every_byte_at_its_level(pair):
    _, local = pair
    e = with_local_buffer(load_hw("edge_npu")).energy_pj
    pj = dict(e.per_byte)
    expected = ((local["macs"] + local["ops"]) * e.mac
                + sum((local[f"{n}_read_bytes"] + local[f"{n}_write_bytes"]) * pj[n]
                      for n in ("lb", "sram", "dram")))
    assert local["energy_pj"].tolist() == pytest.approx(expected.tolist(), rel=1e-12)


def test_the_totals_and_the_reason_name_the_local_level():
    hw = with_local_buffer(load_hw("edge_npu"), bytes_per_cycle=1.0)  # a starved buffer
    result = simulate("lenet5_lecun1998", hw, pin={"conv": "mac_array", "fc": "mac_array"})
    frame = result.to_frame()
    assert result.totals["lb_bytes"] == (frame["lb_read_bytes"] + frame["lb_write_bytes"]).sum()
    assert result.totals["lb_bytes"] > 0
    starved = frame[frame["engine"] == "mac_array"]
    assert starved["reason"].str.startswith("memory: local lb ").all()
    # the columns sit before the SRAM's, and a plain config has none
    columns = list(frame.columns)
    assert columns.index("lb_write_bytes") + 1 == columns.index("sram_read_bytes")
    assert not any(c.startswith("lb_") for c in simulate("lenet5_lecun1998", "edge_npu")
                   .to_frame().columns)


def test_with_one_buffer_loads_and_compute_take_turns():
    # A local level with buffers: 1 cannot load a tile while the engine computes the one it
    # holds: a layer takes at least its compute plus the time to move the buffer's fills and
    # write-backs over the SRAM link. With two buffers they overlap.
    hw = load_hw("edge_npu")
    pin = {"conv": "mac_array", "fc": "mac_array"}

    single = simulate("alexnet", with_local_buffer(hw, bytes_per_cycle=64, buffers=1),
                      pin=pin)
    double = simulate("alexnet", with_local_buffer(hw, bytes_per_cycle=64), pin=pin)
    frame = single.to_frame()
    rows = frame[frame["engine"] == "mac_array"]
    moved = (rows["sram_read_bytes"] - rows["dram_write_bytes"]
             + rows["sram_write_bytes"] - rows["dram_read_bytes"])
    assert (rows["total_cycles"] >= rows["compute_cycles"]
            + moved / hw.sram.bandwidth_bytes_per_cycle - 1).all()
    assert single.totals["cycles"] > double.totals["cycles"]


def test_the_event_schedule_runs_a_local_level():
    hw = with_local_buffer(load_hw("edge_npu"))
    analytic = simulate("resnet18", hw)
    event = simulate("resnet18", hw, fidelity="event", overlap="none")
    # one layer at a time: every layer takes exactly its analytic cycles
    assert [r.total_cycles for r in event.layers] == [r.total_cycles for r in analytic.layers]
    assert "lb_read_bytes" in event.to_frame().columns
