"""The base of every op and the registry: an op kind is declared once, by a class deriving
:class:`Op`, which registers itself in :data:`OPS` when it is defined; and the shape helpers
the family modules share."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from fractions import Fraction
from typing import ClassVar, Mapping

from perfsim.errors import suggest
from perfsim.workload import loopnest
from perfsim.workload.limits import MAX_DIM, power_text

Shape = tuple[int, int, int]
Pair = tuple[int, int]
Pads = tuple[int, int, int, int]

CATEGORIES = ("input", "channel+space", "channel", "space", "element", "time", "rearrangement",
              "training")


class ShapeError(Exception):
    """Inputs that do not fit an op. ``inputs`` are the indices of the inputs at fault."""

    def __init__(self, detail: str, inputs: tuple[int, ...] = (0,)):
        super().__init__(detail)
        self.detail = detail
        self.inputs = inputs


def elems(shape: Shape) -> int:
    """Number of elements in one sample of a tensor of this shape."""
    return shape[0] * shape[1] * shape[2]


def fmt_shape(shape: Shape) -> str:
    """``[C, H, W]`` as written in messages."""
    return "[" + ", ".join(str(d) for d in shape) + "]"


def as_pair(value, what: str) -> Pair:
    """An int or a 2-sequence as ``(y, x)``."""
    if isinstance(value, bool):
        raise ValueError(f"{what} must be an integer or a pair of integers, got {value!r}")
    if isinstance(value, int):
        return (value, value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        return (value[0], value[1])
    raise ValueError(f"{what} must be an integer or a pair of integers, got {value!r}")


def as_pads(value) -> Pads:
    """Padding as ``(top, left, bottom, right)`` (ONNX's begin/end order) from an int (all
    sides), a pair ``(y, x)`` (both sides of each axis) or a 4-sequence."""
    if isinstance(value, (tuple, list)) and len(value) == 4 and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        pads = tuple(value)
    else:
        y, x = as_pair(value, "padding")
        pads = (y, x, y, x)
    if min(pads) < 0:
        raise ValueError(f"padding must not be negative, got {list(pads)}")
    return pads  # type: ignore[return-value]


def _positive(value, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{what} must be a positive integer, got {value!r}")


def _as_shape(value) -> Shape:
    """``[C, H, W]`` of positive integers as a tuple."""
    if not (isinstance(value, (tuple, list)) and len(value) == 3):
        raise ValueError(f"shape must be [C, H, W], got {value!r}")
    for d in value:
        _positive(d, "every dimension of shape")
    return tuple(value)  # type: ignore[return-value]


def _single(in_shapes: tuple[Shape, ...]) -> Shape:
    return in_shapes[0]


def _sliding_out(size: int, pad: int, extent: int, stride: int, ceil_mode: bool,
                 pad_begin: int, axis: str) -> int:
    """Output length of a sliding window (PyTorch's rule, including ceil mode)."""
    span = size + pad - extent
    if span < 0:
        raise ShapeError(f"window of {extent} does not fit the padded {axis} extent "
                         f"{size + pad}")
    if ceil_mode:
        out = -(-span // stride) + 1
        if (out - 1) * stride >= size + pad_begin:  # last window must start inside the input
            out -= 1
        return out
    return span // stride + 1


OPS: dict[str, type["Op"]] = {}
"""Every op kind to its class: the closed op set. Classes register themselves on definition
(:meth:`Op.__init_subclass__`)."""
OTHER_KIND = "other (element-wise, pooling, ...)"
"""The reader's kind of every op that names none of its own."""


def reader_kind_order() -> tuple[str, ...]:
    """Every reader's kind the op classes declare (:attr:`Op.reader_kinds`), in the order the
    classes were declared, then :data:`OTHER_KIND`: the order reports list kinds in."""
    kinds = dict.fromkeys(k for cls in OPS.values() for k in cls.reader_kinds)
    return (*kinds, OTHER_KIND)


def pinned_engine(pin: Mapping[str, str], op: "Op") -> str | None:
    """The engine ``pin`` (``kind`` or ``kind:variant`` -> engine name) puts ``op`` on: its
    variant's pin, else its kind's; None when neither is pinned."""
    variant = op.pin_variant()
    if variant is not None and f"{op.kind}:{variant}" in pin:
        return pin[f"{op.kind}:{variant}"]
    return pin.get(op.kind)


def pin_problem(key: str) -> str | None:
    """Why ``key`` is not a pin's ``kind`` or ``kind:variant`` (None when it is one), with
    the valid ones."""
    kind, _, variant = key.partition(":")
    if kind not in OPS:
        variants = [f"{k}:{v}" for k, c in sorted(OPS.items()) for v in c.pin_variants]
        hint = [v for v in variants if v.endswith(f":{kind}")] or sorted(
            k for k in OPS if len(k) > 2 and (kind.startswith(k) or k.startswith(kind)))
        return (f"unknown op kind '{kind}'"
                + (f"; did you mean: {', '.join(hint)}?" if hint else suggest(kind, list(OPS)))
                + " (op kinds: "
                f"{', '.join(sorted(OPS))}; variants: {', '.join(variants)})")
    variants = OPS[kind].pin_variants
    if variant and variant not in variants:
        return (f"op {kind} has no variant '{variant}' to pin "
                + (f"(variants: {', '.join(f'{kind}:{v}' for v in variants)})" if variants
                   else "(it takes no variant: pin the kind)"))
    return None


@dataclass(frozen=True)
class Op:
    """Base of every op. Subclasses set ``kind`` (the op's name) and ``category``."""

    kind: ClassVar[str] = ""
    category: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int | None] = 1
    engine_kinds: ClassVar[frozenset[str]] = frozenset({"vector"})
    """The kinds of engine that can run the op (a vector engine runs every op that does work;
    a matrix engine only GEMM-shaped ones)."""
    view: ClassVar[bool] = False
    """A view relabels its input in place at inference (or is a network input, or an op
    perfsim cannot map): no cycles, no traffic, and its output aliases its input."""
    in_place: ClassVar[bool] = False
    """The layer updates its first input in place (a KV cache append): its output lives where
    that input lives, and its work is only what it writes."""
    tile_local: ClassVar[bool] = False
    """Each output tile needs only the matching part of the inputs, so the layer can run tile
    by tile behind its producer (reductions over a whole map, such as softmax, cannot)."""
    lecture_type: ClassVar[str | None] = None
    """The lecture table's four-letter row type (``Conv``, ``Nonl``, ...); None: no row."""
    onnx_name: ClassVar[str | None] = None
    """The ONNX operator this op is, one to one and without attributes, when it is one: ONNX
    import and export then need nothing else (ops with attributes have their own converters
    in :mod:`perfsim.io`)."""
    broadcasts_as_constants: ClassVar[bool] = False
    """Inputs smaller than the largest (an SE gate ``[C, 1, 1]``) are broadcast constants of
    the layer, read like weights, not streams."""
    reader_kinds: ClassVar[tuple[str, ...]] = ()
    """The kinds of layer :meth:`reader_kind` names for this op, in the order reports list
    them; empty: the op is among the "other" layers."""
    pin_variants: ClassVar[tuple[str, ...]] = ()
    """The variants a pin may single out as ``kind:variant`` (``conv:depthwise``), which
    :meth:`pin_variant` tells apart; empty: a pin names the whole kind."""
    folds_into_weights: ClassVar[bool] = False
    """The op is a per-channel affine map (a batch norm at inference, a per-channel scale or
    offset) that an inference graph folds into the layer before it when that layer
    :attr:`takes_folded_affine` and this op is its output's only consumer: the scale
    multiplies the layer's weights, the shift (:meth:`folded_shift`) becomes its bias
    (:func:`perfsim.workload.passes.fold_affine`)."""
    takes_folded_affine: ClassVar[bool] = False
    """A per-channel affine map of the op's output folds into its weights and bias (conv, fc);
    such an op has a ``bias`` attribute."""
    fuses_as_epilogue: ClassVar[bool] = False
    """The op can run in an engine's output path, applied to each output element of the layer
    producing its input as that element leaves the engine: an element-wise activation, a
    per-channel scale or offset, a residual add of same-shaped tensors
    (:mod:`perfsim.mapping.fusion` decides, per accelerator, when it does)."""

    def __post_init__(self):
        """Checks every attribute against its declared type (:func:`check_attributes`);
        an op class with checks of its own calls this first."""
        check_attributes(self)

    def __init_subclass__(cls, **kwargs):
        """Registers every op class that names a ``kind`` in :data:`OPS`: an op kind is
        declared once, by its class."""
        super().__init_subclass__(**kwargs)
        # A composite (perfsim.workload.passes.Fused) reads its kind from its parts: only a
        # class that names a kind of its own is one.
        if isinstance(cls.__dict__.get("kind"), str) and cls.kind:
            if cls.kind in OPS:
                raise TypeError(f"op kind '{cls.kind}' is declared twice: {OPS[cls.kind]} "
                                f"and {cls}")
            OPS[cls.kind] = cls

    def loop_nest(self, batch: int, in_shapes: tuple[Shape, ...],
                  out_shapes: tuple[Shape, ...]) -> loopnest.LoopNest | None:
        """The layer's work at ``batch`` as an einsum nest (:mod:`perfsim.workload.loopnest`),
        which the tiling search and the traffic counts read; None for a view. The default is
        stream work: every input element read and every output element written once, in
        channel groups (:meth:`stream_groups`), with the op's constants and the inputs it
        broadcasts (:attr:`broadcasts_as_constants`) read like weights."""
        if self.view:
            return None
        groups = self.stream_groups(in_shapes, out_shapes)
        largest = max(elems(s) for s in in_shapes)
        in_total = broadcast = 0
        for shape in in_shapes:
            if self.broadcasts_as_constants and elems(shape) < largest:
                broadcast += elems(shape)  # a gate or a per-channel constant
            else:
                in_total += elems(shape)
        out_total = sum(elems(s) for s in out_shapes)
        constants = self.weight_elems(in_shapes) + broadcast
        return loopnest.stream(batch=batch, groups=groups, in_per_group=-(-in_total // groups),
                               out_per_group=-(-out_total // groups),
                               constants_per_group=-(-constants // groups))

    def pin_variant(self) -> str | None:
        """Which of :attr:`pin_variants` this op is (None when the kind has none)."""
        return None

    def folded_shift(self) -> bool:
        """Whether the per-channel affine map this op folds (:attr:`folds_into_weights`) adds a
        shift, which becomes a bias of the layer it folds into."""
        return self.folds_into_weights

    def stream_groups(self, in_shapes: tuple[Shape, ...], out_shapes: tuple[Shape, ...]) -> int:
        """The channel groups stream work is tiled by: the first input's channels."""
        return in_shapes[0][0]

    @classmethod
    def reader_kind(cls, *, groups: int, kernel: Pair, out_channels: int) -> str:
        """A reader's name for a layer's kind (reports group and colour layers by it), from
        what a result row keeps of the layer."""
        return cls.reader_kinds[0] if cls.reader_kinds else OTHER_KIND

    def out_shapes(self, in_shapes: tuple[Shape, ...]) -> tuple[Shape, ...]:
        """Output shapes; the default keeps the single input's shape."""
        return (_single(in_shapes),)

    def params(self, in_shapes: tuple[Shape, ...]) -> int:
        """Trainable parameters."""
        return 0

    def weight_elems(self, in_shapes: tuple[Shape, ...]) -> int:
        """Constant elements read by the layer (trainable or not)."""
        return self.params(in_shapes)

    def macs(self, in_shapes: tuple[Shape, ...]) -> int:
        """Multiply-accumulates of weight layers, per sample."""
        return 0

    def ops(self, in_shapes: tuple[Shape, ...]) -> int:
        """Arithmetic other than MACs, per sample."""
        return 0

    @property
    def kernel(self) -> Pair:
        return (1, 1)

    @property
    def stride(self) -> Pair:
        return (1, 1)

    @property
    def groups(self) -> int:
        return 1

    def window(self, in_shape: Shape) -> Pair:
        """Input extent seen by one output position (for the receptive field)."""
        return self.kernel

    def step(self, in_shape: Shape) -> tuple[Fraction, Fraction]:
        """Input step between neighbouring output positions (for the receptive field)."""
        return (Fraction(self.stride[0]), Fraction(self.stride[1]))

    def attributes(self) -> dict:
        """The op's attributes as plain JSON-ready values."""
        return {f.name: list(v) if isinstance(v, tuple) else v
                for f in fields(self) for v in [getattr(self, f.name)]}


SIZED_TYPES = ("int", "Pair", "Pads", "Shape", "tuple[int, ...]")
"""Declared attribute types that hold sizes: integers of at most :data:`MAX_DIM`."""


def check_attributes(op: Op) -> None:
    """A ``ValueError`` naming the attribute (by its user-facing name) unless each attribute of
    ``op`` has its declared type: a ``bool`` true or false, a ``float`` a finite number, a
    ``str`` text, an ``int`` an integer; and every integer of a size (:data:`SIZED_TYPES`) at
    most :data:`MAX_DIM` in magnitude. The forms of pairs, paddings and shapes are checked by
    the ops that read them (:func:`as_pair`, :func:`as_pads`)."""
    for f in fields(op):
        value = getattr(op, f.name)
        declared = str(f.type)
        if value is None and declared.endswith(" | None"):
            continue
        declared = declared.removesuffix(" | None")
        name = FIELD_ALIASES.get(f.name, f.name)
        if declared == "bool" and not isinstance(value, bool):
            raise ValueError(f"{name} must be true or false, got {value!r}")
        if declared == "float" and (isinstance(value, bool) or not isinstance(value, (int, float))
                                    or not math.isfinite(value)):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
        if declared == "str" and not isinstance(value, str):
            raise ValueError(f"{name} must be text, got {value!r}")
        if declared == "int" and (isinstance(value, bool) or not isinstance(value, int)):
            raise ValueError(f"{name} must be an integer, got {value!r}")
        if declared == "tuple[int, ...]" and not (
                isinstance(value, (tuple, list))
                and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise ValueError(f"{name} must be a list of integers, got {value!r}")
        if declared in SIZED_TYPES:
            items = value if isinstance(value, (tuple, list)) else (value,)
            for v in items:
                if isinstance(v, int) and abs(v) > MAX_DIM:
                    raise ValueError(f"{name} {v:,} is beyond {power_text(MAX_DIM)}, the "
                                     f"largest size perfsim accepts")


# The attribute names users write (in network files) for fields whose Python names avoid a
# clash with the common ``kernel``/``stride``/``groups`` properties and the ``step`` method.
FIELD_ALIASES = {"kernel_size": "kernel", "strides": "stride", "group_count": "groups",
                 "slice_step": "step"}


def attribute_names(cls: type[Op]) -> dict[str, str]:
    """User-facing attribute name -> dataclass field name, for one op class."""
    return {FIELD_ALIASES.get(f.name, f.name): f.name for f in fields(cls)}


def make_op(kind: str, **attributes) -> Op:
    """Build an op by name from user-facing attribute names (``kernel``, ``stride``,
    ``groups``, ...). Raises ``KeyError`` for an unknown op, ``TypeError``/``ValueError`` for
    unknown or invalid attributes."""
    cls = OPS[kind]
    names = attribute_names(cls)
    unknown = sorted(set(attributes) - set(names))
    if unknown:
        raise TypeError(f"unknown attribute(s) {', '.join(unknown)}")
    return cls(**{names[k]: v for k, v in attributes.items()})


def user_attributes(op: Op) -> dict:
    """The op's attributes under their user-facing names (the inverse of :func:`make_op`)."""
    return {FIELD_ALIASES.get(k, k): v for k, v in op.attributes().items()}
