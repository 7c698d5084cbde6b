"""Strict YAML reading that remembers where every key came from.

Network files, hardware configs and sweep specs are read through :func:`load_yaml`: syntax
errors and duplicate keys are errors naming ``file:line``, and :meth:`YamlDoc.where` gives the
line of any key path so later validation can say exactly where a problem is.

Loading is safe against hostile files: the text must be UTF-8 without NUL bytes
(:func:`perfsim.text_files.read_text`), and while the document is composed, before any alias
is expanded, nesting deeper than :data:`MAX_DEPTH`, more than :data:`MAX_ALIASES` aliases,
aliases that together repeat more than :data:`MAX_ALIASED_VALUES` values (an "alias bomb"
repeats ``9**9``) or an alias inside the value it names (a cycle) are refused, each naming its
line. No perfsim file needs more than a few levels or aliases.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from perfsim.errors import PerfsimError
from perfsim.text_files import read_text

MAX_DEPTH = 32
"""Nesting levels of mappings and lists a file may have (perfsim's files use at most five)."""
MAX_ALIASES = 100
"""Aliases (``*name``) a file may use."""
MAX_ALIASED_VALUES = 10_000
"""Values (scalars, lists and mappings, counted after expansion) the aliases of a file may
repeat in all."""

KeyPath = tuple[str | int, ...]


def format_path(path: KeyPath) -> str:
    """``layers[3].kernel`` style text for a key path."""
    text = ""
    for part in path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


@dataclass(frozen=True)
class YamlDoc:
    """A parsed YAML document: plain Python ``data`` plus the line of every key path."""

    path: str
    data: Any
    lines: dict[KeyPath, int] = field(repr=False)
    #: repeated keys as (key path, line of the repeat, line of the first), when collected
    duplicates: tuple[tuple[KeyPath, int, int], ...] = field(default=(), repr=False)

    def line(self, path: KeyPath) -> int:
        """1-based line of ``path``, or of its nearest recorded ancestor."""
        path = tuple(path)
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def where(self, path: KeyPath) -> str:
        """``file:line: key.path`` for messages."""
        return f"{self.path}:{self.line(path)}: {format_path(tuple(path))}"


def load_yaml(path: str | Path, error: type[PerfsimError],
              collect_duplicates: bool = False) -> YamlDoc:
    """Read ``path`` strictly; any problem raises ``error`` with ``file:line``.

    A repeated key raises too, unless ``collect_duplicates``: then the first value is kept and
    the repeats are listed in :attr:`YamlDoc.duplicates`, for the caller to report together
    with its own problems."""
    path = str(path)
    text = read_text(path, error)
    try:
        loader = _BoundedLoader(text)
    except yaml.reader.ReaderError as err:
        raise error(_reader_problem(path, text, err)) from None
    try:
        node = loader.get_single_node()
        if node is None:
            raise error(f"{path}:1: the file is empty")
        lines: dict[KeyPath, int] = {}
        duplicates: list | None = [] if collect_duplicates else None
        data = _convert(loader, node, (), lines, path, error, duplicates)
    except _Refused as err:
        raise error(f"{path}:{err.problem_mark.line + 1}: {err.problem}") from None
    except yaml.reader.ReaderError as err:
        raise error(_reader_problem(path, text, err)) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = mark.line + 1 if mark else 1
        context = ""
        if err.context and err.context_mark and err.problem:
            context = f" ({err.context} at line {err.context_mark.line + 1})"
        raise error(f"{path}:{line}: invalid YAML: {err.problem or err.context}{context}") \
            from None
    except yaml.YAMLError as err:
        raise error(f"{path}: invalid YAML: {err}") from None
    finally:
        loader.dispose()
    return YamlDoc(path, data, lines, tuple(duplicates or ()))


def _reader_problem(path: str, text: str, err: yaml.reader.ReaderError) -> str:
    """``file:line: ...`` for a character YAML does not allow in a document."""
    line = text.count("\n", 0, err.position) + 1
    return (f"{path}:{line}: character U+{err.character:04X} is not allowed in a YAML file "
            f"(a control character: is it a binary file?)")


class _Refused(yaml.MarkedYAMLError):
    """A document perfsim refuses to compose (too deep, too many aliases, a cycle)."""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader with the limits of the module docstring checked as each node is
    composed: an alias is checked by the size of the value it repeats, which is known (it was
    composed before), before anything is expanded."""

    def __init__(self, text: str):
        super().__init__(text)
        self.depth = 0
        self.aliases = 0
        self.aliased_values = 0
        self.values = 0  # values composed so far, aliases expanded
        self.sizes: dict[int, int] = {}  # id(node) -> its values, once composed

    def compose_node(self, parent, index):
        mark = self.peek_event().start_mark
        if self.check_event(yaml.AliasEvent):
            node = super().compose_node(parent, index)
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _Refused(None, None, f"more than {MAX_ALIASES} aliases: perfsim refuses "
                                           f"such files", mark)
            size = self.sizes.get(id(node))
            if size is None:
                raise _Refused(None, None, "an alias inside the value it names (a cycle)", mark)
            self.aliased_values += size
            if self.aliased_values > MAX_ALIASED_VALUES:
                raise _Refused(None, None, f"aliases repeat more than {MAX_ALIASED_VALUES:,} "
                                           f"values (an alias bomb?): perfsim refuses such "
                                           f"files", mark)
            self.values += size
            return node
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refused(None, None, f"nested more than {MAX_DEPTH} levels deep: perfsim "
                                       f"refuses such files", mark)
        before = self.values
        self.values += 1
        node = super().compose_node(parent, index)
        self.depth -= 1
        self.sizes[id(node)] = self.values - before
        return node


def _scalar(loader: yaml.SafeLoader, node: yaml.Node, file: str,
            error: type[PerfsimError]) -> Any:
    """The value of a scalar node; one Python refuses to read (an integer of more than 4,300
    digits, a date such as 2024-13-01) is an error at its line."""
    try:
        return loader.construct_object(node, deep=True)
    except ValueError as err:
        text = str(node.value)
        shown = f"{text[:30]}... ({len(text):,} characters)" if len(text) > 40 else text
        reason = "too long a number" if "digits" in str(err) else str(err)
        raise error(f"{file}:{node.start_mark.line + 1}: cannot read {shown}: {reason}"
                    ) from None


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: KeyPath,
             lines: dict[KeyPath, int], file: str, error: type[PerfsimError],
             duplicates: list | None = None) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = _scalar(loader, key_node, file, error)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise error(f"{file}:{line}: {format_path(path)}: key {key!r} is not a string")
            if not key.isprintable():  # no perfsim key has one; messages print keys
                raise error(f"{file}:{line}: {format_path(path)}: key {key!r} has a control "
                            f"character")
            if key in out:
                first = lines[path + (key,)]
                if duplicates is None:
                    raise error(f"{file}:{line}: {format_path(path + (key,))}: duplicate key "
                                f"'{key}' (first at line {first})")
                duplicates.append((path + (key,), line, first))
                continue
            lines[path + (key,)] = line
            out[key] = _convert(loader, value_node, path + (key,), lines, file, error,
                                duplicates)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_convert(loader, item, path + (i,), lines, file, error, duplicates)
                for i, item in enumerate(node.value)]
    return _scalar(loader, node, file, error)
