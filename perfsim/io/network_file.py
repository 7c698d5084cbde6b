"""perfsim's own network format: a YAML file listing layers with their op, attributes and
inputs.

::

    name: tiny_cnn
    input_shape: [3, 32, 32]        # one input called "input"; or `inputs: {name: [C, H, W]}`
    layers:
      - {name: conv1, op: conv, out_channels: 16, kernel: 3, padding: 1}
      - {name: relu1, op: relu}     # inputs default to the previous layer
      - {name: pool1, op: max_pool, kernel: 2}
      - {name: fc, op: fc, out_features: 10, inputs: [pool1]}

Attribute names are those of :func:`perfsim.workload.ops.make_op`. The file's problems are
reported together, in one :class:`~perfsim.errors.WorkloadError` with a line per problem
naming the file, the line and the key or layer (a misspelt op, attribute, key or input gets
the likely name); a layer that reads one with a problem is not checked further. An input
shape that looks channels-last (``[32, 32, 3]``: many channels, a map a few columns wide) is
read as written, ``[C, H, W]``, with a :class:`~perfsim.errors.PerfsimWarning`.
"""

from __future__ import annotations

import difflib
import warnings
from pathlib import Path

from perfsim.errors import PerfsimWarning, WorkloadError, problems_text, suggest
from perfsim.workload.limits import MAX_DIM, power_text
from perfsim.workload.network import Layer, Network, check_layer_size, infer_shapes, parse_ref
from perfsim.workload.ops import OPS, Shape, attribute_names
from perfsim.yaml_source import KeyPath, YamlDoc, load_yaml

TOP_KEYS = ("version", "name", "description", "input_shape", "inputs", "layers")
LAYER_KEYS = ("name", "op", "inputs")
SUFFIXES = (".yaml", ".yml")


CHANNELS_LAST_WIDTHS = (1, 3, 4)
"""Channel counts of images stored channels-last (grey, RGB, RGBA): an input shape whose
last entry is one of them, with more channels than that, looks like ``[H, W, C]``."""


class _Problems:
    """The problems of one file, each ``file:line: key.path: problem``, in file order."""

    def __init__(self, doc: YamlDoc):
        self.doc = doc
        self.found: list[tuple[int, str]] = []

    def add(self, path: KeyPath, text: str) -> None:
        self.found.append((self.doc.line(path), f"{self.doc.where(path)}: {text}"))

    def raise_any(self) -> None:
        if self.found:
            raise WorkloadError(problems_text(self.doc.path, self.found))


def _shape(problems: _Problems, path: KeyPath, value) -> Shape | None:
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value)):
        problems.add(path, f"a shape is [C, H, W] of positive integers, got {value!r}")
        return None
    if max(value) > MAX_DIM:
        problems.add(path, f"{max(value):,} is beyond {power_text(MAX_DIM)}, the largest size "
                           f"perfsim accepts")
        return None
    c, h, w = value
    if w in CHANNELS_LAST_WIDTHS and c > w and h > w:
        warnings.warn(f"{problems.doc.where(path)}: {value} is read as [C, H, W]: {c} channels "
                      f"of {h}x{w}; if it is [H, W, C], write [{w}, {c}, {h}]",
                      PerfsimWarning, stacklevel=2)
    return (c, h, w)


