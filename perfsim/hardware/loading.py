"""Strict loading of hardware configs (YAML) into :class:`~perfsim.hardware.model.HwConfig`.

The schema is not written here: every key is declared once, on its dataclass field
(:mod:`.model`, with :mod:`.rules`), and :func:`schema` derives each version's sections from
those declarations. Loading collects every problem, unknown or duplicate keys, missing keys,
wrong types and out-of-range values, then the rules between fields and between parts that the
dataclasses declare, and raises one :class:`~perfsim.hardware.rules.ConfigProblems` listing
them as ``file:line: key.path: problem (did you mean ...?)``. A key path names the place in the
file: ``engines[0].rows``, ``memory.sram.size_kib`` (version 1), ``memory[1].size_kib``
(version 2).

``schema_version: 1``: ``memory`` is ``{sram: ..., dram: ...}``, the levels named ``sram`` and
``dram``. ``schema_version: 2``: ``memory`` is a list of levels, innermost first, DRAM last, each
with a ``kind`` (``local``, ``sram``, ``dram``) that picks its keys, and engines may name the
level they read (``reads_from``). In both, ``energy_pj`` gives ``mac`` and a ``<level>_byte``
per level. :func:`to_document` writes the version 2 form of any config.

``--hw`` takes a path or the name of a shipped config (``hw_configs/``, installed as
``perfsim.hw_configs``), with or without ``.yaml``.
"""

from __future__ import annotations

import hashlib
from importlib import resources
from pathlib import Path
from typing import Any, Callable

from perfsim.errors import ConfigError, problems_text, suggest
from perfsim.hardware.model import (ENERGY_PER_BYTE, ENGINE_KINDS, LEVEL_KINDS, Dram, Energy,
                                    HwConfig, Outline, Precision, Sram, outline_problems)
from perfsim.hardware.rules import (ConfigProblems, Key, Problem, field_of, keys_of,
                                    rule_problems, value_problems)
from perfsim.text_files import is_file
from perfsim.yaml_source import KeyPath, YamlDoc, format_path, load_yaml

VERSIONS = (1, 2)
SCHEMA_VERSION = Key(int, choices=VERSIONS)


class Section(dict):
    """The keys of one mapping, in document order: key -> :class:`Key`, a nested Section, a
    list of Sections whose ``kind`` picks one, or a function of the document that returns the
    Section (keys that follow other keys' values). ``cls`` is the dataclass the mapping
    becomes, built from its values by ``fields_of`` (default: the values without ``kind``)."""

    def __init__(self, keys: dict, cls: type | None = None,
                 fields_of: Callable[[dict], dict] | None = None):
        super().__init__(keys)
        self.cls = cls
        self.fields_of = fields_of or (lambda values: {k: v for k, v in values.items()
                                                       if k != "kind"})
        self.built: dict = {}
        """:func:`_frozen` mapping -> the dataclass it built without a problem: checking
        depends on the mapping alone, and a sweep checks the same engines and levels at
        point after point (:func:`perfsim.sweeps.space.variant`)."""


BUILT_KEPT = 1024
"""Mappings a :class:`Section` keeps the dataclass of before it starts over."""


def _frozen(value):
    """A document's ``value`` as a hashable key, each scalar with its type (``1``, ``1.0``
    and ``True`` are checked differently)."""
    if type(value) is dict:
        return tuple((key, _frozen(sub)) for key, sub in value.items())
    if type(value) is list:
        return (list, tuple(_frozen(sub) for sub in value))
    return type(value), value


def section_of(cls: type, version: int) -> Section:
    """The keys of ``cls`` in ``version``: its declared keys (``name`` and ``kind`` first for
    a kind of engine or memory level)."""
    keys = {name: spec for name, spec in keys_of(cls).items() if spec.since <= version}
    if "name" in keys and hasattr(cls, "kind"):
        keys = {"name": keys.pop("name"), "kind": Key(str, choices=(cls.kind,)), **keys}
    return Section(keys, cls)


