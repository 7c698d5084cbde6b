"""Where activations live between layers (DESIGN section 4, "Where tensors live").

With ``residency="auto"`` a layer's output stays in SRAM (as in the TPU's unified buffer)
when it fits beside the activations already resident, within half the activation SRAM (the
other half is left to the working tiles); it is released after its last consumer. Otherwise,
and always with ``residency="dram"``, it is written to DRAM and read back by its consumers.
The network's inputs start in DRAM and its outputs (tensors nobody consumes) end there.
Views (dropout, flatten, reshape) alias their input.
"""

from __future__ import annotations

from dataclasses import dataclass

from perfsim.hardware.model import HwConfig
from perfsim.workload.network import Network
from perfsim.workload.ops import elems

RESIDENCY_MODES = ("auto", "dram")


@dataclass(frozen=True)
class Placement:
    """Where one layer finds its inputs and leaves its output, and how many bytes of resident
    activations occupy SRAM while it runs (its own resident input and output included)."""

    input_location: str
    output_location: str
    resident_bytes: int


def activation_budget_bytes(hw: HwConfig) -> int:
    """SRAM bytes activations may occupy between layers."""
    split = hw.sram.split_bytes
    return (split[0] if split else hw.sram.size_bytes) // 2


def plan(network: Network, hw: HwConfig, mode: str = "auto") -> dict[str, Placement]:
    """Placement of every layer, in network order."""
    if mode not in RESIDENCY_MODES:
        raise ValueError(f"residency must be one of {RESIDENCY_MODES}, got {mode!r}")
    act = hw.precision.activation_bytes
    budget = activation_budget_bytes(hw)
    alias: dict[str, str] = {}
    last_use: dict[str, int] = {}
    for i, layer in enumerate(network.layers):
        sources = [alias.get(s, s) for s in layer.sources]
        for s in sources:
            last_use[s] = i
        if layer.op.view and sources:
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
            consumed = layer.name in last_use
            keep = mode == "auto" and consumed and size + sum(live.values()) <= budget
            out = location[layer.name] = "sram" if keep else "dram"
            if keep:
                live[layer.name] = size
        placements[layer.name] = Placement(where_in, out, sum(live.values()))
        for s in set(sources):
            if last_use.get(s) == i:
                live.pop(s, None)
    return placements
