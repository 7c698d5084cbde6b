"""perfsim: a performance simulator for neural-network accelerators."""

from perfsim.errors import ConfigError, PerfsimError, WorkloadError
from perfsim.ir import Layer, Network, NetworkBuilder
from perfsim.stats import layer_table, totals
from perfsim.workload import load_workload

__version__ = "0.1.0"

__all__ = ["ConfigError", "Layer", "Network", "NetworkBuilder", "PerfsimError",
           "WorkloadError", "layer_table", "load_workload", "totals", "__version__"]
