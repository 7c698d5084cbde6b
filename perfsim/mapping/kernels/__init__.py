"""Numba-jitted cost kernels (arrays or integers in, numbers out), each with a pure-Python
``_ref`` twin that is its specification; the tests hold them equal, with and without JIT."""
