"""perfsim: a performance simulator for neural-network accelerators.

The package is laid out by pipeline stage (README, "Architecture"); this module only gathers
the public API, and nothing inside the package imports it back.
"""

from perfsim._version import __version__
from perfsim.errors import ConfigError, InfeasibleError, PerfsimError, WorkloadError
from perfsim.io.load import load_hw, load_workload
from perfsim.simulate import simulate
from perfsim.sweeps import sweep
from perfsim.sweeps.space import variant
from perfsim.workload import Layer, Network, NetworkBuilder
from perfsim.workload.stats import layer_table, totals

__all__ = ["ConfigError", "InfeasibleError", "Layer", "Network", "NetworkBuilder",
           "PerfsimError", "WorkloadError", "layer_table", "load_hw", "load_workload",
           "simulate", "sweep", "totals", "variant", "__version__"]
