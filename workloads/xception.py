"""Xception (Chollet 2017, "Xception: Deep learning with depthwise separable convolutions",
arXiv:1610.02357), 299 input, in the layout of Keras's Xception and Cadene's
pretrained-models.pytorch port (Cadene's names: ``conv1``, ``block1`` ... ``block12``,
``conv3``, ``conv4``, ``last_linear``).

A separable conv is a depthwise 3x3 (groups = channels, same padding) then a pointwise 1x1,
neither with a bias, followed by batch norm (eps 1e-3, Keras's default). Inside a block each
separable conv is preceded by a ReLU, except the first one of ``block1``, whose input the stem
has already activated. :data:`BLOCKS` is the table of the entry flow (blocks 1-3), the middle
flow (8 blocks) and the exit flow's residual block: each row gives the widths of the block's
separable convs, its stride and its repeats. A stride-2 block ends with a 3x3/2 max pool
(padding 1) and its shortcut is a 1x1 stride-2 conv + BN; a stride-1 block adds its input.
The stem is two plain 3x3 convs (32 stride 2, 64; no padding) with BN and ReLU; the exit flow
ends with separable convs of 1536 and 2048, each with BN and ReLU, global average pooling and
the classifier. Neither Keras nor Cadene has the paper's dropout before the classifier.
"""

from __future__ import annotations

from perfsim.workload import Network, NetworkBuilder

BN_EPS = 1e-3

# (separable conv widths, stride, repeats)
BLOCKS = (
    ((128, 128), 2, 1),  # entry flow
    ((256, 256), 2, 1),
    ((728, 728), 2, 1),
    ((728, 728, 728), 1, 8),  # middle flow
    ((728, 1024), 2, 1),  # exit flow
)
EXIT_WIDTHS = (1536, 2048)


def separable_conv(b: NetworkBuilder, x: str, out_channels: int, name: str,
                   act: str | None = None) -> str:
    """Depthwise 3x3 ``{name}/depthwise`` -> pointwise 1x1 ``{name}/pointwise`` -> BN
    (-> ``act``)."""
    c = b.channels(x)
    x = b.add("conv", x, out_channels=c, kernel=3, padding=1, groups=c, bias=False,
              name=f"{name}/depthwise")
    return b.conv_bn(x, out_channels, 1, act=act, bn_eps=BN_EPS, name=f"{name}/pointwise")


def block(b: NetworkBuilder, x: str, widths, stride: int, start_with_relu: bool,
          name: str) -> str:
    """One residual block: (ReLU -> separable conv) per width, the stride-2 pool, the
    shortcut and the add."""
    y = x
    for i, width in enumerate(widths, start=1):
        if i > 1 or start_with_relu:
            y = b.add("relu", y, name=f"{name}/relu{i}")
        y = separable_conv(b, y, width, f"{name}/sepconv{i}")
    if stride != 1:
        y = b.add("max_pool", y, kernel=3, stride=stride, padding=1, name=f"{name}/pool")
    if stride != 1 or b.channels(x) != widths[-1]:
        x = b.conv_bn(x, widths[-1], 1, stride=stride, act=None, bn_eps=BN_EPS,
                      name=f"{name}/skip")
    return b.add("add", y, x, name=f"{name}/add")


def xception(input_shape=(3, 299, 299)) -> Network:
    """Xception with a 1000-class classifier."""
    b = NetworkBuilder("xception", input_shape, description="Xception (Keras / Cadene layout)")
    x = b.input
    for i, (out_channels, stride) in enumerate(((32, 2), (64, 1)), start=1):
        x = b.conv_bn(x, out_channels, 3, stride=stride, padding=0, bn_eps=BN_EPS,
                      name=f"conv{i}")
    n = 0
    for widths, stride, repeats in BLOCKS:
        for _ in range(repeats):
            n += 1
            x = block(b, x, widths, stride, n > 1, f"block{n}")
    for i, width in enumerate(EXIT_WIDTHS, start=3):
        x = separable_conv(b, x, width, f"conv{i}", act="relu")
    x = b.add("global_avg_pool", x, name="avgpool")
    x = b.add("flatten", x, name="flatten")
    x = b.add("fc", x, out_features=1000, name="last_linear")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {
    "xception": xception,
}
