"""Building networks in code: what the zoo's family modules use.

A :class:`NetworkBuilder` appends layers one at a time, infers each shape as it goes (so a
family module can ask for a tensor's channels), and hands back a validated
:class:`~perfsim.workload.network.Network`. Ops are named by kind with the same attribute names as
network files (``kernel``, ``stride``, ``padding``, ``groups``, ...)::

    b = NetworkBuilder("tiny", (3, 32, 32))
    x = b.add("conv", b.input, out_channels=16, kernel=3, padding=1, name="conv1")
    x = b.add("relu", x)
    net = b.build()
"""

from __future__ import annotations

from perfsim.errors import WorkloadError
from perfsim.workload.network import Layer, Network, infer_shapes, parse_ref
from perfsim.workload.ops import Shape, make_op


class NetworkBuilder:
    """Accumulates layers for one network; :meth:`build` returns the frozen result.

    Token tensors (:attr:`Network.tokens <perfsim.workload.network.Network.tokens>`) are
    declared as layers are added: ``add(..., tokens=True)`` (or ``tokens=True`` here, for the
    network's input) marks a layer's output as tokens, ``tokens=False`` as not; unmarked, a
    layer's output is tokens when its first input is (and it keeps the ``(T, 1, D)`` form).
    So a transformer marks its inputs, the reshapes into heads (False) and back (True)."""

    def __init__(self, name: str, input_shape: Shape, *, description: str = "",
                 input_name: str = "input", tokens: bool = False):
        self.name = name
        self.description = description
        self._layers: list[Layer] = []
        self._shapes: dict[str, tuple[Shape, ...]] = {}
        self._counts: dict[str, int] = {}
        self._tokens: set[str] = set()
        self.input = self.add("input", shape=tuple(input_shape), name=input_name,
                              tokens=tokens)

    def add(self, kind: str, *inputs: str, name: str | None = None,
            tokens: bool | None = None, **attributes) -> str:
        """Append a layer of op ``kind`` reading ``inputs``; returns its name (the reference
        to its output). Unnamed layers are called ``kind_N``. ``tokens`` declares whether its
        output is a token tensor (see the class)."""
        if name is None:
            self._counts[kind] = self._counts.get(kind, 0) + 1
            name = f"{kind}_{self._counts[kind]}"
        try:
            op = make_op(kind, **attributes)
        except (KeyError, TypeError, ValueError) as err:
            raise WorkloadError(f"network '{self.name}': layer '{name}' ({kind}): {err}") from None
        layer = Layer(name, op, inputs)
        self._shapes[name] = infer_shapes(self.name, layer, self._shapes)
        self._layers.append(layer)
        if tokens is None:
            tokens = bool(inputs) and parse_ref(inputs[0])[0] in self._tokens \
                and self._shapes[name][0][1] == 1
        if tokens:
            self._tokens.add(name)
        return name

    def shape(self, ref: str) -> Shape:
        """Per-sample shape ``(C, H, W)`` of a tensor built so far."""
        source, index = parse_ref(ref)
        return self._shapes[source][index]

    def channels(self, ref: str) -> int:
        """Channel count of a tensor built so far."""
        return self.shape(ref)[0]

    def build(self, source: str = "") -> Network:
        """The finished network (validated again as a whole)."""
        return Network(self.name, tuple(self._layers), 1, self.description, source,
                       frozenset(self._tokens))

    def conv_bn(self, x: str, out_channels: int, kernel, *, name: str, stride=1,
                padding=None, groups: int = 1, dilation=1, bn: bool = True,
                bn_eps: float = 1e-5, act: str | None = "relu", bias: bool | None = None) -> str:
        """The ubiquitous conv -> batch norm -> activation, named ``name``, ``name/bn`` and
        ``name/<act>`` (``bn_eps`` is the batch norm's epsilon). ``padding`` defaults to "same" for odd kernels (``(F - 1) // 2`` per
        side, dilated); ``bias`` defaults to ``not bn``; ``act=None`` leaves it linear."""
        fy, fx = (kernel, kernel) if isinstance(kernel, int) else kernel
        dy, dx = (dilation, dilation) if isinstance(dilation, int) else dilation
        if padding is None:
            padding = (dy * (fy - 1) // 2, dx * (fx - 1) // 2)
        x = self.add("conv", x, out_channels=out_channels, kernel=(fy, fx), stride=stride,
                     padding=padding, groups=groups, dilation=(dy, dx),
                     bias=(not bn) if bias is None else bias, name=name)
        if bn:
            x = self.add("batch_norm", x, eps=bn_eps, name=f"{name}/bn")
        if act is not None:
            x = self.add(act, x, name=f"{name}/{act}")
        return x

    def squeeze_excite(self, x: str, squeeze_channels: int, *, name: str, act: str = "relu",
                       gate: str = "sigmoid") -> str:
        """A squeeze-and-excitation gate on ``x`` (Hu et al. 2018): global average pool, a 1x1
        conv with bias to ``squeeze_channels``, ``act``, a 1x1 conv with bias back to the
        channels of ``x``, ``gate``, and the gate times ``x``; named ``name/pool``,
        ``name/fc1``, ``name/fc1/<act>``, ``name/fc2``, ``name/fc2/<gate>`` and ``name/mul``
        (the FCs are 1x1 convs, as in torchvision's ``SqueezeExcitation``)."""
        s = self.add("global_avg_pool", x, name=f"{name}/pool")
        s = self.conv_bn(s, squeeze_channels, 1, bn=False, act=act, name=f"{name}/fc1")
        s = self.conv_bn(s, self.channels(x), 1, bn=False, act=gate, name=f"{name}/fc2")
        return self.add("mul", x, s, name=f"{name}/mul")
