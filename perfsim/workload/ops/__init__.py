"""The closed set of operations a perfsim layer can perform.

Every op is a frozen dataclass holding only its attributes; input shapes come from the graph.
Shapes are per sample, ``(C, H, W)``: channels, rows, columns. A fully connected layer's
output is ``(K, 1, 1)``; a sequence for a recurrent cell is ``(features, 1, T)`` with time along
the columns; a transformer's token tensor is ``(T, 1, D)``, ``T`` tokens of ``D`` features, and
its attention heads ``(heads, T, D / heads)`` (:mod:`.sequence`). Batch is not part of a
shape: every per-sample count below scales linearly with it.

Each op answers, from its input shapes:

* ``out_shapes``: the output shapes (one, or several for ``split``); raises :class:`ShapeError`
  when the inputs do not fit the op;
* ``params``: trainable parameters as PyTorch counts them (weights, biases, BN scale and shift);
* ``weight_elems``: every constant element the layer reads (differs from ``params`` for
  fixed, non-trainable weights, weights tied to another layer's, and tables of which a layer
  reads some rows: embeddings);
* ``macs``: multiply-accumulates of matrix products, per sample: weight layers (conv, fc,
  linear, recurrent cells) and products of two activations (attention's ``matmul``);
* ``ops``: other arithmetic per sample (bias adds, activations, pooling, normalisation,
  element-wise math), one op per add, multiply, compare, divide or transcendental function;
* ``kernel``/``stride``: the spatial window and step, ``(1, 1)`` for point-wise ops;
* ``window``/``step``: the window and step of one output position over the input map, for the
  receptive field. They differ from ``kernel``/``stride`` for dilated convolutions (the
  dilated extent), global pooling, flatten and fully connected layers (the whole map), and
  up-sampling (a fractional step).

The op set (DESIGN section 2) is closed: :data:`OPS` maps every op name to its class. One module
per family (:mod:`.conv`, :mod:`.pooling`, :mod:`.elementwise`, :mod:`.recurrent`,
:mod:`.sequence`, :mod:`.rearrangement`, :mod:`.graph`) declares its ops; each class registers
itself (:mod:`.base`), and this package imports every family so the registry is complete.
"""

from perfsim.workload.ops.base import (CATEGORIES, FIELD_ALIASES, OPS, OTHER_KIND, Op, Pads,
                                       Pair, Shape, ShapeError, as_pads, as_pair,
                                       attribute_names, elems, fmt_shape, make_op,
                                       pin_problem, pinned_engine, reader_kind_order,
                                       user_attributes)
from perfsim.workload.ops.conv import LRN, Conv, FullyConnected
from perfsim.workload.ops.elementwise import (Add, BatchNorm, Binary, Dropout, Elementwise,
                                              Gelu, GroupNorm, HardSigmoid, HardSwish,
                                              LeakyRelu, Max, Mul, Offset, PRelu, Relu, Relu6,
                                              Scale, Sigmoid, Silu, Softmax, Tanh)
from perfsim.workload.ops.graph import Input, Placeholder
from perfsim.workload.ops.pooling import (AvgPool, GlobalAvgPool, GlobalMaxPool, GlobalPool,
                                          MaxPool, Pool, Reduce, SpatialPyramidPool, Upsample)
from perfsim.workload.ops.rearrangement import (ChannelShuffle, Concat, DepthToSpace, Flatten,
                                                Reshape, Shift, Slice, SpaceToDepth, Split)
from perfsim.workload.ops.recurrent import (GRU, LSTM, RNN, Recurrent, RecurrentInput,
                                            RecurrentSteps)
from perfsim.workload.ops.sequence import (Embedding, KvAppend, LayerNorm, Linear, MatMul,
                                           Parameter, PositionalEmbedding, RmsNorm)

__all__ = ["CATEGORIES", "FIELD_ALIASES", "GRU", "LRN", "LSTM", "OPS", "OTHER_KIND", "RNN",
           "Add", "AvgPool", "BatchNorm", "Binary", "ChannelShuffle", "Concat", "Conv",
           "DepthToSpace", "Dropout", "Elementwise", "Embedding", "Flatten", "FullyConnected",
           "Gelu", "GlobalAvgPool", "GlobalMaxPool", "GlobalPool", "GroupNorm", "HardSigmoid",
           "HardSwish", "Input",
           "KvAppend", "LayerNorm", "LeakyRelu", "Linear", "MatMul", "Max", "MaxPool", "Mul",
           "Offset", "Op", "PRelu", "Pads", "Pair", "Parameter", "Placeholder", "Pool",
           "PositionalEmbedding", "Recurrent", "RecurrentInput", "RecurrentSteps", "Reduce",
           "Relu", "Relu6", "Reshape", "RmsNorm", "Scale", "Shape", "ShapeError", "Shift",
           "Sigmoid", "Silu", "Slice", "Softmax", "SpaceToDepth", "SpatialPyramidPool", "Split",
           "Tanh", "Upsample", "as_pads", "as_pair", "attribute_names", "elems", "fmt_shape",
           "make_op", "pin_problem", "pinned_engine", "reader_kind_order", "user_attributes"]
