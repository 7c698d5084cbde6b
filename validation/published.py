"""The published numbers of ``published.yaml`` as frozen records, read strictly (a duplicate
key, a missing field or an unknown metric is an error naming ``file:line``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from perfsim.errors import PerfsimError
from perfsim.yaml_source import YamlDoc, load_yaml

PUBLISHED = Path(__file__).with_name("published.yaml")
SOURCE_KINDS = ("silicon", "estimator")
BOUNDS = ("memory", "compute")
"""A published bound, in the roofline sense the TPU paper uses (Section 4)."""
NUMERIC_METRICS = ("latency_ms", "dram_mb", "tops", "fps")
"""Metrics compared as numbers; ``bound`` is compared as a category."""
METRICS = (*NUMERIC_METRICS, "bound")


@dataclass(frozen=True)
class Source:
    """A document the numbers come from; ``kind`` is ``silicon`` or ``estimator``."""

    key: str
    cite: str
    link: str
    kind: str


@dataclass(frozen=True)
class Reference:
    """One published number (or bound) of a case. ``layers`` are the layers it covers, summed
    when several; empty means the whole network. ``target_pct`` is the issue's tolerance on
    the relative error, None when it sets none. ``rechecked`` is False for a value we could not
    re-read in a copy of the source (``note`` says why)."""

    case: str
    metric: str
    layers: tuple[str, ...]
    value: float | str
    target_pct: float | None
    where: str
    rechecked: bool
    note: str

    @property
    def layer_label(self) -> str:
        """``conv1``, ``conv1-conv5`` for several layers, ``network`` for none."""
        if not self.layers:
            return "network"
        return self.layers[0] if len(self.layers) == 1 else f"{self.layers[0]}-{self.layers[-1]}"


@dataclass(frozen=True)
class CaseFacts:
    """What one source publishes about one setup: its description, the facts the network and
    config are built from, and the numbers compared."""

    case: str
    source: Source
    setup: str
    facts: dict
    references: tuple[Reference, ...]


def load_published(path: str | Path = PUBLISHED) -> dict[str, CaseFacts]:
    """Every case of ``path`` by name, in file order."""
    doc = load_yaml(path, PerfsimError)
    _keys(doc, (), doc.data, required={"sources", "cases"})
    sources = {key: _source(doc, key, entry) for key, entry in doc.data["sources"].items()}
    return {name: _case(doc, name, entry, sources) for name, entry in doc.data["cases"].items()}


def _fail(doc: YamlDoc, path: tuple, problem: str):
    raise PerfsimError(f"{doc.where(path)}: {problem}")


def _keys(doc: YamlDoc, path: tuple, entry, *, required: set[str],
          optional: set[str] = frozenset()) -> None:
    if not isinstance(entry, dict):
        _fail(doc, path, "must be a mapping")
    for key in required - set(entry):
        _fail(doc, path, f"missing '{key}'")
    for key in set(entry) - required - optional:
        _fail(doc, (*path, key), f"unknown key (allowed: {', '.join(sorted(required | optional))})")


def _source(doc: YamlDoc, key: str, entry) -> Source:
    path = ("sources", key)
    _keys(doc, path, entry, required={"cite", "link", "kind"})
    if entry["kind"] not in SOURCE_KINDS:
        _fail(doc, (*path, "kind"), f"must be one of {', '.join(SOURCE_KINDS)}")
    return Source(key, entry["cite"], entry["link"], entry["kind"])


def _case(doc: YamlDoc, name: str, entry, sources: dict[str, Source]) -> CaseFacts:
    path = ("cases", name)
    _keys(doc, path, entry, required={"source", "setup", "facts", "published"})
    if entry["source"] not in sources:
        _fail(doc, (*path, "source"), f"unknown source (known: {', '.join(sources)})")
    references = tuple(_reference(doc, (*path, "published", i), name, item)
                       for i, item in enumerate(entry["published"]))
    return CaseFacts(name, sources[entry["source"]], entry["setup"], dict(entry["facts"]),
                     references)


def _reference(doc: YamlDoc, path: tuple, case: str, item) -> Reference:
    _keys(doc, path, item, required={"metric", "value", "where"},
          optional={"layers", "target_pct", "rechecked", "note"})
    metric, value = item["metric"], item["value"]
    if metric not in METRICS:
        _fail(doc, (*path, "metric"), f"unknown metric (known: {', '.join(METRICS)})")
    numeric = metric in NUMERIC_METRICS
    if numeric and (isinstance(value, bool) or not isinstance(value, (int, float))
                    or value <= 0):
        _fail(doc, (*path, "value"), f"{metric} must be a positive number")
    if not numeric and value not in BOUNDS:
        _fail(doc, (*path, "value"), f"a bound is one of {', '.join(BOUNDS)}")
    return Reference(case, metric, tuple(item.get("layers", ())),
                     float(value) if numeric else value, item.get("target_pct"),
                     item["where"], item.get("rechecked", True), item.get("note", ""))