def energy_section(level_names: tuple[str, ...]) -> Section:
    """``energy_pj``: ``mac`` and one ``<level>_byte`` per memory level."""
    def fields_of(values: dict) -> dict:
        return {"mac": values["mac"],
                "per_byte": tuple((n, values[f"{n}_byte"]) for n in level_names)}

    return Section({"mac": keys_of(Energy)["mac"],
                    **{f"{name}_byte": ENERGY_PER_BYTE for name in level_names}},
                   Energy, fields_of)


def _energy_of(document: dict) -> Section:
    """Version 2's ``energy_pj``: its keys follow the file's level names."""
    return energy_section(_level_names(document.get("memory")))


def _level_names(levels: object) -> tuple[str, ...]:
    """The level names of a file's ``memory`` list, as far as they can be read (a level of
    kind ``sram`` or ``dram`` without a name has its kind's default name)."""
    names: list[str] = []
    for entry in levels if isinstance(levels, list) else ():
        kind = entry.get("kind") if isinstance(entry, dict) else None
        cls = LEVEL_KINDS.get(kind) if isinstance(kind, str) else None
        if cls is not None:
            name = entry.get("name", field_of(cls, "name").default)
            if isinstance(name, str) and name not in names:
                names.append(name)
    return tuple(names)


def schema(version: int) -> Section:
    """Every key of a ``version`` file, derived from the dataclasses' declarations."""
    top = keys_of(HwConfig)
    if version == 1:
        memory: Any = Section({"sram": section_of(Sram, 1), "dram": section_of(Dram, 1)})
        energy: Any = energy_section(("sram", "dram"))
    else:
        memory = [section_of(cls, version) for cls in LEVEL_KINDS.values()]
        energy = _energy_of
    return Section({"schema_version": SCHEMA_VERSION, "name": top["name"],
                    "clock_ghz": top["clock_ghz"], "precision": section_of(Precision, version),
                    "engines": [section_of(cls, version) for cls in ENGINE_KINDS.values()],
                    "memory": memory, "energy_pj": energy})


SCHEMA = schema(1)
SCHEMA_V2 = schema(2)
MATRIX, VECTOR = SCHEMA["engines"]
OPTIONAL_SECTIONS = {("energy_pj",)}
LISTS = {"engines": "engine", "memory": "memory level"}
"""The lists of kinds, and what one entry is called."""


def _kind_of(section: Section) -> str:
    return section["kind"].choices[0]


