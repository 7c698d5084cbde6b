"""Hardware configs: the shipped ones, ``--hw`` resolution, strict loading under mutation,
the rules declared once and enforced on both paths, and ``schema_version: 2``.

The mutation tests start from the text of every shipped config and break it one way at a time
(a typo'd key at every nesting level, a repeated key, a wrong type, an out-of-range value, an
unknown dataflow or engine kind, a missing key, broken YAML, ...). Each broken file must raise
one :class:`ConfigError` with a line ``file:line: key.path: problem`` naming the right line and
key. The expected line and key come from the YAML node marks of the text the test edited (its
own walk of ``yaml.compose``), not from perfsim's loader.

The rule walks read the declarations themselves (every field's ``Key``, every rule between
fields and between parts) and check that each is enforced by a file (``file:line: key.path``)
and by construction or ``dataclasses.replace`` (``key.path``, engines and levels by name), with
the same message.
"""

from __future__ import annotations

import ast
import copy
import dataclasses
import math
import re
from pathlib import Path

import pandas as pd
import pytest
import yaml

from cli_runs import perfsim_cli as perfsim
from perfsim import hardware as hardware_package, simulate, sweep as sweep_of
from perfsim.hardware.loading import (MATRIX, SCHEMA, SCHEMA_V2, VECTOR, Key, parse_config,
                                      resolve_hw_path, shipped_config_names, to_document)
from perfsim.hardware.model import (CONFIG_RULES, ENERGY_PER_BYTE, ENGINE_KINDS, LEVEL_KINDS,
                                    Dram, Energy, HwConfig, LocalMemory, MatrixEngine,
                                    Precision, Sram, VectorEngine, check_costable,
                                    uncostable_reason)
from perfsim.hardware.rules import ConfigProblems, keys_of, value_problems
from perfsim.io.load import load_hw
from perfsim.errors import ConfigError
from perfsim.sweeps.space import key_paths as sweep_key_paths, variant as sweep_variant
from perfsim.yaml_source import YamlDoc, load_yaml

SHIPPED_V1 = ("edge_npu", "eyeriss", "hetero", "matrix_engine", "vector_engine")
SHIPPED_V2 = ("eyeriss_rs", "tpu_v1")
SHIPPED = SHIPPED_V1 + SHIPPED_V2
TEXTS = {name: resolve_hw_path(name).read_text(encoding="utf-8") for name in SHIPPED}
# A version 1 file with split buffers (tpu_v1.yaml before it moved to version 2 for its weight
# buffers), so that the mutations reach every key of the version 1 schema.
TEXTS["split_v1"] = """\
# tpu_v1.yaml's version 1 form: 256x256 int8, the Unified Buffer, Weight FIFO and accumulators
# as split SRAM buffers (Jouppi et al., ISCA 2017).
schema_version: 1
name: split_v1
clock_ghz: 0.7
precision: {activation_bytes: 1, weight_bytes: 1, accumulator_bytes: 4}
engines:
  - {name: mxu, kind: matrix, rows: 256, cols: 256, dataflow: weight_stationary}
  - {name: activation, kind: vector, lanes: 256}
memory:
  sram: {size_kib: 28928, bandwidth_bytes_per_cycle: 1536,
         ifmap_kib: 24576, filter_kib: 256, ofmap_kib: 4096}
  dram: {bandwidth_gb_per_s: 34, latency_ns: 100}
"""
V1_TEXTS = SHIPPED_V1 + ("split_v1",)
"""The version 1 files the mutations start from."""
ENGINE_SCHEMAS = {"matrix": MATRIX, "vector": VECTOR}


# --- the shipped configs ------------------------------------------------------------------

