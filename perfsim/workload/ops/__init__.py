"""The closed set of operations a perfsim layer can perform.

Every op is a frozen dataclass holding only its attributes; input shapes come from the graph.
Shapes are per sample, ``(C, H, W)``: channels, rows, columns. A fully connected layer's
output is ``(K, 1, 1)``; a sequence for a recurrent cell is ``(features, 1, T)`` with time along
the columns. Batch is not part of a shape: every per-sample count below scales linearly with it.

Each op answers, from its input shapes:

* ``out_shapes``: the output shapes (one, or several for ``split``); raises :class:`ShapeError`
  when the inputs do not fit the op;
* ``params``: trainable parameters as PyTorch counts them (weights, biases, BN scale and shift);
* ``weight_elems``: every constant element the layer reads (differs from ``params`` only for
  fixed, non-trainable weights);
* ``macs``: multiply-accumulates of weight layers (conv, fc, recurrent cells), per sample;
* ``ops``: other arithmetic per sample (bias adds, activations, pooling, normalisation,
  element-wise math), one op per add, multiply, compare, divide or transcendental function;
* ``kernel``/``stride``: the spatial window and step, ``(1, 1)`` for point-wise ops;
* ``window``/``step``: the window and step of one output position over the input map, for the
  receptive field. They differ from ``kernel``/``stride`` for dilated convolutions (the
  dilated extent), global pooling, flatten and fully connected layers (the whole map), and
  up-sampling (a fractional step).

The op set (DESIGN section 2) is closed: :data:`OPS` maps every op name to its class. One module
per family (:mod:`.conv`, :mod:`.pooling`, :mod:`.elementwise`, :mod:`.recurrent`,
:mod:`.rearrangement`, :mod:`.graph`) declares its ops; each class registers itself
(:mod:`.base`), and this package imports every family so the registry is complete.
"""

from perfsim.workload.ops.base import (CATEGORIES, FIELD_ALIASES, OPS, OTHER_KIND, Op, Pads,
                                       Pair, Shape, ShapeError, as_pads, as_pair,
                                       attribute_names, elems, fmt_shape, make_op,
                                       pin_problem, pinned_engine, reader_kind_order,
                                       user_attributes)
from perfsim.workload.ops.conv import LRN, Conv, FullyConnected
from perfsim.workload.ops.elementwise import (Add, BatchNorm, Binary, Dropout, Elementwise,
                                              GroupNorm, LeakyRelu, Max, Mul, Offset, PRelu,
                                              Relu, Relu6, Scale, Sigmoid, Softmax, Tanh)
from perfsim.workload.ops.graph import Input, Placeholder
from perfsim.workload.ops.pooling import (AvgPool, GlobalAvgPool, GlobalMaxPool, GlobalPool,
                                          MaxPool, Pool, SpatialPyramidPool, Upsample)
from perfsim.workload.ops.rearrangement import (ChannelShuffle, Concat, DepthToSpace, Flatten,
                                                Reshape, Shift, SpaceToDepth, Split)
from perfsim.workload.ops.recurrent import (GRU, LSTM, RNN, Recurrent, RecurrentInput,
                                            RecurrentSteps)

__all__ = ["CATEGORIES", "FIELD_ALIASES", "GRU", "LRN", "LSTM", "OPS", "OTHER_KIND", "RNN",
           "Add", "AvgPool", "BatchNorm", "Binary", "ChannelShuffle", "Concat", "Conv",
           "DepthToSpace", "Dropout", "Elementwise", "Flatten", "FullyConnected",
           "GlobalAvgPool", "GlobalMaxPool", "GlobalPool", "GroupNorm", "Input", "LeakyRelu",
           "Max", "MaxPool", "Mul", "Offset", "Op", "PRelu", "Pads", "Pair", "Placeholder",
           "Pool", "Recurrent", "RecurrentInput", "RecurrentSteps", "Relu", "Relu6", "Reshape", "Scale", "Shape", "ShapeError",
           "Shift", "Sigmoid", "Softmax", "SpaceToDepth", "SpatialPyramidPool", "Split", "Tanh",
           "Upsample", "as_pads", "as_pair", "attribute_names", "elems", "fmt_shape", "make_op",
           "pin_problem", "pinned_engine", "reader_kind_order", "user_attributes"]
