"""The einsum form of a layer's work: named loop dimensions, and for every operand the dimensions
that index it and how (DESIGN section 4, "Loop nests as data").

A :class:`LoopNest` is a set of named dimensions (:class:`Dim`, DESIGN's letters ``B, G, K, C,
OY, OX, FY, FX``, ``T, H, M, N``) with their sizes, and operands (:class:`Operand`), each an
ordered tuple of axes. An axis is a projection of the loop indices onto one tensor axis:

* :class:`Plain` -- the axis index is one dimension's index (``K`` of the output);
* :class:`Window` -- a sliding window ``stride * o + dilation * f - pad_before`` of an output
  dimension ``o`` and a filter dimension ``f`` over an axis of ``size`` elements; indices
  outside ``[0, size)`` are padding, which is never stored, fetched or counted;
* :class:`Spread` -- an axis of its own length laid along a dimension that is cut into equal
  parts (stream work: an up-sampling's output has four elements for each input element, and
  a chunk of the one goes with the same chunk of the other).

Which dimensions index an operand decides its reuse: a dimension that does not index an
operand re-reads the same tile of it. Dimensions that do not index the output are reductions;
filter windows are never cut by a tiling (``split="whole"``); a recurrent layer's time steps
may be marked ``sequential``. The ZigZag and Timeloop problem specs describe layers the same
way ("operand relevance", "projections"); the names and code here are perfsim's own.

Units: sizes are element or iteration counts; nothing here knows bytes or hardware.
Invariants (checked on construction, :class:`~perfsim.errors.WorkloadError` otherwise): names
are unique; every projection names a known dimension; each dimension appears at most once
among an operand's axes; every dimension indexes some operand; there is exactly one output,
indexed by plain or spread axes only; a window's filter dimension is never split and a spread
axis lies along a dimension cut into parts; a bias travels with a weights operand and is
indexed by a subset of its dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from math import prod

import numpy as np

from perfsim.errors import WorkloadError

SPLITS = ("halves", "parts", "whole", "single")
"""How a tiling may cut a dimension (see :class:`Dim`)."""
ROLES = ("input", "weights", "bias", "output")
"""What an operand is; the precision and the buffer it uses follow from it."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise WorkloadError(message)


