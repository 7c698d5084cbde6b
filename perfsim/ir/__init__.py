"""The workload IR: the closed op set, layers and networks, and a builder for code."""

from perfsim.ir.builder import NetworkBuilder
from perfsim.ir.network import Layer, Network, parse_ref
from perfsim.ir.ops import OPS, Op, Shape, make_op

__all__ = ["Layer", "Network", "NetworkBuilder", "OPS", "Op", "Shape", "make_op", "parse_ref"]
