"""Stage 3, formats in and out: network files, ONNX (import and export), SCALE-Sim topologies
and configs, Timeloop problems, and :mod:`.load`, the one entry point that loads a workload or
an accelerator by name or path in any of them. It converts; it costs nothing."""