def _count(value, what: str, minimum: int) -> None:
    _require(isinstance(value, int) and not isinstance(value, bool) and value >= minimum,
             f"{what} must be an integer >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class Dim:
    """One loop of the nest: ``size`` iterations (>= 1) named ``name``.

    ``split`` says how a tiling may cut it:

    * ``"halves"``: into tiles of ``ceil(size / 2^i)`` iterations (the last tile shorter);
    * ``"parts"``: into ``2^i`` equal parts of ``ceil(size / 2^i)`` iterations (trailing parts
      shorter or empty); every :class:`Spread` axis along it is cut into as many parts of its
      own length;
    * ``"whole"``: never cut (a filter window is read whole by every tile);
    * ``"single"``: always one iteration at a time.
    """

    name: str
    size: int
    split: str = "halves"

    def __post_init__(self):
        _require(isinstance(self.name, str) and self.name.isidentifier(),
                 f"a dimension name must be an identifier, got {self.name!r}")
        _count(self.size, f"dimension {self.name} size", 1)
        _require(self.split in SPLITS,
                 f"dimension {self.name}: split must be one of {', '.join(SPLITS)}, "
                 f"got {self.split!r}")


@dataclass(frozen=True)
class Plain:
    """A tensor axis indexed by dimension ``dim`` itself (``size(dim)`` elements)."""

    dim: str

    @property
    def dims(self) -> tuple[str, ...]:
        return (self.dim,)


@dataclass(frozen=True)
class Window:
    """A tensor axis of ``size`` elements read through a sliding window: output index ``o`` of
    dimension ``out`` and filter index ``f`` of dimension ``filter`` read element
    ``stride * o + dilation * f - pad_before``; elements outside ``[0, size)`` are padding
    (never fetched). Padding after the axis is whatever the output size implies."""

    out: str
    filter: str
    size: int
    stride: int = 1
    dilation: int = 1
    pad_before: int = 0

    def __post_init__(self):
        _count(self.size, f"window over {self.out}: size", 1)
        _count(self.stride, f"window over {self.out}: stride", 1)
        _count(self.dilation, f"window over {self.out}: dilation", 1)
        _count(self.pad_before, f"window over {self.out}: pad_before", 0)

    @property
    def dims(self) -> tuple[str, ...]:
        return (self.out, self.filter)


@dataclass(frozen=True)
class Spread:
    """A tensor axis of ``size`` elements (>= 0) laid along dimension ``dim``, which is cut into
    parts: each part of ``dim`` holds ``ceil(size / parts)`` of them (the last ones fewer)."""

    dim: str
    size: int

    def __post_init__(self):
        _count(self.size, f"spread along {self.dim}: size", 0)

    @property
    def dims(self) -> tuple[str, ...]:
        return (self.dim,)


Projection = Plain | Window | Spread


@dataclass(frozen=True)
class Operand:
    """A tensor the nest reads or writes.

    ``axes`` are its tensor axes (one projection each); every index point holds
    ``elements_per_point`` elements (an LSTM has two biases per gate output; a stream op's
    per-channel constants are one point of several elements). A ``bias`` travels with the
    weights operand named ``travels_with``: it is fetched with that operand's tile whose other
    dimensions start at index 0 (the first input-channel tile) and shares its buffer."""

    name: str
    role: str
    axes: tuple[Projection, ...]
    elements_per_point: int = 1
    travels_with: str | None = None

    def __post_init__(self):
        _require(isinstance(self.name, str) and self.name != "",
                 f"an operand name must be a non-empty string, got {self.name!r}")
        _require(self.role in ROLES, f"operand {self.name}: role must be one of "
                 f"{', '.join(ROLES)}, got {self.role!r}")
        object.__setattr__(self, "axes", tuple(self.axes))
        for axis in self.axes:
            _require(isinstance(axis, (Plain, Window, Spread)),
                     f"operand {self.name}: an axis must be Plain, Window or Spread, "
                     f"got {axis!r}")
        _count(self.elements_per_point, f"operand {self.name} elements_per_point", 1)
        names = [d for axis in self.axes for d in axis.dims]
        _require(len(names) == len(set(names)),
                 f"operand {self.name}: a dimension indexes more than one of its axes "
                 f"({', '.join(names)})")
        _require((self.role == "bias") == (self.travels_with is not None),
                 f"operand {self.name}: a bias, and only a bias, names the weights it "
                 f"travels with")
        if self.role == "output":
            _require(not any(isinstance(a, Window) for a in self.axes),
                     f"output {self.name}: outputs are indexed by plain or spread axes only")

    @property
    def dims(self) -> tuple[str, ...]:
        """The dimensions that index this operand, in axis order."""
        return tuple(d for axis in self.axes for d in axis.dims)


@dataclass(frozen=True)
class LoopNest:
    """The work of one layer as named loops and operand projections.

    The order of ``dims`` is the order a tiling search enumerates them (first outermost) and
    the order of their loop classes (:mod:`perfsim.mapping.kernels.nest_tiling`); the
    constructors below keep today's search order (``G, K, C, B, OY, OX`` for convolutions).
    ``sequential`` names a dimension whose iterations depend on the previous one (a
    recurrent layer's time steps): it is split ``"single"`` and every tiling runs it as its
    outermost loop, one step after another, so a step's tiles all finish before the next
    step's start (what may be done for all steps at once, like a recurrent layer's input
    projection, is a nest of its own)."""

    dims: tuple[Dim, ...]
    operands: tuple[Operand, ...]
    sequential: str | None = None

    def __post_init__(self):
        object.__setattr__(self, "dims", tuple(self.dims))
        object.__setattr__(self, "operands", tuple(self.operands))
        names = [d.name for d in self.dims]
        _require(len(names) == len(set(names)), f"duplicate dimension names: {names}")
        by_name = {d.name: d for d in self.dims}
        op_names = [o.name for o in self.operands]
        _require(len(op_names) == len(set(op_names)), f"duplicate operand names: {op_names}")
        for op in self.operands:
            for axis in op.axes:
                for dim in axis.dims:
                    _require(dim in by_name, f"operand {op.name}: unknown dimension {dim!r} "
                             f"(the nest has {', '.join(names)})")
                if isinstance(axis, Window):
                    _require(by_name[axis.filter].split == "whole",
                             f"operand {op.name}: the window's filter dimension "
                             f"{axis.filter} must be split 'whole'")
                    _require(by_name[axis.out].split != "parts",
                             f"operand {op.name}: a window cannot slide along "
                             f"{axis.out}, a dimension cut into parts")
                if isinstance(axis, Spread):
                    _require(by_name[axis.dim].split == "parts",
                             f"operand {op.name}: a spread axis lies along a dimension "
                             f"split 'parts', and {axis.dim} is split "
                             f"{by_name[axis.dim].split!r}")
        outputs = [o for o in self.operands if o.role == "output"]
        _require(len(outputs) == 1, f"a nest has exactly one output, got {len(outputs)}")
        for op in self.operands:
            if op.role == "bias":
                host = next((h for h in self.operands if h.name == op.travels_with), None)
                _require(host is not None and host.role == "weights",
                         f"bias {op.name} travels with {op.travels_with!r}, which is not a "
                         f"weights operand of the nest")
                _require(all(isinstance(a, Plain) for a in op.axes + host.axes),
                         f"bias {op.name} and its weights {host.name} have plain axes only")
                _require(set(op.dims) <= set(host.dims),
                         f"bias {op.name}: its dimensions {op.dims} are not all dimensions "
                         f"of {host.name} {host.dims}")
        used = {d for op in self.operands for d in op.dims}
        for name in names:
            _require(name in used, f"dimension {name} indexes no operand")
        _require(self.sequential is None or self.sequential in by_name,
                 f"sequential dimension {self.sequential!r} is not a dimension of the nest")
        _require(self.sequential is None or by_name[self.sequential].split == "single",
                 f"sequential dimension {self.sequential!r} must be split 'single' (one step "
                 f"at a time)")
        # A nest is immutable and read many times per sweep point (it keys the tiling caches;
        # the cost model looks its dimensions up by name): hash it, index it by name and
        # derive its output, reductions and cut dimensions once, not on every lookup.
        object.__setattr__(self, "_hash", hash((self.dims, self.operands, self.sequential)))
        object.__setattr__(self, "_dims_by_name", by_name)
        object.__setattr__(self, "_operands_by_name", {o.name: o for o in self.operands})
        object.__setattr__(self, "_elements", {})
        out = set(outputs[0].dims)
        object.__setattr__(self, "output", outputs[0])
        object.__setattr__(self, "reduction_dims",
                           tuple(d.name for d in self.dims if d.name not in out))
        object.__setattr__(self, "tiled_dims",
                           tuple(d.name for d in self.dims if d.split != "whole"))

    output: Operand = field(init=False, repr=False, compare=False)
    """The operand the nest writes."""
    reduction_dims: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """Dimensions that do not index the output: its elements accumulate over them."""
    tiled_dims: tuple[str, ...] = field(init=False, repr=False, compare=False)
    """Dimensions a tiling may cut (all but the ``whole`` ones)."""

    def __hash__(self) -> int:
        return self._hash

    def dim(self, name: str) -> Dim:
        found = self._dims_by_name.get(name)
        return found if found is not None else _named(self.dims, name, "dimension")

    def size(self, name: str) -> int:
        """Iterations of dimension ``name``."""
        return self.dim(name).size

    def operand(self, name: str) -> Operand:
        found = self._operands_by_name.get(name)
        return found if found is not None else _named(self.operands, name, "operand")

    def axis_elements(self, axis: Projection) -> int:
        """Distinct elements along one axis: a window counts the in-bounds elements some
        output reads (rows a stride skips and padding are not elements read)."""
        if isinstance(axis, Plain):
            return self.size(axis.dim)
        if isinstance(axis, Spread):
            return axis.size
        return window_elements(axis.size, self.size(axis.out), self.size(axis.filter),
                               axis.stride, axis.dilation, axis.pad_before)

    def elements(self, operand: str) -> int:
        """Distinct elements of an operand the nest reads or writes (counted once per nest
        and operand)."""
        count = self._elements.get(operand)
        if count is None:
            op = self.operand(operand)
            count = self._elements[operand] = op.elements_per_point * prod(
                self.axis_elements(a) for a in op.axes)
        return count


def window_elements(size: int, outs: int, taps: int, stride: int, dilation: int,
                    pad_before: int) -> int:
    """How many of the elements ``0 .. size - 1`` some ``stride * o + dilation * f -
    pad_before`` reads, for ``o < outs`` and ``f < taps``, counted in time and memory that
    grow with neither ``outs * taps`` nor ``size`` (:func:`window_elements_ref` is the
    definition, element by element).

    Outputs ``o`` and ``o'`` start in the same residue modulo ``dilation`` exactly when they
    are congruent modulo ``period = dilation / gcd(stride, dilation)``; the classes' elements
    are disjoint. In class ``j`` (outputs ``j, j + period, ...``) output ``k`` reads, in units
    of ``dilation`` from the class's residue, the interval ``[q0 + k * step, q0 + k * step +
    taps - 1]`` with ``step = stride / gcd``: equal intervals at equal steps, so their union
    within ``[0, last]`` has a closed form (one interval when ``step <= taps``, else disjoint
    intervals, all full but the first and last in range)."""
    gcd = math.gcd(stride, dilation)
    period, step = dilation // gcd, stride // gcd
    j = np.arange(min(period, outs), dtype=np.int64)
    start = stride * j - pad_before
    residue = start % dilation
    q0 = (start - residue) // dilation
    last = (size - 1 - residue) // dilation  # the class's last in-range element; < 0: none
    count = (outs - 1 - j) // period + 1  # the class's outputs
    # the class's outputs whose intervals reach into [0, last]: k_lo .. k_hi
    k_lo = np.maximum(0, -((q0 + taps - 1) // step))  # first k with q0 + k*step + taps - 1 >= 0
    k_hi = np.minimum(count - 1, np.floor_divide(last - q0, step))  # last with q0 + k*step <= last
    reached = (k_hi >= k_lo) & (last >= 0)
    first, final = q0 + k_lo * step, q0 + k_hi * step + taps - 1
    if step <= taps:  # the intervals touch or overlap: one interval, clipped to [0, last]
        covered = np.minimum(final, last) - np.maximum(first, 0) + 1
    else:  # disjoint: all full, less what the first and last hang out of [0, last]
        covered = ((k_hi - k_lo + 1) * taps - np.maximum(0, -first)
                   - np.maximum(0, final - last))
    return int(np.where(reached, covered, 0).sum())


def window_elements_ref(size: int, outs: int, taps: int, stride: int, dilation: int,
                        pad_before: int) -> int:
    """The definition of :func:`window_elements`: the elements read, collected one by one."""
    return len({stride * o + dilation * f - pad_before for o in range(outs)
                for f in range(taps)} & set(range(size)))


def _named(items, name: str, what: str):
    """The item called ``name``, or a :class:`WorkloadError` listing the names there are."""
    for item in items:
        if item.name == name:
            return item
    raise WorkloadError(f"no {what} {name!r} (the nest has "
                        f"{', '.join(i.name for i in items)})")


def _pair(value, what: str) -> tuple[int, int]:
    _require(isinstance(value, tuple) and len(value) == 2,
             f"{what} must be a (rows, columns) pair, got {value!r}")
    return value


def convolution(*, batch: int = 1, in_channels: int, out_channels: int,
                in_size: tuple[int, int], out_size: tuple[int, int],
                kernel: tuple[int, int] = (1, 1), stride: tuple[int, int] = (1, 1),
                dilation: tuple[int, int] = (1, 1), pad_before: tuple[int, int] = (0, 0),
                groups: int = 1, biases_per_output: int = 0) -> LoopNest:
    """A (grouped, depthwise, dilated, strided, padded) 2-D convolution.

    ``out[b, g, k, oy, ox] = sum_{c, fy, fx} w[g, k, c, fy, fx] * in[b, g, c, iy, ix]`` with
    ``iy = SY * oy + DY * fy - PT`` (``ix`` alike), ``K`` and ``C`` per group. ``in_size`` and
    ``out_size`` are (rows, columns); ``pad_before`` is (top, left) padding, the bottom and right
    padding being whatever ``out_size`` implies (so asymmetric padding is exact).
    ``biases_per_output`` biases per output channel (0 for none) travel with the weights.
    Dims are declared ``G, K, C, B, OY, OX, FY, FX``: the search order of today's tiler."""
    _count(groups, "groups", 1)
    _require(in_channels % groups == 0 and out_channels % groups == 0,
             f"channels {in_channels} -> {out_channels} do not split into {groups} groups")
    _count(biases_per_output, "biases_per_output", 0)
    (iy, ix), (oy, ox) = _pair(in_size, "in_size"), _pair(out_size, "out_size")
    (fy, fx), (sy, sx) = _pair(kernel, "kernel"), _pair(stride, "stride")
    (dy, dx), (pt, pl) = _pair(dilation, "dilation"), _pair(pad_before, "pad_before")
    dims = (Dim("G", groups), Dim("K", out_channels // groups), Dim("C", in_channels // groups),
            Dim("B", batch), Dim("OY", oy), Dim("OX", ox), Dim("FY", fy, "whole"),
            Dim("FX", fx, "whole"))
    operands = [
        Operand("input", "input", (Plain("B"), Plain("G"), Plain("C"),
                                   Window("OY", "FY", iy, sy, dy, pt),
                                   Window("OX", "FX", ix, sx, dx, pl))),
        Operand("weights", "weights", (Plain("G"), Plain("K"), Plain("C"), Plain("FY"),
                                       Plain("FX"))),
    ]
    if biases_per_output:
        operands.append(Operand("bias", "bias", (Plain("G"), Plain("K")), biases_per_output,
                                travels_with="weights"))
    operands.append(Operand("output", "output", (Plain("B"), Plain("G"), Plain("K"),
                                                 Plain("OY"), Plain("OX"))))
    return LoopNest(dims, tuple(operands))


def depthwise_convolution(*, batch: int = 1, channels: int, in_size: tuple[int, int],
                          out_size: tuple[int, int], kernel: tuple[int, int],
                          stride: tuple[int, int] = (1, 1),
                          dilation: tuple[int, int] = (1, 1),
                          pad_before: tuple[int, int] = (0, 0),
                          biases_per_output: int = 0) -> LoopNest:
    """A depthwise convolution: ``G = channels`` groups of one input and one output channel."""
    return convolution(batch=batch, in_channels=channels, out_channels=channels,
                       in_size=in_size, out_size=out_size, kernel=kernel, stride=stride,
                       dilation=dilation, pad_before=pad_before, groups=channels,
                       biases_per_output=biases_per_output)


def fully_connected(*, batch: int = 1, in_features: int, out_features: int,
                    biases_per_output: int = 1) -> LoopNest:
    """``out[b, k] = sum_c w[k, c] * in[b, c]`` (+ bias): a 1x1 convolution on a 1x1 map,
    written without its size-1 dimensions. Dims ``K, C, B`` (today's search order)."""
    _count(biases_per_output, "biases_per_output", 0)
    operands = [Operand("input", "input", (Plain("B"), Plain("C"))),
                Operand("weights", "weights", (Plain("K"), Plain("C")))]
    if biases_per_output:
        operands.append(Operand("bias", "bias", (Plain("K"),), biases_per_output,
                                travels_with="weights"))
    operands.append(Operand("output", "output", (Plain("B"), Plain("K"))))
    return LoopNest((Dim("K", out_features), Dim("C", in_features), Dim("B", batch)),
                    tuple(operands))


def recurrent(*, batch: int = 1, steps: int, hidden: int, gates: int) -> LoopNest:
    """A recurrent cell's steps after its input projection: per step ``T``, the gates
    ``out[b, k, t] = proj[b, k, t] + sum_c w[k, c] * h[b, c, t - 1]`` over the ``hidden``
    state features ``C``, ``K`` = gates times hidden, from ``proj``, the input projection of
    every step computed before (a nest of its own). ``T`` is sequential, so the recurrent
    weights are fetched again every step unless a level holds all of them. The state ``h``
    (``B x hidden`` per step, made from the gates by the cell's element-wise math) is read as
    the input ``state``, and the nest writes the gates: a little more traffic than the cell's
    state."""
    operands = (Operand("state", "input", (Plain("B"), Plain("C"), Plain("T"))),
                Operand("weights", "weights", (Plain("K"), Plain("C"))),
                Operand("projection", "input", (Plain("B"), Plain("K"), Plain("T"))),
                Operand("output", "output", (Plain("B"), Plain("K"), Plain("T"))))
    return LoopNest((Dim("T", steps, "single"), Dim("K", gates * hidden), Dim("C", hidden),
                     Dim("B", batch)), operands, sequential="T")


def matrix_product(*, batch: int = 1, heads: int = 1, m: int, n: int, k: int,
                   left_shared: bool = False, right_shared: bool = False) -> LoopNest:
    """A batched product of two activations, ``out[b, h, m, n] = sum_k left[b, h, m, k] *
    right[b, h, k, n]`` (attention's ``Q K^T`` and ``softmax(.) V``). Both operands are
    inputs (activations); dims ``B, H, M, N, K``. A ``shared`` operand is one matrix per
    sample that every head reads (not indexed by ``H``)."""
    _require(not (left_shared and right_shared), "at most one operand of a matrix product "
             "is shared by the heads")
    dims = (Dim("B", batch), Dim("H", heads), Dim("M", m), Dim("N", n), Dim("K", k))

    def axes(shared: bool, *names: str) -> tuple[Plain, ...]:
        return tuple(Plain(d) for d in ("B", *(() if shared else ("H",)), *names))

    return LoopNest(dims, (
        Operand("left", "input", axes(left_shared, "M", "K")),
        Operand("right", "input", axes(right_shared, "K", "N")),
        Operand("output", "output", (Plain("B"), Plain("H"), Plain("M"), Plain("N")))))


def pooling(*, batch: int = 1, channels: int, in_size: tuple[int, int],
            out_size: tuple[int, int], kernel: tuple[int, int],
            stride: tuple[int, int] | None = None,
            pad_before: tuple[int, int] = (0, 0)) -> LoopNest:
    """Local (max or average) pooling: ``out[b, g, oy, ox] = reduce_{fy, fx} in[b, g, iy, ix]``
    per channel ``g``, windows as in :func:`convolution`; no weights. ``stride`` defaults to
    the kernel. (Today's cost model lowers pooling as a depthwise convolution that also reads
    a ``FY x FX`` window of weights per channel: :meth:`perfsim.workload.ops.Pool.loop_nest`
    keeps that form until the fidelity issue moves it here.)"""
    (iy, ix), (oy, ox) = _pair(in_size, "in_size"), _pair(out_size, "out_size")
    (fy, fx) = _pair(kernel, "kernel")
    (sy, sx) = _pair(stride if stride is not None else kernel, "stride")
    (pt, pl) = _pair(pad_before, "pad_before")
    dims = (Dim("G", channels), Dim("B", batch), Dim("OY", oy), Dim("OX", ox),
            Dim("FY", fy, "whole"), Dim("FX", fx, "whole"))
    return LoopNest(dims, (
        Operand("input", "input", (Plain("B"), Plain("G"), Window("OY", "FY", iy, sy, 1, pt),
                                   Window("OX", "FX", ix, sx, 1, pl))),
        Operand("output", "output", (Plain("B"), Plain("G"), Plain("OY"), Plain("OX")))))


def stream(*, batch: int = 1, groups: int, in_per_group: int, out_per_group: int,
           constants_per_group: int = 0) -> LoopNest:
    """Work that reads every input element and writes every output element once: element-wise
    math, activations, normalisation, global pooling, rearrangements, up-sampling.

    ``groups`` channel groups of ``in_per_group`` input and ``out_per_group`` output elements
    per sample (all inputs read as one stream, as today's cost model reads them), plus
    ``constants_per_group`` constants per group (scales, offsets, a broadcast gate), read
    once. Dims: ``B`` one sample at a time, ``G`` halves, and ``S``, the elements of a group
    cut into parts, along which input and output are spread."""
    _count(in_per_group, "in_per_group", 0)
    _count(out_per_group, "out_per_group", 1)
    _count(constants_per_group, "constants_per_group", 0)
    dims = (Dim("B", batch, "single"), Dim("G", groups),
            Dim("S", max(in_per_group, out_per_group), "parts"))
    operands = []
    if in_per_group:
        operands.append(Operand("input", "input", (Plain("B"), Plain("G"),
                                                   Spread("S", in_per_group))))
    if constants_per_group:
        operands.append(Operand("constants", "weights", (Plain("G"),), constants_per_group))
    operands.append(Operand("output", "output", (Plain("B"), Plain("G"),
                                                 Spread("S", out_per_group))))
    return LoopNest(dims, tuple(operands))


def with_epilogue(nest: LoopNest, *, residuals: int = 0, constants: int = 0) -> LoopNest:
    """``nest`` with element-wise work applied in its output path (a fused layer's epilogue,
    :class:`perfsim.workload.passes.Fused`): ``residuals`` more inputs indexed exactly as the
    output (the skip tensors of residual adds: each element read once with the output element
    it is added to), and ``constants`` more constant elements (per-channel scales, offsets
    or slopes), read with the nest's bias (made if it has none and has weights), else with its
    stream constants, spread evenly over the points that index them. The other operands, and
    so the MACs and the tiling's reuse of them, are unchanged."""
    _count(residuals, "residuals", 0)
    _count(constants, "constants", 0)
    operands = [o for o in nest.operands if o.role != "output"]
    output = nest.output
    if constants:
        operands = _with_constants(nest, operands, constants)
    operands += [Operand(f"residual{i}", "input", output.axes) for i in range(residuals)]
    return LoopNest(nest.dims, (*operands, output), nest.sequential)


def _with_constants(nest: LoopNest, operands: list[Operand], constants: int) -> list[Operand]:
    """``operands`` with ``constants`` more elements: on the bias if there is one; else on a new
    bias travelling with the weights, indexed by the weights' dimensions that index the output
    (a conv's ``G, K``); else on stream constants indexed by the output's plain dimensions
    other than the batch (a stream's ``G``)."""
    def points(axes) -> int:
        return prod(nest.size(d) for a in axes for d in a.dims)

    bias = next((o for o in operands if o.role == "bias"), None)
    if bias is not None:
        per = bias.elements_per_point + -(-constants // points(bias.axes))
        return [Operand(o.name, o.role, o.axes, per, o.travels_with) if o is bias else o
                for o in operands]
    weights = next((o for o in operands if o.role == "weights"), None)
    out = set(nest.output.dims)
    if weights is not None:
        axes = tuple(a for a in weights.axes if isinstance(a, Plain) and a.dim in out)
        return [*operands, Operand("bias", "bias", axes, -(-constants // points(axes)),
                                   travels_with=weights.name)]
    axes = tuple(a for a in nest.output.axes if isinstance(a, Plain) and a.dim != "B")
    return [*operands, Operand("constants", "weights", axes, -(-constants // points(axes)))]
