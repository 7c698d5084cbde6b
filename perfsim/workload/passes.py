"""Graph passes from the training graph to the inference graph (DESIGN section 4, "Inference
graph"): what an inference stack runs rather than what a framework trains.

* :func:`fold_affine` folds every per-channel affine map the registry marks
  :attr:`~perfsim.workload.ops.Op.folds_into_weights` (batch norm at inference, a per-channel
  scale or offset) into the layer before it when that layer
  :attr:`~perfsim.workload.ops.Op.takes_folded_affine` (conv, fc) and the map is its output's
  only consumer: the scale multiplies the weights and the shift becomes the bias (the layer
  gains one if it had none), so the map costs no layer and no traffic. It depends on nothing
  but the graph.
* :func:`fuse_epilogues` applies element-wise ops (:attr:`~perfsim.workload.ops.Op.
  fuses_as_epilogue`: activations, per-channel scale and offset, residual adds) in the output
  path of the layer producing their input, when that layer's output has no other consumer
  and the caller (:mod:`perfsim.mapping.fusion`, which asks the hardware) allows it. The
  result is a :class:`Fused` layer; chains fuse (conv, add, ReLU become one layer).

A layer that absorbs others keeps its name and lists them in :attr:`Layer.fused
<perfsim.workload.network.Layer.fused>`; consumers of an absorbed layer read the layer that
absorbed it. Both passes return a new, validated :class:`~perfsim.workload.network.Network`;
the canonical statistics (``perfsim show``) are those of the training graph, never of these.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from perfsim.errors import WorkloadError
from perfsim.workload import loopnest
from perfsim.workload.network import Layer, Network, parse_ref
from perfsim.workload.ops import Op, Shape, ShapeError


@dataclass(frozen=True)
class Fused(Op):
    """A layer of the inference graph: ``base`` (the producing layer's op) with ``epilogue``,
    the element-wise ops its engine applies to each output element on the way out, in order.
    ``skips[i]`` is how many more inputs ``epilogue[i]`` reads (a residual add's skip tensors,
    each of the output's shape; 0 for a unary op): the layer's inputs are ``base``'s, then
    those, in epilogue order.

    It is the base op to everything that asks what kind of layer it is (``kind``, engines,
    kernel, groups); its counts add the epilogue's (``params``, ``ops``, constants read), and
    its loop nest is the base's with the skip tensors as extra inputs indexed as the output
    and the epilogue's constants read with the bias (:func:`perfsim.workload.loopnest.
    with_epilogue`). It names no kind of its own, so it is not in the op registry: no network
    file or ONNX model holds one."""

    base: Op
    epilogue: tuple[Op, ...]
    skips: tuple[int, ...]

    def __post_init__(self):
        object.__setattr__(self, "epilogue", tuple(self.epilogue))
        object.__setattr__(self, "skips", tuple(self.skips))
        if len(self.skips) != len(self.epilogue):
            raise WorkloadError(f"a fused layer gives every epilogue op its skip inputs: "
                                f"{len(self.epilogue)} op(s), {len(self.skips)} count(s)")
        for op, skips in zip(self.epilogue, self.skips):
            if not op.fuses_as_epilogue:
                raise WorkloadError(f"op {op.kind} cannot run in an output path")
            if skips < 0 or skips + 1 < op.min_inputs or (
                    op.max_inputs is not None and skips + 1 > op.max_inputs):
                raise WorkloadError(f"op {op.kind} in an epilogue cannot read {skips} skip "
                                    f"input(s)")

    @property
    def kind(self) -> str:  # type: ignore[override]
        return self.base.kind

    @property
    def category(self) -> str:  # type: ignore[override]
        return self.base.category

    @property
    def engine_kinds(self) -> frozenset[str]:  # type: ignore[override]
        return self.base.engine_kinds

    @property
    def tile_local(self) -> bool:  # type: ignore[override]
        return self.base.tile_local

    @property
    def reader_kinds(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.base.reader_kinds

    @property
    def pin_variants(self) -> tuple[str, ...]:  # type: ignore[override]
        return self.base.pin_variants

    def pin_variant(self) -> str | None:
        return self.base.pin_variant()

    @property
    def residuals(self) -> int:
        """The layer's trailing inputs that the epilogue reads."""
        return sum(self.skips)

    @property
    def min_inputs(self) -> int:  # type: ignore[override]
        return self.base.min_inputs + self.residuals

    @property
    def max_inputs(self) -> int | None:  # type: ignore[override]
        most = self.base.max_inputs
        return None if most is None else most + self.residuals

    def with_epilogue(self, op: Op, skips: int) -> Fused:
        """This layer with ``op`` applied after its epilogue, reading ``skips`` more inputs."""
        return Fused(self.base, (*self.epilogue, op), (*self.skips, skips))

    def _base_inputs(self, in_shapes: tuple[Shape, ...]) -> tuple[Shape, ...]:
        return in_shapes[:len(in_shapes) - self.residuals]

    def _epilogue_inputs(self, in_shapes: tuple[Shape, ...]) -> list[tuple[Shape, ...]]:
        """Each epilogue op's input shapes: the running value, then its skip tensors, all of
        the output's shape."""
        out = self.base.out_shapes(self._base_inputs(in_shapes))[0]
        return [(out,) * (1 + skips) for skips in self.skips]

    def out_shapes(self, in_shapes):
        base_in = self._base_inputs(in_shapes)
        out = self.base.out_shapes(base_in)
        if len(out) != 1:
            raise ShapeError("only a layer with one output takes an epilogue")
        for i in range(len(base_in), len(in_shapes)):
            if in_shapes[i] != out[0]:
                raise ShapeError("a skip input of the epilogue must have the output's shape",
                                 inputs=(i,))
        return out

    def params(self, in_shapes):
        return self.base.params(self._base_inputs(in_shapes)) + sum(
            op.params(shapes) for op, shapes in zip(self.epilogue,
                                                    self._epilogue_inputs(in_shapes)))

    def weight_elems(self, in_shapes):
        return self.base.weight_elems(self._base_inputs(in_shapes)) + self._constants(in_shapes)

    def _constants(self, in_shapes: tuple[Shape, ...]) -> int:
        return sum(op.weight_elems(shapes) for op, shapes in zip(
            self.epilogue, self._epilogue_inputs(in_shapes)))

    def macs(self, in_shapes):
        return self.base.macs(self._base_inputs(in_shapes))

    def ops(self, in_shapes):
        return self.base.ops(self._base_inputs(in_shapes)) + self.epilogue_ops(in_shapes)

    def epilogue_ops(self, in_shapes: tuple[Shape, ...]) -> int:
        """Arithmetic the output path does per sample (the epilogue ops' own counts)."""
        return sum(op.ops(shapes) for op, shapes in zip(self.epilogue,
                                                        self._epilogue_inputs(in_shapes)))

    def residual_elems(self, in_shapes: tuple[Shape, ...]) -> int:
        """Elements of the skip tensors the output path reads, per sample."""
        out = self.out_shapes(in_shapes)[0]
        return self.residuals * out[0] * out[1] * out[2]

    def loop_nest(self, batch, in_shapes, out_shapes):
        nest = self.base.loop_nest(batch, self._base_inputs(in_shapes), out_shapes)
        return loopnest.with_epilogue(nest, residuals=self.residuals,
                                      constants=self._constants(in_shapes))

    @property
    def kernel(self):
        return self.base.kernel

    @property
    def stride(self):
        return self.base.stride

    @property
    def groups(self):
        return self.base.groups

    def window(self, in_shape):
        return self.base.window(in_shape)

    def step(self, in_shape):
        return self.base.step(in_shape)


class _Rewrite:
    """A network being rewritten in order, layer by layer: absorbed layers are renamed to the
    layer that absorbed them, which takes over their consumers (and, if it must, their place
    in the order)."""

    def __init__(self, network: Network):
        self.network = network
        self.consumers = Counter(parse_ref(ref)[0] for layer in network.layers
                                 for ref in layer.inputs)
        self.rename: dict[str, str] = {}
        self.layers: dict[str, Layer] = {}  # the current layers, by name
        self.slots: list[str | None] = []  # names in order; None where a layer left
        self.slot: dict[str, int] = {}

    def resolve(self, layer: Layer) -> Layer:
        """``layer`` reading the layers that absorbed its inputs."""
        inputs = tuple(self.rename.get(parse_ref(ref)[0], ref) for ref in layer.inputs)
        return dataclasses.replace(layer, inputs=inputs)

    def keep(self, layer: Layer) -> None:
        self.layers[layer.name] = layer
        self.slot[layer.name] = len(self.slots)
        self.slots.append(layer.name)

    def sole_producer(self, ref: str) -> Layer | None:
        """The layer whose only output ``ref`` is, when ``ref`` has no other consumer."""
        name, _ = parse_ref(ref)
        # a layer that absorbed others kept its name, and its output's shape
        if name not in self.layers or self.consumers[name] != 1 \
                or len(self.network.out_shapes[name]) != 1:
            return None
        return self.layers[name]

    def absorb(self, layer: Layer, host: Layer, skips: tuple[str, ...] = ()) -> None:
        """Replace ``host`` by itself having absorbed ``layer`` (``host`` already carries its
        new op and inputs); it takes ``layer``'s consumers, and ``layer``'s place in the order
        when one of ``skips`` is made after it."""
        name = host.name
        self.layers[name] = dataclasses.replace(
            host, fused=(*host.fused, *layer.fused, layer.name))
        self.rename[layer.name] = name
        self.consumers[name] = self.consumers[layer.name]
        if any(self.slot[parse_ref(ref)[0]] > self.slot[name] for ref in skips):
            self.slots[self.slot[name]] = None
            self.slot[name] = len(self.slots)
            self.slots.append(name)

    def build(self) -> Network:
        net = self.network
        kept = tuple(self.layers[n] for n in self.slots if n is not None)
        return Network(net.name, kept, net.batch, net.description, net.source,
                       net.tokens & {layer.name for layer in kept})


def fold_affine(network: Network) -> Network:
    """``network`` with every foldable per-channel affine map folded into the layer before it
    (module docstring); the network itself when there is none."""
    rewrite = _Rewrite(network)
    for layer in network.layers:
        layer = rewrite.resolve(layer)
        host = rewrite.sole_producer(layer.inputs[0]) \
            if layer.op.folds_into_weights and len(layer.inputs) == 1 else None
        if host is None or not host.op.takes_folded_affine:
            rewrite.keep(layer)
            continue
        op = host.op
        if layer.op.folded_shift() and not op.bias:  # type: ignore[attr-defined]
            op = dataclasses.replace(op, bias=True)
        rewrite.absorb(layer, dataclasses.replace(host, op=op))
    return rewrite.build() if rewrite.rename else network


def fuse_epilogues(network: Network, allowed: Callable[[Layer, Layer], bool]) -> Network:
    """``network`` with every element-wise op that can (:attr:`~perfsim.workload.ops.Op.
    fuses_as_epilogue`) applied in the output path of the layer producing its input, when
    ``allowed(producer, op_layer)`` (the hardware's say). The producer must do work (no view
    or network input), have one output and no consumer but the op; the op's output has the
    producer's shape. A residual add fuses into the latest-made producer among its inputs
    that qualifies, when all its inputs have the output's shape; its other inputs become the
    fused layer's skip inputs, and the fused layer moves to the add's place in the order if
    one of them is made after the producer."""
    rewrite = _Rewrite(network)
    for layer in network.layers:
        layer = rewrite.resolve(layer)
        fused = _epilogue_host(rewrite, layer, allowed) if layer.op.fuses_as_epilogue else None
        if fused is None:
            rewrite.keep(layer)
            continue
        host, skips = fused
        op = host.op.with_epilogue(layer.op, len(skips)) if isinstance(host.op, Fused) \
            else Fused(host.op, (layer.op,), (len(skips),))
        rewrite.absorb(layer, dataclasses.replace(host, op=op, inputs=host.inputs + skips),
                       skips)
    return rewrite.build() if rewrite.rename else network


def _epilogue_host(rewrite: _Rewrite, layer: Layer, allowed: Callable[[Layer, Layer], bool]
                   ) -> tuple[Layer, tuple[str, ...]] | None:
    """The layer whose output path ``layer`` can run in, and the inputs it then reads as
    skips; None if none can."""
    net = rewrite.network
    out = net.out_shapes[layer.name][0]
    # (a layer that absorbed others has the shape of the last one it absorbed)
    if any(net.shape_of(ref) != out for ref in layer.inputs):
        return None  # a broadcast (an SE gate, a per-channel bias tensor) is not element-wise
    best = None
    for i, ref in enumerate(layer.inputs):
        host = rewrite.sole_producer(ref)
        if host is None or host.op.view or not host.op.engine_kinds \
                or not allowed(host, layer):
            continue
        if best is None or rewrite.slot[host.name] > rewrite.slot[best[0].name]:
            best = (host, i)
    if best is None:
        return None
    host, i = best
    return host, layer.inputs[:i] + layer.inputs[i + 1:]
