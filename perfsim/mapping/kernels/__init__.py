"""Cost kernels (arrays or integers in, numbers out), each with a pure-Python ``_ref`` twin
that is its specification; the tests hold them equal. Only the loops that run per tiling are
Numba-jitted (:mod:`~perfsim.mapping.kernels.nest_kernels`: the table's rows and their
ranking, imported on first use); closed forms and summaries built once stay plain Python,
which compiles nothing. What the kernels answered, ``perfsim run`` keeps on disk
(:mod:`~perfsim.mapping.kernels.kept_answers`)."""
