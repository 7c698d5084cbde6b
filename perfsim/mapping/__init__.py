"""Stage 4, mapping and cost: a layer lowered to its loop nest (:mod:`.lowering`), where its
tensors live (:mod:`.residency`), what it costs on each engine (:mod:`.engines`), its tiling
(:mod:`.tiling`) and the Numba kernels beneath them (:mod:`.kernels`, each with a ``_ref``
specification)."""
