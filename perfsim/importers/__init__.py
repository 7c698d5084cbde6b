"""Readers that turn files into :class:`~perfsim.ir.network.Network` objects."""
