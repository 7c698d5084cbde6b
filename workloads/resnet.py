"""ResNet (He et al. 2016, arXiv:1512.03385), ResNeXt (Xie et al. 2017, arXiv:1611.05431) and
SE-ResNet / SE-ResNeXt (Hu et al. 2018, arXiv:1709.01507), ImageNet layout, 224 input.

:data:`DEPTHS` gives each depth's block kind and blocks per stage; :data:`VARIANTS` gives each
network's depth, cardinality (``groups``), width per group, stride placement and SE. Every
conv is followed by batch norm and has no bias; a block's shortcut is a 1x1 projection
(conv + BN, option B) when its shape changes, and the block ends with add then ReLU.

* ``resnetNN``: the paper's v1 (the Caffe MSRA models): a bottleneck's stride 2 is on its
  first 1x1 conv. Basic-block nets (18, 34) have one placement only.
* ``resnetNN_v1_5``: torchvision's bottleneck, stride on the 3x3: the same params, more MACs.
* ``resnext*``: grouped 3x3 of ``groups * width`` channels per 64 base planes (torchvision's
  ``width_per_group``), stride on the grouped 3x3.
* ``se_*``: Cadene's ``senet.py`` layout: squeeze-and-excitation (reduction 16) after the last
  BN of the residual branch, its two FC layers as 1x1 convs with bias. ``se_resnet50`` keeps
  the v1 stride placement, ``se_resnext50_32x4d`` strides the grouped 3x3.
"""

from __future__ import annotations

from functools import partial

from perfsim.workload import Network, NetworkBuilder

STAGE_PLANES = (64, 128, 256, 512)
EXPANSION = {"basic": 1, "bottleneck": 4}
SE_REDUCTION = 16

# depth -> (block kind, blocks per stage)
DEPTHS = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}

# name -> (depth, groups, width per group, stride on the first 1x1, SE)
VARIANTS = {
    **{f"resnet{d}": (d, 1, 64, True, False) for d in DEPTHS},
    **{f"resnet{d}_v1_5": (d, 1, 64, False, False) for d in (50, 101, 152)},
    "resnext50_32x4d": (50, 32, 4, False, False),
    "resnext101_32x4d": (101, 32, 4, False, False),
    "resnext101_64x4d": (101, 64, 4, False, False),
    "se_resnet50": (50, 1, 64, True, True),
    "se_resnext50_32x4d": (50, 32, 4, False, True),
}


def block(b: NetworkBuilder, x: str, kind: str, planes: int, stride: int, width: int,
          groups: int, stride_on_1x1: bool, se: bool, name: str) -> str:
    """One residual block (basic or bottleneck) with its shortcut, add and final ReLU."""
    out_channels = planes * EXPANSION[kind]
    if kind == "basic":
        y = b.conv_bn(x, planes, 3, stride=stride, name=f"{name}/conv1")
        y = b.conv_bn(y, planes, 3, act=None, name=f"{name}/conv2")
    else:
        s1, s3 = (stride, 1) if stride_on_1x1 else (1, stride)
        y = b.conv_bn(x, width, 1, stride=s1, name=f"{name}/conv1")
        y = b.conv_bn(y, width, 3, stride=s3, groups=groups, name=f"{name}/conv2")
        y = b.conv_bn(y, out_channels, 1, act=None, name=f"{name}/conv3")
    if se:
        y = b.squeeze_excite(y, b.channels(y) // SE_REDUCTION, name=f"{name}/se")
    if stride != 1 or b.channels(x) != out_channels:
        x = b.conv_bn(x, out_channels, 1, stride=stride, act=None, name=f"{name}/downsample")
    x = b.add("add", x, y, name=f"{name}/add")
    return b.add("relu", x, name=f"{name}/relu")


def resnet(name: str, input_shape=(3, 224, 224)) -> Network:
    """The network ``name`` from :data:`VARIANTS`."""
    depth, groups, width_per_group, stride_on_1x1, se = VARIANTS[name]
    kind, stages = DEPTHS[depth]
    layout = "v1, stride on the first 1x1" if stride_on_1x1 else "stride on the 3x3"
    description = (f"{'SE-' if se else ''}{'ResNeXt' if groups > 1 else 'ResNet'}-{depth}"
                   + (f" {groups}x{width_per_group}d" if groups > 1 else "")
                   + (f", {layout}" if kind == "bottleneck" else ""))
    b = NetworkBuilder(name, input_shape, description=description)
    x = b.conv_bn(b.input, 64, 7, stride=2, name="conv1")
    x = b.add("max_pool", x, kernel=3, stride=2, padding=1, name="maxpool")
    for i, (planes, n) in enumerate(zip(STAGE_PLANES, stages), start=1):
        width = planes * width_per_group // 64 * groups
        for j in range(n):
            x = block(b, x, kind, planes, 2 if i > 1 and j == 0 else 1, width, groups,
                      stride_on_1x1, se, f"layer{i}.{j}")
    x = b.add("global_avg_pool", x, name="avgpool")
    x = b.add("flatten", x, name="flatten")
    x = b.add("fc", x, out_features=1000, name="fc")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {name: partial(resnet, name) for name in VARIANTS}
