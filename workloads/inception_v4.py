"""Inception-v4 and Inception-ResNet-v2 (Szegedy et al. 2016, "Inception-v4, Inception-ResNet
and the impact of residual connections on learning", arXiv:1602.07261), 299 input.

Both follow TF-slim's layout as ported by Cadene's pretrained-models.pytorch, with a
1000-class classifier (the checkpoints have 1001, a background class). Every conv except the
residual up-projections is a ``BasicConv2d``: conv without bias, batch norm (eps 1e-3, scale
and shift), ReLU. Stride-2 convs and every max pool (3x3/2) use TF's VALID padding, as do
the stem's few stride-1 convs marked so; the other convs are same-padded (asymmetric kernels
such as 1x7 pad only along their long side). The average-pool branches are 3x3/1 with
padding 1. The head is a global average pool, dropout (keep 0.8, paper Fig. 9), the
classifier and softmax.

A network is a table of stages ``(name, block)``; a stage repeated n times has a tuple of n
names. A block is one :class:`Conv`, a pool (:data:`MAX`, :data:`AVG`), a mixed block (a
tuple of branches, concatenated), or a :class:`Residual` block. A branch is a tuple of steps
applied in order; its last step may be a :class:`Fork` of convs reading the same tensor, each
concatenated into the block's output (Inception-v4's C block).

* ``inception_v4``: paper Figs. 3-9, TF-slim names (``mixed_5b`` ... ``mixed_7d``).
* ``inception_resnet_v2``: paper Figs. 3 (stem as TF-slim builds it, Mixed_5b instead of the
  paper's stem tail), 16-19. A residual block concatenates its branches, projects back to its
  input width with a 1x1 conv that has a bias and no batch norm, multiplies by a constant
  (0.17, 0.1, 0.2; 1.0 for the last block, which TF-slim also applies), adds the input and
  applies ReLU (except the last block). The constant multiply is a ``scale`` op with a fixed
  ``factor``: one op per element, no parameters. Cadene's names (``repeat.0``,
  ``repeat_1.0``, ``block8``, ``conv2d_7b``).
"""

from __future__ import annotations

from functools import partial
from typing import NamedTuple

from perfsim.workload import Network, NetworkBuilder

BN_EPS = 1e-3
MAX = "max"  # max pool 3x3/2, VALID
AVG = "avg"  # average pool 3x3/1, padding 1


class Conv(NamedTuple):
    """A BasicConv2d; ``padding`` is ``"same"`` or TF's ``"valid"``."""

    out_channels: int
    kernel: int | tuple[int, int] = 1
    stride: int = 1
    padding: str = "same"


class Fork(tuple):
    """Convs reading the same tensor, each one an output of its branch."""

    def __new__(cls, *convs: Conv):
        return super().__new__(cls, convs)


class Residual(NamedTuple):
    """An Inception-ResNet block: ``branches`` -> concat -> 1x1 up-projection (bias) ->
    multiply by ``scale`` -> add the input -> ReLU (if ``relu``)."""

    branches: tuple
    scale: float
    relu: bool = True


def names(prefix: str, labels) -> tuple[str, ...]:
    """The names of a repeated stage: ``prefix`` followed by each label."""
    return tuple(f"{prefix}{label}" for label in labels)


# ---------------------------------------------------------------- Inception-v4 (Figs. 3-9)

V4_MIXED_3A = ((MAX,), (Conv(96, 3, 2, "valid"),))
V4_MIXED_4A = (
    (Conv(64), Conv(96, 3, 1, "valid")),
    (Conv(64), Conv(64, (1, 7)), Conv(64, (7, 1)), Conv(96, 3, 1, "valid")),
)
V4_MIXED_5A = ((Conv(192, 3, 2, "valid"),), (MAX,))
V4_INCEPTION_A = (
    (Conv(96),),
    (Conv(64), Conv(96, 3)),
    (Conv(64), Conv(96, 3), Conv(96, 3)),
    (AVG, Conv(96)),
)
V4_REDUCTION_A = (  # k, l, m, n = 192, 224, 256, 384 (paper Table 1)
    (Conv(384, 3, 2, "valid"),),
    (Conv(192), Conv(224, 3), Conv(256, 3, 2, "valid")),
    (MAX,),
)
V4_INCEPTION_B = (
    (Conv(384),),
    (Conv(192), Conv(224, (1, 7)), Conv(256, (7, 1))),
    (Conv(192), Conv(192, (7, 1)), Conv(224, (1, 7)), Conv(224, (7, 1)), Conv(256, (1, 7))),
    (AVG, Conv(128)),
)
V4_REDUCTION_B = (
    (Conv(192), Conv(192, 3, 2, "valid")),
    (Conv(256), Conv(256, (1, 7)), Conv(320, (7, 1)), Conv(320, 3, 2, "valid")),
    (MAX,),
)
V4_INCEPTION_C = (
    (Conv(256),),
    (Conv(384), Fork(Conv(256, (1, 3)), Conv(256, (3, 1)))),
    (Conv(384), Conv(448, (3, 1)), Conv(512, (1, 3)), Fork(Conv(256, (1, 3)), Conv(256, (3, 1)))),
    (AVG, Conv(256)),
)
INCEPTION_V4 = (
    ("conv2d_1a", Conv(32, 3, 2, "valid")),
    ("conv2d_2a", Conv(32, 3, 1, "valid")),
    ("conv2d_2b", Conv(64, 3)),
    ("mixed_3a", V4_MIXED_3A),
    ("mixed_4a", V4_MIXED_4A),
    ("mixed_5a", V4_MIXED_5A),
    (names("mixed_5", "bcde"), V4_INCEPTION_A),
    ("mixed_6a", V4_REDUCTION_A),
    (names("mixed_6", "bcdefgh"), V4_INCEPTION_B),
    ("mixed_7a", V4_REDUCTION_B),
    (names("mixed_7", "bcd"), V4_INCEPTION_C),
)

