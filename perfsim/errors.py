"""The exceptions perfsim raises.

The library raises; only the CLI prints and picks an exit code (DESIGN section 7): a
``PerfsimError`` is a user error (exit 2, one clean message), anything else is a bug (exit 1).
"""

from __future__ import annotations


class PerfsimError(Exception):
    """A problem with what the user asked for. Its message is complete and fit to print."""


class WorkloadError(PerfsimError):
    """An unknown workload, a malformed network file or an inconsistent network graph."""


class ConfigError(PerfsimError):
    """A malformed or inconsistent hardware description."""


class InfeasibleError(PerfsimError):
    """A layer that cannot be run on the accelerator (nothing fits, or no engine can)."""
