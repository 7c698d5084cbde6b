"""Shipped accelerator descriptions (YAML), installed as ``perfsim.hw_configs``."""