# ------------------------------------------------------ Inception-ResNet-v2 (Figs. 3, 16-19)

IRV2_MIXED_5B = (
    (Conv(96),),
    (Conv(48), Conv(64, 5)),
    (Conv(64), Conv(96, 3), Conv(96, 3)),
    (AVG, Conv(64)),
)
IRV2_BLOCK35 = (
    (Conv(32),),
    (Conv(32), Conv(32, 3)),
    (Conv(32), Conv(48, 3), Conv(64, 3)),
)
IRV2_MIXED_6A = (  # k, l, m, n = 256, 256, 384, 384 (paper Table 1)
    (Conv(384, 3, 2, "valid"),),
    (Conv(256), Conv(256, 3), Conv(384, 3, 2, "valid")),
    (MAX,),
)
IRV2_BLOCK17 = (
    (Conv(192),),
    (Conv(128), Conv(160, (1, 7)), Conv(192, (7, 1))),
)
IRV2_MIXED_7A = (
    (Conv(256), Conv(384, 3, 2, "valid")),
    (Conv(256), Conv(288, 3, 2, "valid")),
    (Conv(256), Conv(288, 3), Conv(320, 3, 2, "valid")),
    (MAX,),
)
IRV2_BLOCK8 = (
    (Conv(192),),
    (Conv(192), Conv(224, (1, 3)), Conv(256, (3, 1))),
)
INCEPTION_RESNET_V2 = (
    ("conv2d_1a", Conv(32, 3, 2, "valid")),
    ("conv2d_2a", Conv(32, 3, 1, "valid")),
    ("conv2d_2b", Conv(64, 3)),
    ("maxpool_3a", MAX),
    ("conv2d_3b", Conv(80)),
    ("conv2d_4a", Conv(192, 3, 1, "valid")),
    ("maxpool_5a", MAX),
    ("mixed_5b", IRV2_MIXED_5B),
    (names("repeat.", range(10)), Residual(IRV2_BLOCK35, 0.17)),
    ("mixed_6a", IRV2_MIXED_6A),
    (names("repeat_1.", range(20)), Residual(IRV2_BLOCK17, 0.1)),
    ("mixed_7a", IRV2_MIXED_7A),
    (names("repeat_2.", range(9)), Residual(IRV2_BLOCK8, 0.2)),
    ("block8", Residual(IRV2_BLOCK8, 1.0, relu=False)),
    ("conv2d_7b", Conv(1536)),
)

VARIANTS = {
    "inception_v4": ("Inception-v4 (TF-slim / Cadene layout)", INCEPTION_V4),
    "inception_resnet_v2": ("Inception-ResNet-v2 (TF-slim / Cadene layout)",
                            INCEPTION_RESNET_V2),
}


def step(b: NetworkBuilder, x: str, layer, name: str) -> str:
    """One conv or pool named ``name``."""
    if layer == MAX:
        return b.add("max_pool", x, kernel=3, stride=2, name=name)
    if layer == AVG:
        return b.add("avg_pool", x, kernel=3, stride=1, padding=1, name=name)
    return b.conv_bn(x, layer.out_channels, layer.kernel, stride=layer.stride,
                     padding=None if layer.padding == "same" else 0, bn_eps=BN_EPS, name=name)


def mixed(b: NetworkBuilder, x: str, branches, name: str) -> str:
    """Branches ``{name}/branch{i}`` (steps ``.{j}``, forks ``.{j}a``, ``.{j}b``) on ``x``,
    concatenated as ``{name}/concat``."""
    outputs = []
    for i, branch in enumerate(branches):
        y = x
        for j, layer in enumerate(branch):
            prefix = f"{name}/branch{i}" + (f".{j}" if len(branch) > 1 else "")
            if isinstance(layer, Fork):
                outputs += [step(b, y, conv, f"{prefix}{chr(ord('a') + k)}")
                            for k, conv in enumerate(layer)]
                break
            y = step(b, y, layer, prefix)
        else:
            outputs.append(y)
    return b.add("concat", *outputs, name=f"{name}/concat")


def residual(b: NetworkBuilder, x: str, block: Residual, name: str) -> str:
    """An Inception-ResNet block on ``x``, back to ``x``'s width."""
    y = mixed(b, x, block.branches, name)
    y = b.add("conv", y, out_channels=b.channels(x), kernel=1, bias=True, name=f"{name}/conv2d")
    y = b.add("scale", y, factor=block.scale, name=f"{name}/scale")
    y = b.add("add", x, y, name=f"{name}/add")
    return b.add("relu", y, name=f"{name}/relu") if block.relu else y


def inception(name: str, input_shape=(3, 299, 299)) -> Network:
    """The network ``name`` from :data:`VARIANTS`."""
    description, stages = VARIANTS[name]
    b = NetworkBuilder(name, input_shape, description=description)
    x = b.input
    for stage_names, block in stages:
        for stage in (stage_names,) if isinstance(stage_names, str) else stage_names:
            if isinstance(block, Residual):
                x = residual(b, x, block, stage)
            elif isinstance(block, tuple) and not isinstance(block, Conv):
                x = mixed(b, x, block, stage)
            else:
                x = step(b, x, block, stage)
    x = b.add("global_avg_pool", x, name="avgpool_1a")
    x = b.add("dropout", x, p=0.2, name="dropout_1b")
    x = b.add("flatten", x, name="flatten")
    x = b.add("fc", x, out_features=1000, name="last_linear")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {name: partial(inception, name) for name in VARIANTS}
