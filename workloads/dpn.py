"""Dual Path Networks (Chen et al. 2017, arXiv:1707.01629): DPN-92 and DPN-98.

Layout and names follow the Cadene/timm ``dpn.py`` port of the original MXNet models. A
variant is a row ``(init_features, k_r, groups, k_sec, inc_sec)``; stage ``i`` (conv2..conv5)
has ``k_sec[i]`` dual path blocks of output width ``bw = 256 * 2**i``, bottleneck width
``r = k_r * bw // 256`` and dense increment ``inc_sec[i]``.

Every unit in a block is pre-activation (BN -> ReLU -> conv, BN eps 1e-3, no conv bias). A
block's input is its two paths concatenated; its last 1x1 conv is split into a residual part
(added to the residual path) and a dense part (concatenated onto the dense path). The first
block of each stage projects the input with a 1x1 conv (stride 2 from conv3 on) into a new
residual path and a dense path of ``2 * inc``. The head is a BN -> ReLU on the joined paths
(timm uses ELU there; Cadene and the MXNet original use ReLU), global average pooling and a
1x1 conv classifier with bias.
"""

from __future__ import annotations

from functools import partial

from perfsim.workload import Network, NetworkBuilder

BN_EPS = 1e-3

# (init_features, k_r, groups, blocks per stage, dense increment per stage)
VARIANTS = {
    "dpn92": (64, 96, 32, (3, 4, 20, 3), (16, 32, 24, 128)),
    "dpn98": (96, 160, 40, (3, 6, 20, 3), (16, 32, 32, 128)),
}


def bn_relu_conv(b: NetworkBuilder, x: str, out_channels: int, kernel: int, name: str,
                 stride: int = 1, groups: int = 1) -> str:
    """Pre-activation unit ``name/bn`` -> ``name/relu`` -> conv ``name`` (same padding)."""
    x = b.add("batch_norm", x, eps=BN_EPS, name=f"{name}/bn")
    x = b.add("relu", x, name=f"{name}/relu")
    return b.add("conv", x, out_channels=out_channels, kernel=kernel, stride=stride,
                 padding=kernel // 2, groups=groups, bias=False, name=name)


def dual_path_block(b: NetworkBuilder, paths: tuple[str, ...], r: int, bw: int, inc: int,
                    groups: int, name: str, stride: int | None) -> tuple[str, str]:
    """One block on ``paths`` (the stem output, or the residual and dense paths); returns the
    new ``(residual, dense)`` pair. ``stride`` is None for a block without projection."""
    x = paths[0] if len(paths) == 1 else b.add("concat", *paths, name=f"{name}/concat_in")
    if stride is None:
        resid, dense = paths
    else:
        proj = bn_relu_conv(b, x, bw + 2 * inc, 1, f"{name}/c1x1_w_s{stride}", stride=stride)
        proj = b.add("split", proj, sizes=(bw, 2 * inc), name=f"{name}/c1x1_w_s{stride}/split")
        resid, dense = f"{proj}:0", f"{proj}:1"
    y = bn_relu_conv(b, x, r, 1, f"{name}/c1x1_a")
    y = bn_relu_conv(b, y, r, 3, f"{name}/c3x3_b", stride=stride or 1, groups=groups)
    y = bn_relu_conv(b, y, bw + inc, 1, f"{name}/c1x1_c")
    y = b.add("split", y, sizes=(bw, inc), name=f"{name}/c1x1_c/split")
    resid = b.add("add", resid, f"{y}:0", name=f"{name}/add")
    dense = b.add("concat", dense, f"{y}:1", name=f"{name}/concat")
    return resid, dense


def dpn(name: str, input_shape=(3, 224, 224)) -> Network:
    """DPN ``name`` from :data:`VARIANTS`."""
    init_features, k_r, groups, k_sec, inc_sec = VARIANTS[name]
    b = NetworkBuilder(name, input_shape, description=f"DPN-{name[3:]} (Cadene/timm layout)")
    x = b.conv_bn(b.input, init_features, 7, stride=2, bn_eps=BN_EPS, name="conv1_1")
    paths = (b.add("max_pool", x, kernel=3, stride=2, padding=1, name="conv1_pool"),)
    for i, (blocks, inc) in enumerate(zip(k_sec, inc_sec)):
        bw = 256 * 2 ** i
        r = k_r * bw // 256
        for j in range(1, blocks + 1):
            stride = None if j > 1 else (1 if i == 0 else 2)
            paths = dual_path_block(b, paths, r, bw, inc, groups, f"conv{i + 2}_{j}", stride)
    x = b.add("concat", *paths, name="conv5_bn_ac/concat")
    x = b.add("batch_norm", x, eps=BN_EPS, name="conv5_bn_ac/bn")
    x = b.add("relu", x, name="conv5_bn_ac/relu")
    x = b.add("global_avg_pool", x, name="pool")
    x = b.add("conv", x, out_channels=1000, kernel=1, bias=True, name="classifier")
    x = b.add("flatten", x, name="flatten")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {name: partial(dpn, name) for name in VARIANTS}
