"""Where activations live between layers (DESIGN section 4, "Where tensors live"): chosen by
cost, not greedily by order, and more SRAM never costs more.

``residency="auto"`` costs the network under the placement of every budget of
:func:`budget_ladder_bytes` and keeps the fastest (then the fewest DRAM bytes). These tests
check that choice against each placement costed on its own, the reuse of layer plans across
placements against fresh searches, and the property over random configs: more SRAM never
costs more cycles than the tiling objective's tolerance, nor any DRAM byte."""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import perfsim
from perfsim import InfeasibleError, load_hw, load_workload
from perfsim.mapping import tiling
from perfsim.mapping.fusion import inference_graph
from perfsim.mapping.kernels.nest_tiling import CYCLE_TOLERANCE
from perfsim.mapping.residency import LADDER_BASE_BYTES, budget_ladder_bytes, plan
from perfsim.schedule import analytic
from perfsim.simulate import simulate
from perfsim.sweeps.space import variant

from machines import with_local_buffer


def _cost(plans) -> tuple[int, int]:
    return (sum(p.row.total_cycles for p in plans),
            sum(p.row.dram_read_bytes + p.row.dram_write_bytes for p in plans))


def _fresh(network, hw, placements):
    """Every layer planned from scratch under ``placements`` (no reuse of any plan)."""
    layers = analytic._layers_of(network)
    return [analytic._layer_plan(network, layers, entry, hw, placements[entry.layer.name],
                                 analytic._cost(entry, hw, placements[entry.layer.name], {})[0])
            for entry in layers.entries]


def test_the_ladder_is_absolute_and_cut_below_the_activation_capacity():
    eyeriss = load_hw("eyeriss")  # 108 KiB
    assert budget_ladder_bytes(eyeriss) == [0] + [LADDER_BASE_BYTES << k for k in range(7)]
    bigger = variant(eyeriss, {"memory.sram.size_kib": 216})
    assert budget_ladder_bytes(bigger)[:8] == budget_ladder_bytes(eyeriss)  # a superset
    tpu = load_hw("tpu_v1")  # split: activations live in the 24 MiB ifmap buffer
    assert budget_ladder_bytes(tpu)[-1] == 16 * 2 ** 20


def test_a_budget_keeps_outputs_in_order_while_they_fit():
    net = load_workload("lenet5")
    hw = load_hw("eyeriss")
    nothing = plan(net, hw, 0)
    assert {p.output_location for p in nothing.values()} == {"dram"}
    assert all(p.resident_bytes == 0 for p in nothing.values())
    everything = plan(net, hw, 10 ** 9)
    # every consumed output stays; the network's input and its last output live in DRAM
    kept = [name for name, p in everything.items() if p.output_location == "sram"]
    assert kept and "input" not in kept and everything[net.layers[-1].name].output_location \
        == "dram"


@pytest.mark.parametrize("network,hw,batch", [
    ("resnet18", "eyeriss", 2),         # the case: 108 KiB, batch 2
    ("mobilenet_v1", "vector_engine", 1),
    ("resnet50", "tpu_v1", 8),          # a split SRAM
    ("googlenet", "edge_npu", 1),
])
def test_auto_is_the_fastest_placement_of_the_ladder(network, hw, batch):
    config = load_hw(hw)
    net = inference_graph(load_workload(network).with_batch(batch), config, None)
    chosen = _cost(analytic.plan_layers(net, config))
    costs = []
    for budget in budget_ladder_bytes(config):
        try:
            costs.append(_cost(_fresh(net, config, plan(net, config, budget))))
        except InfeasibleError:
            continue
    assert chosen == min(costs)
    assert chosen <= _cost(analytic.plan_layers(net, config, residency="dram"))


@pytest.mark.parametrize("network,hw,batch", [("resnet50", "tpu_v1", 8),
                                              ("resnet18", "eyeriss", 2),
                                              ("densenet121", "edge_npu", 1)])
