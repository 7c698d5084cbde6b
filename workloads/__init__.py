"""The network zoo: one small module per family, each declaring ``NETWORKS`` (name -> builder).

Installed as ``perfsim.workloads``; :mod:`perfsim.workload.zoo` discovers the modules.
"""
