"""The registry of the network zoo.

The family modules live in ``workloads/`` (installed as ``perfsim.workloads``). Each module
declares ``NETWORKS``, a mapping from a registered name to a builder: a callable taking an
optional keyword ``input_shape`` ``(C, H, W)`` and returning a
:class:`~perfsim.workload.network.Network` of that name. The registry discovers the modules, so no
family module imports the workloads package back.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache
from typing import Callable

from perfsim.errors import WorkloadError, suggest
from perfsim.workload.network import Network
from perfsim.workload.ops import Shape

Builder = Callable[..., Network]


@cache
def _builders() -> dict[str, tuple[str, Builder]]:
    package = importlib.import_module("perfsim.workloads")
    found: dict[str, tuple[str, Builder]] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if info.ispkg or info.name.startswith("_"):
            continue
        module = importlib.import_module(f"perfsim.workloads.{info.name}")
        for name, builder in getattr(module, "NETWORKS", {}).items():
            if name in found:
                raise RuntimeError(f"workload '{name}' is registered by both "
                                   f"{found[name][0]} and {info.name}")
            found[name] = (info.name, builder)
    return found


def workload_names() -> list[str]:
    """Every registered workload name, sorted."""
    return sorted(_builders())


def workload_family(name: str) -> str:
    """The family module that registers ``name``."""
    return _builders()[name][0]


def build_workload(name: str, input_shape: Shape | None = None, *,
                   also_known: list[str] = ()) -> Network:
    """Build the zoo network ``name`` (at its published input size unless ``input_shape``);
    an unknown name suggests the closest of the zoo's and of ``also_known`` (the installed
    examples)."""
    builders = _builders()
    if name not in builders:
        raise WorkloadError(f"unknown workload {name!r}"
                            f"{suggest(name, [*builders, *also_known])} (see `perfsim list`)")
    builder = builders[name][1]
    network = builder() if input_shape is None else builder(input_shape=tuple(input_shape))
    if network.name != name:
        raise RuntimeError(f"builder for '{name}' returned a network called '{network.name}'")
    return network
