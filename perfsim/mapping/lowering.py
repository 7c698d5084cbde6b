"""Lowering a layer to the work the cost model prices: its einsum loop nest, which the op
declares (:meth:`perfsim.workload.ops.Op.loop_nest`), and its arithmetic.

Convolutions in every form, fully connected layers (a 1x1 convolution on a 1x1 map),
recurrent cells (a GEMM per time step, the steps sequential) and local pooling lower to a
convolution nest; element-wise math, activations, normalisation, global pooling,
rearrangements and up-sampling to stream work (every input and output element once, in
channel groups). Views (dropout, flatten, reshape, the network input, placeholders for ONNX
ops perfsim cannot map) do no work and have no nest: no cycles and no traffic, and the result
row says so. A layer of the inference graph with an epilogue (:class:`~perfsim.workload.passes.
Fused`) lowers to its producer's nest with the skip tensors and constants its output path
reads, and says how much work that output path does.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from math import prod

from perfsim.workload.loopnest import LoopNest
from perfsim.workload.network import Layer, Network
from perfsim.workload.ops import elems
from perfsim.workload.passes import Fused


@dataclass(frozen=True)
class Work:
    """The work of one layer at one batch size: its ``nest`` (None for a view), its ``macs``
    and other ``ops`` (totals, times batch), and ``work_per_output``, the arithmetic a vector
    engine spends per output element (MACs and other ops, at least 1 to move the element).
    ``epilogue_ops`` of the ``ops`` are applied in the engine's output path, which also reads
    ``residual_elems`` skip elements (totals, times batch; 0 without an epilogue)."""

    nest: LoopNest | None
    macs: int
    ops: int
    work_per_output: int
    epilogue_ops: int = 0
    residual_elems: int = 0

    # A layer's work is costed on every engine under every placement a sweep point tries:
    # what is derived from its nest is worked out once (the nest and the counts are frozen).

    @cached_property
    def outputs(self) -> int:
        """Output elements (times batch)."""
        return self.nest.elements(self.nest.output.name) if self.nest else 0

    @cached_property
    def steps(self) -> int:
        """Iterations that must run one after another (a recurrent layer's time steps)."""
        return self.nest.size(self.nest.sequential) if self.nest and self.nest.sequential else 1

    @cached_property
    def reduces(self) -> bool:
        """Whether outputs accumulate over some dimension (convolution-like work) rather
        than each being computed from its own inputs (stream work)."""
        return bool(self.nest and self.nest.reduction_dims)

    @cached_property
    def gemm(self) -> Gemm:
        """:func:`gemm` of this work."""
        return gemm(self)


@dataclass(frozen=True)
class Gemm:
    """The GEMM view of convolution-like work: ``repeats`` GEMMs of ``np_ x t_red x k``."""

    np_: int
    k: int
    t_red: int
    repeats: int


def gemm(work: Work) -> Gemm:
    """The Toeplitz (im2col) view of convolution-like work, read from the nest's projections:
    dimensions indexing the input, the stationary operand (weights, or a second input) and
    the output alike (``G``) repeat the GEMM, and so do sequential steps; the rest of the
    output's dimensions shared with the input are its pixels ``Np`` (``B, OY, OX``), those
    shared with the stationary operand its filters ``K``; the reduction is ``T_red``
    (``C, FY, FX``). The cost model reads it as :attr:`Work.gemm`, worked out once."""
    nest = work.nest
    first, second = [o for o in nest.operands if o.role in ("input", "weights")][:2]
    out, a, b = set(nest.output.dims), set(first.dims), set(second.dims)
    shared = out & a & b
    sequential = {nest.sequential} - {None}

    def size(dims) -> int:
        return prod(nest.size(d) for d in dims)

    return Gemm(np_=size((out & a) - shared - sequential), k=size((out & b) - shared),
                t_red=size(nest.reduction_dims), repeats=size(shared) * work.steps)


def lower(network: Network, layer: Layer) -> Work:
    """The work of ``layer`` at ``network.batch``."""
    op = layer.op
    batch = network.batch
    in_shapes = network.in_shapes(layer)
    out_shapes = network.out_shapes[layer.name]
    macs = batch * op.macs(in_shapes)
    ops = batch * op.ops(in_shapes)
    if op.view:
        return Work(None, macs, ops, 0)
    out_total = batch * sum(elems(s) for s in out_shapes)
    work = max(1, -(-(macs + ops) // out_total)) if out_total else 0
    nest = op.loop_nest(batch, in_shapes, out_shapes)
    if isinstance(op, Fused):
        return Work(nest, macs, ops, work, batch * op.epilogue_ops(in_shapes),
                    batch * op.residual_elems(in_shapes))
    return Work(nest, macs, ops, work)
