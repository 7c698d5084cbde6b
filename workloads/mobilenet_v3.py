"""MobileNet V3 Large and Small (Howard et al. 2019, arXiv:1905.02244), width 1.0, 224 input,
as torchvision defines them (``torchvision.models.mobilenetv3``).

A block is a row of :data:`LARGE` or :data:`SMALL`, torchvision's ``bneck_conf``
``(in, kernel, expanded, out, SE, activation, stride)``: a 1x1 expansion to ``expanded``
channels (left out when ``expanded == in``), a depthwise ``kernel x kernel`` conv with the
stride, an optional squeeze-and-excitation gate, and a 1x1 linear projection; each conv has
batch norm (eps 0.001) and no bias, the expansion and the depthwise conv are followed by ReLU
(``RE``) or hard swish (``HS``). The SE gate squeezes to ``make_divisible(expanded // 4, 8)``
channels through 1x1 convs with bias, ReLU inside and a hard sigmoid as the gate. A block with
stride 1 and ``in == out`` adds its input. The stem is a 3x3/2 conv to 16 channels with hard
swish; the tail a 1x1 conv to ``6 * out`` channels with hard swish, a global average pool, and
the classifier: an FC to :data:`LAST_CHANNEL` with bias, hard swish, dropout 0.2, and the
1000-class FC.

Where torchvision departs from the paper's Tables 1 and 2: the classifier's two layers are
``nn.Linear`` on the pooled features where the paper draws 1x1 convs without batch norm
("NBN") on the 1x1 map: the same weights, biases and MACs. Its counts are those of TF's
reference code (``tensorflow/models`` ``research/slim/nets/mobilenet``), which the paper's
authors released: tests/refs/networks.md compares them with the paper's.
"""

from __future__ import annotations

from functools import partial

from perfsim.workload import Network, NetworkBuilder

# torchvision's bneck_conf rows: (in, kernel, expanded, out, SE, activation, stride).
LARGE = (
    (16, 3, 16, 16, False, "RE", 1),
    (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1),
    (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2),
    (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1),
    (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2),
    (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
)
SMALL = (
    (16, 3, 16, 16, True, "RE", 2),
    (16, 3, 72, 24, False, "RE", 2),
    (24, 3, 88, 24, False, "RE", 1),
    (24, 5, 96, 40, True, "HS", 2),
    (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 240, 40, True, "HS", 1),
    (40, 5, 120, 48, True, "HS", 1),
    (48, 5, 144, 48, True, "HS", 1),
    (48, 5, 288, 96, True, "HS", 2),
    (96, 5, 576, 96, True, "HS", 1),
    (96, 5, 576, 96, True, "HS", 1),
)
LAST_CHANNEL = {"mobilenet_v3_large": 1280, "mobilenet_v3_small": 1024}
ACTIVATIONS = {"RE": "relu", "HS": "hard_swish"}
BN_EPS = 0.001
DROPOUT = 0.2


def make_divisible(value: float, divisor: int = 8) -> int:
    """torchvision's ``_make_divisible``: ``value`` rounded to the nearest multiple of
    ``divisor`` (at least ``divisor``), one multiple more if rounding lost over 10%."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def mobilenet_v3(name: str, input_shape=(3, 224, 224)) -> Network:
    """``mobilenet_v3_large`` or ``mobilenet_v3_small`` from :data:`LARGE` / :data:`SMALL`."""
    rows = LARGE if name == "mobilenet_v3_large" else SMALL
    size = name.rsplit("_", 1)[1].capitalize()
    b = NetworkBuilder(name, input_shape,
                       description=f"MobileNet V3 {size} 1.0, torchvision layout")
    conv_bn = partial(b.conv_bn, bn_eps=BN_EPS)
    x = conv_bn(b.input, rows[0][0], 3, stride=2, act="hard_swish", name="conv1")
    for i, (c_in, kernel, expanded, c_out, se, act, stride) in enumerate(rows, start=1):
        block = f"block{i}"
        act = ACTIVATIONS[act]
        y = x
        if expanded != c_in:
            y = conv_bn(y, expanded, 1, act=act, name=f"{block}/expand")
        y = conv_bn(y, expanded, kernel, stride=stride, groups=expanded, act=act,
                    name=f"{block}/dw")
        if se:
            y = b.squeeze_excite(y, make_divisible(expanded // 4), gate="hard_sigmoid",
                                 name=f"{block}/se")
        y = conv_bn(y, c_out, 1, act=None, name=f"{block}/project")
        if stride == 1 and c_in == c_out:
            y = b.add("add", x, y, name=f"{block}/add")
        x = y
    x = conv_bn(x, 6 * rows[-1][3], 1, act="hard_swish", name="conv_last")
    x = b.add("global_avg_pool", x, name="pool")
    x = b.add("flatten", x, name="flatten")
    x = b.add("fc", x, out_features=LAST_CHANNEL[name], name="fc1")
    x = b.add("hard_swish", x, name="fc1/hard_swish")
    x = b.add("dropout", x, p=DROPOUT, name="dropout")
    x = b.add("fc", x, out_features=1000, name="fc2")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {name: partial(mobilenet_v3, name) for name in LAST_CHANNEL}
