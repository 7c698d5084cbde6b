"""perfsim's limits on hardware values: generous for real accelerators, and small enough that
the cost kernels' integers stay below 2^63 (the arithmetic: :mod:`perfsim.workload.limits`) and
their floating-point cycles finite. Every number of a config has a maximum, every float a lower
bound (a minimum or "> 0"). The hardware model's rules (:mod:`.model`) read them; so does
``perfsim validate --help``, which need not import the model to print them.
"""

MAX_ARRAY_SIDE = 2**16
"""Rows or columns of a matrix engine (a TPU v1 has 256)."""
MAX_LANES = 2**20
"""Lanes of a vector engine."""
MAX_ELEMENT_BYTES = 16
"""Bytes per stored element of any tensor kind (a 128-bit accumulator)."""
MAX_BUFFERS = 64
"""Tiles of each operand a memory level holds at once."""
MAX_SRAM_KIB = 2**32
"""A shared on-chip level's capacity, in KiB (4 TiB)."""
MAX_LOCAL_BYTES = 2**42
"""A local level's capacity per copy, in bytes (4 TiB)."""
MAX_COUNT_CYCLES = 2**20
"""A latency or setup time counted in cycles (a pipeline's, a transfer's)."""
MAX_BURST_BYTES = 2**20
"""A level's transfer granularity."""
MIN_BANDWIDTH, MAX_BANDWIDTH = 1e-3, 1e30
"""Bandwidth in bytes per cycle (on chip) or GB/s (DRAM): from a thousandth, so that bytes over
bandwidth stay finite, to 1e30, how "no limit" is written (a SCALE-Sim config's CALC mode)."""
MIN_CLOCK_GHZ, MAX_CLOCK_GHZ = 1e-3, 100.0
"""The clock, from 1 MHz to 100 GHz."""
MAX_LATENCY_NS = 1e6
"""DRAM latency (a millisecond)."""
MAX_ENERGY_PJ = 1e6
"""Energy of one MAC or of one byte moved (a microjoule)."""
