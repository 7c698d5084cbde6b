"""Strict loading of hardware configs (YAML) into :class:`~perfsim.hw.HwConfig`.

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
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from perfsim.errors import ConfigError
from perfsim.hw import (DATAFLOWS, Dram, Energy, HwConfig, MatrixEngine, Precision, Sram,
                        VectorEngine)
from perfsim.yaml_source import KeyPath, YamlDoc, load_yaml
from perfsim.zoo import suggest


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


class _Checker:
    """Walks a document against the schema, collecting problems."""

    def __init__(self, doc: YamlDoc):
        self.doc = doc
        self.problems: list[tuple[int, str]] = []

    def problem(self, path: KeyPath, text: str) -> None:
        self.problems.append((self.doc.line(path), f"{self.doc.where(path)}: {text}"))

    def section(self, value, schema: Section, path: KeyPath) -> dict | None:
        if not isinstance(value, dict):
            self.problem(path, f"expected a mapping with keys {', '.join(schema)}, "
                               f"got {type(value).__name__}")
            return None
        out = {}
        for key in value:
            if key not in schema:
                self.problem(path + (key,), f"unknown key{suggest(key, list(schema))} "
                                            f"(valid: {', '.join(schema)})")
        for key, spec in schema.items():
            sub = path + (key,)
            if key not in value:
                if isinstance(spec, Key) and spec.required:
                    self.problem(path, f"missing key '{key}'")
                elif isinstance(spec, Key):
                    out[key] = spec.default
                elif sub not in OPTIONAL_SECTIONS:
                    self.problem(path, f"missing section '{key}'")
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
        for i, entry in enumerate(value):
            kind = entry.get("kind") if isinstance(entry, dict) else None
            schema = {"matrix": MATRIX, "vector": VECTOR}.get(kind)  # type: ignore[arg-type]
            if schema is None:
                self.problem(path + (i, "kind") if isinstance(entry, dict) else path + (i,),
                             f"engine kind must be 'matrix' or 'vector', got {kind!r}")
                continue
            out.append(self.section(entry, schema, path + (i,)))
        return out

    def scalar(self, value, spec: Key, path: KeyPath):
        ok = (isinstance(value, (int, float)) and not isinstance(value, bool)
              if spec.type is float else
              isinstance(value, spec.type) and not isinstance(value, bool))
        if not ok:
            self.problem(path, f"expected {'a number' if spec.type is float else spec.type.__name__}"
                               f", got {value!r}")
            return None
        if spec.choices and value not in spec.choices:
            self.problem(path, f"must be one of {', '.join(map(str, spec.choices))}, got "
                               f"{value!r}{suggest(str(value), list(map(str, spec.choices)))}")
        if spec.positive and value <= 0:
            self.problem(path, f"must be > 0, got {value!r}")
        if spec.minimum is not None and value < spec.minimum:
            self.problem(path, f"must be >= {spec.minimum}, got {value!r}")
        return value


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
    data = checker.section(doc.data, SCHEMA, ())
    if not checker.problems:
        try:
            return _build(data)  # type: ignore[arg-type]
        except ConfigError as err:  # cross-field rules of the dataclasses
            checker.problem(_blame(str(err)), str(err))
    problems = [text for _, text in sorted(checker.problems)]
    raise ConfigError(f"{len(problems)} problem(s) in {doc.path}:\n" + "\n".join(problems))


def _blame(message: str) -> KeyPath:
    """The key path a dataclass message starts with (``memory.sram: ...``)."""
    head = message.split(":", 1)[0].split(" ")[0]
    return tuple(head.split(".")) if "." in head else ()


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


def load_hw(name_or_path: str | Path) -> HwConfig:
    """Load and validate a hardware config by path or shipped name."""
    return parse_config(load_yaml(resolve_hw_path(name_or_path), ConfigError))


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
