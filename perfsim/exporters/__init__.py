"""Writers that turn a :class:`~perfsim.ir.network.Network` into other tools' formats."""
