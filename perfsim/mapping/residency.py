"""Where activations live between layers (DESIGN section 4, "Where tensors live").

A layer's output either stays in SRAM until its last consumer has run (as in the TPU's
unified buffer) or is written to DRAM and read back by its consumers. The network's inputs
start in DRAM and its outputs (tensors nobody consumes) end there; views (dropout, flatten,
reshape) alias their input, and so does a layer updating its input in place (a KV cache
append: the cache stays where it is).

:func:`plan` places every tensor for one SRAM budget: in network order, each output stays
on chip when it fits beside the tensors already resident over its whole life. Keeping a
tensor saves its DRAM round trip but takes SRAM from every layer it lives across, whose
tiles then move more bytes; which budget pays is a question for the cost model, so the
schedule (:mod:`perfsim.schedule.analytic`) costs the network at every budget of
:func:`budget_ladder_bytes` and keeps the fastest. The ladder is absolute (it does not scale
with the SRAM), so a larger SRAM offers every placement a smaller one does, each with more
room for tiles: more SRAM never costs cycles.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfsim.hardware.model import HwConfig
from perfsim.workload.network import Network
from perfsim.workload.ops import elems

LADDER_BASE_BYTES = 1024
"""The smallest non-zero budget; each next one doubles it."""


@dataclass(frozen=True)
class Placement:
    """Where one layer finds its inputs and leaves its output, and how many bytes of resident
    activations occupy SRAM while it runs (its own resident input and output included)."""

    input_location: str
    output_location: str
    resident_bytes: int


def activation_capacity_bytes(hw: HwConfig) -> int:
    """SRAM bytes activations can occupy at all: the SRAM, or its ifmap buffer when split."""
    split = hw.sram.split_bytes
    return split[0] if split else hw.sram.size_bytes


def budget_ladder_bytes(hw: HwConfig) -> list[int]:
    """The budgets ``auto`` residency tries: 0, then 1 KiB doubling, below the activation
    capacity. The same list for every SRAM, cut at its capacity."""
    cap = activation_capacity_bytes(hw)
    ladder, budget = [0], LADDER_BASE_BYTES
    while budget < cap:
        ladder.append(budget)
        budget *= 2
    return ladder


def plan(network: Network, hw: HwConfig, budget_bytes: int) -> dict[str, Placement]:
    """Placement of every layer, in network order, keeping outputs in SRAM (first come,
    first kept) while the resident bytes stay within ``budget_bytes``."""
    act = hw.precision.activation_bytes
    alias: dict[str, str] = {}
    last_use: dict[str, int] = {}
    for i, layer in enumerate(network.layers):
        sources = [alias.get(s, s) for s in layer.sources]
        for s in sources:
            last_use[s] = i
        if (layer.op.view or layer.op.in_place) and sources:
            alias[layer.name] = sources[0]
    location: dict[str, str] = {}
    live: dict[str, int] = {}
    placements: dict[str, Placement] = {}
    for i, layer in enumerate(network.layers):
        sources = [alias.get(s, s) for s in layer.sources]
        where_in = ("sram" if sources and all(location[s] == "sram" for s in sources)
                    else "dram")
        if layer.name in alias:
            out = location[alias[layer.name]]
        elif not sources:
            out = location[layer.name] = "dram"  # a network input
        else:
            size = network.batch * act * sum(elems(s) for s in network.out_shapes[layer.name])
            keep = layer.name in last_use and size + sum(live.values()) <= budget_bytes
            out = location[layer.name] = "sram" if keep else "dram"
            if keep:
                live[layer.name] = size
        placements[layer.name] = Placement(where_in, out, sum(live.values()))
        for s in set(sources):
            if last_use.get(s) == i:
                live.pop(s, None)
    return placements
