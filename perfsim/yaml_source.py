"""Strict YAML reading that remembers where every key came from.

Network files and hardware configs are read through :func:`load_yaml`: syntax errors and
duplicate keys are errors naming ``file:line``, and :meth:`YamlDoc.where` gives the line of any
key path so later validation can say exactly where a problem is.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from perfsim.errors import PerfsimError

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
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"{path}: cannot read: {err}") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise error(f"{path}:1: the file is empty")
        lines: dict[KeyPath, int] = {}
        duplicates: list | None = [] if collect_duplicates else None
        data = _convert(loader, node, (), lines, path, error, duplicates)
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


def _convert(loader: yaml.SafeLoader, node: yaml.Node, path: KeyPath,
             lines: dict[KeyPath, int], file: str, error: type[PerfsimError],
             duplicates: list | None = None) -> Any:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            if not isinstance(key, str):
                raise error(f"{file}:{line}: {format_path(path)}: key {key!r} is not a string")
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
    return loader.construct_object(node, deep=True)
