"""ConvNeXt-T (Liu et al. 2022, "A ConvNet for the 2020s", arXiv:2201.03545), 224 input, as
torchvision defines it (``torchvision.models.convnext``).

:data:`TINY` is torchvision's ``CNBlockConfig`` table ``(channels, next stage's channels,
blocks)``. The stem is a 4x4/4 conv with bias ("patchify") and a LayerNorm2d; each stage is
its blocks, then (but after the last) a downsampling LayerNorm2d and a 2x2/2 conv with bias. A
block is a depthwise 7x7 conv with bias, then per position: layer norm over the channels (eps
1e-6), a linear layer to 4x the channels, exact GELU, a linear layer back, then layer scale (a
learnt per-channel multiplier, one parameter per channel) and the residual add; torchvision's
stochastic depth is the identity at inference. The head is a global average pool, a
LayerNorm2d, flatten and the 1000-class FC. Every layer norm has eps 1e-6 and a learnt scale
and shift.

torchvision runs the block's layer norm and linear layers channels-last: it permutes ``(N, C,
H, W)`` to ``(N, H, W, C)``, works on the last axis, and permutes back before the layer scale
(its LayerNorm2d does the same around ``F.layer_norm``). Here they are ``layer_norm(axis=0)``
and ``linear(axis=0)`` on the ``(C, H, W)`` map itself, with no permute: the same parameters,
MACs and ops (a linear at every one of the ``H x W`` positions is one GEMM of ``B x H x W``
rows, as a 1x1 conv), and nothing else changes. A reshape to ``(H, W, C)`` and axis 2 would
add nothing but two relabelling layers per block, and would make the layers after it see the
whole map in the receptive-field column (a reshape that changes the map size mixes positions);
the layer scale, a per-channel ``scale`` on axis 0, then reads the block's output directly, as
it does in torchvision after the permute back.
"""

from __future__ import annotations

from perfsim.workload import Network, NetworkBuilder

# torchvision's CNBlockConfig rows for ConvNeXt-T: (channels, next stage's channels, blocks).
TINY = (
    (96, 192, 3),
    (192, 384, 3),
    (384, 768, 9),
    (768, None, 3),
)
LN_EPS = 1e-6
MLP_RATIO = 4


def block(b: NetworkBuilder, x: str, name: str) -> str:
    """One ConvNeXt block on ``x`` (module docstring), ending with the residual add."""
    c = b.channels(x)
    y = b.add("conv", x, out_channels=c, kernel=7, padding=3, groups=c, bias=True,
              name=f"{name}/dw")
    y = b.add("layer_norm", y, axis=0, eps=LN_EPS, name=f"{name}/norm")
    y = b.add("linear", y, out_features=MLP_RATIO * c, axis=0, name=f"{name}/pw1")
    y = b.add("gelu", y, name=f"{name}/pw1/gelu")
    y = b.add("linear", y, out_features=c, axis=0, name=f"{name}/pw2")
    y = b.add("scale", y, name=f"{name}/layer_scale")
    return b.add("add", x, y, name=f"{name}/add")


def convnext_tiny(input_shape=(3, 224, 224)) -> Network:
    """ConvNeXt-T from :data:`TINY`."""
    b = NetworkBuilder("convnext_tiny", input_shape,
                       description="ConvNeXt-T, torchvision layout")
    x = b.add("conv", b.input, out_channels=TINY[0][0], kernel=4, stride=4, bias=True,
              name="stem")
    x = b.add("layer_norm", x, axis=0, eps=LN_EPS, name="stem/norm")
    for stage, (_, c_next, blocks) in enumerate(TINY, start=1):
        for j in range(blocks):
            x = block(b, x, f"stage{stage}.{j}")
        if c_next is not None:
            x = b.add("layer_norm", x, axis=0, eps=LN_EPS, name=f"downsample{stage}/norm")
            x = b.add("conv", x, out_channels=c_next, kernel=2, stride=2, bias=True,
                      name=f"downsample{stage}")
    x = b.add("global_avg_pool", x, name="pool")
    x = b.add("layer_norm", x, axis=0, eps=LN_EPS, name="head/norm")
    x = b.add("flatten", x, name="flatten")
    x = b.add("fc", x, out_features=1000, name="fc")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {"convnext_tiny": convnext_tiny}