def test_plans_reused_across_placements_equal_fresh_searches(network, hw, batch):
    """A layer's cost is reused beside more resident bytes while its tiling and the fastest
    one the search weighed it against still fit, beside fewer until a tiling that did not fit
    could change its choice (the range :func:`~perfsim.mapping.tiling.plan_tiling` gives), and
    by every layer alike (the same op, shapes and batch): every reused cost must be exactly
    the cost a fresh search makes."""
    config = load_hw(hw)
    net = inference_graph(load_workload(network).with_batch(batch), config, None)
    layers = analytic._layers_of(net)
    keys = analytic._plan_keys(layers, config, {})
    ladder = budget_ladder_bytes(config)
    # as plan_layers tries them: the most resident bytes first, so costs are reused beside
    # fewer resident bytes as well as more
    compared = sum(_compare_cached_with_fresh(net, config, layers, keys, budget,
                                              analytic._cost)
                   for budget in ladder[-1:] + ladder[:-1])
    assert compared > 100


def _compare_cached_with_fresh(net, config, layers, keys, budget, fresh) -> int:
    """Asserts that every layer's cost under the placement of ``budget``, as the caches give
    it, is exactly the cost ``fresh`` (:func:`analytic._cost`) makes; the layers compared."""
    placements = plan(net, config, budget)
    for entry, key in zip(layers.entries, keys):
        placement = placements[entry.layer.name]
        try:
            got = analytic._cached_cost(entry, key, config, placement, {})[2]
        except InfeasibleError:
            got = None
        try:
            want = fresh(entry, config, placement, {})[0]
        except InfeasibleError:
            want = None
        assert got == want, (config.sram.size_kib, budget, entry.layer.name)
    return len(layers.entries)


@pytest.mark.parametrize("network,hw,points", [
    ("resnet50", "matrix_engine", [{"memory.sram.size_kib": 1024},
                                   {"memory.dram.bandwidth_gb_per_s": 7.5},
                                   {"engines.mxu.rows": 64},
                                   {"precision.activation_bytes": 2}]),
    ("mobilenet_v1", "hetero", [{"memory.sram.size_kib": 512},
                                {"engines.vpu.lanes": 32}]),
])
def test_engine_figures_reused_across_configs_equal_fresh_ones(network, hw, points):
    """A layer's engines and their own figures (compute cycles, SRAM bytes) are kept by the
    engines that can run it and the precision, so a sweep point that changes only a memory
    reuses them: every cost made with them, on every variant of the config a sweep would
    try, must equal the cost made with figures worked out afresh."""
    base = load_hw(hw)
    net = inference_graph(load_workload(network), base, None)
    analytic.plan_layers(net, base)  # fills the caches as a sweep's earlier points do
    placed = analytic._layers_of(net)
    base_parts = [key[2] for key in analytic._plan_keys(placed, base, {})]
    compared = 0
    for point in points:
        config = variant(base, point)
        keys = analytic._plan_keys(placed, config, {})
        if all(path.startswith("memory.") for path in point):  # the figures are reused
            assert [key[2] for key in keys] == base_parts
        placements = plan(net, config, 0)
        for entry, key in zip(placed.entries, keys):
            placement = placements[entry.layer.name]
            got = analytic._cost(entry, config, placement, {}, key[2])
            want = analytic._cost(entry, config, placement, {})
            assert got == want, (point, entry.layer.name)
            compared += 1
    assert compared >= 60


@pytest.mark.parametrize("network,hw,sizes_kib", [
    ("resnet50", "matrix_engine", [256, 512, 1024, 2048, 4096, 8192]),
    ("resnet50", "tpu_v1", [28928, 32768, 65536]),   # split: the ifmap buffer's room decides
    ("mobilenet_v1", "edge_npu+lb", [512, 2048, 8192]),  # a local level below the SRAM
    ("mobilenet_v1", "hetero", [256, 1024, 4096]),
])
def test_costs_reused_across_sram_sizes_equal_fresh_searches(network, hw, sizes_kib,
                                                              monkeypatch):
    """A layer's cost depends on the SRAM's size only through the free bytes its tiles have
    (the pool less the resident bytes), so configs that differ only in the SRAM's size look
    costs up by those: over every placement of the ladder of each size, as a sweep over
    sizes asks, every cost found must be exactly the cost a fresh search makes; and the last
    size, costed after the others, must make fewer costs than it makes alone."""
    base = with_local_buffer(load_hw("edge_npu")) if hw == "edge_npu+lb" else load_hw(hw)
    net = inference_graph(load_workload(network), base, None)
    layers = analytic._layers_of(net)
    fresh = analytic._cost
    made = []
    monkeypatch.setattr(analytic, "_cost", lambda *args: made.append(1) or fresh(*args))

    def cost_every_placement(size: int) -> int:
        """Compares every layer's cost at every budget of ``size``; the costs made."""
        config = variant(base, {f"memory.{base.sram.name}.size_kib": size})
        keys = analytic._plan_keys(layers, config, {})
        made.clear()
        for budget in budget_ladder_bytes(config):
            _compare_cached_with_fresh(net, config, layers, keys, budget, fresh)
        return len(made)

    after_others = [cost_every_placement(size) for size in sizes_kib][-1]
    analytic._cost_cache.clear()
    alone = cost_every_placement(sizes_kib[-1])
    assert after_others < alone


