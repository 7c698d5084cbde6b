"""The multi-node patterns exporters write for one layer, found in an ONNX graph before it is
mapped: each becomes one perfsim layer.

* **Layer norm** (before opset 17, or written out): ``ReduceMean(x)``, ``Sub(x, mean)``,
  ``Pow(d, 2)`` (or ``Mul(d, d)``), ``ReduceMean``, ``Add(eps)``, ``Sqrt``, ``Div(d, s)`` (or
  ``Reciprocal`` and ``Mul``), then ``Mul(gamma)`` and optionally ``Add(beta)``:
  ``layer_norm`` over the reduced axes, with gamma and beta as its parameters.
* **RMS norm**: ``Pow(x, 2)`` (or ``Mul(x, x)``), ``ReduceMean``, ``Add(eps)``, ``Sqrt``,
  ``Div(x, s)`` (or ``Reciprocal`` and ``Mul``), ``Mul(gamma)``: ``rms_norm``.
* **GELU, exact** (PyTorch before opset 20): ``Div(x, sqrt 2)`` (or ``Mul(x, 1/sqrt 2)``),
  ``Erf``, ``Add(1)``, and the product of ``x``, that sum and ``0.5`` in any order of two
  ``Mul`` nodes: ``gelu``.
* **GELU, tanh** (GPT-2's ``gelu_new``, PyTorch's ``approximate="tanh"``): ``x^3`` as
  ``Pow(x, 3)`` or two ``Mul``, ``Mul(0.044715)``, ``Add(x)``, ``Mul(sqrt(2/pi))``, ``Tanh``,
  ``Add(1)``, and the product with ``x`` and ``0.5``: ``gelu(approximate="tanh")``.
* **SiLU**: ``Sigmoid(x)`` and ``Mul(x, sigmoid)``: ``silu``; **hard swish** before opset
  14: ``HardSigmoid(x)`` and ``Mul(x, hard_sigmoid)``: ``hard_swish``.

Every tensor inside a pattern must be read only inside it (and not be a graph output), and
every constant must have the value the formula has (to 1e-3), so a graph that merely looks
alike is mapped node by node. :func:`find_patterns` works on the importer's view of the
graph (``nodes``, ``producer``, ``consumers``, ``outputs``, ``const``, ``scalar``,
``values``, ``shapes``) and imports nothing of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from perfsim.io.onnx_fold import attributes, axes_of

TOLERANCE = 1e-3
"""How close a pattern's constant must be to the formula's (relative)."""


@dataclass
class Match:
    """One pattern: ``kind`` (a perfsim op kind), its member nodes (indices), the activation
    it reads (``x``), the tensor it writes (``output``), its constant weights (gamma, beta)
    and settings (``eps``, ``approximate``), and for norms the ONNX axes it normalises."""

    kind: str
    nodes: list[int]
    x: str
    output: str
    weights: list[str] = field(default_factory=list)
    settings: dict = field(default_factory=dict)
    axes: list[int] = field(default_factory=list)


def find_patterns(g) -> list[Match]:
    """Every pattern of the module docstring in graph ``g`` (the importer), no node in two."""
    found: list[Match] = []
    taken: set[int] = set()
    finders = {"ReduceMean": (_layer_norm, _rms_norm), "Erf": (_gelu_erf,),
               "Tanh": (_gelu_tanh,), "Sigmoid": (_gated,), "HardSigmoid": (_gated,)}
    for i, node in enumerate(g.nodes):
        if i in g.const_nodes:
            continue
        for finder in finders.get(node.op_type, ()):
            match = finder(_View(g), i)
            if match is not None and not taken.intersection(match.nodes):
                taken.update(match.nodes)
                found.append(match)
                break
    return found


class _View:
    """Navigation helpers over the importer's graph."""

    def __init__(self, g):
        self.g = g

    def node(self, t: str):
        """``(index, node)`` producing ``t``, or None (an input or initializer)."""
        i = self.g.producer.get(t)
        return None if i is None else (i, self.g.nodes[i])

    def sole(self, t: str):
        """The one consumer ``(index, node)`` of ``t``, None when it has another, none, or is
        a graph output."""
        users = self.g.consumers.get(t, [])
        if len(users) != 1 or t in self.g.outputs:
            return None
        i = users[0][0]
        return i, self.g.nodes[i]

    def users(self, t: str) -> list[tuple[int, object]]:
        return [(i, self.g.nodes[i]) for i, _ in self.g.consumers.get(t, [])]

    def is_const(self, t: str) -> bool:
        return t in self.g.const

    def near(self, t: str, value: float) -> bool:
        """``t`` is a constant scalar within :data:`TOLERANCE` of ``value``."""
        if not self.is_const(t):
            return False
        got = self.g.scalar(t)
        return got is not None and math.isclose(got, value, rel_tol=TOLERANCE)

    def other(self, node, t: str) -> str | None:
        """The other input of a two-input node reading ``t``."""
        ins = list(node.input)
        if len(ins) != 2 or t not in ins:
            return None
        return ins[1] if ins[0] == t else ins[0]

    def const_operand(self, node, value: float) -> str | None:
        """The activation input of a two-input node whose other input is the scalar
        ``value``."""
        if len(node.input) != 2:
            return None
        a, b = node.input
        if self.near(b, value) and not self.is_const(a):
            return a
        if self.near(a, value) and not self.is_const(b):
            return b
        return None


