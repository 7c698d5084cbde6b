"""Layers and networks: a validated DAG with every tensor's shape inferred on construction."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from perfsim.errors import WorkloadError, suggest
from perfsim.workload.limits import MAX_BATCH, MAX_LAYER_WORK, power_text
from perfsim.workload.ops import Input, Op, Shape, ShapeError, elems, fmt_shape


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
        if not isinstance(self.name, str) or not self.name or not self.name.isprintable():
            raise WorkloadError(f"a layer name must be a non-empty string without control "
                                f"characters, got {self.name!r}")
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
            raise WorkloadError(f"{where}: input '{ref}' is not a layer defined before it"
                                f"{suggest(source, list(shapes))}")
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


def check_layer_size(network: str, layer: Layer, in_shapes: tuple[Shape, ...],
                     out_shapes: tuple[Shape, ...], batch: int) -> None:
    """A :class:`WorkloadError` unless ``layer`` at ``batch`` is within
    :data:`~perfsim.workload.limits.MAX_LAYER_WORK`: its MACs, its other operations and the
    elements of each tensor it reads and writes (:mod:`perfsim.workload.limits`)."""
    op = layer.op
    per_sample = [("MACs", op.macs(in_shapes)), ("operations", op.ops(in_shapes))]
    per_sample += [("input elements", elems(s)) for s in in_shapes]
    per_sample += [("output elements", elems(s)) for s in out_shapes]
    counts = [(what, count * batch, count) for what, count in per_sample]
    counts.append(("weights", op.weight_elems(in_shapes), 0))
    for what, count, one in counts:
        if count > MAX_LAYER_WORK:
            fix = (f"it fits at batch {MAX_LAYER_WORK // one:,} or less"
                   if 0 < one <= MAX_LAYER_WORK else "make it smaller")
            at = f" at batch {batch:,}" if batch > 1 else ""
            raise WorkloadError(f"network '{network}': layer '{layer.name}' ({op.kind}) has "
                                f"{count:.3g} {what}{at}, beyond {power_text(MAX_LAYER_WORK)}, "
                                f"the most perfsim costs in one layer: {fix}")


NOTEBOOK_LAYERS = 12
"""Layers a network shows in a notebook."""


@dataclass(frozen=True)
class Network:
    """A workload: layers in topological order, validated, with inferred shapes.

    ``batch`` is the batch size every statistic of this network is taken at. Construction
    checks that names are unique, that every input refers to an earlier layer, that each op
    gets the number of inputs it takes, that shapes fit, and that the batch and every layer
    are within perfsim's limits (:mod:`perfsim.workload.limits`); any failure is a
    :class:`~perfsim.errors.WorkloadError` naming the layers and shapes involved.

    ``tokens`` names the layers whose output is a token tensor ``(T, 1, D)``: ``T`` tokens of
    ``D`` features (a transformer's), which the canonical view lists as ``[T, D]``
    (:func:`~perfsim.workload.stats.shape_label`; ``perfsim show`` prints ``TxD``). The
    network declares them because a shape cannot say so itself: a CNN's ``(1000, 1, 1)``
    logits and a decode step's attention heads ``(12, 1, 64)`` (one token) have the same form.
    It changes no count and no cost."""

    name: str
    layers: tuple[Layer, ...]
    batch: int = 1
    description: str = ""
    source: str = ""
    tokens: frozenset[str] = frozenset()
    out_shapes: Mapping[str, tuple[Shape, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "layers", tuple(self.layers))
        if isinstance(self.batch, bool) or not isinstance(self.batch, int) or self.batch < 1:
            raise WorkloadError(f"batch must be a positive integer, got {self.batch!r}")
        if self.batch > MAX_BATCH:
            raise WorkloadError(f"batch {self.batch:,} is beyond {power_text(MAX_BATCH)}, the "
                                f"largest perfsim accepts")
        object.__setattr__(self, "tokens", frozenset(self.tokens))
        for attribute in ("name", "description", "source"):
            if not isinstance(getattr(self, attribute), str):
                raise WorkloadError(f"a network's {attribute} must be text, got "
                                    f"{getattr(self, attribute)!r}")
        if not self.layers:
            raise WorkloadError(f"network '{self.name}' has no layers")
        shapes: dict[str, tuple[Shape, ...]] = {}
        for layer in self.layers:
            shapes[layer.name] = infer_shapes(self.name, layer, shapes)
            ins = tuple(shapes[source][index] for source, index in map(parse_ref, layer.inputs))
            check_layer_size(self.name, layer, ins, shapes[layer.name], self.batch)
        object.__setattr__(self, "out_shapes", MappingProxyType(shapes))
        # hashed once: a sweep looks a network up (its inference graph) at every point
        object.__setattr__(self, "_hash", hash((self.name, self.layers, self.batch,
                                                self.description, self.source, self.tokens)))
        for name in sorted(self.tokens):
            if name not in shapes:
                raise WorkloadError(f"network '{self.name}': tokens names '{name}', which is "
                                    f"not a layer{suggest(name, list(shapes))}")
            if shapes[name][0][1] != 1:
                raise WorkloadError(f"network '{self.name}': layer '{name}' is declared a "
                                    f"token tensor [T, 1, D] but its output is "
                                    f"{fmt_shape(shapes[name][0])}")

    def __hash__(self) -> int:
        return self._hash

    def __reduce__(self):
        """Pickled as its constructor's arguments (a read-only ``out_shapes`` view cannot be
        pickled; it is inferred again), so sweeps can ship networks to worker processes."""
        return (Network, (self.name, self.layers, self.batch, self.description, self.source,
                          self.tokens))

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
        return Network(self.name, self.layers, batch, self.description, self.source,
                       self.tokens)

    def to_frame(self):
        """Per-layer statistics as a pandas DataFrame
        (:func:`perfsim.workload.stats.layer_table`)."""
        from perfsim.workload.stats import layer_table
        return layer_table(self)

    def __repr__(self) -> str:
        from perfsim.workload.stats import shape_label, totals
        sums = totals(self)
        inputs = " + ".join("x".join(map(str, shape_label(self, layer.name)))
                            for layer in self.inputs)
        return (f"<Network {self.name}: {len(self.layers)} layers, input {inputs}, batch "
                f"{self.batch}, {sums['macs']:,} MACs, {sums['params']:,} params>")

    def _repr_html_(self) -> str:
        """A notebook's view: the one-line summary, the description and the first layers
        (``to_frame()`` has them all)."""
        frame = self.to_frame()
        shown = frame.head(NOTEBOOK_LAYERS)[["layer", "op", "in_shape", "out_shape", "macs",
                                             "params"]]
        more = (f"<p>The first {len(shown)} of {len(frame)} layers "
                f"(<code>.to_frame()</code> has them all).</p>" if len(frame) > len(shown)
                else "")
        return (f"<div><strong>{html.escape(repr(self)[1:-1])}</strong>"
                + (f"<p>{html.escape(self.description)}</p>" if self.description else "")
                + more + shown.to_html(index=False) + "</div>")
