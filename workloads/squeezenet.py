"""SqueezeNet (Iandola et al. 2016, arXiv:1602.07360), v1.0 and v1.1, torchvision's layout.

Each variant is conv1, then a table of steps: a fire module ``(squeeze, expand)`` (squeeze 1x1
-> ReLU, then expand 1x1 and expand 3x3 each -> ReLU, concatenated, so ``2 * expand``
channels out) or ``"pool"`` (3x3/2 max pool, ceil mode); then dropout, conv10 1x1 -> 1000 with
ReLU, a global average pool and softmax. Every conv has a bias. Layers are numbered as in the
paper and Caffe (``fire2`` .. ``fire9``; a pool is named after the layer it follows).

* ``squeezenet1_0``: the paper's Table 1 (96 filters 7x7/2 in conv1). The table's 111x111
  conv1 output needs a 227 input (``input_shape=(3, 227, 227)``); the default is torchvision's
  224.
* ``squeezenet1_1``: 64 filters 3x3/2 in conv1 and earlier pooling, ~2.4x fewer MACs.
"""

from __future__ import annotations

from functools import partial

from perfsim.workload import Network, NetworkBuilder

# (conv1 out_channels, conv1 kernel, steps after conv1)
V1_0 = (96, 7, ("pool", (16, 64), (16, 64), (32, 128), "pool", (32, 128), (48, 192),
                (48, 192), (64, 256), "pool", (64, 256)))
V1_1 = (64, 3, ("pool", (16, 64), (16, 64), "pool", (32, 128), (32, 128), "pool", (48, 192),
                (48, 192), (64, 256), (64, 256)))


def fire(b: NetworkBuilder, x: str, squeeze: int, expand: int, name: str) -> str:
    """Fire module: squeeze 1x1 -> ReLU, then expand 1x1 and 3x3 (each -> ReLU), concat."""
    s = b.conv_bn(x, squeeze, 1, bn=False, name=f"{name}/squeeze1x1")
    e1 = b.conv_bn(s, expand, 1, bn=False, name=f"{name}/expand1x1")
    e3 = b.conv_bn(s, expand, 3, bn=False, name=f"{name}/expand3x3")
    return b.add("concat", e1, e3, name=f"{name}/concat")


def squeezenet(name: str, spec, description: str, input_shape=(3, 224, 224)) -> Network:
    """SqueezeNet from a ``(conv1 out_channels, conv1 kernel, steps)`` spec."""
    b = NetworkBuilder(name, input_shape, description=description)
    conv1_channels, conv1_kernel, steps = spec
    x = b.conv_bn(b.input, conv1_channels, conv1_kernel, stride=2, padding=0, bn=False,
                  name="conv1")
    index = 1
    for step in steps:
        if step == "pool":
            x = b.add("max_pool", x, kernel=3, stride=2, ceil_mode=True, name=f"pool{index}")
        else:
            index += 1
            x = fire(b, x, *step, name=f"fire{index}")
    x = b.add("dropout", x, p=0.5, name=f"drop{index}")
    x = b.conv_bn(x, 1000, 1, bn=False, name="conv10")
    x = b.add("global_avg_pool", x, name="pool10")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {
    "squeezenet1_0": partial(squeezenet, "squeezenet1_0", V1_0,
                             "SqueezeNet v1.0 (paper Table 1), torchvision layout"),
    "squeezenet1_1": partial(squeezenet, "squeezenet1_1", V1_1,
                             "SqueezeNet v1.1: 3x3/2 conv1 with 64 filters, earlier pooling"),
}
