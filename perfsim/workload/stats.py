"""Per-layer statistics of a network: the canonical view.

Conventions (DESIGN section 2, ``refs/networks.md``):

* ``params``: trainable parameters as PyTorch counts them (weights, biases where the layer has
  them, BN scale and shift; no running statistics). Independent of batch.
* ``macs``: multiply-accumulates of conv, fc and recurrent layers, times batch. Paper "FLOPs"
  for these CNNs are MACs; a true FLOP count is about twice this.
* ``ops``: all other arithmetic (bias adds, activations, pooling, normalisation, element-wise
  math) times batch; see :mod:`perfsim.workload.ops` for the count per op.
* ``in_elems``/``out_elems``: elements of all inputs / outputs, times batch;
  ``weight_elems``: constant elements the layer reads (independent of batch).
* ``in_shape``/``out_shape``: the first input's and output's per-sample shape, ``[C, H, W]``;
  a tensor the network declares a token tensor ``(T, 1, D)`` (:attr:`Network.tokens
  <perfsim.workload.network.Network.tokens>`) is ``[T, D]`` (:func:`shape_label`), and
  attention's heads stay ``[H, T, D / H]``.
* ``receptive_field``: ``[RY, RX]``, the input-image extent that one output position can see,
  by the lecture's rule: walking back from a layer, each window adds ``(F - 1)`` times the
  product of the steps behind it. Where branches meet, the larger field wins.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import TYPE_CHECKING

from perfsim.workload.ops import Conv, elems

if TYPE_CHECKING:  # Network.to_frame imports this module
    import pandas as pd

    from perfsim.workload.network import Network

COLUMNS = ["layer", "op", "category", "inputs", "in_shape", "out_shape", "kernel", "stride",
           "groups", "macs", "params", "ops", "in_elems", "out_elems", "weight_elems",
           "receptive_field"]
"""The columns of :func:`layer_table`, in order."""


def receptive_fields(network: Network) -> dict[str, tuple[int, int]]:
    """``[RY, RX]`` per layer (see the module docstring)."""
    field: dict[str, tuple[Fraction, Fraction]] = {}
    jump: dict[str, tuple[Fraction, Fraction]] = {}
    for layer in network.layers:
        if not layer.inputs:
            field[layer.name] = (Fraction(1), Fraction(1))
            jump[layer.name] = (Fraction(1), Fraction(1))
            continue
        sources = list(layer.sources)
        widest = max(sources, key=lambda s: field[s][0] + field[s][1])
        in_shape = network.shape_of(layer.inputs[sources.index(widest)])
        window = layer.op.window(in_shape)
        step = layer.op.step(in_shape)
        field[layer.name] = tuple(f + (w - 1) * j for f, w, j in
                                  zip(field[widest], window, jump[widest]))  # type: ignore
        jump[layer.name] = tuple(j * s for j, s in zip(jump[widest], step))  # type: ignore
    return {name: (math.ceil(ry), math.ceil(rx)) for name, (ry, rx) in field.items()}


def shape_label(network: Network, ref: str) -> list[int]:
    """The per-sample shape of tensor ``ref`` as the canonical view lists it: ``[T, D]`` for
    a token tensor ``(T, 1, D)`` (one of the network's :attr:`~perfsim.workload.network.
    Network.tokens`), else ``[C, H, W]``."""
    shape = network.shape_of(ref)
    if ref in network.tokens:
        return [shape[0], shape[2]]
    return list(shape)


def layer_table(network: Network) -> pd.DataFrame:
    """One row per layer with the columns :data:`COLUMNS`, at ``network.batch``
    (:func:`layer_rows` as a frame)."""
    import pandas as pd  # where used: `perfsim show` prints the rows without pandas

    return pd.DataFrame(layer_rows(network), columns=COLUMNS)


def layer_rows(network: Network) -> list[dict]:
    """:func:`layer_table`'s rows as dicts, in its columns' order."""
    batch = network.batch
    fields = receptive_fields(network)
    rows = []
    for layer in network.layers:
        op = layer.op
        in_shapes = network.in_shapes(layer)
        out_shapes = network.out_shapes[layer.name]
        rows.append({
            "layer": layer.name,
            "op": op.kind,
            "category": op.category,
            "inputs": list(layer.inputs),
            "in_shape": shape_label(network, layer.inputs[0]) if in_shapes else None,
            "out_shape": shape_label(network, layer.name),
            "kernel": list(op.kernel),
            "stride": list(op.stride),
            "groups": op.groups,
            "macs": batch * op.macs(in_shapes),
            "params": op.params(in_shapes),
            "ops": batch * op.ops(in_shapes),
            "in_elems": batch * sum(elems(s) for s in in_shapes),
            "out_elems": batch * sum(elems(s) for s in out_shapes),
            "weight_elems": op.weight_elems(in_shapes),
            "receptive_field": list(fields[layer.name]),
        })
    return rows


def uncosted(network: Network) -> tuple[int, int]:
    """The network's placeholder layers (ONNX ops perfsim could not map) and the MACs their
    ONNX shapes say they do at ``network.batch``, which no count or cost of perfsim's holds."""
    holders = [layer.op for layer in network.layers if layer.op.kind == "placeholder"]
    return len(holders), network.batch * sum(op.uncosted_macs for op in holders)


def totals(network: Network) -> dict[str, int]:
    """Network totals at ``network.batch``: layers, params, macs, ops, weight_elems, and the
    conv/fc layer counts; for a network with placeholders, also ``uncosted_layers`` and
    ``uncosted_macs`` (:func:`uncosted`)."""
    params = macs = ops = weights = n_conv = n_fc = 0
    for layer in network.layers:
        in_shapes = network.in_shapes(layer)
        params += layer.op.params(in_shapes)
        macs += layer.op.macs(in_shapes)
        ops += layer.op.ops(in_shapes)
        weights += layer.op.weight_elems(in_shapes)
        n_conv += isinstance(layer.op, Conv)
        n_fc += layer.op.kind == "fc"
    out = {"layers": len(network.layers), "params": params, "macs": network.batch * macs,
           "ops": network.batch * ops, "weight_elems": weights, "conv_layers": n_conv,
           "fc_layers": n_fc}
    layers, missing = uncosted(network)
    if layers:
        out.update(uncosted_layers=layers, uncosted_macs=missing)
    return out