class _Checker:
    """Walks a document against a schema, collecting problems and building the dataclasses
    of the sections that are free of them."""

    def __init__(self, doc: YamlDoc):
        self.doc = doc
        self.problems: list[tuple[int, str, Problem]] = []

    def problem(self, path: KeyPath, text: str, line: int | None = None,
                first: KeyPath | None = None) -> None:
        line = self.doc.line(path) if line is None else line
        also = f" (first at line {self.doc.line(first)})" if first is not None else ""
        self.problems.append((line, f"{self.doc.path}:{line}: {format_path(path)}: {text}"
                                    f"{also}", Problem(path, text, first)))

    def unknown_keys(self, value: dict, valid: list[str], path: KeyPath) -> None:
        for key in value:
            if key not in valid:
                self.problem(path + (key,), f"unknown key{suggest(key, valid)} "
                                            f"(valid: {', '.join(valid)})")

    def section(self, value, schema: Section, path: KeyPath):
        """The section's values (its dataclass, if it has one and nothing is wrong), or
        None."""
        if not isinstance(value, dict):
            hint = " (a list of memory levels is schema_version 2)" \
                if path == ("memory",) and isinstance(value, list) else ""
            self.problem(path, f"expected a mapping with keys {', '.join(schema)}, "
                               f"got {type(value).__name__}{hint}")
            return None
        frozen = None
        if schema.cls is not None:
            try:
                frozen = _frozen(value)
                built = schema.built.get(frozen)
            except TypeError:  # a value that does not hash (set from Python): checked afresh
                frozen = built = None
            if built is not None:
                return built
        before = len(self.problems)
        out: dict = {}
        self.unknown_keys(value, list(schema), path)
        for key, spec in schema.items():
            sub = path + (key,)
            if callable(spec):  # a section whose keys depend on the document (energy_pj)
                spec = spec(value)
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
                out[key] = self.entries(value[key], spec, sub)
            else:
                out[key] = self.section(value[key], spec, sub)
        if schema.cls is None:
            return out
        built = None if len(self.problems) > before else self.build(schema, out, path)
        if built is not None and frozen is not None:
            if len(schema.built) >= BUILT_KEPT:
                schema.built.clear()
            schema.built[frozen] = built
        return built

    def build(self, schema: Section, values: dict, path: KeyPath):
        """The section's dataclass, once its rules between fields hold."""
        fields = schema.fields_of(values)
        problems = rule_problems(schema.cls.RULES, fields)  # type: ignore[union-attr]
        for problem in problems:
            self.problem(path + problem.path, problem.message)
        return None if problems else schema.cls(**fields)  # type: ignore[misc]

    def entries(self, value, sections: list[Section], path: KeyPath) -> list | None:
        """A list whose entries' ``kind`` picks their section (engines, memory levels)."""
        what = LISTS[str(path[-1])]
        kinds = {_kind_of(s): s for s in sections}
        if not isinstance(value, list):
            hint = " (a mapping of sram and dram is schema_version 1)" \
                if path == ("memory",) and isinstance(value, dict) else ""
            self.problem(path, f"expected a non-empty list of {what}s, got "
                               f"{type(value).__name__}{hint}")
            return None
        names = " or ".join(", ".join(f"'{k}'" for k in kinds).rsplit(", ", 1))
        out = []
        for i, entry in enumerate(value):
            if not isinstance(entry, dict):
                self.problem(path + (i,), f"expected {'an' if what[0] in 'aeiou' else 'a'} "
                                          f"{what} (a mapping with keys name, kind, ...), got "
                                          f"{type(entry).__name__}")
                out.append(None)
                continue
            kind = entry.get("kind")
            if "kind" not in entry:  # a typo'd `kind` still gets its "did you mean"
                self.unknown_keys(entry, list(dict.fromkeys(k for s in sections for k in s)),
                                  path + (i,))
                self.problem(path + (i, "kind"), f"required key is missing "
                                                 f"({names.replace(chr(39), '')})")
                out.append(None)
                continue
            if not isinstance(kind, str) or kind not in kinds:
                self.problem(path + (i, "kind"), f"{what} kind must be {names}, got "
                                                 f"{kind!r}{suggest(str(kind), list(kinds))}")
                out.append(None)
                continue
            out.append(self.section(entry, kinds[kind], path + (i,)))
        return out

    def scalar(self, value, spec: Key, path: KeyPath):
        problems = value_problems(spec, value)
        for text in problems:
            self.problem(path, text)
        if problems:
            return None
        return tuple(value) if spec.type is tuple else value


def parse_config(doc: YamlDoc) -> HwConfig:
    """Validate a parsed document against its version's schema and build the config."""
    checker = _Checker(doc)
    for path, line, first in doc.duplicates:
        checker.problem(path, f"duplicate key '{path[-1]}' (first at line {first})", line)
    data = doc.data
    version = data.get("schema_version") if isinstance(data, dict) else None
    if version not in VERSIONS:  # still check the rest, as the version it looks like
        version = 2 if isinstance(data, dict) and isinstance(data.get("memory"), list) else 1
    values = checker.section(data, SCHEMA if version == 1 else SCHEMA_V2, ())
    if values is not None:
        hw = _assemble(checker, values, version)
        if hw is not None and not checker.problems:
            return hw
    problems = sorted(checker.problems, key=lambda p: p[0])
    raise ConfigProblems([p for _, _, p in problems],
                         problems_text(doc.path, [(line, text) for line, text, _ in problems]))


