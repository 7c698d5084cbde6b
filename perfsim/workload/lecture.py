"""The lecture's table view of a network (the per-layer tables of the efficient-processing
lecture), built from the same layer objects as the canonical statistics.

Columns ``layer,type,B,Ni,M,P,F,S,No,MACs,InMap,Parameter,OutMap,AllMem``. The conventions
reproduce ``refs/alexnet_seed_table.csv`` exactly (``refs/networks.md`` section 2):

* ``layer`` counts the Conv/Full stages; the rows after a stage (ReLU, LRN, pooling) share its
  number; the input is stage 0.
* ``M`` is the input map size (rows), ``Ni`` the input channels (for Full rows the flattened
  input, with ``M = F = S = 1``), ``P`` the total padding of both sides, so
  ``Mo = (M + P - F)/S + 1``; ``No`` the output channels of Conv/Full rows, 0 otherwise.
* Conv/Full ``MACs = OutMap * (F*F*Ni/groups + 1)``: one MAC per weight plus one bias add per
  output element (when the layer has a bias). ``Parameter = F*F*Ni/groups*No + OutMap``: a bias
  per output element ("untied" biases). A linear layer applied at every position is a Full row
  of 1x1 windows over the positions: ``Ni`` its features, ``M`` the first of the other two axes.
* Nonl rows (ReLU and every other non-linearity, softmax included) cost 1 op per element;
  Norm (LRN) ``2F - 1`` per element; Pool ``F*F`` per output element. Rows the lecture has no
  rule for cost what perfsim's op model says (:mod:`perfsim.workload.ops`).
* ``InMap``, ``OutMap`` are ``B * C * H * W`` elements; ``AllMem = InMap + Parameter + OutMap``
  (elements, not bytes).

Layers that do nothing at inference and only relabel memory (dropout, flatten, reshape) have
no row, as in the lecture; nor do placeholders for unsupported ONNX ops, which are not costed.
"""

from __future__ import annotations

import pandas as pd

from perfsim.workload.network import Network
from perfsim.workload.ops import FullyConnected, Linear, elems

COLUMNS = ["layer", "type", "B", "Ni", "M", "P", "F", "S", "No", "MACs", "InMap", "Parameter",
           "OutMap", "AllMem"]
"""The columns of :func:`lecture_table`; a layer's ``type`` is its op's
:attr:`~perfsim.workload.ops.Op.lecture_type` (ops without one get no row)."""


def lecture_table(network: Network) -> pd.DataFrame:
    """The lecture's per-layer table at ``network.batch`` (see the module docstring)."""
    batch = network.batch
    rows = []
    stage = 0
    for layer in network.layers:
        op = layer.op
        kind = op.lecture_type
        if kind is None:
            continue
        in_shapes = network.in_shapes(layer)
        out_per_sample = sum(elems(s) for s in network.out_shapes[layer.name])
        out_map = batch * out_per_sample
        in_map = batch * sum(elems(s) for s in in_shapes)
        if kind == "Inpt":
            (c, h, _), = network.out_shapes[layer.name]
            rows.append([stage, kind, batch, c, h, 0, 0, 0, 0, 0, 0, 0, out_map])
            continue
        c, h, _ = in_shapes[0]
        if kind in ("Conv", "Full"):
            stage += 1
            bias = 1 if op.bias else 0
            if isinstance(op, FullyConnected):
                ni, m, pad, f, s, no = elems(in_shapes[0]), 1, 0, 1, 1, op.out_features
                per_output = ni
            elif isinstance(op, Linear):
                first = next(d for axis, d in enumerate(in_shapes[0]) if axis != op.axis)
                ni, m, pad, f, s, no = in_shapes[0][op.axis], first, 0, 1, 1, op.out_features
                per_output = ni
            else:
                t, _, b, _ = op.padding
                ni, m, pad, f, s, no = c, h, t + b, op.kernel[0], op.stride[0], op.out_channels
                per_output = ni // op.groups * op.kernel[0] * op.kernel[1]
            weights = per_output * no
            macs = out_map * (per_output + bias)
            params = weights + bias * out_per_sample
        else:
            ni, m, no = c, h, 0
            window = op.window(in_shapes[0])
            f = op.size if op.kind == "lrn" else (window[0] if kind == "Pool" else 0)
            s = op.stride[0] if kind == "Pool" else 0
            pad = (op.padding[0] + op.padding[2]) if hasattr(op, "padding") else 0
            macs = out_map if kind == "Nonl" else batch * op.ops(in_shapes)
            params = op.params(in_shapes)
        rows.append([stage, kind, batch, ni, m, pad, f, s, no, macs, in_map, params, out_map])
    frame = pd.DataFrame(rows, columns=COLUMNS[:-1])
    frame["AllMem"] = frame["InMap"] + frame["Parameter"] + frame["OutMap"]
    return frame