def _product(v: _View, x: str, factor: str, start: list[int]):
    """The end of ``x * factor * 0.5`` written as two Mul nodes in any order, where
    ``factor`` is read only by it; returns ``(members, output)`` or None."""
    step = v.sole(factor)
    if step is None or step[1].op_type != "Mul":
        return None
    i, mul = step
    other = v.other(mul, factor)
    if other == x:                                     # (x * f) * 0.5
        last = v.sole(mul.output[0])
        if last is None or last[1].op_type != "Mul" or \
                v.const_operand(last[1], 0.5) != mul.output[0]:
            return None
        return start + [i, last[0]], last[1].output[0]
    if other is not None and v.near(other, 0.5):       # x * (f * 0.5)
        last = v.sole(mul.output[0])
        if last is None or last[1].op_type != "Mul" or v.other(last[1], mul.output[0]) != x:
            return None
        return start + [i, last[0]], last[1].output[0]
    half = v.node(other) if other is not None else None  # (x * 0.5) * f
    if (half is not None and half[1].op_type == "Mul" and v.const_operand(half[1], 0.5) == x
            and v.sole(other) is not None):
        return start + [half[0], i], mul.output[0]
    return None


def _gelu_erf(v: _View, i: int) -> Match | None:
    erf = v.g.nodes[i]
    scaled = v.node(erf.input[0])
    if scaled is None or v.sole(erf.input[0]) is None:
        return None
    j, div = scaled
    if div.op_type == "Div" and v.near(div.input[1], math.sqrt(2)):
        x = div.input[0]
    elif div.op_type == "Mul":
        x = v.const_operand(div, 1 / math.sqrt(2))
    else:
        return None
    if x is None or v.is_const(x):
        return None
    step = v.sole(erf.output[0])
    if step is None or step[1].op_type != "Add" or not v.near(v.other(step[1], erf.output[0])
                                                             or "", 1.0):
        return None
    done = _product(v, x, step[1].output[0], [j, i, step[0]])
    if done is None:
        return None
    return Match("gelu", done[0], x, done[1], settings={"approximate": "none"})


def _cube_of(v: _View, t: str) -> tuple[list[int], str] | None:
    """``t = x^3`` as ``Pow(x, 3)`` or ``Mul(x, Mul(x, x))`` (either order): members and x."""
    made = v.node(t)
    if made is None or v.sole(t) is None:
        return None
    i, node = made
    if node.op_type == "Pow" and v.near(node.input[1], 3.0):
        return [i], node.input[0]
    if node.op_type != "Mul" or len(node.input) != 2:
        return None
    for a, b in (node.input, tuple(reversed(node.input))):
        square = v.node(b)
        if (square is not None and square[1].op_type == "Mul"
                and list(square[1].input) == [a, a] and v.sole(b) is not None):
            return [square[0], i], a
    return None


def _gelu_tanh(v: _View, i: int) -> Match | None:
    tanh = v.g.nodes[i]
    made = v.node(tanh.input[0])
    if made is None or made[1].op_type != "Mul" or v.sole(tanh.input[0]) is None:
        return None
    j, scale = made
    inner = v.const_operand(scale, math.sqrt(2 / math.pi))
    summed = v.node(inner) if inner else None
    if summed is None or summed[1].op_type != "Add" or v.sole(inner) is None:
        return None
    k, add = summed
    for x, q in (add.input, tuple(reversed(add.input))):
        term = v.node(q)
        if term is None or term[1].op_type != "Mul" or v.sole(q) is None:
            continue
        cube = v.const_operand(term[1], 0.044715)
        found = _cube_of(v, cube) if cube else None
        if found is None or found[1] != x or v.is_const(x):
            continue
        step = v.sole(tanh.output[0])
        if step is None or step[1].op_type != "Add" or \
                not v.near(v.other(step[1], tanh.output[0]) or "", 1.0):
            return None
        done = _product(v, x, step[1].output[0], found[0] + [term[0], k, j, i, step[0]])
        if done is None:
            return None
        return Match("gelu", done[0], x, done[1], settings={"approximate": "tanh"})
    return None


def _gated(v: _View, i: int) -> Match | None:
    """``x * sigmoid(x)`` (SiLU) or ``x * hard_sigmoid(x)`` (hard swish)."""
    gate = v.g.nodes[i]
    x = gate.input[0]
    step = v.sole(gate.output[0])
    if step is None or step[1].op_type != "Mul" or v.other(step[1], gate.output[0]) != x:
        return None
    if gate.op_type == "HardSigmoid":
        a = attributes(gate)
        if not (math.isclose(a.get("alpha", 0.2), 1 / 6, rel_tol=TOLERANCE)
                and math.isclose(a.get("beta", 0.5), 0.5, rel_tol=TOLERANCE)):
            return None
        kind = "hard_swish"
    else:
        kind = "silu"
    return Match(kind, [i, step[0]], x, step[1].output[0])


