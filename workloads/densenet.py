"""DenseNet-BC (Huang et al. 2017, arXiv:1608.06993), ImageNet layout as torchvision's.

Each variant is a row ``(growth, init_features, block_layers)``; bottleneck width is
``bn_size * growth`` with ``bn_size = 4`` and every transition halves the channels
(compression 0.5). Dense layers are pre-activation (BN -> ReLU -> conv) and no conv has a
bias. A layer's new feature maps are concatenated onto the block's running tensor, as the
paper describes (torchvision re-concatenates the list of all earlier maps at every layer;
the result is the same tensor). ``densenet264`` (blocks 6/12/64/48, growth 32) has no
torchvision model: it uses the same layout.
"""

from __future__ import annotations

from functools import partial

from perfsim.workload import Network, NetworkBuilder

BN_SIZE = 4
COMPRESSION = 0.5

# (growth, init_features, layers per dense block)
VARIANTS = {
    "densenet121": (32, 64, (6, 12, 24, 16)),
    "densenet161": (48, 96, (6, 12, 36, 24)),
    "densenet169": (32, 64, (6, 12, 32, 32)),
    "densenet201": (32, 64, (6, 12, 48, 32)),
    "densenet264": (32, 64, (6, 12, 64, 48)),
}


def bn_relu_conv(b: NetworkBuilder, x: str, out_channels: int, kernel: int, prefix: str,
                 suffix: str = "") -> str:
    """Pre-activation unit ``{prefix}/norm{suffix}`` -> ``relu{suffix}`` -> ``conv{suffix}``
    (torchvision's names), same padding, no bias."""
    x = b.add("batch_norm", x, name=f"{prefix}/norm{suffix}")
    x = b.add("relu", x, name=f"{prefix}/relu{suffix}")
    return b.add("conv", x, out_channels=out_channels, kernel=kernel, padding=kernel // 2,
                 bias=False, name=f"{prefix}/conv{suffix}")


def dense_block(b: NetworkBuilder, x: str, layers: int, growth: int, index: int) -> str:
    """``layers`` dense layers (1x1 bottleneck then 3x3 to ``growth`` maps), each
    concatenated onto the input."""
    for j in range(1, layers + 1):
        prefix = f"denseblock{index}.denselayer{j}"
        y = bn_relu_conv(b, x, BN_SIZE * growth, 1, prefix, "1")
        y = bn_relu_conv(b, y, growth, 3, prefix, "2")
        x = b.add("concat", x, y, name=f"{prefix}/concat")
    return x


def densenet(name: str, input_shape=(3, 224, 224)) -> Network:
    """DenseNet-BC ``name`` from :data:`VARIANTS`."""
    growth, init_features, blocks = VARIANTS[name]
    b = NetworkBuilder(name, input_shape, description=f"DenseNet-BC {name[8:]}, growth "
                       f"{growth}, torchvision layout")
    x = b.conv_bn(b.input, init_features, 7, stride=2, name="conv0")
    x = b.add("max_pool", x, kernel=3, stride=2, padding=1, name="pool0")
    for i, layers in enumerate(blocks, start=1):
        x = dense_block(b, x, layers, growth, i)
        if i < len(blocks):
            prefix = f"transition{i}"
            x = bn_relu_conv(b, x, int(b.channels(x) * COMPRESSION), 1, prefix)
            x = b.add("avg_pool", x, kernel=2, stride=2, name=f"{prefix}/pool")
    x = b.add("batch_norm", x, name="norm5")
    x = b.add("relu", x, name="relu5")
    x = b.add("global_avg_pool", x, name="pool")
    x = b.add("flatten", x, name="flatten")
    x = b.add("fc", x, out_features=1000, name="classifier")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {name: partial(densenet, name) for name in VARIANTS}
