"""The causal form of recurrent layers, a graph pass the cost model runs on every network.

A recurrent layer's step ``t`` needs the state of step ``t - 1``: only the part of its work
that does not, the input projection ``W_ih x(t)`` of every step, may run for all steps at
once (one GEMM over ``batch x T`` rows, as cuDNN does). :func:`causal` splits every recurrent
layer of more than one step into ``<name>/input`` (:class:`~perfsim.workload.ops.RecurrentInput`,
with the layer's biases) and ``<name>`` (:class:`~perfsim.workload.ops.RecurrentSteps`: its
steps, one after another, with the recurrent weights ``W_hh``). Both report the layer's kind. The canonical counts (``perfsim show``) are those of the
network as given; the two layers' parameters and MACs add up to the layer's.
"""

from __future__ import annotations

import dataclasses

from perfsim.workload.network import Layer, Network
from perfsim.workload.ops import Recurrent, RecurrentInput, RecurrentSteps

INPUT_SUFFIX = "/input"
"""The name of a recurrent layer's input projection: the layer's name and this."""


def causal(network: Network) -> Network:
    """``network`` with every recurrent layer of more than one step split in two (module
    docstring); the network itself when it has none."""
    layers: list[Layer] = []
    for layer in network.layers:
        op = layer.op
        if not isinstance(op, Recurrent) or network.in_shapes(layer)[0][2] == 1:
            layers.append(layer)
            continue
        projection = Layer(layer.name + INPUT_SUFFIX, RecurrentInput(op), layer.inputs)
        layers += [projection, Layer(layer.name, RecurrentSteps(op), (projection.name,))]
    if len(layers) == len(network.layers):
        return network
    return dataclasses.replace(network, layers=tuple(layers))
