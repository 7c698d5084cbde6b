"""MobileNet V1 (Howard et al. 2017) and V2 (Sandler et al. 2018), width 1.0, 224 input.

V1 is the paper's Table 1 (1.0 MobileNet-224): a full 3x3/2 conv, then depthwise-separable
blocks ``(out_channels, stride)`` (depthwise 3x3 with the stride, pointwise 1x1), every conv
followed by BN and ReLU, no conv bias; global average pool and an FC with bias.

V2 follows torchvision's inverted-residual table ``[t, c, n, s]``: expansion ``t``, output
channels ``c``, ``n`` repeats, stride ``s`` on the first repeat.
"""

from __future__ import annotations

from perfsim.workload import Network, NetworkBuilder

# MobileNet V1 depthwise-separable blocks (Table 1), (out_channels, stride).
V1_BLOCKS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1), (512, 1), (512, 1), (512, 1), (512, 1),
    (1024, 2),
    (1024, 1),
)

# MobileNet V2 inverted residual settings (torchvision), [t, c, n, s].
V2_BLOCKS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)


def mobilenet_v1(input_shape=(3, 224, 224)) -> Network:
    """1.0 MobileNet-224 from :data:`V1_BLOCKS`."""
    b = NetworkBuilder("mobilenet_v1", input_shape, description="MobileNet V1 1.0-224")
    x = b.conv_bn(b.input, 32, 3, stride=2, name="conv1")
    for i, (c, s) in enumerate(V1_BLOCKS, start=1):
        x = b.conv_bn(x, b.channels(x), 3, stride=s, groups=b.channels(x), name=f"block{i}/dw")
        x = b.conv_bn(x, c, 1, name=f"block{i}/pw")
    x = b.add("global_avg_pool", x, name="pool")
    x = b.add("fc", x, out_features=1000, name="fc")
    b.add("softmax", x, name="prob")
    return b.build()


def mobilenet_v2(input_shape=(3, 224, 224)) -> Network:
    b = NetworkBuilder("mobilenet_v2", input_shape, description="MobileNet V2 1.0")
    x = b.conv_bn(b.input, 32, 3, stride=2, act="relu6", name="conv1")
    block = 0
    for t, c, n, s in V2_BLOCKS:
        for i in range(n):
            block += 1
            name = f"block{block}"
            y = x
            hidden = b.channels(x) * t
            if t != 1:
                y = b.conv_bn(y, hidden, 1, act="relu6", name=f"{name}/expand")
            y = b.conv_bn(y, hidden, 3, stride=s if i == 0 else 1, groups=hidden,
                          act="relu6", name=f"{name}/dw")
            y = b.conv_bn(y, c, 1, act=None, name=f"{name}/project")
            if i > 0 and b.channels(x) == c:
                y = b.add("add", x, y, name=f"{name}/add")
            x = y
    x = b.conv_bn(x, 1280, 1, act="relu6", name="conv_last")
    x = b.add("global_avg_pool", x, name="pool")
    x = b.add("dropout", x, p=0.2, name="dropout")
    x = b.add("fc", x, out_features=1000, name="fc")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {
    "mobilenet_v1": mobilenet_v1,
    "mobilenet_v2": mobilenet_v2,
}
