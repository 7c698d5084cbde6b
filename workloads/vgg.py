"""VGG (Simonyan & Zisserman 2014, arXiv:1409.1556), configurations A, B, D and E.

The plain networks without batch norm, as torchvision's ``vgg11/13/16/19`` (and Caffe's
VGG_ILSVRC_16/19): 3x3 same-padded convs with biases in five stages of widths
64-128-256-512-512, each stage closed by a 2x2/2 max pool, then three fully connected layers
4096-4096-1000 with ReLU and dropout after the first two. Each configuration is a row of conv
counts per stage. Names follow Caffe (``conv3_2``, ``pool3``, ``fc6``). torchvision's adaptive
average pool to 7x7 is the identity at 224 and is left out.
"""

from __future__ import annotations

from functools import partial

from perfsim.workload import Network, NetworkBuilder

STAGE_WIDTHS = (64, 128, 256, 512, 512)

# Convs per stage for each configuration of the paper's Table 1.
CONFIGS = {
    "vgg11": ("A", (1, 1, 2, 2, 2)),
    "vgg13": ("B", (2, 2, 2, 2, 2)),
    "vgg16": ("D", (2, 2, 3, 3, 3)),
    "vgg19": ("E", (2, 2, 4, 4, 4)),
}


def vgg(name: str, input_shape=(3, 224, 224)) -> Network:
    """VGG configuration ``name`` from :data:`CONFIGS`."""
    config, depths = CONFIGS[name]
    b = NetworkBuilder(name, input_shape, description=f"VGG config {config}, no BN")
    x = b.input
    for stage, (width, depth) in enumerate(zip(STAGE_WIDTHS, depths), start=1):
        for i in range(1, depth + 1):
            x = b.conv_bn(x, width, 3, bn=False, name=f"conv{stage}_{i}")
        x = b.add("max_pool", x, kernel=2, stride=2, name=f"pool{stage}")
    x = b.add("flatten", x, name="flatten")
    for i in (6, 7):
        x = b.add("fc", x, out_features=4096, name=f"fc{i}")
        x = b.add("relu", x, name=f"relu{i}")
        x = b.add("dropout", x, p=0.5, name=f"drop{i}")
    x = b.add("fc", x, out_features=1000, name="fc8")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {name: partial(vgg, name) for name in CONFIGS}
