"""Hardware configs: the shipped ones, ``--hw`` resolution, and strict loading under mutation.

The mutation tests start from the text of every shipped config and break it one way at a time
(a typo'd key at every nesting level, a repeated key, a wrong type, an out-of-range value, an
unknown dataflow or engine kind, a missing key, broken YAML, ...). Each broken file must raise
one :class:`ConfigError` with a line ``file:line: key.path: problem`` naming the right line and
key. The expected line and key come from the YAML node marks of the text the test edited (its
own walk of ``yaml.compose``), not from perfsim's loader.
"""

from __future__ import annotations

import dataclasses
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from perfsim.hardware.loading import (MATRIX, SCHEMA, VECTOR, Key, resolve_hw_path,
                                      shipped_config_names, to_document)
from perfsim.io.load import load_hw
from perfsim.errors import ConfigError
from perfsim.hardware.model import MatrixEngine, VectorEngine

SHIPPED = ("edge_npu", "eyeriss", "hetero", "matrix_engine", "tpu_v1", "vector_engine")
TEXTS = {name: resolve_hw_path(name).read_text(encoding="utf-8") for name in SHIPPED}
ENGINE_SCHEMAS = {"matrix": MATRIX, "vector": VECTOR}


# --- the shipped configs ------------------------------------------------------------------

def test_the_shipped_configs_are_the_expected_six():
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


def perfsim(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "perfsim", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


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
    if spec.choices:
        add("out_of_range", "0", "must be one of 1, got 0")
        add("out_of_range", "2", "must be one of 1, got 2")
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


MUTATIONS = [m for name in SHIPPED for m in mutations_of(name)]


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
    for name in SHIPPED:
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


@pytest.mark.parametrize("name", SHIPPED)
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
CLI_SAMPLE = list({m.kind: m for m in MUTATIONS if m.config == "tpu_v1"}.values())


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