@pytest.mark.parametrize("network,hw,sizes_kib,batch", [
    ("resnet50", "matrix_engine", [256, 300, 1024, 4096], 1),
    ("googlenet", "tpu_v1", [28928, 40000], 4),
])
def test_a_sweep_over_sram_sizes_equals_each_point_costed_afresh(network, hw, sizes_kib,
                                                                batch):
    """End to end: a sweep over SRAM sizes, whose points reuse each other's layer costs,
    gives every point the totals the same point has when costed with every cost and search
    cache emptied first."""
    base = load_hw(hw)
    key = f"memory.{base.sram.name}.size_kib"
    swept = perfsim.sweep(network, base, grid={key: sizes_kib}, batch=[batch],
                          executor="serial")
    for size, cycles, dram_bytes, sram_bytes in zip(
            sizes_kib, swept["cycles"], swept["dram_bytes"], swept["sram_bytes"]):
        for cache in (analytic._cost_cache, analytic._figures_cache, tiling._searches):
            cache.clear()
        fresh = simulate(network, variant(base, {key: size}), batch=batch).totals
        assert (cycles, dram_bytes, sram_bytes) == (
            fresh["cycles"], fresh["dram_bytes"], fresh["sram_bytes"]), size


def test_rows_without_reasons_are_shared_by_the_runs_that_have_them():
    """A sweep's rows (without reasons) are made once per layer, placement and cost and shared
    by the runs that have them: two SRAM sizes that reuse layer costs share those layers' rows,
    and every row equals the one made with every cache emptied. A view's cost is one for
    every config, so its row is made afresh: no energy (None) on a config without energy
    figures after 0 pJ on one with them."""
    base = load_hw("matrix_engine")
    net = inference_graph(load_workload("alexnet"), base, None)
    configs = [variant(base, {"memory.sram.size_kib": size}) for size in (8192, 8200)]
    configs.append(dataclasses.replace(configs[1], energy_pj=None))
    runs = [[p.row for p in analytic.plan_layers(net, config, reasons=False)]
            for config in configs]
    assert any(a is b for a, b in zip(*runs[:2]))  # shared
    views = [i for i, row in enumerate(runs[0]) if row.engine == "-"]
    assert views and all(runs[0][i].energy_pj == 0.0 and runs[2][i].energy_pj is None
                         for i in views)
    for config, rows in zip(configs, runs):
        for cache in (analytic._cost_cache, analytic._rows_cache, analytic._fields_cache,
                      tiling._searches):
            cache.clear()
        assert rows == [p.row for p in analytic.plan_layers(net, config, reasons=False)]


FLOOR_CASES = [("resnet50", "matrix_engine", 1), ("mobilenet_v1", "hetero", 1),
               ("googlenet", "tpu_v1", 4), ("mobilenet_v1", "edge_npu+lb", 1),
               ("bert_base", "matrix_engine", 1)]