def _assemble(checker: _Checker, values: dict, version: int) -> HwConfig | None:
    """The config from its built parts, once the rules between parts hold; None (with the
    problems reported) otherwise."""
    engines, memory = values.get("engines"), values.get("memory")
    levels = [memory.get("sram"), memory.get("dram")] if isinstance(memory, dict) else memory
    if not isinstance(engines, list) or not isinstance(levels, list) \
            or None in engines or None in levels:
        return None
    energy = values.get("energy_pj")
    outline = Outline(tuple(e.name for e in engines), tuple(e.reads_from for e in engines),
                      tuple(level.name for level in levels),
                      tuple(level.kind for level in levels),
                      None if energy is None else tuple(n for n, _ in energy.per_byte))
    where = ({0: "sram", 1: "dram"} if version == 1 else {})  # version 1 names its two levels
    problems = outline_problems(outline)
    for problem in problems:
        checker.problem(_in_file(problem.path, where),
                        problem.message, first=problem.first and _in_file(problem.first, where))
    if problems or checker.problems:
        return None
    return HwConfig(values["name"], values["clock_ghz"], values["precision"], engines,
                    energy_pj=energy, memory_levels=levels)


def _in_file(path: KeyPath, memory_keys: dict[int, str]) -> KeyPath:
    if len(path) > 1 and path[0] == "memory" and path[1] in memory_keys:
        return ("memory", memory_keys[path[1]]) + path[2:]  # type: ignore[index]
    return path


def shipped_config_names() -> list[str]:
    """Names of the configs shipped in ``hw_configs/``."""
    folder = resources.files("perfsim.hw_configs")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def resolve_hw_path(name_or_path: str | Path) -> Path:
    """A config path from a path or a shipped name (with or without ``.yaml``)."""
    path = Path(name_or_path)
    if is_file(path):
        return path
    stem = path.name[:-5] if path.name.endswith(".yaml") else path.name
    if path.parent == Path(".") and stem in shipped_config_names():
        return Path(str(resources.files("perfsim.hw_configs") / f"{stem}.yaml"))
    names = shipped_config_names()
    raise ConfigError(f"no hardware config {str(name_or_path)!r}: not a file and not a shipped "
                      f"config{suggest(stem, names)} (shipped: {', '.join(names)})")


def load_config(path: str | Path) -> HwConfig:
    """Load and validate a perfsim hardware YAML file."""
    return parse_config(load_yaml(path, ConfigError, collect_duplicates=True))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file (provenance of a run)."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def _entry(obj: Any, version: int = 2) -> dict:
    """One section of the document: the keys of ``obj``'s section that are set, lists for
    tuples."""
    out = {}
    for key in section_of(type(obj), version):
        value = obj.kind if key == "kind" else getattr(obj, key)
        if value is not None:
            out[key] = list(value) if isinstance(value, tuple) else value
    return out


def to_document(hw: HwConfig) -> dict:
    """The config as a ``schema_version: 2`` document, every default filled in (an unset
    optional key, such as an engine's ``reads_from``, is left out): loading it again gives an
    equal config. It is the normalised form ``perfsim validate`` prints and runs save, for a
    config from a file of either version or built in Python."""
    document = {
        "schema_version": 2, "name": hw.name, "clock_ghz": hw.clock_ghz,
        "precision": _entry(hw.precision),
        "engines": [_entry(e) for e in hw.engines],
        "memory": [_entry(level) for level in hw.memory_levels],
    }
    if hw.energy_pj is not None:
        document["energy_pj"] = {"mac": hw.energy_pj.mac,
                                 **{f"{n}_byte": pj for n, pj in hw.energy_pj.per_byte}}
    return document
