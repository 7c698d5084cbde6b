"""perfsim's validation suite: perfsim against published silicon (Eyeriss v1, TPU v1) and one
published estimator (the NVDLA primer's ResNet-50 table).

Run it from the checkout with ``python -m validation``; it writes ``reports/validation/`` and
prints a Markdown summary (``validation/README.md`` says what each case compares and every
assumption). The parts, in the order they are used:

- ``published.yaml`` and :mod:`.published`: the published numbers, each with its source;
- :mod:`.networks`: the TPU benchmarks as networks, their unpublished widths assumed;
- ``hw/``: the NVDLA configurations (Eyeriss and the TPU use ``hw_configs/``);
- :mod:`.cases`: what is simulated for each published setup;
- :mod:`.compare`: what each metric reads from a run, and the relative error;
- :mod:`.sensitivity`: the unknown parameters and the values also tried;
- :mod:`.outputs` and :mod:`.suite`: the tables, the parity plot, the summary.
"""
