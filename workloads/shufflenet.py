"""ShuffleNet V1 (Zhang et al. 2018, arXiv:1707.01083), 1x width, g = 1/2/3/4/8, 224 input.

The paper's Table 1 in megvii's ShuffleNet-Series V1 layout: conv1 24@3x3/2 + BN + ReLU, a
3x3/2 max pool, then three stages of 4/8/4 units whose output widths (:data:`STAGE_WIDTHS`)
depend on the group count ``g``. A unit is a grouped 1x1 conv (bottleneck = output width / 4)
+ BN + ReLU, a channel shuffle, a depthwise 3x3 + BN (no ReLU), a grouped 1x1 + BN, then

* stride 1: add the input, then ReLU;
* stride 2 (each stage's first unit): concat with a 3x3/2 average pool of the input, then ReLU
  (paper Fig. 2c), so the branch produces ``out - in`` channels.

The first 1x1 of stage 2 is ungrouped (its input has only 24 channels); with ``g = 1`` there is
no shuffle. No conv has a bias; the classifier (global average pool, FC) has none either.
megvii applies the ReLU of a stride-2 unit to the branch before the concat; it is the same
function, since the average pool of a ReLU output is already non-negative.
"""

from __future__ import annotations

from functools import partial

from perfsim.workload import Network, NetworkBuilder

STAGE_REPEATS = (4, 8, 4)
STAGE_WIDTHS = {
    1: (144, 288, 576),
    2: (200, 400, 800),
    3: (240, 480, 960),
    4: (272, 544, 1088),
    8: (384, 768, 1536),
}


def unit(b: NetworkBuilder, x: str, out_channels: int, stride: int, groups: int,
         first_groups: int, name: str) -> str:
    """ShuffleNet unit (Fig. 2b/2c); ``first_groups`` groups the first 1x1 conv."""
    in_channels = b.channels(x)
    mid = out_channels // 4
    y = b.conv_bn(x, mid, 1, groups=first_groups, name=f"{name}/gconv1")
    if groups > 1:
        y = b.add("channel_shuffle", y, num_groups=groups, name=f"{name}/shuffle")
    y = b.conv_bn(y, mid, 3, stride=stride, groups=mid, act=None, name=f"{name}/dwconv")
    if stride == 1:
        y = b.conv_bn(y, out_channels, 1, groups=groups, act=None, name=f"{name}/gconv2")
        y = b.add("add", x, y, name=f"{name}/add")
    else:
        y = b.conv_bn(y, out_channels - in_channels, 1, groups=groups, act=None,
                      name=f"{name}/gconv2")
        shortcut = b.add("avg_pool", x, kernel=3, stride=2, padding=1, name=f"{name}/shortcut")
        y = b.add("concat", shortcut, y, name=f"{name}/concat")
    return b.add("relu", y, name=f"{name}/relu")


def shufflenet_v1(groups: int, input_shape=(3, 224, 224)) -> Network:
    """ShuffleNet V1 1x with ``groups`` groups in its pointwise convs."""
    name = f"shufflenet_v1_g{groups}"
    b = NetworkBuilder(name, input_shape, description=f"ShuffleNet V1 1x, g={groups}")
    x = b.conv_bn(b.input, 24, 3, stride=2, name="conv1")
    x = b.add("max_pool", x, kernel=3, stride=2, padding=1, name="pool1")
    for stage, (repeats, width) in enumerate(zip(STAGE_REPEATS, STAGE_WIDTHS[groups]), start=2):
        for i in range(repeats):
            first_groups = 1 if stage == 2 and i == 0 else groups
            x = unit(b, x, width, 2 if i == 0 else 1, groups, first_groups,
                     name=f"stage{stage}.{i}")
    x = b.add("global_avg_pool", x, name="pool")
    x = b.add("fc", x, out_features=1000, bias=False, name="fc")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {f"shufflenet_v1_g{g}": partial(shufflenet_v1, g) for g in STAGE_WIDTHS}
