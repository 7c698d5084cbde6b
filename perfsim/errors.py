"""The exceptions perfsim raises.

The library raises; only the CLI prints and picks an exit code (DESIGN section 7): a
``PerfsimError`` is a user error (exit 2, one clean message), anything else is a bug (exit 1).
"""

from __future__ import annotations

import difflib


class PerfsimError(Exception):
    """A problem with what the user asked for. Its message is complete and fit to print."""


class WorkloadError(PerfsimError):
    """An unknown workload, a malformed network file or an inconsistent network graph."""


class ConfigError(PerfsimError):
    """A malformed or inconsistent hardware description."""


class InfeasibleError(PerfsimError):
    """A layer that cannot be run on the accelerator (nothing fits, or no engine can)."""


class LimitError(PerfsimError):
    """A result beyond what perfsim can count (more than 2^63 - 1 cycles or bytes), from
    inputs each within perfsim's limits but together extreme."""


class PerfsimWarning(UserWarning):
    """Something in the user's input that is probably a mistake but is read as written (an
    input shape that looks channels-last); the CLI prints it as one line."""


def problems_text(path: str, problems: list[tuple[int, str]]) -> str:
    """The message of a file's problems, each ``(line, text)`` with its text naming the file:
    the one line of a single problem, or ``N problem(s) in path:`` and a line per problem, in
    the order of their lines."""
    lines = [text for _, text in sorted(problems, key=lambda p: p[0])]
    if len(lines) == 1:
        return lines[0]
    return f"{len(lines)} problem(s) in {path}:\n" + "\n".join(lines)


def suggest(name: str, choices: list[str]) -> str:
    """``; did you mean: a, b?`` for the closest choices, or an empty string."""
    close = difflib.get_close_matches(name, choices, n=3, cutoff=0.6)
    return f"; did you mean: {', '.join(close)}?" if close else ""
