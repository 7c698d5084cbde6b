"""GoogLeNet (Szegedy et al. 2014, "Going deeper with convolutions", arXiv:1409.4842).

The inception modules are the paper's Table 1, one row per module: the widths of the 1x1
branch, the 3x3 branch's reduce and conv, the 5x5 branch's reduce and conv, and the 1x1
projection after the 3x3/1 max pool; the four branches are concatenated.

* ``googlenet``: the paper's network as Caffe's bvlc_googlenet: conv biases, no batch norm,
  LRN after pool1 and conv2, a real 5x5 branch, ceil-mode 3x3/2 max pools, a 7x7/1 average
  pool, dropout 0.4. Its layer names are bvlc_googlenet's (``conv1/7x7_s2``,
  ``inception_3a/3x3_reduce``, ``inception_3a/output``, ``loss3/classifier``), so the paper
  table's rows are the layers sharing a prefix.
* ``googlenet_torchvision``: torchvision's model, not the paper's: batch norm (eps 1e-3) after
  every conv and no conv bias, no LRN, a 3x3 kernel in the "5x5" branch (a known torchvision
  quirk), a 2x2/2 pool4, global average pooling and dropout 0.2. It keeps the bvlc layer names
  so the two compare layer by layer.

Both exclude the auxiliary classifiers (training only).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

from perfsim.workload import Network, NetworkBuilder

BN_EPS = 1e-3  # torchvision's BasicConv2d

# Paper Table 1: (module, 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool proj)
INCEPTION = (
    ("3a", 64, 96, 128, 16, 32, 32),
    ("3b", 128, 128, 192, 32, 96, 64),
    ("4a", 192, 96, 208, 16, 48, 64),
    ("4b", 160, 112, 224, 24, 64, 64),
    ("4c", 128, 128, 256, 24, 64, 64),
    ("4d", 112, 144, 288, 32, 64, 64),
    ("4e", 256, 160, 320, 32, 128, 128),
    ("5a", 256, 160, 320, 32, 128, 128),
    ("5b", 384, 192, 384, 48, 128, 128),
)
# The stride-2 max pools between inception groups: module -> pool stage.
POOL_AFTER = {"3b": 3, "4e": 4}


class Variant(NamedTuple):
    """What differs between the Caffe and torchvision layouts."""

    description: str
    bn: bool  # batch norm after every conv, no conv bias (torchvision's BasicConv2d)
    lrn: bool  # LRN after pool1 and after conv2/3x3
    kernel5: int  # kernel of the "5x5" branch
    pool4: int  # kernel of the stride-2 pool after inception 4e
    global_pool: bool  # adaptive (global) average pool instead of a 7x7/1 average pool
    dropout: float


BVLC = Variant("Szegedy 2014 GoogLeNet as Caffe bvlc_googlenet", bn=False, lrn=True,
               kernel5=5, pool4=3, global_pool=False, dropout=0.4)
TORCHVISION = Variant("torchvision GoogLeNet: BN, 3x3 in the 5x5 branch", bn=True,
                      lrn=False, kernel5=3, pool4=2, global_pool=True, dropout=0.2)


def max_pool(b: NetworkBuilder, x: str, stage: int, kernel: int = 3) -> str:
    """Ceil-mode stride-2 max pool ``pool<stage>/<k>x<k>_s2``."""
    return b.add("max_pool", x, kernel=kernel, stride=2, ceil_mode=True,
                 name=f"pool{stage}/{kernel}x{kernel}_s2")


def inception(b: NetworkBuilder, x: str, row, variant: Variant) -> str:
    """One inception module from a row of :data:`INCEPTION`."""
    module, c1, c3r, c3, c5r, c5, pool_proj = row
    p = f"inception_{module}"
    conv = partial(b.conv_bn, bn=variant.bn, bn_eps=BN_EPS)
    branch1 = conv(x, c1, 1, name=f"{p}/1x1")
    branch3 = conv(x, c3r, 1, name=f"{p}/3x3_reduce")
    branch3 = conv(branch3, c3, 3, name=f"{p}/3x3")
    branch5 = conv(x, c5r, 1, name=f"{p}/5x5_reduce")
    branch5 = conv(branch5, c5, variant.kernel5, name=f"{p}/5x5")
    pool = b.add("max_pool", x, kernel=3, stride=1, padding=1, ceil_mode=True, name=f"{p}/pool")
    pool = conv(pool, pool_proj, 1, name=f"{p}/pool_proj")
    return b.add("concat", branch1, branch3, branch5, pool, name=f"{p}/output")


def googlenet(name: str, variant: Variant, input_shape=(3, 224, 224)) -> Network:
    """GoogLeNet in ``variant``'s layout, without the auxiliary classifiers."""
    b = NetworkBuilder(name, input_shape, description=variant.description)
    conv = partial(b.conv_bn, bn=variant.bn, bn_eps=BN_EPS)
    x = conv(b.input, 64, 7, stride=2, name="conv1/7x7_s2")
    x = max_pool(b, x, 1)
    if variant.lrn:
        x = b.add("lrn", x, size=5, alpha=1e-4, beta=0.75, name="pool1/norm1")
    x = conv(x, 64, 1, name="conv2/3x3_reduce")
    x = conv(x, 192, 3, name="conv2/3x3")
    if variant.lrn:
        x = b.add("lrn", x, size=5, alpha=1e-4, beta=0.75, name="conv2/norm2")
    x = max_pool(b, x, 2)
    for row in INCEPTION:
        x = inception(b, x, row, variant)
        stage = POOL_AFTER.get(row[0])
        if stage is not None:
            x = max_pool(b, x, stage, variant.pool4 if stage == 4 else 3)
    if variant.global_pool:
        x = b.add("global_avg_pool", x, name="pool5")
    else:
        x = b.add("avg_pool", x, kernel=7, stride=1, name="pool5/7x7_s1")
    x = b.add("dropout", x, p=variant.dropout, name="pool5/drop")
    x = b.add("flatten", x, name="flatten")
    x = b.add("fc", x, out_features=1000, name="loss3/classifier")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {
    "googlenet": partial(googlenet, "googlenet", BVLC),
    "googlenet_torchvision": partial(googlenet, "googlenet_torchvision", TORCHVISION),
}
