"""Hardware rules, each declared once and read by both of its users: the YAML loader
(:mod:`.loading`) and the dataclasses' own validation on construction (:mod:`.model`), which is
what ``dataclasses.replace`` and Python users meet.

A rule on one field is a :class:`Key` in the field's metadata, written with :func:`key`: its
type, range, allowed values, whether a file must give it, and the schema version that introduced
it. The loader derives its schema from these keys, and both users check a value with
:func:`value_problems`, so both say the same thing. A rule between fields is a function from
the fields' values (a mapping, field name -> value) to :class:`Problem` s: a key path relative
to the object and a message. Problems travel as data (:class:`ConfigProblems`); nothing parses
an error message to find out where a problem is.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, Field, dataclass, field, fields
from functools import cache
from types import MappingProxyType
from typing import Any, Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence

from perfsim.errors import ConfigError, suggest
from perfsim.workload.limits import power_text
from perfsim.yaml_source import KeyPath, format_path

KEY = "perfsim.key"
"""The metadata entry of a dataclass field that holds its :class:`Key`."""


@dataclass(frozen=True)
class Key:
    """What one scalar key accepts.

    ``type`` is ``int``, ``float`` (ints accepted), ``str``, or ``tuple``: a non-empty list of
    distinct ``choices``. ``required``: a file must give the key (a Python default may still
    exist, for convenience). ``default``: the value when a file leaves it out. ``minimum`` and
    ``maximum`` are inclusive; ``positive`` means ``> 0``. Every number has a ``maximum``:
    perfsim's limits, which keep its arithmetic in range (:mod:`perfsim.hardware.model`,
    :mod:`perfsim.workload.limits`). ``since`` is the first ``schema_version`` with the key.
    ``costed`` is False for a key today's cost model does not read: a config that sets it to
    anything but its default is refused by :func:`~perfsim.hardware.model.check_costable`
    rather than costed as if it were not there."""

    type: type
    required: bool = True
    default: object = None
    positive: bool = False
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple = ()
    since: int = 1
    costed: bool = True


def key(type_: type, *, default: object = MISSING, required: bool | None = None,
        positive: bool = False, minimum: float | None = None, maximum: float | None = None,
        choices: tuple = (), since: int = 1, costed: bool = True) -> Any:
    """A dataclass field carrying its :class:`Key`. Without a ``default`` the field is required
    everywhere; with one, a file must still give it when ``required`` is True."""
    spec = Key(type_, default is MISSING if required is None else required,
               None if default is MISSING else default, positive, minimum, maximum, choices,
               since, costed)
    if default is MISSING:
        return field(metadata={KEY: spec})
    return field(default=default, metadata={KEY: spec})


@cache  # every config a sweep makes is checked against its classes' keys
def keys_of(cls: type) -> Mapping[str, Key]:
    """Field name -> :class:`Key` of a dataclass, in field order (read-only)."""
    return MappingProxyType({f.name: f.metadata[KEY] for f in fields(cls) if KEY in f.metadata})


@cache
def field_of(cls: type, name: str) -> Field:
    return next(f for f in fields(cls) if f.name == name)


class Problem(NamedTuple):
    """One problem: where (a key path), what (a message completing ``key.path: ...``) and, for
    a repeated value, where it was first given."""

    path: KeyPath
    message: str
    first: KeyPath | None = None


Rule = Callable[[Mapping[str, Any]], Iterable[Problem]]
"""A rule between the fields of one object: its values -> problems at paths relative to it."""


class ConfigProblems(ConfigError):
    """A :class:`ConfigError` that keeps its problems as data, for callers that report them in
    their own terms (a sweep names engines and memory levels as its key paths do)."""

    def __init__(self, problems: Sequence[Problem], text: str | None = None):
        self.problems = tuple(problems)
        super().__init__(text if text is not None else "; ".join(map(describe, self.problems)))


def describe(problem: Problem) -> str:
    """``key.path: message (first at other.path)``."""
    first = f" (first at {format_path(problem.first)})" if problem.first is not None else ""
    return f"{format_path(problem.path)}: {problem.message}{first}"


def _type_name(spec: Key) -> str:
    if spec.type is float:
        return "a number"
    if spec.type is tuple:
        return f"a non-empty list of distinct values from {', '.join(spec.choices)}"
    return spec.type.__name__


def _is_number_text(text: str) -> bool:
    """Whether text such as ``1e3`` or a quoted ``"34"`` reads as a finite number."""
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _has_type(spec: Key, value: object) -> bool:
    if isinstance(value, bool):
        return False
    if spec.type is float:
        return isinstance(value, (int, float))
    if spec.type is tuple:
        return (isinstance(value, (list, tuple)) and len(value) > 0
                and all(isinstance(v, str) and v in spec.choices for v in value)
                and len(set(value)) == len(value))
    return isinstance(value, spec.type)


def value_problems(spec: Key, value: object) -> list[str]:
    """What is wrong with ``value`` for ``spec`` (an empty list if nothing), in the words both
    the loader and the dataclasses use."""
    if not _has_type(spec, value):
        hint = ""
        if spec.type is float and isinstance(value, str) and _is_number_text(value):
            hint = (" (text, not a number: write it unquoted, and an exponent with a decimal "
                    "point, 1.0e3 rather than 1e3)")
        elif spec.type is tuple and isinstance(value, (list, tuple)):
            wrong = [str(v) for v in value if v not in spec.choices]
            hint = suggest(wrong[0], list(spec.choices)) if wrong else ""
        return [f"expected {_type_name(spec)}, got {value!r}{hint}"]
    if isinstance(value, float) and not math.isfinite(value):
        return [f"must be a finite number, got {value!r}"]
    if isinstance(value, str) and not value.isprintable():  # names appear in messages
        return [f"must be text without control characters, got {value!r}"]
    out = []
    if spec.choices and spec.type is not tuple and value not in spec.choices:
        out.append(f"must be one of {', '.join(map(str, spec.choices))}, got {value!r}"
                   f"{suggest(str(value), list(map(str, spec.choices)))}")
    if spec.positive and value <= 0:  # type: ignore[operator]
        out.append(f"must be > 0, got {value!r}")
    elif spec.minimum is not None and value < spec.minimum:  # type: ignore[operator]
        out.append(f"must be >= {spec.minimum}, got {value!r}")
    if spec.maximum is not None and value > spec.maximum:  # type: ignore[operator]
        out.append(f"must be at most {limit_text(spec.maximum)} (perfsim's limit), got "
                   f"{value!r}")
    return out


def limit_text(value: float) -> str:
    """A limit as written in messages and help: ``65,536 (2^16)``, ``1e+30``, ``0.001``."""
    if isinstance(value, int):
        return power_text(value)
    return f"{value:g}"


def field_problems(cls: type, values: Mapping[str, Any]) -> list[Problem]:
    """Every field rule of ``cls`` on ``values``. A field whose Python default is None is
    optional: None there means "not given" and is not checked."""
    out = []
    for name, spec in keys_of(cls).items():
        value = values[name]
        if value is None and field_of(cls, name).default is None:
            continue
        out += [Problem((name,), text) for text in value_problems(spec, value)]
    return out


def rule_problems(rules: Iterable[Rule], values: Mapping[str, Any]) -> list[Problem]:
    return [problem for rule in rules for problem in rule(values)]


def check(obj: Any, place: KeyPath, rules: Iterable[Rule] = ()) -> None:
    """Raise :class:`ConfigProblems` at ``place`` (the object's key path) unless every field
    rule and then every rule between fields holds for ``obj``, a dataclass instance."""
    values = {f.name: getattr(obj, f.name) for f in fields(obj)}
    problems = field_problems(type(obj), values) or rule_problems(rules, values)
    if problems:
        raise ConfigProblems([p._replace(path=place + p.path) for p in problems])


def split_rule(size: str, split: tuple[str, str, str]) -> Rule:
    """Per-operand capacities (``split``, optional) are given all together or not at all, and
    fit in the level's ``size``: one rule for every level that may be split, in its unit."""

    def rule(values: Mapping[str, Any]) -> Iterator[Problem]:
        given = [values[name] for name in split]
        if all(v is None for v in given):
            return
        if any(v is None for v in given):
            yield Problem((), f"give all of {', '.join(split)} or none")
            return
        total = sum(given)
        if total > values[size] + 1e-9:  # sums of fractional KiB: no excess from rounding
            yield Problem((), f"{' + '.join(split)} = {total:g} exceeds {size} = "
                              f"{values[size]:g}")

    rule.__doc__ = f"{', '.join(split)}: all or none, and together at most {size}"
    rule.__name__ = f"split_{size}"
    return rule



def port_rule(bandwidth: str, split: tuple[str, str, str], ports: tuple[str, str, str]) -> Rule:
    """Per-buffer bandwidths (``ports``, optional) are given all together or not at all, only
    on a level split into per-operand buffers (``split``), and add up to its ``bandwidth``."""

    def rule(values: Mapping[str, Any]) -> Iterator[Problem]:
        given = [values.get(name) for name in ports]  # keys of schema 2 only
        if all(v is None for v in given):
            return
        if any(v is None for v in given):
            yield Problem((), f"give all of {', '.join(ports)} or none")
            return
        if values[split[0]] is None:
            yield Problem((), f"{', '.join(ports)} need the per-operand buffers "
                              f"{', '.join(split)}")
            return
        if not math.isclose(sum(given), values[bandwidth]):
            yield Problem((), f"{' + '.join(ports)} = {sum(given):g} must equal {bandwidth} "
                              f"= {values[bandwidth]:g} (the buffers' ports together)")

    rule.__doc__ = f"{', '.join(ports)}: all or none, on split buffers, adding up to {bandwidth}"
    rule.__name__ = f"ports_{bandwidth}"
    return rule
