"""The registry of the network zoo.

The family modules live in ``workloads/`` (installed as ``perfsim.workloads``). Each module
declares ``NETWORKS``, a mapping from a registered name to a builder: a callable returning a
:class:`~perfsim.workload.network.Network` of that name, whose keyword parameters among
:data:`OPTIONS` are the options the network takes: ``input_shape`` ``(C, H, W)`` (an image
network at another size), ``seq_len`` (a sequence model's tokens) and ``phase`` (one of
:data:`~perfsim.workload.PHASES`, a decoder's). The registry checks that an option given is one
the network takes, and its type; the builder checks its range (a model's positions). The
registry discovers the modules, so no family module imports the workloads package back.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from functools import cache
from typing import Callable

from perfsim.errors import WorkloadError, suggest
from perfsim.workload import PHASES
from perfsim.workload.network import Network
from perfsim.workload.ops import Shape

Builder = Callable[..., Network]

OPTIONS = {"input_shape": "--input-shape", "seq_len": "--seq-len", "phase": "--phase"}
"""The options a zoo builder may take (as keyword parameters), with their command-line
flags."""


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


def workload_options(name: str) -> tuple[str, ...]:
    """The :data:`OPTIONS` the zoo network ``name`` takes, in that order."""
    taken = inspect.signature(_builders()[name][1]).parameters
    return tuple(option for option in OPTIONS if option in taken)


def networks_taking(option: str) -> list[str]:
    """The zoo networks that take ``option`` (one of :data:`OPTIONS`), sorted."""
    return [name for name in workload_names() if option in workload_options(name)]


def build_workload(name: str, input_shape: Shape | None = None, *, seq_len: int | None = None,
                   phase: str | None = None, also_known: list[str] = ()) -> Network:
    """Build the zoo network ``name``: at its published input size unless ``input_shape``, at
    its default sequence length unless ``seq_len``, in its default phase (``prefill``) unless
    ``phase``. An option the network does not take, or a value out of its range, is a
    :class:`WorkloadError`; an unknown name suggests the closest of the zoo's and of
    ``also_known`` (the installed examples)."""
    builders = _builders()
    if name not in builders:
        raise WorkloadError(f"unknown workload {name!r}"
                            f"{suggest(name, [*builders, *also_known])} (see `perfsim list`)")
    given = {option: value for option, value in
             (("input_shape", input_shape), ("seq_len", seq_len), ("phase", phase))
             if value is not None}
    takes = workload_options(name)
    for option in given:
        if option not in takes:
            raise WorkloadError(
                f"{name} takes no {OPTIONS[option]}"
                + (f" ({OPTIONS[option]} applies to {', '.join(networks_taking(option))})"
                   if option != "input_shape" else "")
                + (f"; it takes {', '.join(OPTIONS[o] for o in takes)}" if takes else ""))
    if "input_shape" in given:
        given["input_shape"] = tuple(input_shape)
    if "seq_len" in given and (isinstance(seq_len, bool) or not isinstance(seq_len, int)
                               or seq_len < 1):
        raise WorkloadError(f"{OPTIONS['seq_len']} must be a positive integer (tokens), got "
                            f"{seq_len!r}")
    if "phase" in given and phase not in PHASES:
        raise WorkloadError(f"{OPTIONS['phase']} must be one of {', '.join(PHASES)}, got "
                            f"{phase!r}{suggest(str(phase), list(PHASES))}")
    network = builders[name][1](**given)
    if network.name != name:
        raise RuntimeError(f"builder for '{name}' returned a network called '{network.name}'")
    return network