def test_the_shipped_configs_are_the_expected_seven():
    assert shipped_config_names() == sorted(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_config_loads_and_cites_its_sources(name):
    hw = load_hw(name)
    assert hw.name == name
    header = TEXTS[name].split("\nschema_version:")[0]
    assert header.startswith("#") and "Source" in header
    assert all(line.startswith("#") for line in header.splitlines())


@pytest.mark.parametrize("name", SHIPPED)
def test_to_document_round_trips_through_a_yaml_file(name, tmp_path):
    hw = load_hw(name)
    path = tmp_path / f"{name}_normalised.yaml"
    path.write_text(yaml.safe_dump(to_document(hw), sort_keys=False), encoding="utf-8")
    again = load_hw(path)
    assert again == hw
    assert to_document(again) == to_document(hw)


def test_tpu_v1_ridge_point_is_the_papers_1350_macs_per_dram_byte():
    # Jouppi et al., "In-Datacenter Performance Analysis of a Tensor Processing Unit", ISCA 2017,
    # Section 4 (roofline, Figure 5): the TPU's ridge point is 1350 MAC ops per byte of weight
    # memory: 65536 MAC/cycle over 34 GB/s at 700 MHz (48.6 B/cycle) = 1349.3.
    hw = load_hw("tpu_v1")
    arrays = [e for e in hw.engines if isinstance(e, MatrixEngine)]
    assert len(arrays) == 1
    ridge = arrays[0].peak_macs_per_cycle / hw.dram_bytes_per_cycle
    assert ridge == pytest.approx(1350, rel=1e-3)


def test_shipped_configs_are_what_their_comments_say():
    tpu = load_hw("tpu_v1")
    mxu, act = tpu.engines
    assert (mxu.rows, mxu.cols, mxu.dataflow, tpu.clock_ghz) == (256, 256, "weight_stationary", 0.7)
    assert mxu.weight_buffers == 2  # "one 64 KiB tile of weights plus one for double-buffering"
    assert isinstance(act, VectorEngine) and act.lanes == 256
    assert tpu.sram.split_bytes == (24 << 20, 4 * (64 << 10), 4 << 20)
    assert tpu.sram.size_bytes == sum(tpu.sram.split_bytes)
    assert tpu.dram.bandwidth_gb_per_s == 34

    vector = load_hw("vector_engine")
    assert vector.engines and all(isinstance(e, VectorEngine) for e in vector.engines)
    assert vector.precision.activation_bytes == vector.precision.weight_bytes == 1

    eyeriss = load_hw("eyeriss")
    array = eyeriss.engines[0]
    assert (array.rows, array.cols, array.rows * array.cols) == (12, 14, 168)
    assert (eyeriss.clock_ghz, eyeriss.sram.size_kib) == (0.2, 108)
    assert (eyeriss.precision.activation_bytes, eyeriss.precision.weight_bytes) == (2, 2)
    assert any(isinstance(e, VectorEngine) for e in eyeriss.engines)

    npu = load_hw("edge_npu")
    array, vpu = npu.engines
    assert (array.rows, array.cols, array.dataflow) == (32, 32, "output_stationary")
    assert isinstance(vpu, VectorEngine) and vpu.lanes == 64
    assert npu.sram.size_bytes == 2 << 20 and 0.8 <= npu.clock_ghz <= 1.0
    assert 8 <= npu.dram.bandwidth_gb_per_s <= 17.1 and npu.energy_pj is not None
    assert 0.2 <= npu.energy_pj.mac <= 0.3  # Horowitz ISSCC 2014: 8-bit multiply + add

    hetero = load_hw("hetero")
    kinds = sorted(e.kind for e in hetero.engines)
    peaks = {e.peak_macs_per_cycle for e in hetero.engines}
    assert kinds == ["matrix", "vector"] and len(peaks) == 1
    assert hetero.precision.weight_bytes == hetero.precision.activation_bytes == 1


@pytest.mark.parametrize("name", SHIPPED)
def test_perfsim_validate_accepts_every_shipped_config(name, tmp_path):
    result = perfsim("validate", name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# ") and ": valid" in result.stdout.splitlines()[0]
    assert yaml.safe_load(result.stdout) == to_document(load_hw(name))


# --- --hw resolution ----------------------------------------------------------------------

def test_hw_resolves_a_path(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(TEXTS["edge_npu"], encoding="utf-8")
    assert resolve_hw_path(path) == path and resolve_hw_path(str(path)) == path
    assert load_hw(str(path)) == load_hw("edge_npu")


def test_hw_resolves_a_shipped_name_with_and_without_yaml():
    bare, suffixed = resolve_hw_path("tpu_v1"), resolve_hw_path("tpu_v1.yaml")
    assert bare == suffixed and bare.name == "tpu_v1.yaml" and bare.is_file()
    assert load_hw("tpu_v1") == load_hw("tpu_v1.yaml")


@pytest.mark.parametrize("name,closest", [("tpu_v2", "tpu_v1"), ("edge-npu", "edge_npu"),
                                          ("eyeris.yaml", "eyeriss")])
def test_an_unknown_name_lists_the_shipped_configs_and_suggests_the_closest(name, closest):
    with pytest.raises(ConfigError) as err:
        resolve_hw_path(name)
    message = str(err.value)
    assert f"no hardware config '{name}'" in message
    assert f"did you mean: {closest}" in message
    assert "shipped: " + ", ".join(sorted(SHIPPED)) in message
    with pytest.raises(ConfigError):
        load_hw(name)


def test_a_missing_path_in_a_folder_is_not_taken_for_a_shipped_name(tmp_path):
    with pytest.raises(ConfigError, match="not a file"):
        load_hw(tmp_path / "tpu_v1.yaml")


def test_cli_unknown_hw_name_is_a_user_error(tmp_path):
    result = perfsim("validate", "tpu_v2", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "did you mean: tpu_v1" in result.stderr


# --- mutations: text editing on YAML node marks ---------------------------------------------

def key_text(path: tuple) -> str:
    """``memory.sram.size_kib`` / ``engines[1].name``, as a user reads a key path."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text or "(top level)"


def nodes(text: str) -> dict[tuple, tuple]:
    """Every key path of a document -> (key node or None, value node, parent node or None)."""
    root = yaml.compose(text)
    out: dict[tuple, tuple] = {(): (None, root, None)}

    def walk(node, path):
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                out[path + (key.value,)] = (key, value, node)
                walk(value, path + (key.value,))
        elif isinstance(node, yaml.SequenceNode):
            for i, value in enumerate(node.value):
                out[path + (i,)] = (None, value, node)
                walk(value, path + (i,))

    walk(root, ())
    return out


def line_of(text: str, path: tuple) -> int:
    """1-based line of a key (or, for a list item or the document, of its value)."""
    key, value, _ = nodes(text)[path]
    return (key or value).start_mark.line + 1


def is_block(node) -> bool:
    return isinstance(node, (yaml.MappingNode, yaml.SequenceNode)) and not node.flow_style


def splice(text: str, start: int, end: int, new: str) -> str:
    return text[:start] + new + text[end:]


def set_value(text: str, path: tuple, new: str) -> str:
    key, value, _ = nodes(text)[path]
    if is_block(value):  # `memory:` + indented lines -> `memory: NEW`
        return splice(text, key.end_mark.index, value.end_mark.index, f": {new}\n")
    return splice(text, value.start_mark.index, value.end_mark.index, new)


def rename_key(text: str, path: tuple, new: str) -> str:
    key, _, _ = nodes(text)[path]
    return splice(text, key.start_mark.index, key.end_mark.index, new)


def entry_span(text: str, path: tuple) -> tuple[int, int]:
    """Start and end of a whole block-mapping entry: its lines, newline included."""
    key, value, _ = nodes(text)[path]
    start = text.rfind("\n", 0, key.start_mark.index) + 1
    end = value.end_mark.index if is_block(value) else text.find("\n", value.end_mark.index) + 1
    return start, end


def delete_key(text: str, path: tuple) -> str:
    key, value, parent = nodes(text)[path]
    if not parent.flow_style:
        return splice(text, *entry_span(text, path), "")
    start, end = key.start_mark.index, value.end_mark.index
    after = re.match(r"[ ]*,[ ]*", text[end:])
    if after:
        return splice(text, start, end + after.end(), "")
    before = re.search(r",\s*$", text[:start])
    return splice(text, before.start() if before else start, end, "")


def repeat_key(text: str, path: tuple) -> tuple[str, int]:
    """Repeat a key on the line after it; returns the text and the repeat's line."""
    key, value, parent = nodes(text)[path]
    if parent.flow_style:
        entry = text[key.start_mark.index:value.end_mark.index]
        return splice(text, value.end_mark.index, value.end_mark.index,
                      f",\n    {entry}"), line_of(text, path) + 1
    start, end = entry_span(text, path)
    return splice(text, end, end, text[start:end]), line_of(text, path) + text.count(
        "\n", start, end)


def typo(key: str) -> str:
    """A near miss: the key with one interior character dropped."""
    return key[:len(key) // 2] + key[len(key) // 2 + 1:]


def spec_at(data: dict, path: tuple):
    """The schema entry (a Key, a section dict or the engines list) for a concrete path."""
    spec = SCHEMA
    for part in path:
        if isinstance(spec, list):
            spec = ENGINE_SCHEMAS[data["engines"][part]["kind"]]
        else:
            spec = spec[part]
    return spec


def key_paths(text: str) -> list[tuple]:
    """Every mapping key path of the document, in file order."""
    return [p for p, (key, _, _) in nodes(text).items() if key is not None]


# --- mutations: what to expect --------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Mutation:
    config: str
    kind: str
    detail: str
    text: str
    line: int
    where: str | None          # key path on the problem's line; None for a YAML-level error
    says: tuple[str, ...]      # fragments of that same problem line
    suggests: str | None = None  # for a near miss: the first key offered by "did you mean"

    @property
    def id(self) -> str:
        return f"{self.config}-{self.kind}-{self.detail}"


def numeric_mutations(name: str, text: str, path: tuple, spec: Key) -> list[Mutation]:
    out = []
    line, where = line_of(text, path), key_text(path)

    def add(kind, new, *says):
        out.append(Mutation(name, kind, f"{where}={new}", set_value(text, path, new), line,
                            where, says))

    expected = "expected a number" if spec.type is float else "expected int"
    add("wrong_type", '"fast"', f"{expected}, got 'fast'")
    add("wrong_type", "true", f"{expected}, got True")
    add("wrong_type", "[1, 2]", f"{expected}, got [1, 2]")
    add("wrong_type", "~", f"{expected}, got None")
    if spec.type is int:
        add("wrong_type", "2.5", "expected int, got 2.5")
    if spec.type is float:
        add("wrong_type", '"34"', "expected a number, got '34'", "unquoted")
        add("wrong_type", "1e3", "expected a number, got '1e3'", "1.0e3")
        for bad in (".nan", ".inf", "-.inf"):
            add("out_of_range", bad, "must be a finite number")
    if spec.choices:  # schema_version: every version there is, and none other
        versions, beyond = ", ".join(map(str, spec.choices)), max(spec.choices) + 1
        add("out_of_range", "0", f"must be one of {versions}, got 0")
        add("out_of_range", str(beyond), f"must be one of {versions}, got {beyond}")
    elif spec.positive:
        add("out_of_range", "0", "must be > 0, got 0")
        add("out_of_range", "-1", "must be > 0, got -1")
        if spec.type is float:
            add("out_of_range", "-0.5", "must be > 0, got -0.5")
    else:
        add("out_of_range", "-1", f"must be >= {spec.minimum}, got -1")
    return out


def mutations_of(name: str) -> list[Mutation]:
    text = TEXTS[name]
    data = yaml.safe_load(text)
    out: list[Mutation] = []
    for path in key_paths(text):
        spec = spec_at(data, path)
        line, where = line_of(text, path), key_text(path)
        parent = path[:-1]

        # a near-miss typo of the key: unknown key, and the right one suggested first
        bad = typo(path[-1])
        out.append(Mutation(name, "typo", where, rename_key(text, path, bad), line,
                            key_text(parent + (bad,)), ("unknown key", "did you mean: "),
                            suggests=path[-1]))

        # the key written twice (the first value is kept; the repeat is the problem)
        repeated, repeat_line = repeat_key(text, path)
        out.append(Mutation(name, "duplicate_key", where, repeated, repeat_line, where,
                            (f"duplicate key '{path[-1]}'", f"first at line {line}")))

        # the key left out: reported at its key path, on the line of its section
        required = isinstance(spec, Key) and spec.required or (
            not isinstance(spec, Key) and path != ("energy_pj",))
        if required:
            removed = delete_key(text, path)
            out.append(Mutation(name, "missing_key", where, removed, line_of(removed, parent),
                                where, ("required",)))

        # a wrong type or an out-of-range value for every scalar
        if isinstance(spec, Key) and spec.type in (int, float):
            out += numeric_mutations(name, text, path, spec)
        elif isinstance(spec, Key) and path[-1] != "kind":
            out.append(Mutation(name, "wrong_type", f"{where}=42", set_value(text, path, "42"),
                                line, where, ("expected str, got 42",)))
        elif isinstance(spec, dict):  # a section: a list instead of a mapping
            out.append(Mutation(name, "wrong_type", f"{where}=list",
                                set_value(text, path, "[1, 2]"), line, where,
                                ("expected a mapping", "got list")))

        # an unknown dataflow and an unknown engine kind, plain and near-miss
        if path[-1] == "dataflow":
            for new, says in (("row_stationary", ()),
                              ("weight_stationery", ("did you mean: weight_stationary",))):
                out.append(Mutation(name, "unknown_dataflow", f"{where}={new}",
                                    set_value(text, path, new), line, where,
                                    ("must be one of output_stationary, weight_stationary, "
                                     f"input_stationary, got '{new}'", *says)))
        if path[-1] == "kind":
            for new, says in (("systolic", ()), ("matrx", ("did you mean: matrix",)),
                              ("42", ()), ("[matrix]", ())):
                out.append(Mutation(name, "unknown_kind", f"{where}={new}",
                                    set_value(text, path, new), line, where,
                                    ("engine kind must be 'matrix' or 'vector'", *says)))

    # engines: not a list; an entry that is not a mapping; a repeated engine name
    line = line_of(text, ("engines",))
    out.append(Mutation(name, "wrong_type", "engines=mapping",
                        set_value(text, ("engines",), "{mxu: 1}"), line, "engines",
                        ("expected a non-empty list of engines",)))
    out.append(Mutation(name, "wrong_type", "engines=[]", set_value(text, ("engines",), "[]"),
                        line, "engines", ("expected a non-empty list of engines",)))
    out.append(Mutation(name, "wrong_type", "engines[0]=str",
                        set_value(text, ("engines", 0), "mxu"), line_of(text, ("engines", 0)),
                        "engines[0]", ("expected an engine", "got str")))
    last = len(data["engines"]) - 1
    last_line = line_of(text, ("engines", last))
    lines = text.splitlines(keepends=True)
    indent = re.match(r"\s*", lines[last_line - 1]).group()
    first_name = data["engines"][0]["name"]
    extra = f"{indent}- {{name: {first_name}, kind: vector, lanes: 8}}\n"
    out.append(Mutation(name, "duplicate_engine_name", first_name,
                        "".join(lines[:last_line] + [extra] + lines[last_line:]),
                        last_line + 1, f"engines[{last + 1}].name",
                        (f"duplicate engine name '{first_name}'",
                         f"first at line {line_of(text, ('engines', 0, 'name'))}")))

    # an SRAM split larger than the SRAM; a split given in part
    sram = ("memory", "sram")
    out.append(Mutation(name, "sram_split", "exceeds", set_value(
        text, sram, "{size_kib: 64, bandwidth_bytes_per_cycle: 64, ifmap_kib: 32, "
                    "filter_kib: 32, ofmap_kib: 1}"), line_of(text, sram), "memory.sram",
        ("ifmap_kib + filter_kib + ofmap_kib = 65 exceeds size_kib = 64",)))
    out.append(Mutation(name, "sram_split", "partial", set_value(
        text, sram, "{size_kib: 64, bandwidth_bytes_per_cycle: 64, ifmap_kib: 32}"),
        line_of(text, sram), "memory.sram", ("give all of ifmap_kib, filter_kib, ofmap_kib",)))

    # broken YAML: the loader's own error, with the line it points at
    clock = line_of(text, ("clock_ghz",))
    precision = line_of(text, ("precision",))
    close = nodes(text)[("precision",)][1].end_mark.index  # just after its closing brace
    name_line = line_of(text, ("name",))
    out += [
        Mutation(name, "yaml_syntax", "mapping_value", set_value(text, ("clock_ghz",), "1.0: 2"),
                 clock, None, ("invalid YAML", "mapping values are not allowed here")),
        Mutation(name, "yaml_syntax", "tab", text.replace("\nclock_ghz:", "\n\tclock_ghz:"),
                 clock, None, ("invalid YAML", "'\\t'")),
        Mutation(name, "yaml_syntax", "unclosed_flow_mapping", splice(text, close - 1, close, ""),
                 precision + 1, None, ("invalid YAML", f"flow mapping at line {precision}")),
        Mutation(name, "yaml_syntax", "unclosed_quote",
                 text.replace(f"\nname: {name}\n", f'\nname: "{name}\n'),
                 len(text.splitlines()) + 1, None,
                 ("invalid YAML", f"quoted scalar at line {name_line}")),
    ]

    # empty files and documents that are not a mapping
    header = text.split("\nschema_version:")[0] + "\n"
    first = header.count("\n") + 1
    out += [
        Mutation(name, "empty_file", "empty", "", 1, None, ("the file is empty",)),
        Mutation(name, "empty_file", "comments_only", header, 1, None, ("the file is empty",)),
        Mutation(name, "not_a_mapping", "list", header + "- mxu\n- vpu\n", first, "(top level)",
                 ("expected a mapping", "got list")),
        Mutation(name, "not_a_mapping", "scalar", header + "tpu\n", first, "(top level)",
                 ("expected a mapping", "got str")),
    ]
    return out


MUTATIONS = [m for name in V1_TEXTS for m in mutations_of(name)]


def problem_line(message: str, mutation: Mutation, path: Path) -> str:
    """The one line of the error message for this mutation's line and key path."""
    head = f"{path}:{mutation.line}:" + (f" {mutation.where}:" if mutation.where else "")
    found = [line for line in message.splitlines() if line.startswith(head)]
    assert found, f"no line starting {head!r} in:\n{message}"
    return found[0]


@pytest.mark.parametrize("mutation", MUTATIONS, ids=[m.id for m in MUTATIONS])
def test_a_mutated_config_names_file_line_and_key(mutation, tmp_path):
    path = tmp_path / f"{mutation.config}.yaml"
    path.write_text(mutation.text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_hw(path)
    line = problem_line(str(err.value), mutation, path)
    for fragment in mutation.says:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    if mutation.suggests:  # the right key, first
        assert re.search(rf"did you mean: {re.escape(mutation.suggests)}[,?]", line), line


def test_the_mutations_cover_every_numeric_key_of_the_schema():
    def schema_paths(section, prefix=()):
        for key, spec in section.items():
            if isinstance(spec, list):
                for kind, sub in ENGINE_SCHEMAS.items():
                    yield from schema_paths(sub, prefix + (key, kind))
            elif isinstance(spec, dict):
                yield from schema_paths(spec, prefix + (key,))
            elif spec.type in (int, float):
                yield prefix + (key,)

    covered = set()
    for name in V1_TEXTS:
        data = yaml.safe_load(TEXTS[name])
        for path in key_paths(TEXTS[name]):
            if isinstance(spec_at(data, path), Key):
                generic = (path[:1] + (data["engines"][path[1]]["kind"],) + path[2:]
                           if path[0] == "engines" else path)
                covered.add(generic)
    assert set(schema_paths(SCHEMA)) <= covered
    kinds = {m.kind for m in MUTATIONS}
    assert kinds == {"typo", "duplicate_key", "missing_key", "wrong_type", "out_of_range",
                     "unknown_dataflow", "unknown_kind", "duplicate_engine_name", "sram_split",
                     "yaml_syntax", "empty_file", "not_a_mapping"}


def test_every_problem_in_a_file_is_listed_at_once(tmp_path):
    first = line_of(TEXTS["tpu_v1"], ("clock_ghz",))
    text, repeat = repeat_key(TEXTS["tpu_v1"], ("clock_ghz",))
    lines = {p: line_of(text, p) for p in [("precision", "weight_bytes"), ("engines", 0, "rows")]}
    text = set_value(text, ("engines", 0, "rows"), "0")
    text = rename_key(text, ("precision", "weight_bytes"), "weigth_bytes")
    path = tmp_path / "many.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_hw(path)
    message = str(err.value)
    assert message.startswith(f"4 problem(s) in {path}:")
    for expected in (f"{path}:{repeat}: clock_ghz: duplicate key 'clock_ghz' (first at line "
                     f"{first})",
                     f"{path}:{lines[('precision', 'weight_bytes')]}: precision.weigth_bytes: "
                     "unknown key; did you mean: weight_bytes?",
                     f"{path}:{lines[('precision', 'weight_bytes')]}: precision.weight_bytes: "
                     "required key is missing",
                     f"{path}:{lines[('engines', 0, 'rows')]}: engines[0].rows: must be > 0"):
        assert expected in message


@pytest.mark.parametrize("name", SHIPPED_V1)
def test_what_the_schema_allows_still_loads(name, tmp_path):
    """Positive controls for the mutations: defaults, zeros where zero is allowed, ints for
    floats."""
    text = TEXTS[name]
    data = yaml.safe_load(text)
    variants = [set_value(text, ("clock_ghz",), "2")]
    for path in key_paths(text):
        spec = spec_at(data, path)
        if isinstance(spec, Key) and not spec.required and not path[-1].endswith("_kib"):
            variants.append(delete_key(text, path))
        if isinstance(spec, Key) and spec.minimum == 0:
            variants.append(set_value(text, path, "0"))
    if "energy_pj" in data:
        variants.append(delete_key(text, ("energy_pj",)))
    if "ifmap_kib" in data["memory"]["sram"]:
        split_free = text
        for key in ("ifmap_kib", "filter_kib", "ofmap_kib"):
            split_free = delete_key(split_free, ("memory", "sram", key))
        variants.append(split_free)
    for i, variant in enumerate(variants):
        path = tmp_path / f"{name}_{i}.yaml"
        path.write_text(variant, encoding="utf-8")
        assert load_hw(path).name == name, variant


# one mutation of each kind, through the command line as a user runs it
CLI_SAMPLE = list({m.kind: m for m in MUTATIONS}.values())


@pytest.mark.parametrize("mutation", CLI_SAMPLE, ids=[m.id for m in CLI_SAMPLE])
def test_cli_validate_reports_a_mutation_as_a_user_error(mutation, tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(mutation.text, encoding="utf-8")
    result = perfsim("validate", path, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.startswith("perfsim: error: ")
    line = problem_line(result.stderr.removeprefix("perfsim: error: "), mutation, path)
    for fragment in mutation.says:
        assert fragment in line


# --- schema_version 1 means what it meant ----------------------------------------------------

@pytest.mark.parametrize("name", SHIPPED_V1)
def test_a_version_1_config_is_its_sram_and_its_dram_as_before(name):
    data = yaml.safe_load(TEXTS[name])
    sram, dram = Sram(**data["memory"]["sram"]), Dram(**data["memory"]["dram"])
    hw = load_hw(name)
    assert (hw.sram, hw.dram) == (sram, dram) and hw.memory_levels == (sram, dram)
    assert [level.name for level in hw.memory_levels] == ["sram", "dram"]
    energy = None
    if "energy_pj" in data:
        e = data["energy_pj"]
        energy = Energy(e["mac"], {"sram": e["sram_byte"], "dram": e["dram_byte"]})
        assert (hw.energy_pj.sram_byte, hw.energy_pj.dram_byte) == (e["sram_byte"],
                                                                    e["dram_byte"])
    # the two-level constructor of before builds an equal (and equally hashed) config
    again = HwConfig(hw.name, hw.clock_ghz, hw.precision, hw.engines, sram, dram, energy)
    assert again == hw and hash(again) == hash(hw) and len({again, hw}) == 1
    assert uncostable_reason(hw) is None


def readme_configs() -> list[str]:
    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    return [b for b in re.findall(r"```yaml\n(.*?)```", readme, flags=re.S)
            if "schema_version" in b]


def test_the_readme_configs_of_both_versions_load(tmp_path):
    blocks = readme_configs()
    assert sorted(yaml.safe_load(b)["schema_version"] for b in blocks) == [1, 2]
    for i, block in enumerate(blocks):
        path = tmp_path / f"readme_{i}.yaml"
        path.write_text(block, encoding="utf-8")
        hw = load_hw(path)
        assert hw == load_hw(hw.name)  # each is a shipped config, written out in full


# --- schema_version 2 ----------------------------------------------------------------------

def test_eyeriss_rs_is_what_its_comments_say():
    hw = load_hw("eyeriss_rs")
    spad, gbuf, dram = hw.memory_levels
    assert isinstance(spad, LocalMemory) and (spad.kind, spad.per) == ("local", "pe")
    # ifmap 12 x 16 bit, filter 224 x 16 bit, psum 24 x 16 bit per PE
    assert spad.split_bytes == (12 * 2, 224 * 2, 24 * 2) and spad.size_bytes == 520
    assert hw.engine("pe_array").reads_from == "spad" and hw.engine("relu").reads_from is None
    # the rest is eyeriss.yaml's chip: the global buffer is its sram, under another name
    eyeriss = load_hw("eyeriss")
    assert dataclasses.replace(gbuf, name="sram") == eyeriss.sram and dram == eyeriss.dram
    assert (hw.clock_ghz, hw.precision) == (eyeriss.clock_ghz, eyeriss.precision)
    assert [dataclasses.replace(e, reads_from=None) for e in hw.engines] == list(eyeriss.engines)


def test_simulate_refuses_a_level_per_pe_in_one_line(tmp_path):
    with pytest.raises(ConfigError) as err:
        simulate("alexnet", "eyeriss_rs")
    assert str(err.value) == ("eyeriss_rs: memory.spad.per = 'pe': costing a level per "
                              "processing element (which needs a spatial mapping of the "
                              "array) is not supported yet; per 'engine' is")
    result = perfsim("run", "alexnet", "--hw", "eyeriss_rs", cwd=tmp_path)  # the installed copy
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1 and "not supported yet" in result.stderr


def test_simulate_refuses_a_second_shared_level_in_one_line():
    hw = load_hw("edge_npu")
    l2 = Sram(4096, 64, name="l2")
    config = dataclasses.replace(hw, memory_levels=(hw.sram, l2, hw.dram), energy_pj=None)
    with pytest.raises(ConfigError) as err:
        simulate("lenet5_lecun1998", config)
    assert str(err.value) == ("edge_npu: memory level 'l2' (sram): costing a second shared "
                              "on-chip level is not supported yet (activations stay in the "
                              "one shared level between layers)")
    # a sweep over its SRAM sizes (which it would run fastest, were they one level's) makes
    # a row of that reason per point
    frame = sweep_of("lenet5_lecun1998", config, grid={"memory.sram.size_kib": [64, 128]},
                     executor="serial")
    assert list(frame["status"]) == ["infeasible"] * 2
    assert set(frame["reason"]) == {str(err.value)}


def other_valid_value(spec: Key):
    """A valid value of ``spec`` other than its default."""
    if spec.type is tuple:
        return spec.choices[:1]
    return spec.default + 1 if spec.type is int else spec.default * 2 + 1


UNCOSTED = [(cls, name) for cls in (Sram, Dram) for name, spec in keys_of(cls).items()
            if not spec.costed]


@pytest.mark.parametrize("cls,name", UNCOSTED, ids=[f"{c.kind}.{n}" for c, n in UNCOSTED])
def test_a_key_the_cost_model_does_not_read_yet_is_refused_not_ignored(cls, name):
    hw = load_hw("matrix_engine")
    level = next(level for level in hw.memory_levels if isinstance(level, cls))
    changed = dataclasses.replace(level, **{name: other_valid_value(keys_of(cls)[name])})
    levels = tuple(changed if lv is level else lv for lv in hw.memory_levels)
    config = dataclasses.replace(hw, memory_levels=levels)
    with pytest.raises(ConfigError, match=rf"^matrix_engine: memory\.{level.name}\.{name} = "
                                          rf".*: costing {name} is not supported yet"):
        check_costable(config)
    with pytest.raises(ConfigError, match="not supported yet"):
        simulate("lenet5_lecun1998", config)
    assert {n for _, n in UNCOSTED} == {"holds"}


# A matrix_engine.yaml as a user may write it in version 2: its shared level named gbuf (so its
# energy is gbuf_byte), the DRAM level named by its kind's default.
MATRIX_ENGINE_V2 = """\
schema_version: 2
name: matrix_engine
clock_ghz: 1.0
precision: {activation_bytes: 1, weight_bytes: 1, accumulator_bytes: 4}
engines:
  - {name: mxu, kind: matrix, rows: 128, cols: 128, dataflow: weight_stationary,
     reads_from: gbuf}
  - {name: vpu, kind: vector, lanes: 128, pipeline_latency_cycles: 8}
memory:
  - {name: gbuf, kind: sram, size_kib: 8192, bandwidth_bytes_per_cycle: 1024}
  - {kind: dram, bandwidth_gb_per_s: 30, latency_ns: 100}
energy_pj: {mac: 0.3, gbuf_byte: 2.5, dram_byte: 162.5}
"""
# tpu_v1.yaml as a user may write it, its split buffers on the one shared level named unified.
TPU_V1_V2 = """\
schema_version: 2
name: tpu_v1
clock_ghz: 0.7
precision: {activation_bytes: 1, weight_bytes: 1, accumulator_bytes: 4}
engines:
  - {name: mxu, kind: matrix, rows: 256, cols: 256, dataflow: weight_stationary,
     weight_buffers: 2}
  - {name: activation, kind: vector, lanes: 256}
memory:
  - {name: unified, kind: sram, size_kib: 28928, bandwidth_bytes_per_cycle: 2560,
     ifmap_kib: 24576, filter_kib: 256, ofmap_kib: 4096, ifmap_bandwidth_bytes_per_cycle: 256,
     filter_bandwidth_bytes_per_cycle: 256, ofmap_bandwidth_bytes_per_cycle: 2048}
  - {name: dram, kind: dram, bandwidth_gb_per_s: 34, latency_ns: 100}
energy_pj: {mac: 0.3, unified_byte: 2.5, dram_byte: 162.5}
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("shipped,text", [("matrix_engine", MATRIX_ENGINE_V2),
                                          ("tpu_v1", TPU_V1_V2)])
def test_a_version_2_file_restating_a_shipped_config_gives_its_numbers(shipped, text,
                                                                      tmp_path):
    old, new = load_hw(shipped), load_hw(write(tmp_path, shipped, text))
    assert dataclasses.replace(new.sram, name="sram") == old.sram and new.dram == old.dram
    assert new != old  # a level of another name: another config, the same machine
    pd.testing.assert_frame_equal(simulate("mobilenet_v1", old).to_frame(),
                                  simulate("mobilenet_v1", new).to_frame())
    pd.testing.assert_frame_equal(
        simulate("lenet5_lecun1998", old, fidelity="event").to_frame(),
        simulate("lenet5_lecun1998", new, fidelity="event").to_frame())


@pytest.mark.parametrize("name", SHIPPED_V1)
def test_the_normalised_form_of_a_version_1_config_is_version_2_and_loads_equal(name,
                                                                               tmp_path):
    hw = load_hw(name)
    document = to_document(hw)
    assert document["schema_version"] == 2
    assert [level["name"] for level in document["memory"]] == ["sram", "dram"]
    again = load_hw(write(tmp_path, name, yaml.safe_dump(document, sort_keys=False)))
    assert again == hw and again.sram == hw.sram


def test_a_config_built_in_python_round_trips_through_its_document(tmp_path):
    hw = HwConfig("built", 0.5, Precision(2, 2, 4),
                  (MatrixEngine("mxu", 8, 8, "output_stationary", reads_from="rf"),
                   VectorEngine("vpu", 8, reads_from="l1")),
                  energy_pj=Energy(0.5, {"rf": 0.1, "l1": 0.3, "gbuf": 1.0, "hbm": 7.0}),
                  memory_levels=(LocalMemory("rf", "pe", 32, 6.0, buffers=2),
                                 LocalMemory("l1", "engine", 4096, 64, 1024, 2048, 1024,
                                             holds=["input", "weight"]),
                                 Sram(256, 128, name="gbuf", transfer_setup_cycles=20,
                                      burst_bytes=64),
                                 Dram(100, 80.0, name="hbm", burst_bytes=32)))
    assert hw.memory_levels[1].holds == ("input", "weight")  # a list is kept as a tuple
    path = write(tmp_path, "built", yaml.safe_dump(to_document(hw), sort_keys=False))
    assert load_hw(path) == hw
    assert uncostable_reason(hw).startswith("built: memory.rf.per = 'pe': costing a level per")


def test_sram_and_dram_replace_their_levels_and_the_one_on_chip_level_only():
    hw = load_hw("edge_npu")
    three = dataclasses.replace(hw, sram=dataclasses.replace(hw.sram, buffers=3))
    assert three.sram.buffers == 3 and three.memory_levels == (three.sram, hw.dram)
    faster = dataclasses.replace(hw, dram=dataclasses.replace(hw.dram, bandwidth_gb_per_s=34))
    assert faster.dram_bytes_per_cycle == 34 and faster.sram == hw.sram
    rs = load_hw("eyeriss_rs")
    bigger = dataclasses.replace(rs.sram, size_kib=216)
    assert dataclasses.replace(rs, sram=bigger).memory_levels == (rs.memory_levels[0], bigger,
                                                                rs.dram)
    two = dataclasses.replace(rs, memory_levels=(rs.memory_levels[0], rs.sram,
                                                  Sram(512, 64, name="l2"), rs.dram),
                              energy_pj=None)  # its energies name no l2
    with pytest.raises(ConfigError, match="sram replaces the one shared level; there are 2"):
        dataclasses.replace(two, sram=bigger)
    assert dataclasses.replace(rs, dram=Dram(0.72, 100)).dram.bandwidth_gb_per_s == 0.72
    with pytest.raises(ConfigError, match="give sram and dram, or memory_levels"):
        HwConfig("x", 1.0, Precision(), hw.engines, hw.sram)


def test_a_sweep_addresses_version_2_levels_by_name():
    hw = load_hw("eyeriss_rs")
    paths = sweep_key_paths(hw)
    for path in ("memory.spad.size_bytes", "memory.spad.ifmap_bytes", "memory.gbuf.size_kib",
                 "memory.gbuf.ifmap_kib", "memory.dram.bandwidth_gb_per_s",
                 "engines.pe_array.reads_from", "engines.relu.reads_from"):
        assert path in paths
    assert not any(p.endswith((".name", ".kind")) for p in paths)
    bigger = sweep_variant(hw, {"memory.gbuf.size_kib": 216, "memory.spad.size_bytes": 1024})
    assert bigger.memory_levels[1].size_kib == 216 and bigger.memory_levels[0].size_bytes == 1024
    with pytest.raises(ConfigError, match=r"^memory\.spad\.size_bytes: must be > 0, got 0$"):
        sweep_variant(hw, {"memory.spad.size_bytes": 0})
    with pytest.raises(ConfigError, match=r"^engines\.pe_array\.reads_from: no on-chip memory "
                                          r"level 'dram'"):
        sweep_variant(hw, {"engines.pe_array.reads_from": "dram"})


# --- every rule, declared once, enforced by a file and by Python alike -------------------------

# A config with every kind of section and every optional key set: the rule walks break it.
WALK_TEXT = """\
schema_version: 2
name: walk
clock_ghz: 1.0
precision: {activation_bytes: 1, weight_bytes: 1, accumulator_bytes: 4}
engines:
  - {name: mxu, kind: matrix, rows: 8, cols: 8, dataflow: weight_stationary, reads_from: rf}
  - {name: vpu, kind: vector, lanes: 8, pipeline_latency_cycles: 2, reads_from: gbuf}
memory:
  - {name: rf, kind: local, per: pe, size_bytes: 64, bandwidth_bytes_per_cycle: 8,
     ifmap_bytes: 16, filter_bytes: 32, ofmap_bytes: 16}
  - {name: gbuf, kind: sram, size_kib: 64, bandwidth_bytes_per_cycle: 64, ifmap_kib: 16,
     filter_kib: 16, ofmap_kib: 16}
  - {name: dram, kind: dram, bandwidth_gb_per_s: 10, latency_ns: 100}
energy_pj: {mac: 0.2, rf_byte: 0.1, gbuf_byte: 1.2, dram_byte: 40}
"""
CLASSES = (HwConfig, Precision, *ENGINE_KINDS.values(), *LEVEL_KINDS.values(), Energy)


def test_the_walks_cover_every_class_that_declares_keys():
    import perfsim.hardware.model as model

    declaring = {obj for obj in vars(model).values()
                 if dataclasses.is_dataclass(obj) and isinstance(obj, type) and keys_of(obj)}
    assert declaring == set(CLASSES)


def walk_config(tmp_path: Path) -> HwConfig:
    return load_hw(write(tmp_path, "walk_source", WALK_TEXT))


def instance(hw: HwConfig, cls: type) -> tuple[object, tuple, tuple]:
    """The first ``cls`` in ``hw``, its key path in a file and its key path from Python."""
    if cls is HwConfig:
        return hw, (), ()
    if cls in (Precision, Energy):
        section = "precision" if cls is Precision else "energy_pj"
        return getattr(hw, section), (section,), (section,)
    section, items = (("engines", hw.engines) if cls in ENGINE_KINDS.values()
                      else ("memory", hw.memory_levels))
    i, obj = next((i, o) for i, o in enumerate(items) if isinstance(o, cls))
    return obj, (section, i), (section, obj.name)


def bad_values(spec: Key) -> list:
    """Values ``spec`` rejects: of the wrong type, then out of its range."""
    out: list = {int: ["fast", 2.5, True], float: ["fast", True, math.inf], str: [42],
                 tuple: ["input", ["input", "input"], [], ["inputs"]]}[spec.type][:]
    if spec.positive:
        out += [0, -1]
    if spec.minimum is not None:
        out.append(spec.minimum - 1)
    if spec.choices and spec.type is str:
        out.append("nowhere")
    return out


FIELD_CASES = [(cls, name, bad) for cls in CLASSES for name, spec in keys_of(cls).items()
               for bad in bad_values(spec)]


def loading_problems(tmp_path: Path, document: dict) -> tuple[str, Path, str]:
    """The error message of loading ``document`` written out, its path and its text."""
    text = yaml.safe_dump(document, sort_keys=False)
    path = write(tmp_path, "broken", text)
    with pytest.raises(ConfigError) as err:
        load_hw(path)
    return str(err.value), path, text


def set_in(document: dict, path: tuple, value) -> None:
    for part in path[:-1]:
        document = document[part]
    document[path[-1]] = value


@pytest.mark.parametrize("cls,name,bad", FIELD_CASES,
                         ids=[f"{c.__name__}.{n}={b!r}" for c, n, b in FIELD_CASES])
def test_every_field_rule_is_enforced_by_a_file_and_by_replace_alike(cls, name, bad,
                                                                     tmp_path):
    messages = value_problems(keys_of(cls)[name], bad)  # the one declaration
    assert messages and all(repr(bad) in m for m in messages if "got" in m)
    hw = walk_config(tmp_path)
    obj, in_file, in_python = instance(hw, cls)
    with pytest.raises(ConfigProblems) as err:
        dataclasses.replace(obj, **{name: bad})
    if name == "name" and in_python:  # an entry is named by its name, once that is valid
        in_python = in_python[:1]
    for message in messages:
        assert f"{key_text(in_python + (name,))}: {message}" in str(err.value)
    document = to_document(hw)
    set_in(document, in_file + (name,), bad)
    text_of_error, path, text = loading_problems(tmp_path, document)
    line = line_of(text, in_file + (name,))
    for message in messages:
        assert f"{path}:{line}: {key_text(in_file + (name,))}: {message}" in text_of_error


@pytest.mark.parametrize("bad", bad_values(ENERGY_PER_BYTE))
def test_the_energy_per_byte_rule_is_enforced_by_a_file_and_by_python_alike(bad, tmp_path):
    messages = value_problems(ENERGY_PER_BYTE, bad)
    hw = walk_config(tmp_path)
    with pytest.raises(ConfigProblems) as err:
        Energy(hw.energy_pj.mac, {**dict(hw.energy_pj.per_byte), "gbuf": bad})
    assert all(f"energy_pj.gbuf_byte: {m}" in str(err.value) for m in messages)
    document = to_document(hw)
    document["energy_pj"]["gbuf_byte"] = bad
    text_of_error, path, text = loading_problems(tmp_path, document)
    line = line_of(text, ("energy_pj", "gbuf_byte"))
    assert all(f"{path}:{line}: energy_pj.gbuf_byte: {m}" in text_of_error for m in messages)


@dataclasses.dataclass(frozen=True)
class RuleCase:
    """One way to break a rule between fields or between parts, in a file and from Python."""

    rule: str
    detail: str
    break_file: object      # edits WALK's normalised document in place; None: a file cannot
    break_python: object    # builds the broken object from WALK's config (it must raise)
    in_file: tuple          # the key path a file's problem names
    in_python: str          # the key path construction names
    says: str               # the message, or a fragment of it, on both paths

    @property
    def id(self) -> str:
        return f"{self.rule}-{self.detail}"


def _del(*path):
    def edit(document):
        for part in path[:-1]:
            document = document[part]
        del document[path[-1]]
    return edit


def _set(path, value):
    return lambda document: set_in(document, path, value)


def _levels(*order):
    """The document's levels in another order (by position), or fewer."""
    def edit(document):
        document["memory"] = [document["memory"][i] for i in order]
    return edit


def _replace_part(field, i, **changes):
    """A builder of ``hw`` with entry ``i`` of its tuple ``field`` changed."""
    def build(hw):
        parts = list(getattr(hw, field))
        parts[i] = dataclasses.replace(parts[i], **changes)
        return dataclasses.replace(hw, **{field: tuple(parts)})
    return build


def _replace_level(i, **changes):
    return _replace_part("memory_levels", i, **changes)


def _replace_engine(i, **changes):
    return _replace_part("engines", i, **changes)


def _reorder(*order):
    return lambda hw: dataclasses.replace(
        hw, memory_levels=tuple(hw.memory_levels[i] for i in order))


def _energy(**changes):
    def build(hw):
        per_byte = {**dict(hw.energy_pj.per_byte), **changes}
        return Energy(hw.energy_pj.mac, {k: v for k, v in per_byte.items() if v is not None})
    return build


SPLIT_KIB = "ifmap_kib, filter_kib, ofmap_kib"
SPLIT_BYTES = "ifmap_bytes, filter_bytes, ofmap_bytes"
PORTS = ("ifmap_bandwidth_bytes_per_cycle, filter_bandwidth_bytes_per_cycle, "
         "ofmap_bandwidth_bytes_per_cycle")


def _ports(ifmap, filter_, ofmap):
    """Sets the gbuf's three port bandwidths."""
    def edit(document):
        document["memory"][1].update(ifmap_bandwidth_bytes_per_cycle=ifmap,
                                     filter_bandwidth_bytes_per_cycle=filter_,
                                     ofmap_bandwidth_bytes_per_cycle=ofmap)
    return edit
RULE_CASES = [
    RuleCase("split_size_kib", "partial", _del("memory", 1, "filter_kib"),
             _replace_level(1, filter_kib=None), ("memory", 1), "memory.gbuf",
             f"give all of {SPLIT_KIB} or none"),
    RuleCase("split_size_kib", "exceeds", _set(("memory", 1, "ifmap_kib"), 60),
             _replace_level(1, ifmap_kib=60), ("memory", 1), "memory.gbuf",
             "ifmap_kib + filter_kib + ofmap_kib = 92 exceeds size_kib = 64"),
    RuleCase("ports_bandwidth_bytes_per_cycle", "partial",
             _set(("memory", 1, "ifmap_bandwidth_bytes_per_cycle"), 16),
             _replace_level(1, ifmap_bandwidth_bytes_per_cycle=16), ("memory", 1),
             "memory.gbuf", f"give all of {PORTS} or none"),
    RuleCase("ports_bandwidth_bytes_per_cycle", "sum", _ports(16, 16, 16),
             _replace_level(1, ifmap_bandwidth_bytes_per_cycle=16,
                            filter_bandwidth_bytes_per_cycle=16,
                            ofmap_bandwidth_bytes_per_cycle=16), ("memory", 1), "memory.gbuf",
             " + ".join(PORTS.split(", ")) + " = 48 must equal bandwidth_bytes_per_cycle = 64"),
    RuleCase("ports_bandwidth_bytes_per_cycle", "unsplit",
             lambda d: (_ports(16, 16, 32)(d), [d["memory"][1].pop(k) for k in
                                                 ("ifmap_kib", "filter_kib", "ofmap_kib")]),
             _replace_level(1, ifmap_kib=None, filter_kib=None, ofmap_kib=None,
                            ifmap_bandwidth_bytes_per_cycle=16,
                            filter_bandwidth_bytes_per_cycle=16,
                            ofmap_bandwidth_bytes_per_cycle=32), ("memory", 1), "memory.gbuf",
             f"{PORTS} need the per-operand buffers {SPLIT_KIB}"),
    RuleCase("split_size_bytes", "partial", _del("memory", 0, "ofmap_bytes"),
             _replace_level(0, ofmap_bytes=None), ("memory", 0), "memory.rf",
             f"give all of {SPLIT_BYTES} or none"),
    RuleCase("split_size_bytes", "exceeds", _set(("memory", 0, "ifmap_bytes"), 40),
             _replace_level(0, ifmap_bytes=40), ("memory", 0), "memory.rf",
             "ifmap_bytes + filter_bytes + ofmap_bytes = 88 exceeds size_bytes = 64"),
    RuleCase("_energy_per_byte", "negative", _set(("energy_pj", "gbuf_byte"), -1),
             _energy(gbuf=-1), ("energy_pj", "gbuf_byte"), "energy_pj.gbuf_byte",
             "must be >= 0, got -1"),
    RuleCase("engines_given", "empty", _set(("engines",), []),
             lambda hw: dataclasses.replace(hw, engines=()), ("engines",), "engines",
             "expected a non-empty list of engines"),
    RuleCase("engine_names_unique", "repeat", _set(("engines", 1, "name"), "mxu"),
             _replace_engine(1, name="mxu"), ("engines", 1, "name"), "engines[1].name",
             "duplicate engine name 'mxu'"),
    RuleCase("levels_given", "empty", _set(("memory",), []),
             lambda hw: dataclasses.replace(hw, memory_levels=()), ("memory",), "memory",
             "expected a non-empty list of memory levels, innermost first, DRAM last"),
    RuleCase("level_names_unique", "repeat", _set(("memory", 1, "name"), "rf"),
             _replace_level(1, name="rf"), ("memory", 1, "name"), "memory[1].name",
             "duplicate memory level name 'rf'"),
    RuleCase("dram_last", "dram_inside", _levels(0, 2, 1), _reorder(0, 2, 1),
             ("memory", 1, "kind"), "memory.dram.kind",
             "only the last (outermost) level may be DRAM"),
    RuleCase("dram_last", "last_not_dram", _levels(0, 2, 1), _reorder(0, 2, 1),
             ("memory", 2, "kind"), "memory.gbuf.kind",
             "the last (outermost) level must be DRAM, got 'sram'"),
    RuleCase("shared_level_given", "none", _levels(0, 2), _reorder(0, 2), ("memory",),
             "memory", "needs a shared on-chip level (kind sram) between the engines and DRAM"),
    RuleCase("local_levels_innermost", "outside", _levels(1, 0, 2), _reorder(1, 0, 2),
             ("memory", 1, "kind"), "memory.rf.kind",
             "a local level must come before (inside) every shared (sram) level"),
    RuleCase("reads_from_on_chip", "dram", _set(("engines", 0, "reads_from"), "dram"),
             _replace_engine(0, reads_from="dram"), ("engines", 0, "reads_from"),
             "engines.mxu.reads_from", "no on-chip memory level 'dram' (on-chip levels: rf, "
                                       "gbuf)"),
    RuleCase("reads_from_on_chip", "near_miss", _set(("engines", 0, "reads_from"), "rff"),
             _replace_engine(0, reads_from="rff"), ("engines", 0, "reads_from"),
             "engines.mxu.reads_from", "no on-chip memory level 'rff'; did you mean: rf?"),
    RuleCase("local_levels_read", "unread", _del("engines", 0, "reads_from"),
             _replace_engine(0, reads_from=None), ("memory", 0), "memory.rf",
             "no engine reads from local level 'rf' (name it in an engine's reads_from)"),
    RuleCase("energy_for_every_level", "missing", _del("energy_pj", "gbuf_byte"),
             _energy(gbuf=None), ("energy_pj", "gbuf_byte"), "energy_pj.gbuf_byte",
             "required key is missing"),
    RuleCase("energy_for_every_level", "unknown", _set(("energy_pj", "l2_byte"), 1.0),
             _energy(l2=1.0), ("energy_pj", "l2_byte"), "energy_pj.l2_byte", "unknown key"),
    RuleCase("_weight_buffers", "not_weight_stationary",
             lambda d: d["engines"][0].update(dataflow="output_stationary", weight_buffers=2),
             _replace_engine(0, dataflow="output_stationary", weight_buffers=2),
             ("engines", 0, "weight_buffers"), "engines.mxu.weight_buffers",
             "2 needs dataflow weight_stationary (in output_stationary the weights do not stay "
             "in the array)"),
    RuleCase("energy_for_every_level", "order", None,
             lambda hw: Energy(1.0, {"dram": 1.0, "gbuf": 1.0, "rf": 1.0}), (), "energy_pj",
             "give the levels' energies in the order of the levels (rf, gbuf, dram)"),
]


def test_every_declared_rule_between_fields_and_parts_has_cases_on_both_paths():
    declared = {rule.__name__ for rule in CONFIG_RULES}
    declared |= {rule.__name__ for cls in CLASSES for rule in getattr(cls, "RULES", ())}
    assert {case.rule for case in RULE_CASES} == declared
    assert {case.rule for case in RULE_CASES if case.break_file is not None} == declared


@pytest.mark.parametrize("case", RULE_CASES, ids=[c.id for c in RULE_CASES])
def test_every_rule_between_fields_and_parts_is_enforced_by_a_file_and_by_python(case,
                                                                                tmp_path):
    hw = walk_config(tmp_path)
    with pytest.raises(ConfigProblems) as err:
        broken = case.break_python(hw)
        if isinstance(broken, Energy):  # an Energy that is valid alone, wrong for the config
            dataclasses.replace(hw, energy_pj=broken)
    assert f"{case.in_python}: {case.says}" in str(err.value), str(err.value)
    if case.break_file is None:
        return
    document = copy.deepcopy(to_document(hw))
    case.break_file(document)
    message, path, text = loading_problems(tmp_path, document)
    known = nodes(text)
    at = next(case.in_file[:n] for n in range(len(case.in_file), -1, -1)
              if case.in_file[:n] in known)  # a missing key: the line of its section
    line = line_of(text, at) if at else 1
    assert f"{path}:{line}: {key_text(case.in_file)}: {case.says}" in message, message


def test_a_repeated_name_says_where_it_was_first_given_on_both_paths(tmp_path):
    hw = walk_config(tmp_path)
    with pytest.raises(ConfigProblems) as err:
        dataclasses.replace(hw, engines=(hw.engines[0], dataclasses.replace(hw.engines[1],
                                                                            name="mxu")))
    assert str(err.value) == ("engines[1].name: duplicate engine name 'mxu' (first at "
                              "engines[0].name)")
    document = to_document(hw)
    document["engines"][1]["name"] = "mxu"
    message, path, text = loading_problems(tmp_path, document)
    assert (f"{path}:{line_of(text, ('engines', 1, 'name'))}: engines[1].name: duplicate "
            f"engine name 'mxu' (first at line {line_of(text, ('engines', 0, 'name'))})"
            in message)


def test_problems_travel_as_data_with_the_key_paths_of_their_place(tmp_path):
    hw = walk_config(tmp_path)
    document = to_document(hw)
    document["engines"][0]["rows"] = 0
    document["memory"][2]["latency_ns"] = -1
    path = write(tmp_path, "two", yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(ConfigProblems) as err:
        load_hw(path)
    assert [(p.path, p.message) for p in err.value.problems] == [
        (("engines", 0, "rows"), "must be > 0, got 0"),
        (("memory", 2, "latency_ns"), "must be >= 0, got -1")]
    with pytest.raises(ConfigProblems) as err:
        dataclasses.replace(hw.engines[0], rows=0)
    assert [(p.path, p.message) for p in err.value.problems] == [
        (("engines", "mxu", "rows"), "must be > 0, got 0")]


def test_no_function_in_perfsim_hardware_reads_an_error_message():
    """Rules travel as data: nothing in perfsim/hardware catches perfsim's own errors (to read
    where they came from) or turns a caught exception into text."""
    for path in Path(hardware_package.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for handler in (n for n in ast.walk(tree) if isinstance(n, ast.ExceptHandler)):
            caught = ast.unparse(handler.type) if handler.type is not None else ""
            assert not re.search(r"ConfigError|PerfsimError|ConfigProblems|Exception",
                                 caught), f"{path.name}:{handler.lineno}: except {caught}"
            if handler.name:
                used = [n for n in ast.walk(handler) if isinstance(n, ast.Name)
                        and n.id == handler.name]
                texts = [n for n in ast.walk(handler)
                         if isinstance(n, (ast.JoinedStr, ast.Call))
                         and any(isinstance(m, ast.Name) and m.id == handler.name
                                 for m in ast.walk(n))]
                assert not (used and texts), f"{path.name}:{handler.lineno}"


# --- schema_version 2 under mutation ----------------------------------------------------------

V2_TEXTS = {"eyeriss_rs": TEXTS["eyeriss_rs"], "tpu_v1": TEXTS["tpu_v1"], "walk": WALK_TEXT,
            "matrix_engine_v2": MATRIX_ENGINE_V2}


def spec_v2(data: dict, path: tuple):
    """The version 2 schema entry for a concrete path (a list entry's ``kind`` picks it)."""
    spec = SCHEMA_V2
    for part in path:
        if isinstance(spec, list):
            kinds = {section["kind"].choices[0]: section for section in spec}
            spec = kinds[data[path[0]][part]["kind"]]
        else:
            spec = spec[part]
            if callable(spec):  # energy_pj: keys from the level names
                spec = spec(data)
    return spec


def v2_mutations(name: str) -> list[Mutation]:
    text = V2_TEXTS[name]
    data = yaml.safe_load(text)
    out = []
    for path in key_paths(text):
        spec = spec_v2(data, path)
        line, where, parent = line_of(text, path), key_text(path), path[:-1]
        bad = typo(path[-1])
        out.append(Mutation(name, "typo", where, rename_key(text, path, bad), line,
                            key_text(parent + (bad,)), ("unknown key", "did you mean: "),
                            suggests=path[-1]))
        repeated, repeat_line = repeat_key(text, path)
        out.append(Mutation(name, "duplicate_key", where, repeated, repeat_line, where,
                            (f"duplicate key '{path[-1]}'", f"first at line {line}")))
        if (spec.required if isinstance(spec, Key) else path != ("energy_pj",)):
            removed = delete_key(text, path)
            out.append(Mutation(name, "missing_key", where, removed, line_of(removed, parent),
                                where, ("required",)))
    memory = ("memory",)
    line = line_of(text, memory)
    out += [
        Mutation(name, "wrong_type", "memory=mapping", set_value(
            text, memory, "{sram: {size_kib: 64, bandwidth_bytes_per_cycle: 64}}"), line,
            "memory", ("expected a non-empty list of memory levels, got dict",
                       "a mapping of sram and dram is schema_version 1")),
        Mutation(name, "wrong_type", "memory[0]=str", set_value(text, memory + (0,), "rf"),
                 line_of(text, memory + (0,)), "memory[0]",
                 ("expected a memory level (a mapping with keys name, kind, ...), got str",)),
    ]
    kind = memory + (len(data["memory"]) - 1, "kind")
    for new, says in (("hbm", ()), ("drm", ("did you mean: dram",))):
        out.append(Mutation(name, "unknown_kind", f"memory.kind={new}",
                            set_value(text, kind, new), line_of(text, kind), key_text(kind),
                            ("memory level kind must be 'local', 'sram' or 'dram', got "
                             f"'{new}'", *says)))
    return out


V2_MUTATIONS = [m for name in V2_TEXTS for m in v2_mutations(name)]


@pytest.mark.parametrize("mutation", V2_MUTATIONS, ids=[m.id for m in V2_MUTATIONS])
def test_a_mutated_version_2_config_names_file_line_and_key(mutation, tmp_path):
    test_a_mutated_config_names_file_line_and_key(mutation, tmp_path)


def test_a_list_of_levels_in_a_version_1_file_points_to_version_2(tmp_path):
    text = set_value(TEXTS["matrix_engine"], ("memory",),
                     "[{kind: sram, size_kib: 64, bandwidth_bytes_per_cycle: 64}]")
    path = write(tmp_path, "mixed", text)
    with pytest.raises(ConfigError, match=r"memory: expected a mapping with keys sram, dram, "
                                          r"got list \(a list of memory levels is "
                                          r"schema_version 2\)"):
        load_hw(path)


@pytest.mark.parametrize("name", V2_TEXTS)
def test_what_the_version_2_schema_allows_still_loads(name, tmp_path):
    """Positive controls for the version 2 mutations: optional keys left out (not a name,
    which energy_pj refers to, nor a reads_from, which a local level needs, nor one of a
    split or of its ports), zeros where zero is allowed, ints for floats."""
    text = V2_TEXTS[name]
    data = yaml.safe_load(text)
    variants = [set_value(text, ("clock_ghz",), "2")]
    for path in key_paths(text):
        spec = spec_v2(data, path)
        if isinstance(spec, Key) and not spec.required \
                and path[-1] not in ("name", "reads_from", *PORTS.split(", ")) \
                and not path[-1].endswith(("_kib", "_bytes")):
            variants.append(delete_key(text, path))
        if isinstance(spec, Key) and spec.minimum == 0:
            variants.append(set_value(text, path, "0"))
    if "energy_pj" in data:
        variants.append(delete_key(text, ("energy_pj",)))
    for i, variant_text in enumerate(variants):
        assert load_hw(write(tmp_path, f"{name}_{i}", variant_text)).name == data["name"], \
            variant_text


@pytest.mark.parametrize("value", [True, 128.0, {128}, 129])
def test_a_section_checked_before_is_built_once_and_any_other_value_checked(value):
    """A section's mapping checked without a problem is built once (a sweep checks the same
    engines at point after point): the same document again gives the same objects. A value
    equal to the one checked but of another type (``True``, ``128.0`` for ``128``), or one
    that does not hash, is checked as itself and refused; another value of the right type
    builds a new section."""
    doc = load_yaml(resolve_hw_path("matrix_engine"), ConfigError).data
    first = parse_config(YamlDoc("a.yaml", copy.deepcopy(doc), {}))
    again = parse_config(YamlDoc("b.yaml", copy.deepcopy(doc), {}))
    assert again == first and again.engines[0] is first.engines[0]
    changed = copy.deepcopy(doc)
    assert changed["engines"][0]["rows"] == 128
    changed["engines"][0]["rows"] = value
    if type(value) is int:
        config = parse_config(YamlDoc("c.yaml", changed, {}))
        assert config.engines[0].rows == value and config.engines[1] is first.engines[1]
    else:
        with pytest.raises(ConfigProblems, match=re.escape(
                f"c.yaml:1: engines[0].rows: expected int, got {value}")):
            parse_config(YamlDoc("c.yaml", changed, {}))
