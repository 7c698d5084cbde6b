"""Stage 1, workload: the IR (the closed op set, layers, networks with shapes inferred), a
builder for code, the zoo registry, and the canonical statistics and lecture tables of a
network. It knows nothing of hardware."""

from perfsim.workload.builder import NetworkBuilder
from perfsim.workload.network import Layer, Network, parse_ref
from perfsim.workload.ops import OPS, Op, Shape, make_op

__all__ = ["Layer", "Network", "NetworkBuilder", "OPS", "Op", "Shape", "make_op", "parse_ref"]
