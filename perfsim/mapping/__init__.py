"""Stage 4, mapping and cost: a layer lowered to its loop nest (:mod:`.lowering`), where its
tensors live (:mod:`.residency`), what it costs on each engine (:mod:`.engines`), its tiling
(:mod:`.tiling`) and the Numba kernels beneath them (:mod:`.kernels`, each with a ``_ref``
specification).

The choices of a run named here are read by the command line without importing the cost
model."""

GRAPHS = ("inference", "raw")
"""What a run costs: the inference graph (folded and fused, the default: :mod:`.fusion`) or
the raw training graph, layer for layer."""
RESIDENCY_MODES = ("auto", "dram")
"""Where activations live between layers (:mod:`.residency`): ``auto``, the fastest
placement of :func:`~.residency.budget_ladder_bytes`; ``dram``, every activation through
DRAM (budget 0)."""
