"""Inception v3 (Szegedy et al. 2015, "Rethinking the Inception Architecture", arXiv:1512.00567).

torchvision's (= TF-slim's) layout on a 299 input: every conv is followed by batch norm
(eps 1e-3, no conv bias) and ReLU; the auxiliary classifier after ``Mixed_6e`` is left out
(training only). A stem of plain convs and two max pools is followed by eleven mixed blocks of
five kinds (torchvision's InceptionA to InceptionE). A block is a table of branches, each a
list of steps: a conv ``(name, out_channels, kernel, stride)``, a 3x3 pool, or a fork whose
convs read the same tensor and are concatenated (the 1x3 / 3x1 pairs of InceptionE). Stride-1
convs are same-padded, stride-2 ones unpadded; the block's output concatenates its branches.
Names are torchvision's module names with ``/`` (``Mixed_5b/branch5x5_1``).
"""

from __future__ import annotations

from perfsim.workload import Network, NetworkBuilder

BN_EPS = 1e-3

# (name, out_channels, kernel, stride, padding)
STEM = (
    ("Conv2d_1a_3x3", 32, 3, 2, 0),
    ("Conv2d_2a_3x3", 32, 3, 1, 0),
    ("Conv2d_2b_3x3", 64, 3, 1, 1),
    "maxpool1",
    ("Conv2d_3b_1x1", 80, 1, 1, 0),
    ("Conv2d_4a_3x3", 192, 3, 1, 0),
    "maxpool2",
)


def conv(name: str, out_channels: int, kernel, stride: int = 1):
    """A conv step (``kernel`` an int or ``(y, x)``)."""
    return ("conv", name, out_channels, kernel, stride)


def fork(name: str, *convs):
    """A step whose ``convs`` read the same tensor, concatenated as ``name``."""
    return ("fork", name, convs)


AVG_POOL = ("avg_pool", "pool", 3, 1)  # 3x3/1, padded: keeps the map
MAX_POOL = ("max_pool", "pool", 3, 2)  # 3x3/2, unpadded: halves the map


def inception_a(pool_features: int):
    """InceptionA (35x35): 1x1, 5x5, double 3x3 and pooled branches."""
    return (
        (conv("branch1x1", 64, 1),),
        (conv("branch5x5_1", 48, 1), conv("branch5x5_2", 64, 5)),
        (conv("branch3x3dbl_1", 64, 1), conv("branch3x3dbl_2", 96, 3),
         conv("branch3x3dbl_3", 96, 3)),
        (AVG_POOL, conv("branch_pool", pool_features, 1)),
    )


INCEPTION_B = (
    (conv("branch3x3", 384, 3, 2),),
    (conv("branch3x3dbl_1", 64, 1), conv("branch3x3dbl_2", 96, 3),
     conv("branch3x3dbl_3", 96, 3, 2)),
    (MAX_POOL,),
)


def inception_c(c7: int):
    """InceptionC (17x17): factorised 7x7 branches of width ``c7``."""
    return (
        (conv("branch1x1", 192, 1),),
        (conv("branch7x7_1", c7, 1), conv("branch7x7_2", c7, (1, 7)),
         conv("branch7x7_3", 192, (7, 1))),
        (conv("branch7x7dbl_1", c7, 1), conv("branch7x7dbl_2", c7, (7, 1)),
         conv("branch7x7dbl_3", c7, (1, 7)), conv("branch7x7dbl_4", c7, (7, 1)),
         conv("branch7x7dbl_5", 192, (1, 7))),
        (AVG_POOL, conv("branch_pool", 192, 1)),
    )


INCEPTION_D = (
    (conv("branch3x3_1", 192, 1), conv("branch3x3_2", 320, 3, 2)),
    (conv("branch7x7x3_1", 192, 1), conv("branch7x7x3_2", 192, (1, 7)),
     conv("branch7x7x3_3", 192, (7, 1)), conv("branch7x7x3_4", 192, 3, 2)),
    (MAX_POOL,),
)

INCEPTION_E = (
    (conv("branch1x1", 320, 1),),
    (conv("branch3x3_1", 384, 1),
     fork("branch3x3_2", conv("branch3x3_2a", 384, (1, 3)), conv("branch3x3_2b", 384, (3, 1)))),
    (conv("branch3x3dbl_1", 448, 1), conv("branch3x3dbl_2", 384, 3),
     fork("branch3x3dbl_3", conv("branch3x3dbl_3a", 384, (1, 3)),
          conv("branch3x3dbl_3b", 384, (3, 1)))),
    (AVG_POOL, conv("branch_pool", 192, 1)),
)

MIXED = (
    ("Mixed_5b", inception_a(32)),
    ("Mixed_5c", inception_a(64)),
    ("Mixed_5d", inception_a(64)),
    ("Mixed_6a", INCEPTION_B),
    ("Mixed_6b", inception_c(128)),
    ("Mixed_6c", inception_c(160)),
    ("Mixed_6d", inception_c(160)),
    ("Mixed_6e", inception_c(192)),
    ("Mixed_7a", INCEPTION_D),
    ("Mixed_7b", INCEPTION_E),
    ("Mixed_7c", INCEPTION_E),
)


def step(b: NetworkBuilder, x: str, spec, prefix: str) -> str:
    """One step of a branch: a conv, a pool or a fork."""
    kind, name, *rest = spec
    if kind == "conv":
        out_channels, kernel, stride = rest
        return b.conv_bn(x, out_channels, kernel, stride=stride,
                         padding=None if stride == 1 else 0, bn_eps=BN_EPS,
                         name=f"{prefix}/{name}")
    if kind == "fork":
        parts = [step(b, x, s, prefix) for s in rest[0]]
        return b.add("concat", *parts, name=f"{prefix}/{name}")
    kernel, stride = rest
    return b.add(kind, x, kernel=kernel, stride=stride, padding=1 if stride == 1 else 0,
                 name=f"{prefix}/{name}")


def mixed(b: NetworkBuilder, x: str, prefix: str, branches) -> str:
    """A mixed block: its branches read ``x`` and are concatenated."""
    outputs = []
    for branch in branches:
        y = x
        for spec in branch:
            y = step(b, y, spec, prefix)
        outputs.append(y)
    return b.add("concat", *outputs, name=f"{prefix}/concat")


def inception_v3(input_shape=(3, 299, 299)) -> Network:
    """Inception v3 without the auxiliary classifier."""
    b = NetworkBuilder("inception_v3", input_shape,
                       description="Inception v3, torchvision/TF layout, aux head excluded")
    x = b.input
    for row in STEM:
        if isinstance(row, str):
            x = b.add("max_pool", x, kernel=3, stride=2, name=row)
        else:
            name, out_channels, kernel, stride, padding = row
            x = b.conv_bn(x, out_channels, kernel, stride=stride, padding=padding,
                          bn_eps=BN_EPS, name=name)
    for prefix, branches in MIXED:
        x = mixed(b, x, prefix, branches)
    x = b.add("global_avg_pool", x, name="avgpool")
    x = b.add("dropout", x, p=0.5, name="dropout")
    x = b.add("flatten", x, name="flatten")
    x = b.add("fc", x, out_features=1000, name="fc")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {
    "inception_v3": inception_v3,
}
