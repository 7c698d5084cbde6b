"""Strict loading of hardware configs (YAML) into :class:`~perfsim.hardware.model.HwConfig`.

Every key is declared once, in :data:`SCHEMA`. Loading collects every problem (unknown or
duplicate keys, missing keys, wrong types, out-of-range values) and raises one
:class:`~perfsim.errors.ConfigError` listing them as ``file:line: key.path: problem (did you
mean ...?)``.

``--hw`` takes a path or the name of a shipped config (``hw_configs/``, installed as
``perfsim.hw_configs``), with or without ``.yaml``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from perfsim.errors import ConfigError
from perfsim.hardware.model import (DATAFLOWS, Dram, Energy, HwConfig, MatrixEngine, Precision, Sram,
                        VectorEngine)
from perfsim.yaml_source import KeyPath, YamlDoc, format_path, load_yaml
from perfsim.errors import suggest


@dataclass(frozen=True)
class Key:
    """One scalar key: its type (``int``, ``float`` accepts ints, ``str``), whether it is
    required, its default, the smallest allowed value (``minimum``, inclusive unless
    ``positive``) and the allowed strings."""

    type: type
    required: bool = True
    default: object = None
    positive: bool = False
    minimum: float | None = None
    choices: tuple[str, ...] = ()


Section = dict  # key -> Key | Section

PRECISION: Section = {
    "activation_bytes": Key(int, positive=True),
    "weight_bytes": Key(int, positive=True),
    "accumulator_bytes": Key(int, positive=True),
}
MATRIX: Section = {
    "name": Key(str), "kind": Key(str, choices=("matrix",)),
    "rows": Key(int, positive=True), "cols": Key(int, positive=True),
    "dataflow": Key(str, choices=DATAFLOWS),
}
VECTOR: Section = {
    "name": Key(str), "kind": Key(str, choices=("vector",)),
    "lanes": Key(int, positive=True),
    "pipeline_latency_cycles": Key(int, required=False, default=0, minimum=0),
}
SRAM: Section = {
    "size_kib": Key(float, positive=True),
    "bandwidth_bytes_per_cycle": Key(float, positive=True),
    "ifmap_kib": Key(float, required=False, positive=True),
    "filter_kib": Key(float, required=False, positive=True),
    "ofmap_kib": Key(float, required=False, positive=True),
    "buffers": Key(int, required=False, default=2, minimum=2),
}
DRAM: Section = {
    "bandwidth_gb_per_s": Key(float, positive=True),
    "latency_ns": Key(float, required=False, default=0.0, minimum=0),
}
ENERGY: Section = {
    "mac": Key(float, minimum=0), "sram_byte": Key(float, minimum=0),
    "dram_byte": Key(float, minimum=0),
}
SCHEMA: Section = {
    "schema_version": Key(int, choices=(1,)),
    "name": Key(str),
    "clock_ghz": Key(float, positive=True),
    "precision": PRECISION,
    "engines": [MATRIX, VECTOR],  # a list; each entry's `kind` picks its section
    "memory": {"sram": SRAM, "dram": DRAM},
    "energy_pj": ENERGY,
}
OPTIONAL_SECTIONS = {("energy_pj",)}
ENGINE_KINDS: dict[str, Section] = {"matrix": MATRIX, "vector": VECTOR}


class _Checker:
    """Walks a document against the schema, collecting problems."""

    def __init__(self, doc: YamlDoc):
        self.doc = doc
        self.problems: list[tuple[int, str]] = []

    def problem(self, path: KeyPath, text: str, line: int | None = None) -> None:
        line = self.doc.line(path) if line is None else line
        self.problems.append((line, f"{self.doc.path}:{line}: {format_path(path)}: {text}"))

    def unknown_keys(self, value: dict, valid: list[str], path: KeyPath) -> None:
        for key in value:
            if key not in valid:
                self.problem(path + (key,), f"unknown key{suggest(key, valid)} "
                                            f"(valid: {', '.join(valid)})")

    def section(self, value, schema: Section, path: KeyPath) -> dict | None:
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping with keys {', '.join(schema)}, "
                               f"got {type(value).__name__}")
            return None
        out = {}
        self.unknown_keys(value, list(schema), path)
        for key, spec in schema.items():
            sub = path + (key,)
            if key not in value:  # reported at the key path, on the line of its section
                if isinstance(spec, Key) and spec.required:
                    self.problem(sub, "required key is missing")
                elif isinstance(spec, Key):
                    out[key] = spec.default
                elif sub not in OPTIONAL_SECTIONS:
                    self.problem(sub, "required section is missing")
                continue
            if isinstance(spec, Key):
                out[key] = self.scalar(value[key], spec, sub)
            elif isinstance(spec, list):
                out[key] = self.engines(value[key], sub)
            else:
                out[key] = self.section(value[key], spec, sub)
        return out

    def engines(self, value, path: KeyPath) -> list | None:
        if not isinstance(value, list) or not value:
            self.problem(path, "expected a non-empty list of engines")
            return None
        out = []
        first_of: dict[str, int] = {}
        for i, entry in enumerate(value):
            if not isinstance(entry, dict):
                self.problem(path + (i,), f"expected an engine (a mapping with keys name, "
                                          f"kind, ...), got {type(entry).__name__}")
                continue
            kind = entry.get("kind")
            if "kind" not in entry:  # a typo'd `kind` still gets its "did you mean"
                self.unknown_keys(entry, list({**MATRIX, **VECTOR}), path + (i,))
                self.problem(path + (i, "kind"), "required key is missing (matrix or vector)")
                continue
            if not isinstance(kind, str) or kind not in ENGINE_KINDS:
                self.problem(path + (i, "kind"), "engine kind must be 'matrix' or 'vector', got "
                             f"{kind!r}{suggest(str(kind), list(ENGINE_KINDS))}")
                continue
            out.append(self.section(entry, ENGINE_KINDS[kind], path + (i,)))
            name = entry.get("name")
            if isinstance(name, str) and name in first_of:
                first = self.doc.line(path + (first_of[name], "name"))
                self.problem(path + (i, "name"),
                             f"duplicate engine name '{name}' (first at line {first})")
            elif isinstance(name, str):
                first_of[name] = i
        return out

    def scalar(self, value, spec: Key, path: KeyPath):
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              if spec.type is float else
              isinstance(value, spec.type) and not isinstance(value, bool))
        if not ok:
            hint = ""
            if spec.type is float and isinstance(value, str) and _is_number_text(value):
                hint = " (text, not a number: write it unquoted, and an exponent with a " \
                       "decimal point, 1.0e3 rather than 1e3)"
            self.problem(path, f"expected {'a number' if spec.type is float else spec.type.__name__}"
                               f", got {value!r}{hint}")
            return None
        if isinstance(value, float) and not math.isfinite(value):
            self.problem(path, f"must be a finite number, got {value!r}")
            return None
        if spec.choices and value not in spec.choices:
            self.problem(path, f"must be one of {', '.join(map(str, spec.choices))}, got "
                               f"{value!r}{suggest(str(value), list(map(str, spec.choices)))}")
        if spec.positive and value <= 0:
            self.problem(path, f"must be > 0, got {value!r}")
        if spec.minimum is not None and value < spec.minimum:
            self.problem(path, f"must be >= {spec.minimum}, got {value!r}")
        return value


def _is_number_text(text: str) -> bool:
    """Whether YAML text such as ``1e3`` or a quoted ``"34"`` reads as a finite number."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _build(data: dict) -> HwConfig:
    engines = tuple(
        MatrixEngine(e["name"], e["rows"], e["cols"], e["dataflow"]) if e["kind"] == "matrix"
        else VectorEngine(e["name"], e["lanes"], e["pipeline_latency_cycles"])
        for e in data["engines"])
    memory = data["memory"]
    return HwConfig(
        name=data["name"], clock_ghz=data["clock_ghz"], precision=Precision(**data["precision"]),
        engines=engines, sram=Sram(**memory["sram"]), dram=Dram(**memory["dram"]),
        energy_pj=Energy(**data["energy_pj"]) if data.get("energy_pj") else None)


