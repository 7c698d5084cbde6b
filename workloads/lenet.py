"""LeNet-5 (LeCun et al., "Gradient-based learning applied to document recognition", 1998).

* ``lenet5``: the modern textbook form: ReLU, max pooling, C3 fully connected to S2, an
  84 -> 10 linear output (61,706 params, 416,520 MACs).
* ``lenet5_lecun1998``: the paper's network: tanh squashing, trainable subsampling (average
  pool then a per-map coefficient and bias), C3 wired by the paper's Table I, and 10 Euclidean
  RBF output units whose 840 fixed weights cost MACs but are not trainable (60,000 params).
"""

from __future__ import annotations

from functools import partial

from perfsim.workload import Network, NetworkBuilder

# LeCun 1998 Table I: the S2 feature maps each C3 map reads.
C3_CONNECTIONS = (
    (0, 1, 2), (1, 2, 3), (2, 3, 4), (3, 4, 5), (4, 5, 0), (5, 0, 1),
    (0, 1, 2, 3), (1, 2, 3, 4), (2, 3, 4, 5), (3, 4, 5, 0), (4, 5, 0, 1), (5, 0, 1, 2),
    (0, 1, 3, 4), (1, 2, 4, 5), (0, 2, 3, 5),
    (0, 1, 2, 3, 4, 5),
)


def lenet5(input_shape=(1, 32, 32)) -> Network:
    b = NetworkBuilder("lenet5", input_shape, description="modern textbook LeNet-5")
    x = b.input
    for i, k in enumerate((6, 16), start=1):
        x = b.add("conv", x, out_channels=k, kernel=5, name=f"conv{i}")
        x = b.add("relu", x, name=f"relu{i}")
        x = b.add("max_pool", x, kernel=2, name=f"pool{i}")
    x = b.add("flatten", x, name="flatten")
    for i, k in enumerate((120, 84), start=3):
        x = b.add("fc", x, out_features=k, name=f"fc{i}")
        x = b.add("relu", x, name=f"relu{i}")
    x = b.add("fc", x, out_features=10, name="fc5")
    b.add("softmax", x, name="prob")
    return b.build()


def _subsample(b: NetworkBuilder, x: str, name: str) -> str:
    """LeNet's subsampling: 2x2 average, times a trainable coefficient plus a bias, squashed."""
    x = b.add("avg_pool", x, kernel=2, name=name)
    x = b.add("scale", x, bias=True, name=f"{name}/coeff")
    return b.add("tanh", x, name=f"{name}/tanh")


def lenet5_lecun1998(input_shape=(1, 32, 32)) -> Network:
    b = NetworkBuilder("lenet5_lecun1998", input_shape,
                       description="LeNet-5 as in LeCun et al. 1998, partial C3, RBF outputs")
    x = b.add("conv", b.input, out_channels=6, kernel=5, name="C1")
    x = b.add("tanh", x, name="C1/tanh")
    s2 = _subsample(b, x, "S2")
    maps = b.add("split", s2, sizes=[1] * b.channels(s2), name="S2/maps")
    c3 = []
    for j, sources in enumerate(C3_CONNECTIONS):
        x = b.add("concat", *(f"{maps}:{i}" for i in sources), name=f"C3/in{j}")
        c3.append(b.add("conv", x, out_channels=1, kernel=5, name=f"C3/map{j}"))
    x = b.add("concat", *c3, name="C3")
    x = b.add("tanh", x, name="C3/tanh")
    x = _subsample(b, x, "S4")
    x = b.add("conv", x, out_channels=120, kernel=5, name="C5")
    x = b.add("tanh", x, name="C5/tanh")
    x = b.add("fc", x, out_features=84, name="F6")
    x = b.add("tanh", x, name="F6/tanh")
    # Euclidean RBF units: sum_j (x_j - w_ij)^2 costs one multiply-accumulate per weight, as an
    # FC does; the weights are fixed by hand in the paper, so they are not parameters.
    b.add("fc", x, out_features=10, bias=False, trainable=False, name="RBF")
    return b.build()


NETWORKS = {
    "lenet5": lenet5,
    "lenet5_lecun1998": lenet5_lecun1998,
}
