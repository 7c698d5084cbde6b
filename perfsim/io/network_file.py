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

Attribute names are those of :func:`perfsim.workload.ops.make_op`. Every problem is a
:class:`~perfsim.errors.WorkloadError` naming the file, the line and the key or layer.
"""

from __future__ import annotations

from pathlib import Path

from perfsim.errors import WorkloadError, suggest
from perfsim.workload.network import Layer, Network, infer_shapes
from perfsim.workload.ops import OPS, Shape, attribute_names
from perfsim.yaml_source import YamlDoc, load_yaml

TOP_KEYS = ("version", "name", "description", "input_shape", "inputs", "layers")
LAYER_KEYS = ("name", "op", "inputs")
SUFFIXES = (".yaml", ".yml")


def _unknown(doc: YamlDoc, path: tuple, key: str, valid: list[str], what: str) -> WorkloadError:
    return WorkloadError(f"{doc.where(path + (key,))}: unknown {what} '{key}'"
                         f"{suggest(key, valid)} (valid: {', '.join(valid)})")


def _shape(doc: YamlDoc, path: tuple, value) -> Shape:
    if (not isinstance(value, list) or len(value) != 3
            or not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in value)):
        raise WorkloadError(f"{doc.where(path)}: a shape is [C, H, W] of positive integers, "
                            f"got {value!r}")
    return tuple(value)  # type: ignore[return-value]


def load_network_file(path: str | Path) -> Network:
    """Read a network file into a validated :class:`Network`."""
    doc = load_yaml(path, WorkloadError)
    data = doc.data
    if not isinstance(data, dict):
        raise WorkloadError(f"{doc.where(())}: a network file is a mapping with keys "
                            f"{', '.join(TOP_KEYS)}")
    for key in data:
        if key not in TOP_KEYS:
            raise _unknown(doc, (), key, list(TOP_KEYS), "key")
    if data.get("version", 1) != 1:
        raise WorkloadError(f"{doc.where(('version',))}: only version 1 is understood")
    name = data.get("name", Path(path).stem)
    if not isinstance(name, str) or not name:
        raise WorkloadError(f"{doc.where(('name',))}: name must be a non-empty string")

    if ("input_shape" in data) == ("inputs" in data):
        raise WorkloadError(f"{doc.where(())}: give exactly one of 'input_shape' (one input "
                            f"called 'input') or 'inputs' (a mapping of names to shapes)")
    if "input_shape" in data:
        inputs = {"input": _shape(doc, ("input_shape",), data["input_shape"])}
    else:
        if not isinstance(data["inputs"], dict) or not data["inputs"]:
            raise WorkloadError(f"{doc.where(('inputs',))}: inputs is a mapping of names to "
                                f"[C, H, W] shapes")
        inputs = {k: _shape(doc, ("inputs", k), v) for k, v in data["inputs"].items()}

    layers = [Layer(k, OPS["input"](shape=s)) for k, s in inputs.items()]
    shapes = {k: (s,) for k, s in inputs.items()}
    entries = data.get("layers")
    if not isinstance(entries, list) or not entries:
        raise WorkloadError(f"{doc.where(('layers',))}: layers must be a non-empty list")
    for i, entry in enumerate(entries):
        layer = _layer(doc, i, entry, layers[-1].name)
        try:
            shapes[layer.name] = infer_shapes(name, layer, shapes)
        except WorkloadError as err:
            raise WorkloadError(f"{doc.path}:{doc.line(('layers', i))}: {err}") from None
        layers.append(layer)
    return Network(name, tuple(layers), 1, data.get("description", ""), str(path))


def _layer(doc: YamlDoc, i: int, entry, previous: str) -> Layer:
    where = ("layers", i)
    if not isinstance(entry, dict):
        raise WorkloadError(f"{doc.where(where)}: a layer is a mapping with 'name', 'op', "
                            f"optional 'inputs' and the op's attributes")
    for key in ("name", "op"):
        if key not in entry:
            raise WorkloadError(f"{doc.where(where)}: layer has no '{key}'")
    name, kind = entry["name"], entry["op"]
    if not isinstance(name, str) or not name:
        raise WorkloadError(f"{doc.where(where + ('name',))}: name must be a non-empty string")
    if kind not in OPS or kind == "input":
        ops = sorted(k for k in OPS if k != "input")
        raise WorkloadError(f"{doc.where(where + ('op',))}: layer '{name}': unknown op "
                            f"{kind!r}{suggest(str(kind), ops)} (ops: {', '.join(ops)})")
    inputs = entry.get("inputs", [previous])
    if isinstance(inputs, str):
        inputs = [inputs]
    if not isinstance(inputs, list) or not all(isinstance(x, str) for x in inputs):
        raise WorkloadError(f"{doc.where(where + ('inputs',))}: layer '{name}': inputs is a "
                            f"list of layer names")
    names = attribute_names(OPS[kind])
    attributes = {}
    for key, value in entry.items():
        if key in LAYER_KEYS:
            continue
        if key not in names:
            valid = sorted(names)
            raise WorkloadError(f"{doc.where(where + (key,))}: layer '{name}': op {kind} has no "
                                f"attribute '{key}'{suggest(key, valid)} (attributes: "
                                f"{', '.join(valid) or 'none'})")
        attributes[names[key]] = tuple(value) if isinstance(value, list) else value
    try:
        op = OPS[kind](**attributes)
    except (TypeError, ValueError) as err:
        raise WorkloadError(f"{doc.where(where)}: layer '{name}' ({kind}): {err}") from None
    return Layer(name, op, tuple(inputs))
