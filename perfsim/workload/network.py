"""Layers and networks: a validated DAG with every tensor's shape inferred on construction."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from perfsim.errors import WorkloadError
from perfsim.workload.ops import Input, Op, Shape, ShapeError, fmt_shape


def parse_ref(ref: str) -> tuple[str, int]:
    """A tensor reference ``layer`` or ``layer:i`` as ``(layer, output index)``."""
    name, sep, index = ref.rpartition(":")
    if sep and index.isdigit():
        return name, int(index)
    return ref, 0


@dataclass(frozen=True)
class Layer:
    """One node of a network: a name, what it computes, and the tensors it reads.

    ``inputs`` are tensor references: a layer's name for its (first) output, ``name:i`` for
    output ``i`` of a multi-output layer (``split``). ``fused`` names the layers of the
    training graph a layer of an inference graph (:mod:`perfsim.workload.passes`) stands for
    besides itself, in graph order: folded into its weights or applied in its output path.
    It is empty in a training graph."""

    name: str
    op: Op
    inputs: tuple[str, ...] = ()
    fused: tuple[str, ...] = ()

    def __post_init__(self):
        if not isinstance(self.name, str) or not self.name:
            raise WorkloadError(f"a layer name must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "inputs", tuple(self.inputs))
        object.__setattr__(self, "fused", tuple(self.fused))

    @property
    def sources(self) -> tuple[str, ...]:
        """The names of the layers whose outputs this layer reads, one per input."""
        return tuple(parse_ref(ref)[0] for ref in self.inputs)


def infer_shapes(network: str, layer: Layer,
                 shapes: Mapping[str, tuple[Shape, ...]]) -> tuple[Shape, ...]:
    """Output shapes of ``layer`` given the shapes of the layers before it; raises
    :class:`WorkloadError` naming the network, the layer, its inputs and their shapes."""
    where = f"network '{network}': layer '{layer.name}' ({layer.op.kind})"
    if layer.name in shapes:
        raise WorkloadError(f"{where}: the name is used by an earlier layer too")
    op = layer.op
    n = len(layer.inputs)
    if n < op.min_inputs or (op.max_inputs is not None and n > op.max_inputs):
        wanted = (f"{op.min_inputs}" if op.min_inputs == op.max_inputs else
                  f"at least {op.min_inputs}" if op.max_inputs is None else
                  f"{op.min_inputs} to {op.max_inputs}")
        raise WorkloadError(f"{where}: takes {wanted} input(s), got {n}")
    in_shapes = []
    for ref in layer.inputs:
        source, index = parse_ref(ref)
        if source not in shapes:
            raise WorkloadError(f"{where}: input '{ref}' is not a layer defined before it")
        if index >= len(shapes[source]):
            raise WorkloadError(f"{where}: input '{ref}' refers to output {index}, but "
                                f"'{source}' has {len(shapes[source])} output(s)")
        in_shapes.append(shapes[source][index])
    try:
        return tuple(op.out_shapes(tuple(in_shapes)))
    except ShapeError as err:
        named = " and ".join(f"input '{layer.inputs[i]}' with shape {fmt_shape(in_shapes[i])}"
                             for i in err.inputs)
        raise WorkloadError(f"{where}: {err.detail} ({named})") from None


@dataclass(frozen=True)
class Network:
    """A workload: layers in topological order, validated, with inferred shapes.

    ``batch`` is the batch size every statistic of this network is taken at. Construction
    checks that names are unique, that every input refers to an earlier layer, that each op
    gets the number of inputs it takes, and that shapes fit; any failure is a
    :class:`~perfsim.errors.WorkloadError` naming the layers and shapes involved."""

    name: str
    layers: tuple[Layer, ...]
    batch: int = 1
    description: str = ""
    source: str = ""
    out_shapes: Mapping[str, tuple[Shape, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise WorkloadError(f"batch must be a positive integer, got {self.batch!r}")
        if not self.layers:
            raise WorkloadError(f"network '{self.name}' has no layers")
        shapes: dict[str, tuple[Shape, ...]] = {}
        for layer in self.layers:
            shapes[layer.name] = infer_shapes(self.name, layer, shapes)
        object.__setattr__(self, "out_shapes", MappingProxyType(shapes))

    def __reduce__(self):
        """Pickled as its constructor's arguments (a read-only ``out_shapes`` view cannot be
        pickled; it is inferred again), so sweeps can ship networks to worker processes."""
        return (Network, (self.name, self.layers, self.batch, self.description, self.source))

    def layer(self, name: str) -> Layer:
        """The layer called ``name``."""
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise WorkloadError(f"network '{self.name}' has no layer '{name}'")

    def shape_of(self, ref: str) -> Shape:
        """Per-sample shape of a tensor reference."""
        source, index = parse_ref(ref)
        return self.out_shapes[source][index]

    def in_shapes(self, layer: Layer) -> tuple[Shape, ...]:
        """Per-sample shapes of a layer's inputs."""
        return tuple(self.shape_of(ref) for ref in layer.inputs)

    @property
    def inputs(self) -> tuple[Layer, ...]:
        """The network's input layers."""
        return tuple(layer for layer in self.layers if isinstance(layer.op, Input))

    def with_batch(self, batch: int) -> "Network":
        """The same graph at another batch size."""
        return Network(self.name, self.layers, batch, self.description, self.source)

    def to_frame(self):
        """Per-layer statistics as a pandas DataFrame
        (:func:`perfsim.workload.stats.layer_table`)."""
        from perfsim.workload.stats import layer_table
        return layer_table(self)
