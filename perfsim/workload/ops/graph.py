"""Ops that stand for the graph rather than work: network inputs, and placeholders for ONNX
nodes perfsim cannot map."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from perfsim.workload.ops.base import Op, Shape, _as_shape


@dataclass(frozen=True)
class Input(Op):
    """A network input of a fixed per-sample shape."""

    kind: ClassVar[str] = "input"
    category: ClassVar[str] = "input"
    min_inputs: ClassVar[int] = 0
    max_inputs: ClassVar[int | None] = 0
    view: ClassVar[bool] = True
    engine_kinds: ClassVar[frozenset[str]] = frozenset()
    lecture_type: ClassVar[str | None] = "Inpt"
    shape: Shape = (3, 224, 224)

    def __post_init__(self):
        super().__post_init__()
        object.__setattr__(self, "shape", _as_shape(self.shape))

    def out_shapes(self, in_shapes):
        return (self.shape,)


@dataclass(frozen=True)
class Placeholder(Op):
    """An ONNX node perfsim cannot map (imported with ``allow_unsupported``): it passes its
    output shape on so the rest of the graph imports, and costs nothing (no parameters, MACs,
    ops or data movement). Reports flag it as not costed. ``uncosted_macs`` are the MACs the
    node does per sample by its ONNX shapes (a MatMul, Gemm, Einsum or convolution; 0 for
    other ops), which the totals lack: they say how much of the network is not costed."""

    kind: ClassVar[str] = "placeholder"
    category: ClassVar[str] = "rearrangement"
    min_inputs: ClassVar[int] = 0
    max_inputs: ClassVar[int | None] = None
    view: ClassVar[bool] = True
    engine_kinds: ClassVar[frozenset[str]] = frozenset()
    onnx_op: str = ""
    shape: Shape = (1, 1, 1)
    uncosted_macs: int = 0

    def __post_init__(self):
        super().__post_init__()
        if not isinstance(self.onnx_op, str) or not self.onnx_op:
            raise ValueError(f"onnx_op must be a non-empty string, got {self.onnx_op!r}")
        if isinstance(self.uncosted_macs, bool) or not isinstance(self.uncosted_macs, int) \
                or self.uncosted_macs < 0:
            raise ValueError(f"uncosted_macs must be an integer >= 0, got "
                             f"{self.uncosted_macs!r}")
        object.__setattr__(self, "shape", _as_shape(self.shape))

    def out_shapes(self, in_shapes):
        return (self.shape,)
