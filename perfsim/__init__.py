"""perfsim: a performance simulator for neural-network accelerators.

The package is laid out by pipeline stage (README, "Architecture"); this module only gathers
the public API, and nothing inside the package imports it back. Each name loads its module on
first use (PEP 562): ``import perfsim`` and the command line's start stay quick, and pandas,
numba and the cost model load only when something needs them.
"""

import sys
import types
from importlib import import_module

from perfsim._version import __version__
from perfsim.errors import ConfigError, InfeasibleError, PerfsimError, WorkloadError

_HOMES = {"load_hw": "perfsim.io.load", "load_workload": "perfsim.io.load",
          "simulate": "perfsim.simulate", "sweep": "perfsim.sweeps.run",
          "variant": "perfsim.sweeps.space", "Layer": "perfsim.workload.network",
          "Network": "perfsim.workload.network", "NetworkBuilder": "perfsim.workload.builder",
          "layer_table": "perfsim.workload.stats", "totals": "perfsim.workload.stats"}

__all__ = ["ConfigError", "InfeasibleError", "Layer", "Network", "NetworkBuilder",
           "PerfsimError", "WorkloadError", "__version__", "layer_table", "load_hw",
           "load_workload", "simulate", "sweep", "totals", "variant"]


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'perfsim' has no attribute {name!r}")


def __dir__() -> list[str]:
    return __all__


class _Api(types.ModuleType):
    """The package, whose API names stay what they are: importing the submodule
    ``perfsim.simulate`` (as everything that costs a run does) would otherwise make
    ``perfsim.simulate`` that module rather than its function."""

    def __setattr__(self, name: str, value) -> None:
        if name in _HOMES and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Api
