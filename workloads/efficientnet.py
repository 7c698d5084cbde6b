"""EfficientNet-B0 (Tan and Le 2019, arXiv:1905.11946, Table 1), 224 input, as torchvision
defines it (``torchvision.models.efficientnet``).

:data:`B0` is torchvision's table of MBConv stages ``(expand_ratio, kernel, stride, in, out,
layers)``, the paper's Table 1 with the stem and head taken out. An MBConv block is a 1x1
expansion to ``in * expand_ratio`` channels (left out at ratio 1), a depthwise ``kernel x
kernel`` conv with the stride (on the stage's first block only), a squeeze-and-excitation gate
that squeezes to ``max(1, in // 4)`` channels (a quarter of the block's *input* channels, not
of the expanded ones) through 1x1 convs with bias, SiLU inside and a sigmoid as the gate, and a
1x1 linear projection. Every conv has batch norm (eps 1e-5, torchvision's default for B0) and
no bias; the expansion and the depthwise conv are followed by SiLU (swish). A block with stride
1 and ``in == out`` adds its input: torchvision's stochastic depth drops that residual branch
only in training and is the identity at inference, so it is no layer here. The stem is a
3x3/2 conv to 32 channels with SiLU; the head a 1x1 conv to 1280 channels with SiLU, a global
average pool, dropout 0.2 and the 1000-class FC with bias.
"""

from __future__ import annotations

from perfsim.workload import Network, NetworkBuilder

# torchvision's MBConvConfig rows for B0: (expand_ratio, kernel, stride, in, out, layers).
B0 = (
    (1, 3, 1, 32, 16, 1),
    (6, 3, 2, 16, 24, 2),
    (6, 5, 2, 24, 40, 2),
    (6, 3, 2, 40, 80, 3),
    (6, 5, 1, 80, 112, 3),
    (6, 5, 2, 112, 192, 4),
    (6, 3, 1, 192, 320, 1),
)
HEAD_CHANNELS = 1280  # torchvision: 4 x the last stage's 320
DROPOUT = 0.2


def efficientnet_b0(input_shape=(3, 224, 224)) -> Network:
    """EfficientNet-B0 from :data:`B0`."""
    b = NetworkBuilder("efficientnet_b0", input_shape,
                       description="EfficientNet-B0, torchvision layout")
    x = b.conv_bn(b.input, B0[0][3], 3, stride=2, act="silu", name="conv1")
    block = 0
    for ratio, kernel, stride, c_in, c_out, layers in B0:
        for i in range(layers):
            block += 1
            name = f"block{block}"
            c_in, stride = (c_in, stride) if i == 0 else (c_out, 1)
            expanded = c_in * ratio
            y = x
            if expanded != c_in:
                y = b.conv_bn(y, expanded, 1, act="silu", name=f"{name}/expand")
            y = b.conv_bn(y, expanded, kernel, stride=stride, groups=expanded, act="silu",
                          name=f"{name}/dw")
            y = b.squeeze_excite(y, max(1, c_in // 4), act="silu", name=f"{name}/se")
            y = b.conv_bn(y, c_out, 1, act=None, name=f"{name}/project")
            if stride == 1 and c_in == c_out:
                y = b.add("add", x, y, name=f"{name}/add")
            x = y
    x = b.conv_bn(x, HEAD_CHANNELS, 1, act="silu", name="conv_last")
    x = b.add("global_avg_pool", x, name="pool")
    x = b.add("flatten", x, name="flatten")
    x = b.add("dropout", x, p=DROPOUT, name="dropout")
    x = b.add("fc", x, out_features=1000, name="fc")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {"efficientnet_b0": efficientnet_b0}
