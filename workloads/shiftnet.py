"""ShiftNet-A (Wu et al. 2018, "Shift: A Zero FLOP, Zero Parameter Alternative to Spatial
Convolutions", arXiv:1711.08141), ImageNet, 224 input.

A reconstruction, not the paper's appendix table: the layout of a third-party PyTorch
``ShiftNetA`` (pre-activation ``CSCBlock``, "org" unit), which gives 4,188,680 params and
1,424,306,176 MACs against the paper's 4.1M / 1.4G. conv1 is a 7x7/2 conv to 32 channels with
no BN or ReLU of its own (the first block's pre-activation follows it), then four stages
(:data:`STAGES`) of conv-shift-conv blocks:

    BN -> ReLU -> 1x1 expand -> shift -> BN -> ReLU -> 1x1 (stride) -> add / concat

A stage's first block has stride 2 on its second 1x1 and concatenates a 3x3/2 average pool of
its input (so its branch produces ``width - in`` channels, expanded by the first expansion);
the other blocks add the identity. Then a final BN and ReLU, global average pool and an FC
with bias; no conv has a bias. Shift has no parameters and no MACs.
"""

from __future__ import annotations

from perfsim.workload import Network, NetworkBuilder

# (blocks, width, expansion of the first block, expansion of the others, shift kernel)
STAGES = (
    (5, 64, 4, 4, 5),
    (6, 128, 4, 3, 5),
    (7, 256, 3, 2, 3),
    (3, 512, 2, 1, 3),
)


def csc_block(b: NetworkBuilder, x: str, width: int, expansion: int, kernel: int, first: bool,
              name: str) -> str:
    """Pre-activation conv-shift-conv block; ``first`` strides and concats the shortcut."""
    in_channels = b.channels(x)
    out_channels = width - in_channels if first else width
    y = b.add("batch_norm", x, name=f"{name}/bn1")
    y = b.add("relu", y, name=f"{name}/relu1")
    y = b.add("conv", y, out_channels=out_channels * expansion, kernel=1, bias=False,
              name=f"{name}/conv1")
    y = b.add("shift", y, kernel=kernel, name=f"{name}/shift")
    y = b.add("batch_norm", y, name=f"{name}/bn2")
    y = b.add("relu", y, name=f"{name}/relu2")
    y = b.add("conv", y, out_channels=out_channels, kernel=1, stride=2 if first else 1,
              bias=False, name=f"{name}/conv2")
    if not first:
        return b.add("add", y, x, name=f"{name}/add")
    shortcut = b.add("avg_pool", x, kernel=3, stride=2, padding=1, name=f"{name}/shortcut")
    return b.add("concat", y, shortcut, name=f"{name}/concat")


def shiftnet_a(input_shape=(3, 224, 224)) -> Network:
    """ShiftNet-A as reconstructed (see the module docstring)."""
    b = NetworkBuilder("shiftnet_a", input_shape,
                       description="ShiftNet-A (reconstruction: pre-activation CSC blocks)")
    x = b.add("conv", b.input, out_channels=32, kernel=7, stride=2, padding=3, bias=False,
              name="conv1")
    for stage, (blocks, width, first_expansion, expansion, kernel) in enumerate(STAGES, 1):
        for i in range(blocks):
            x = csc_block(b, x, width, first_expansion if i == 0 else expansion, kernel,
                          i == 0, name=f"layer{stage}.{i}")
    x = b.add("batch_norm", x, name="bn")
    x = b.add("relu", x, name="relu")
    x = b.add("global_avg_pool", x, name="pool")
    x = b.add("fc", x, out_features=1000, name="fc")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {
    "shiftnet_a": shiftnet_a,
}
