"""Stage 1, workload: the IR (the closed op set, layers, networks with shapes inferred), a
builder for code, the zoo registry, and the canonical statistics and lecture tables of a
network. It knows nothing of hardware.

The names below load their module on first use (PEP 562), so that what needs only a light
module of the stage (:mod:`.limits`) does not build the op registry."""

from importlib import import_module

_HOMES = {"NetworkBuilder": "builder", "Layer": "network", "Network": "network",
          "parse_ref": "network", "OPS": "ops", "Op": "ops", "Shape": "ops", "make_op": "ops"}

__all__ = sorted([*_HOMES, "PHASES"])

PHASES = ("prefill", "decode")
"""A decoder's phases (:mod:`perfsim.workload.zoo`): ``prefill``, the forward pass over a
prompt of ``seq_len`` tokens; ``decode``, one new token after ``seq_len`` cached ones."""


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(f"perfsim.workload.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'perfsim.workload' has no attribute {name!r}")