@pytest.mark.parametrize("network,hw,batch", FLOOR_CASES)
def test_no_layers_floor_exceeds_its_cost(network, hw, batch):
    """The placement ladder drops a placement once the costs of its layers found so far and
    the floors of the others (:func:`analytic._floor_cycles`: the fewest compute cycles of
    the engines that may run the layer and, reading the SRAM directly, the DRAM link's time
    for the fewest bytes any tiling in its search table moves) exceed the tolerance of the
    fastest. Under the placement of every budget, at DRAM bandwidths from starved to ample,
    no layer's floor exceeds its cost; and the link sets some floors (above every engine's
    compute), the compute others."""
    base = with_local_buffer(load_hw("edge_npu")) if hw == "edge_npu+lb" else load_hw(hw)
    net = inference_graph(load_workload(network).with_batch(batch), base, None)
    layers = analytic._layers_of(net)
    by_link = by_compute = 0
    for bandwidth in (2.0, 30.0, 900.0):
        config = variant(base, {"memory.dram.bandwidth_gb_per_s": bandwidth})
        keys = analytic._plan_keys(layers, config, {})
        for budget in budget_ladder_bytes(config):
            placements = plan(net, config, budget)
            for entry, key in zip(layers.entries, keys):
                placement = placements[entry.layer.name]
                try:
                    cost = analytic._cached_cost(entry, key, config, placement, {})[2]
                except InfeasibleError:
                    continue
                floor = analytic._floor_cycles(entry, key, config, placement, {},
                                               analytic._where(key, placement))
                assert floor <= cost.total, (bandwidth, budget, entry.layer.name)
                if cost.engine is not None:
                    computes = analytic._engine_figures(entry, key[2], config, {})[1]
                    by_link += floor > min(cycles for cycles, _ in computes)
                    by_compute += floor == min(cycles for cycles, _ in computes)
    assert by_compute and (by_link or hw == "edge_npu+lb")  # no link floor through a buffer


@pytest.mark.parametrize("network,hw,batch", FLOOR_CASES)
def test_floors_drop_only_placements_the_ladder_would_drop(network, hw, batch, monkeypatch):
    """Every layer of every point of a sweep over DRAM bandwidths and SRAM sizes is planned
    exactly as without floors (every placement costed until it exceeds the tolerance of the
    fastest, as the ladder did before them), while fewer layer costs are made."""
    base = with_local_buffer(load_hw("edge_npu")) if hw == "edge_npu+lb" else load_hw(hw)
    net = inference_graph(load_workload(network).with_batch(batch), base, None)
    sram = f"memory.{base.sram.name}.size_kib"
    points = [{"memory.dram.bandwidth_gb_per_s": bandwidth, sram: base.sram.size_kib * scale}
              for bandwidth in (2.0, 30.0, 900.0) for scale in (1, 4)]
    fresh = analytic._cost
    made = []
    monkeypatch.setattr(analytic, "_cost", lambda *args: made.append(1) or fresh(*args))

    def planned() -> tuple[list, int]:
        """The rows of every point, and the layer costs made for them."""
        for cache in (analytic._cost_cache, tiling._searches):
            cache.clear()
        made.clear()
        rows = [[p.row for p in analytic.plan_layers(net, variant(base, point))]
                for point in points]
        return rows, len(made)

    with_floors, costs_with = planned()
    monkeypatch.setattr(analytic, "_floor_cycles", lambda *args: 0)
    without, costs_without = planned()
    assert with_floors == without
    assert costs_with < costs_without


NETWORKS = ["resnet18", "mobilenet_v1", "alexnet", "googlenet", "squeezenet1_0",
            "mobilenet_v2"]
CONFIGS = ["matrix_engine", "eyeriss", "vector_engine", "edge_npu", "hetero"]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(network=st.sampled_from(NETWORKS), hw=st.sampled_from(CONFIGS),
       sram_kib=st.sampled_from([48, 96, 108, 200, 384, 768, 1536, 3000, 8192]),
       factor=st.sampled_from([1.25, 1.5, 2.0, 4.0]), batch=st.sampled_from([1, 2, 8]))
def test_more_sram_never_costs_a_network_more(network, hw, sram_kib, factor, batch):
    """The ladder is the same list for every SRAM, cut at its capacity, so a larger SRAM
    offers every placement a smaller one does, and each with more room: its tilings' least
    cycles never rise (tests/test_cost_model.py), so neither do the network's beyond the
    tiling objective's tolerance; and no DRAM byte is added (over 120 seeded random cases
    while building this, the most cycles added was 0.10%, bytes never)."""
    config = load_hw(hw)
    try:
        small = simulate(network, variant(config, {"memory.sram.size_kib": sram_kib}),
                         batch=batch).totals
    except InfeasibleError:
        return  # nothing to compare: a bigger SRAM may fit
    big = simulate(network, variant(config, {"memory.sram.size_kib": sram_kib * factor}),
                   batch=batch).totals
    assert big["cycles"] <= (1 + CYCLE_TOLERANCE) * small["cycles"] + 1
    assert big["dram_bytes"] <= small["dram_bytes"]
