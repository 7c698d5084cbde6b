"""The inference graph a network runs as on an accelerator (DESIGN section 4, "Inference
graph"): what the cost model prices by default.

Batch norm and the other foldable per-channel affine maps are folded into the conv or fc
before them whatever the hardware (:func:`perfsim.workload.passes.fold_affine`). Which
element-wise ops then run in a producing layer's output path depends on the hardware:
an op joins its producer (:func:`perfsim.workload.passes.fuse_epilogues`) when every engine
that may run the producer (the pinned one, else every engine of a kind that runs it) has an
output path: a vector engine always (its lanes), a matrix engine when its
``output_elems_per_cycle`` is not 0. An op kind named in a pin stays a layer of its own, on
the engine the pin names. Otherwise the op stays a layer, on a vector engine.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Mapping

from perfsim.hardware.model import HwConfig
from perfsim.workload.network import Layer, Network
from perfsim.workload.ops import pinned_engine
from perfsim.workload.passes import fold_affine, fuse_epilogues



def inference_graph(network: Network, hw: HwConfig,
                    pin: Mapping[str, str] | None = None) -> Network:
    """``network`` as it runs on ``hw``: affine maps folded, element-wise ops in the output
    paths that can take them (module docstring). ``pin`` maps op kinds (or ``kind:variant``)
    to engine names, as in :func:`perfsim.simulate.simulate`."""
    pin = dict(pin or {})
    for engine_name in pin.values():
        hw.engine(engine_name)  # an unknown engine is a ConfigError naming the engines
    paths = tuple((e.name, e.kind, e.output_path_elems_per_cycle > 0) for e in hw.engines)
    return _inference_graph(network, paths, tuple(sorted(pin.items())))


@lru_cache(maxsize=64)
def _inference_graph(network: Network, paths: tuple[tuple[str, str, bool], ...],
                     pin: tuple[tuple[str, str], ...]) -> Network:
    """:func:`inference_graph` keyed by what it reads of the hardware: each engine's name,
    kind and whether it has an output path (a sweep over array sizes, memories or clocks
    reuses the graph)."""
    pins = dict(pin)
    has_path = {name: path for name, _, path in paths}

    def allowed(producer: Layer, op_layer: Layer) -> bool:
        if pinned_engine(pins, op_layer.op) is not None:
            return False
        pinned = pinned_engine(pins, producer.op)
        if pinned is not None:
            return has_path[pinned]
        engines = [path for _, engine_kind, path in paths
                   if engine_kind in producer.op.engine_kinds]
        return bool(engines) and all(engines)

    return fuse_epilogues(fold_affine(network), allowed)