def _reduce_axes(v: _View, i: int) -> list[int] | None:
    """A ReduceMean's axes when it keeps the reduced axes."""
    node = v.g.nodes[i]
    if not attributes(node).get("keepdims", 1):
        return None
    return axes_of(node, [v.g.values.get(t) for t in node.input], 1)


def _root_of(v: _View, s: str) -> tuple[list[int], float] | None:
    """``s = sqrt(mean + eps)``: the Add and Sqrt members and eps, from the Sqrt's output
    back (the mean is the Add's activation input)."""
    made = v.node(s)
    if made is None or made[1].op_type != "Sqrt":
        return None
    j, sqrt = made
    added = v.node(sqrt.input[0])
    if added is None or added[1].op_type != "Add" or v.sole(sqrt.input[0]) is None:
        return None
    k, add = added
    consts = [t for t in add.input if v.is_const(t)]
    if len(consts) != 1 or v.g.scalar(consts[0]) is None:
        return None
    return [k, j], v.g.scalar(consts[0])


def _normalised(v: _View, d: str, uses: list):
    """``d / sqrt(var + eps)`` among the nodes in ``uses``: as ``Div(d, s)`` or ``Mul(d,
    Reciprocal(s))``. Returns ``(members, output, s)``."""
    for i, node in uses:
        if node.op_type == "Div" and node.input[0] == d:
            return [i], node.output[0], node.input[1]
        if node.op_type == "Mul" and d in node.input:
            r = v.other(node, d)
            made = v.node(r) if r else None
            if made is not None and made[1].op_type == "Reciprocal" and v.sole(r) is not None:
                return [made[0], i], node.output[0], made[1].input[0]
    return None


def _affine(v: _View, t: str, members: list[int], bias: bool):
    """``t * gamma (+ beta)`` after a normalisation: members, output, weights."""
    step = v.sole(t)
    if step is None or step[1].op_type != "Mul":
        return None
    gamma = v.other(step[1], t)
    if gamma is None or not v.is_const(gamma):
        return None
    members, out, weights = members + [step[0]], step[1].output[0], [gamma]
    if bias:
        step = v.sole(out)
        beta = v.other(step[1], out) if step is not None and step[1].op_type == "Add" else None
        if beta is not None and v.is_const(beta):
            members, out = members + [step[0]], step[1].output[0]
            weights.append(beta)
    return members, out, weights


def _layer_norm(v: _View, i: int) -> Match | None:
    mean = v.g.nodes[i]
    x, m = mean.input[0], mean.output[0]
    axes = _reduce_axes(v, i)
    step = v.sole(m)
    if axes is None or v.is_const(x) or step is None or step[1].op_type != "Sub" \
            or list(step[1].input) != [x, m]:
        return None
    s_i, sub = step
    d = sub.output[0]
    uses = v.users(d)
    if len(uses) != 2 or d in v.g.outputs:
        return None
    square = [(j, n) for j, n in uses
              if (n.op_type == "Pow" and n.input[0] == d and v.near(n.input[1], 2.0))
              or (n.op_type == "Mul" and list(n.input) == [d, d])]
    if len(square) != 1:
        return None
    q_i, sq = square[0]
    var = v.sole(sq.output[0])
    if var is None or var[1].op_type != "ReduceMean" or _reduce_axes(v, var[0]) != axes:
        return None
    step = v.sole(var[1].output[0])
    norm = _normalised(v, d, [u for u in uses if u[0] != q_i])
    if step is None or norm is None:
        return None
    root = _root_of(v, norm[2])
    if root is None or root[0][0] != step[0] or v.sole(norm[2]) is None:
        return None
    members = [i, s_i, q_i, var[0]] + root[0] + norm[0]
    done = _affine(v, norm[1], members, bias=True)
    if done is None:
        return None
    return Match("layer_norm", done[0], x, done[1], done[2], {"eps": root[1]}, axes)


def _rms_norm(v: _View, i: int) -> Match | None:
    mean = v.g.nodes[i]
    axes = _reduce_axes(v, i)
    made = v.node(mean.input[0])
    if axes is None or made is None or v.sole(mean.input[0]) is None:
        return None
    q_i, sq = made
    if sq.op_type == "Pow" and v.near(sq.input[1], 2.0):
        x = sq.input[0]
    elif sq.op_type == "Mul" and len(sq.input) == 2 and sq.input[0] == sq.input[1]:
        x = sq.input[0]
    else:
        return None
    if v.is_const(x):
        return None
    step = v.sole(mean.output[0])
    norm = _normalised(v, x, v.users(x))
    if step is None or norm is None:
        return None
    root = _root_of(v, norm[2])
    if root is None or root[0][0] != step[0] or v.sole(norm[2]) is None:
        return None
    done = _affine(v, norm[1], [q_i, i] + root[0] + norm[0], bias=False)
    if done is None:
        return None
    return Match("rms_norm", done[0], x, done[1], done[2], {"eps": root[1]}, axes)
