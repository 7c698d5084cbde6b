"""Lowering a layer to the loop nest the cost model works on.

Every op of the IR lowers to one of three shapes of work:

* ``conv``: a (grouped) convolution loop nest over ``B, G, K, C, OY, OX, FY, FX`` (DESIGN
  section 2 letters; ``K`` and ``C`` per group). Convolutions, fully connected layers (a 1x1
  convolution on a 1x1 map), recurrent cells (a GEMM per time step: the sequence runs along
  ``OX`` and ``steps`` of them run one after another) and local pooling (``K = C = 1`` per
  channel group, no weights). Its DRAM traffic is counted from the tiling with exact halos.
* ``stream``: work that reads each input and writes each output element once: element-wise
  math, activations, normalisation, global pooling, concat/split and the other
  rearrangements, up-sampling. ``G`` channel groups of ``in_per_group`` / ``out_per_group``
  elements; inputs that broadcast (an SE gate ``[C, 1, 1]``) count as per-group constants.
* ``view``: dropout, flatten and reshape, which relabel a tensor in place at inference, the
  network input, which is in DRAM when the network starts, and placeholders for ONNX ops
  perfsim cannot map (not costed): no cycles and no traffic, and the result row says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from perfsim.workload.network import Layer, Network
from perfsim.workload.ops import Conv, FullyConnected, Pool, Recurrent, elems


# Index of each field in :meth:`LoopNest.as_array` (the kernels' view).
CONV_FIELDS = ("B", "G", "K", "C", "OY", "OX", "IY", "IX", "FY", "FX", "SY", "SX", "DY",
               "DX", "PT", "PL", "BIAS_PER_K", "STEPS")
STREAM_FIELDS = ("B", "G", "IN_PER_GROUP", "OUT_PER_GROUP", "W_PER_GROUP")


@dataclass(frozen=True)
class LoopNest:
    """The work of one layer at one batch size.

    ``dims`` holds :data:`CONV_FIELDS` (``shape == "conv"``) or :data:`STREAM_FIELDS`
    (``"stream"``); ``work_per_output`` is the arithmetic per output element a vector engine
    spends (MACs and other ops, at least 1 to move the element); ``macs`` and ``ops`` are the
    layer's totals (times batch)."""

    shape: str
    dims: tuple[int, ...]
    macs: int
    ops: int
    work_per_output: int

    def __getitem__(self, field: str) -> int:
        names = CONV_FIELDS if self.shape == "conv" else STREAM_FIELDS
        return self.dims[names.index(field)]

    def as_array(self) -> np.ndarray:
        return np.array(self.dims, dtype=np.int64)

    @property
    def outputs(self) -> int:
        """Output elements (times batch)."""
        if self.shape == "conv":
            return self["B"] * self["G"] * self["K"] * self["OY"] * self["OX"]
        if self.shape == "stream":
            return self["B"] * self["G"] * self["OUT_PER_GROUP"]
        return 0


def lower(network: Network, layer: Layer) -> LoopNest:
    """The loop nest of ``layer`` at ``network.batch``."""
    op = layer.op
    batch = network.batch
    in_shapes = network.in_shapes(layer)
    out_shapes = network.out_shapes[layer.name]
    macs = batch * op.macs(in_shapes)
    ops = batch * op.ops(in_shapes)
    out_total = batch * sum(elems(s) for s in out_shapes)
    work = max(1, -(-(macs + ops) // out_total)) if out_total else 0
    if op.view:
        return LoopNest("view", (), macs, ops, 0)
    if isinstance(op, (Conv, FullyConnected, Recurrent, Pool)):
        return LoopNest("conv", _conv_dims(op, batch, in_shapes[0], out_shapes[0]), macs, ops,
                        work)
    return LoopNest("stream", _stream_dims(op, batch, in_shapes, out_shapes), macs, ops, work)


def _conv_dims(op, batch: int, in_shape, out_shape) -> tuple[int, ...]:
    c, iy, ix = in_shape
    k, oy, ox = out_shape
    if isinstance(op, Conv):
        g = op.groups
        (fy, fx), (sy, sx), (dy, dx) = op.kernel, op.stride, op.dilation
        return (batch, g, k // g, c // g, oy, ox, iy, ix, fy, fx, sy, sx, dy, dx,
                op.padding[0], op.padding[1], 1 if op.bias else 0, 1)
    if isinstance(op, FullyConnected):
        # The flattened input is C*H*W channels of a 1x1 map.
        return (batch, 1, k, c * iy * ix, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0,
                1 if op.bias else 0, 1)
    if isinstance(op, Recurrent):
        # One GEMM per step over [input; hidden state]; the sequence runs along the columns.
        steps = ix
        bias = 2 if op.bias else 0
        return (batch, 1, op.gates * op.hidden_size, c + op.hidden_size, 1, steps, 1, steps,
                1, 1, 1, 1, 1, 1, 0, 0, bias, steps)
    # Local pooling: each channel is its own group with one 1-channel "filter", no weights.
    (fy, fx), (sy, sx) = op.kernel, op.stride
    return (batch, c, 1, 1, oy, ox, iy, ix, fy, fx, sy, sx, 1, 1, op.padding[0],
            op.padding[1], 0, 1)


def _stream_dims(op, batch: int, in_shapes, out_shapes) -> tuple[int, ...]:
    concat_channels = op.kind == "concat" and op.axis == 0
    groups = out_shapes[0][0] if concat_channels else in_shapes[0][0]
    largest = max(elems(s) for s in in_shapes)
    in_total = broadcast = 0
    for shape in in_shapes:
        if op.kind in ("add", "mul", "max") and elems(shape) < largest:
            broadcast += elems(shape)  # a gate or a per-channel constant, read like weights
        else:
            in_total += elems(shape)
    out_total = sum(elems(s) for s in out_shapes)
    weights = op.weight_elems(in_shapes) + broadcast
    return (batch, groups, -(-in_total // groups), -(-out_total // groups),
            -(-weights // groups))
