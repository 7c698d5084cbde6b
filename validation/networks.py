"""The TPU v1 benchmarks as perfsim networks: MLP0, MLP1, LSTM0 and CNN0 of Jouppi et al.,
ISCA 2017, Table 1 (p. 2), which gives each one's layer counts, weights and batch but not its
layer widths.

Each builder takes the widths the paper does not give as arguments. The defaults below are
the assumptions the suite runs with, each chosen from published facts by one rule: a width is
a multiple of 256, as close as equal layers allow to Table 1's weight count. Table 3 row 3
(p. 7) is why: it measures the share of the 256x256 weight tiles left unused on active cycles
at 0.3% (MLP0), 1.2% (MLP1) and 0.0% (LSTM0, CNN0), so the layers fill whole tiles. The
sensitivity study (``validation/sensitivity.py``) runs the other readings, among them the
equal widths that give Table 1's weights exactly.

Weights count the weight matrices only, as Table 1 does; the networks carry no biases
(thousands against millions of weights: no cost in perfsim's model moves measurably).
"""

from __future__ import annotations

from perfsim import Network, NetworkBuilder

MLP0_WIDTH = 2048
"""MLP0 (RankBrain): 5 FC layers of 2048 x 2048 = 20.97M weights against Table 1's 20M; the
equal width giving exactly 20.0M, 2000, leaves 4.6% of every tile unused against the measured
0.3%."""
MLP0_LAYERS = 5
MLP1_WIDTH = 1024
"""MLP1: 4 FC layers of 1024 x 1024 = 4.19M weights against Table 1's 5M (1280 would give
6.55M); equal layers of 1118 give 5.0M but leave 24% of the tiles unused against the measured
1.2%, so MLP1's real layers are unequal, which the paper does not describe."""
MLP1_LAYERS = 4
LSTM0_HIDDEN = 1024
"""LSTM0 (a subset of GNM Translate, Table 1's caption): GNMT's LSTM layers are 1024 wide
(Wu et al., arXiv:1609.08144). Six such layers, each 4 gates of a 2048 -> 1024 matrix, are
Table 1's 24 FC layers, with 6 x 4 x 2048 x 1024 = 50.3M weights against its 52M."""
LSTM0_LAYERS = 6
LSTM0_STEPS = 1
"""Time steps per run: one. Table 1 gives LSTM0 64 ops per weight byte at batch 64: every
weight, the input projections' too, is fetched once per time step, as when the stack runs one
step at a time (a translation decoder must: each step's input is the previous step's output).
perfsim's causal model would batch the input projections over a run's steps (read once for
all of them), which Table 1 says the TPU did not do; so each run is one step of the six-layer
stack. The sensitivity study shows what batching them over 8 to 128 steps would give."""
CNN0_FILTERS = 256
"""CNN0 (DeepMind AlphaGo): the policy network of Silver et al., Nature 529 (2016), 48 input
planes on the 19x19 board, a 5x5 convolution, then 3x3 convolutions, then a 1x1 convolution to
one plane, here with Table 1's 16 conv layers. Every layer keeps the 19x19 board, so each
weight is used 361 times an image: 2888 times at batch 8, Table 1's ops per weight byte.
256 filters (AlphaGo's match version used 192) fill whole 256-wide tiles, as Table 3's 0.0%
unused MACs says they do, and give 8.57M weights against Table 1's 8M; 247 filters would give
8.0M."""
CNN0_LAYERS = 16
GO_BOARD = 19
GO_PLANES = 48


def tpu_mlp(name: str, *, width: int, layers: int) -> Network:
    """``layers`` fully connected layers of ``width x width``, each followed by its ReLU (the
    TPU's activation unit applies it, Table 1's nonlinear function)."""
    b = NetworkBuilder(name, (width, 1, 1), description=f"TPU v1 {name}: {layers} FC layers "
                       f"of {width}x{width} (widths assumed, validation/networks.py)")
    x = b.input
    for i in range(1, layers + 1):
        x = b.add("fc", x, out_features=width, bias=False, name=f"fc{i}")
        x = b.add("relu", x, name=f"relu{i}")
    return b.build()


def tpu_lstm(name: str, *, hidden: int, layers: int, steps: int) -> Network:
    """``layers`` stacked LSTM layers of ``hidden`` units over ``steps`` time steps of
    ``hidden`` features (the sigmoids, tanhs and products are the LSTM op's own work: Table 1's
    vector layers)."""
    b = NetworkBuilder(name, (hidden, 1, steps), description=f"TPU v1 {name}: {layers} LSTM "
                       f"layers of {hidden} units over {steps} steps (assumed, "
                       "validation/networks.py)")
    x = b.input
    for i in range(1, layers + 1):
        x = b.add("lstm", x, hidden_size=hidden, bias=False, name=f"lstm{i}")
    return b.build()


def tpu_cnn0(*, filters: int, layers: int = CNN0_LAYERS) -> Network:
    """AlphaGo's policy network with ``layers`` convolutions of ``filters`` filters on the
    19x19 board, "same" padded, each but the last followed by its ReLU."""
    b = NetworkBuilder("tpu_cnn0", (GO_PLANES, GO_BOARD, GO_BOARD),
                       description=f"TPU v1 CNN0 (AlphaGo-like): {layers} conv layers of "
                       f"{filters} filters on the 19x19 board (widths assumed, "
                       "validation/networks.py)")
    x = b.add("conv", b.input, out_channels=filters, kernel=5, padding=2, bias=False,
              name="conv1")
    x = b.add("relu", x, name="relu1")
    for i in range(2, layers):
        x = b.add("conv", x, out_channels=filters, kernel=3, padding=1, bias=False,
                  name=f"conv{i}")
        x = b.add("relu", x, name=f"relu{i}")
    b.add("conv", x, out_channels=1, kernel=1, bias=False, name=f"conv{layers}")
    return b.build()
