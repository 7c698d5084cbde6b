"""AlexNet and its variants (Krizhevsky et al. 2012; Caffe's reference models; torchvision).

Each variant is a table of conv stages: ``(out_channels, kernel, stride, padding, groups,
after)`` where ``after`` lists what follows the ReLU (``lrn``, ``pool``) in order.

* ``alexnet``: the lecture's single-tower network on a 224 input; conv1 pads 3 pixels in total
  (1 before, 2 after) to reach 55x55. Its lecture table view reproduces
  ``refs/alexnet_seed_table.csv``.
* ``alexnet_bvlc_grouped``: the paper's two-tower network as Caffe's bvlc_alexnet (227 input,
  groups of 2 on conv2/4/5, LRN before pooling).
* ``caffenet``: bvlc_reference_caffenet, the same with pooling before LRN.
* ``alexnet_torchvision``: the "one weird trick" single tower (64-192-384-256-256, no LRN).
  torchvision's adaptive average pool to 6x6 is the identity at 224 and is left out.
"""

from __future__ import annotations

from functools import partial

from perfsim.workload import Network, NetworkBuilder

LECTURE = (
    (96, 11, 4, (1, 1, 2, 2), 1, ("lrn", "pool")),
    (256, 5, 1, 2, 1, ("lrn", "pool")),
    (384, 3, 1, 1, 1, ()),
    (384, 3, 1, 1, 1, ()),
    (256, 3, 1, 1, 1, ("pool",)),
)
BVLC = (
    (96, 11, 4, 0, 1, ("lrn", "pool")),
    (256, 5, 1, 2, 2, ("lrn", "pool")),
    (384, 3, 1, 1, 1, ()),
    (384, 3, 1, 1, 2, ()),
    (256, 3, 1, 1, 2, ("pool",)),
)
CAFFENET = tuple(row[:5] + (tuple(reversed(row[5])),) for row in BVLC)
TORCHVISION = (
    (64, 11, 4, 2, 1, ("pool",)),
    (192, 5, 1, 2, 1, ("pool",)),
    (384, 3, 1, 1, 1, ()),
    (256, 3, 1, 1, 1, ()),
    (256, 3, 1, 1, 1, ("pool",)),
)


def alexnet(name: str, stages, description: str, input_shape=(3, 224, 224)) -> Network:
    b = NetworkBuilder(name, input_shape, description=description)
    x = b.input
    for i, (k, f, s, pad, groups, after) in enumerate(stages, start=1):
        x = b.add("conv", x, out_channels=k, kernel=f, stride=s, padding=pad, groups=groups,
                  name=f"conv{i}")
        x = b.add("relu", x, name=f"relu{i}")
        for step in after:
            if step == "lrn":
                x = b.add("lrn", x, size=5, alpha=1e-4, beta=0.75, name=f"norm{i}")
            else:
                x = b.add("max_pool", x, kernel=3, stride=2, name=f"pool{i}")
    x = b.add("flatten", x, name="flatten")
    for i in (6, 7):
        x = b.add("fc", x, out_features=4096, name=f"fc{i}")
        x = b.add("relu", x, name=f"relu{i}")
        x = b.add("dropout", x, p=0.5, name=f"drop{i}")
    x = b.add("fc", x, out_features=1000, name="fc8")
    b.add("softmax", x, name="prob")
    return b.build()


NETWORKS = {
    "alexnet": partial(alexnet, "alexnet", LECTURE, "lecture AlexNet: single tower, 224 input"),
    "alexnet_bvlc_grouped": partial(alexnet, "alexnet_bvlc_grouped", BVLC,
                                    "Caffe bvlc_alexnet: two towers (groups 2), 227 input",
                                    input_shape=(3, 227, 227)),
    "caffenet": partial(alexnet, "caffenet", CAFFENET,
                        "bvlc_reference_caffenet: pooling before LRN", input_shape=(3, 227, 227)),
    "alexnet_torchvision": partial(alexnet, "alexnet_torchvision", TORCHVISION,
                                   "torchvision AlexNet (one weird trick)"),
}
