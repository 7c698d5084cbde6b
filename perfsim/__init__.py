"""perfsim: a performance simulator for neural-network accelerators."""

__version__ = "0.1.0"  # before the imports: perfsim.run_files reads it

from perfsim.errors import ConfigError, InfeasibleError, PerfsimError, WorkloadError
from perfsim.ir import Layer, Network, NetworkBuilder
from perfsim.stats import layer_table, totals
from perfsim.config import load_hw
from perfsim.simulate import simulate
from perfsim.workload import load_workload
from perfsim.sweeps import sweep

__all__ = ["ConfigError", "InfeasibleError", "Layer", "Network", "NetworkBuilder",
           "PerfsimError", "WorkloadError", "layer_table", "load_hw", "load_workload",
           "simulate", "sweep", "totals", "__version__"]
