"""The largest workload perfsim accepts, and why: its cost kernels count in 64-bit integers.

* :data:`MAX_DIM` bounds any one size a network states: a shape's channels, rows or columns
  and every integer attribute of an op (channels, features, kernel, stride, padding,
  dilation, groups, block, scale, levels, split sizes, hidden size).
* :data:`MAX_BATCH` bounds the batch.
* :data:`MAX_LAYER_WORK` bounds each layer at its batch: its multiply-accumulates, its other
  operations and the elements of each tensor it reads or writes (inputs, outputs, weights).

These are generous for real networks (a sequence of a million tokens, a 2^20 batch of small
images) and keep every integer the kernels compute below 2^63. With the hardware limits
(:mod:`perfsim.hardware.limits`: elements of at most 16 = 2^4 bytes, arrays of at most
2^16 x 2^16, at most 64 = 2^6 buffers per operand):

* a tensor holds at most 2^44 elements, so 2^48 bytes; a tile needs at most 2^6 x 2^48 =
  2^54 bytes of buffers;
* the bytes a level moves: each operand is fetched at most once per iteration of the loops
  that do not index it, so at most once per MAC for inputs and weights, and a partial sum is
  read and written at most once per MAC: at most 4 x 2^44 x 2^4 = 2^50 bytes;
* a systolic array's compute cycles (DESIGN section 4.1) are ``repeats * folds * (T +
  per-fold fill)``: ``repeats * folds * T`` is at most the layer's MACs (each fold does at
  least one MAC per cycle of ``T``), and the fill is below 3 x 2^16, so the cycles are below
  2^44 + 2^44 x 3 x 2^16 < 2^62;
* a vector engine's cycles are at most its passes times the work per output, at most twice
  the layer's MACs and operations (2^46), plus a latency of at most 2^20 cycles.

Cycles that come from bandwidths are floating point (bytes over bytes per cycle, finite for
the bandwidths the hardware model accepts); a run whose counts still exceed 2^63 - 1 is
refused by :func:`perfsim.results.check_result`.
"""

from __future__ import annotations

MAX_DIM = 2**20
"""Any one size of a network: 1,048,576."""
MAX_BATCH = 2**20
"""The largest batch: 1,048,576."""
MAX_LAYER_WORK = 2**44
"""MACs, other operations, and elements of each tensor, of one layer at its batch:
17,592,186,044,416 (about 1.8e13)."""


def power_text(value: int) -> str:
    """``16,777,216 (2^24)`` for a power of two from 1,024, else the number with thousands
    separators."""
    exponent = value.bit_length() - 1
    return f"{value:,} (2^{exponent})" if value >= 1024 and value == 1 << exponent \
        else f"{value:,}"