def load_network_file(path: str | Path) -> Network:
    """Read a network file into a validated :class:`Network`; every problem of the file is in
    the one :class:`WorkloadError` it raises."""
    doc = load_yaml(path, WorkloadError)
    data = doc.data
    if not isinstance(data, dict):
        raise WorkloadError(f"{doc.where(())}: a network file is a mapping with keys "
                            f"{', '.join(TOP_KEYS)}")
    problems = _Problems(doc)
    misspelt = set()  # keys an unknown key is likely meant to be: not reported missing too
    for key in data:
        if key not in TOP_KEYS:
            misspelt.update(difflib.get_close_matches(key, TOP_KEYS, n=1, cutoff=0.6))
            problems.add((key,), f"unknown key '{key}'{suggest(key, list(TOP_KEYS))} (valid: "
                                 f"{', '.join(TOP_KEYS)})")
    if data.get("version", 1) != 1:
        problems.add(("version",), "only version 1 is understood")
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str) or not name or not name.isprintable():
        problems.add(("name",), f"must be a non-empty string without control characters, "
                                f"got {name!r}")
        name = Path(path).stem
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.add(("description",), f"must be text, got {description!r}")
    inputs = _inputs(problems, data, misspelt)
    layers = [Layer(k, OPS["input"](shape=s)) for k, s in inputs.items() if s is not None]
    shapes = {layer.name: (layer.op.shape,) for layer in layers}
    failed = {k for k, s in inputs.items() if s is None}
    entries = data.get("layers")
    if "layers" not in data and "layers" not in misspelt:
        problems.add((), "required key 'layers' is missing")
    if not isinstance(entries, list) or not entries:
        if "layers" in data:
            problems.add(("layers",), "layers must be a non-empty list")
        entries = []
    previous = list(inputs)[-1] if inputs else "input"
    for i, entry in enumerate(entries):
        layer = _layer(problems, i, entry, previous)
        given = entry.get("name") if isinstance(entry, dict) else None
        if isinstance(given, str):
            previous = given
        if layer is None:
            if isinstance(given, str):
                failed.add(given)
            continue
        if any(source in failed for source in layer.sources):
            failed.add(layer.name)  # its input has a problem of its own
            continue
        try:
            shapes[layer.name] = infer_shapes(name, layer, shapes)
            check_layer_size(name, layer, tuple(shapes[s][k] for s, k in
                                                map(parse_ref, layer.inputs)),
                             shapes[layer.name], 1)
        except WorkloadError as err:
            problems.found.append((doc.line(("layers", i)),
                                   f"{doc.path}:{doc.line(('layers', i))}: {err}"))
            failed.add(layer.name)
            continue
        layers.append(layer)
    problems.raise_any()
    return Network(name, tuple(layers), 1, description, str(path))


def _inputs(problems: _Problems, data: dict, misspelt: set[str]) -> dict[str, Shape | None]:
    """The network's inputs by name, None for one whose shape has a problem."""
    if ("input_shape" in data) == ("inputs" in data):
        if not misspelt & {"input_shape", "inputs"}:
            problems.add((), "give exactly one of 'input_shape' (one input called 'input') or "
                             "'inputs' (a mapping of names to shapes)")
        return {}
    if "input_shape" in data:
        return {"input": _shape(problems, ("input_shape",), data["input_shape"])}
    if not isinstance(data["inputs"], dict) or not data["inputs"]:
        problems.add(("inputs",), "inputs is a mapping of names to [C, H, W] shapes")
        return {}
    return {k: _shape(problems, ("inputs", k), v) for k, v in data["inputs"].items()}


def _layer(problems: _Problems, i: int, entry, previous: str) -> Layer | None:
    """The layer of ``entry``, or None when it has problems (each added to ``problems``)."""
    where = ("layers", i)
    if not isinstance(entry, dict):
        problems.add(where, "a layer is a mapping with 'name', 'op', optional 'inputs' and the "
                            "op's attributes")
        return None
    missing = [key for key in ("name", "op") if key not in entry]
    for key in missing:
        problems.add(where, f"layer has no '{key}'")
    if missing:
        return None
    before = len(problems.found)
    name, kind = entry["name"], entry["op"]
    if not isinstance(name, str) or not name or not name.isprintable():
        problems.add(where + ("name",), f"must be a non-empty string without control "
                                        f"characters, got {name!r}")
        name = f"layers[{i}]"
    if not isinstance(kind, str) or kind not in OPS or kind == "input":
        ops = sorted(k for k in OPS if k != "input")
        problems.add(where + ("op",), f"layer '{name}': unknown op {kind!r}"
                                      f"{suggest(str(kind), ops)} (ops: {', '.join(ops)})")
        return None
    inputs = entry.get("inputs", [previous])
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(x, str) and x.isprintable()
                                               for x in inputs):
        problems.add(where + ("inputs",), f"layer '{name}': inputs is a list of layer names")
    names = attribute_names(OPS[kind])
    attributes = {}
    for key, value in entry.items():
        if key in LAYER_KEYS:
            continue
        if key not in names:
            valid = sorted(names)
            problems.add(where + (key,), f"layer '{name}': op {kind} has no attribute '{key}'"
                                         f"{suggest(key, valid)} (attributes: "
                                         f"{', '.join(valid) or 'none'})")
            continue
        attributes[names[key]] = tuple(value) if isinstance(value, list) else value
    if len(problems.found) > before:
        return None
    try:
        op = OPS[kind](**attributes)
    except (TypeError, ValueError) as err:
        problems.add(where, f"layer '{name}' ({kind}): {err}")
        return None
    return Layer(name, op, tuple(inputs))