def parse_config(doc: YamlDoc) -> HwConfig:
    """Validate a parsed document against :data:`SCHEMA` and build the config."""
    checker = _Checker(doc)
    for path, line, first in doc.duplicates:
        checker.problem(path, f"duplicate key '{path[-1]}' (first at line {first})", line)
    data = checker.section(doc.data, SCHEMA, ())
    if not checker.problems:
        try:
            return _build(data)  # type: ignore[arg-type]
        except ConfigError as err:  # cross-field rules of the dataclasses
            checker.problem(*_blame(str(err)))
    problems = [text for _, text in sorted(checker.problems)]
    raise ConfigError(f"{len(problems)} problem(s) in {doc.path}:\n" + "\n".join(problems))


def _blame(message: str) -> tuple[KeyPath, str]:
    """The key path a dataclass message starts with (``memory.sram: ...``) and the rest."""
    head, _, rest = message.partition(":")
    if "." in head and " " not in head and rest:
        return tuple(head.split(".")), rest.strip()
    return (), message


def shipped_config_names() -> list[str]:
    """Names of the configs shipped in ``hw_configs/``."""
    folder = resources.files("perfsim.hw_configs")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_hw_path(name_or_path: str | Path) -> Path:
    """A config path from a path or a shipped name (with or without ``.yaml``)."""
    path = Path(name_or_path)
    if path.is_file():
        return path
    stem = path.name[:-5] if path.name.endswith(".yaml") else path.name
    if path.parent == Path(".") and stem in shipped_config_names():
        return Path(str(resources.files("perfsim.hw_configs") / f"{stem}.yaml"))
    names = shipped_config_names()
    raise ConfigError(f"no hardware config '{name_or_path}': not a file and not a shipped "
                      f"config{suggest(stem, names)} (shipped: {', '.join(names)})")


def load_config(path: str | Path) -> HwConfig:
    """Load and validate a perfsim hardware YAML file."""
    return parse_config(load_yaml(path, ConfigError, collect_duplicates=True))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (provenance of a run)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def to_document(hw: HwConfig) -> dict:
    """The config in the schema's own shape, every default filled in: loading it again gives
    an equal config (the normalised form shown by ``perfsim validate`` and saved with runs)."""
    def fields_of(obj) -> dict:
        return {k: v for k, v in dataclasses.asdict(obj).items() if v is not None}

    document = {
        "schema_version": 1, "name": hw.name, "clock_ghz": hw.clock_ghz,
        "precision": fields_of(hw.precision),
        "engines": [{"name": e.name, "kind": e.kind,
                     **{k: v for k, v in fields_of(e).items() if k != "name"}}
                    for e in hw.engines],
        "memory": {"sram": fields_of(hw.sram), "dram": fields_of(hw.dram)},
    }
    if hw.energy_pj is not None:
        document["energy_pj"] = fields_of(hw.energy_pj)
    return document
