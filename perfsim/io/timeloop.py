"""Timeloop problem files: one v0.4 problem YAML per conv and fc layer of a network.

The shape is Timeloop's ``CNN_Layer`` (its ``problem-shapes/cnn_layer.yaml`` and the
timeloop-accelergy exercises' layer files): dimensions ``C, M, R, S, N, P, Q`` with the
coefficients ``Wstride, Hstride, Wdilation, Hdilation``, and the data spaces

* ``Weights[C][M][R][S]``,
* ``Inputs[N][C][R*Wdilation + P*Wstride][S*Hdilation + Q*Hstride]``,
* ``Outputs[N][M][Q][P]`` (read-write: partial sums are read back).

In Timeloop's letters ``R``/``S`` are the filter's width/height, ``P``/``Q`` the output's
width/height and ``M`` the output channels; in perfsim's (DESIGN section 2) ``R = FX``,
``S = FY``, ``P = OX``, ``Q = OY``, ``M = K``, ``N = B``. A grouped convolution
(``groups > 1``, depthwise included) adds a dimension ``G`` that indexes all three data spaces
(``Grouped_CNN_Layer``), with ``C`` and ``M`` counted per group; so in every file the product
of the dimensions is the layer's MACs, Timeloop's count of multiply-accumulates.

* A fully connected layer is a 1x1 convolution of its flattened input (``C = C*H*W``) on a
  1x1 map (DESIGN section 2).
* Timeloop's shape has no padding: an ``Inputs`` point is any position the windows touch, so
  a padded layer's input space is its padded map; a comment in the file gives the padding.
* ``N`` is the network's batch.

Other layers (pooling, element-wise, recurrent cells, ...) have no file: Timeloop's
``CNN_Layer`` describes convolutions and matrix products.
"""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from perfsim.errors import PerfsimError, WorkloadError
from perfsim.workload.network import Layer, Network
from perfsim.workload.ops import Conv, FullyConnected
from perfsim.storage import write_text_atomic

PROBLEM_VERSION = 0.4
COEFFICIENTS = ("Wstride", "Hstride", "Wdilation", "Hdilation")
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class _Flow(list):
    """A list written in flow style (``[[R, Wdilation], [P, Wstride]]``), as Timeloop's own
    problem files write dimensions and projections."""


class _Dumper(yaml.SafeDumper):
    """Block style except for :class:`_Flow` lists, and no anchors for repeated values."""

    def ignore_aliases(self, data) -> bool:
        return True


_Dumper.add_representer(_Flow, lambda dumper, value: dumper.represent_sequence(
    "tag:yaml.org,2002:seq", value, flow_style=True))


def _projections(grouped: bool) -> list[dict]:
    def ranks(*names: str) -> list[_Flow]:
        return [_Flow([[name]]) for name in names]

    g = ("G",) if grouped else ()
    return [
        {"name": "Weights", "projection": ranks(*g, "C", "M", "R", "S")},
        {"name": "Inputs", "projection": ranks("N", *g, "C") + [
            _Flow([["R", "Wdilation"], ["P", "Wstride"]]),
            _Flow([["S", "Hdilation"], ["Q", "Hstride"]])]},
        {"name": "Outputs", "projection": ranks("N", *g, "M", "Q", "P"), "read_write": True},
    ]


def problem(network: Network, layer: Layer) -> dict:
    """The Timeloop v0.4 problem of one conv or fc layer (module docstring)."""
    op = layer.op
    c, h, w = network.in_shapes(layer)[0]
    k, oy, ox = network.out_shapes[layer.name][0]
    if isinstance(op, Conv):
        g = op.groups
        (fy, fx), (sy, sx), (dy, dx) = op.kernel, op.stride, op.dilation
    elif isinstance(op, FullyConnected):
        g, c, fy, fx, sy, sx, dy, dx = 1, c * h * w, 1, 1, 1, 1, 1, 1
    else:
        raise WorkloadError(f"network '{network.name}': layer '{layer.name}' ({op.kind}) is "
                            f"not a conv or fc layer: Timeloop's CNN_Layer cannot describe it")
    grouped = g > 1
    instance = {**({"G": g} if grouped else {}), "C": c // g, "M": k // g, "R": fx, "S": fy,
                "N": network.batch, "P": ox, "Q": oy, "Wstride": sx, "Hstride": sy,
                "Wdilation": dx, "Hdilation": dy}
    dimensions = (["G"] if grouped else []) + ["C", "M", "R", "S", "N", "P", "Q"]
    return {"problem": {
        "version": PROBLEM_VERSION,
        "shape": {
            "name": "Grouped_CNN_Layer" if grouped else "CNN_Layer",
            "dimensions": _Flow(dimensions),
            "coefficients": [{"name": name, "default": 1} for name in COEFFICIENTS],
            "data_spaces": _projections(grouped),
        },
        "instance": instance,
    }}


def _file_name(index: int, width: int, layer_name: str) -> str:
    """``007_conv3_1.yaml``: network order first, so names made safe cannot collide."""
    return f"{index:0{width}d}_{_UNSAFE.sub('_', layer_name)}.yaml"


def export_timeloop(network: Network, out_dir: str | Path) -> list[Path]:
    """Write one Timeloop v0.4 problem file per conv and fc layer of ``network`` into
    ``out_dir`` (created if missing), in network order; returns their paths. Each file is
    written atomically. A network without conv or fc layers is a
    :class:`~perfsim.errors.WorkloadError`, a directory that cannot be written a
    :class:`~perfsim.errors.PerfsimError`."""
    layers = [layer for layer in network.layers
              if isinstance(layer.op, (Conv, FullyConnected))]
    if not layers:
        raise WorkloadError(f"network '{network.name}' has no conv or fc layer to write as a "
                            f"Timeloop problem")
    out_dir = Path(out_dir)
    width = len(str(len(layers)))
    paths = []
    try:
        for index, layer in enumerate(layers, 1):
            path = out_dir / _file_name(index, width, layer.name)
            write_text_atomic(path, _text(network, layer))
            paths.append(path)
    except OSError as err:
        raise PerfsimError(f"cannot write the Timeloop problems to {out_dir}: "
                           f"{err.strerror or err}") from None
    return paths


def _text(network: Network, layer: Layer) -> str:
    """A problem file: a comment saying where it comes from, then the problem."""
    header = (f"# Timeloop v{PROBLEM_VERSION} problem: layer {layer.name!r} ({layer.op.kind}) "
              f"of {network.name!r} at batch {network.batch}, written by perfsim.\n")
    if isinstance(layer.op, Conv) and any(layer.op.padding):
        header += (f"# Its padding (top, left, bottom, right) {list(layer.op.padding)} is part "
                   f"of the Inputs extent.\n")
    return header + yaml.dump(problem(network, layer), Dumper=_Dumper, sort_keys=False,
                              default_flow_style=False)
