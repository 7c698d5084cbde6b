"""The networks perfsim ships, a line each, as ``perfsim list`` shows them: the zoo's and the
installed examples', with family, input, MACs, parameters and description.

:func:`compute` builds every network to count them (most of a second); ``catalogue.json``,
installed beside the examples, keeps its result so that listing them builds nothing.
``tests/test_catalogue.py`` holds the file equal to :func:`compute`; after adding or changing
a network, write it again with ``python -m perfsim.io.catalogue``.
"""

from __future__ import annotations

import json
from importlib import resources
from pathlib import Path

CATALOGUE = "catalogue.json"
FIELDS = ("name", "family", "input", "macs", "params", "description")


def compute() -> list[dict]:
    """Every zoo network and installed example, built and counted (at batch 1)."""
    from perfsim.io.examples import example_networks
    from perfsim.io.load import load_workload
    from perfsim.workload.stats import shape_label, totals
    from perfsim.workload.zoo import workload_family, workload_names

    sources = [(name, workload_family(name)) for name in workload_names()]
    sources += [(name, "example") for name in example_networks()]
    rows = []
    for name, family in sources:
        network = load_workload(name)
        sums = totals(network)
        shapes = " + ".join("x".join(map(str, shape_label(network, layer.name)))
                            for layer in network.inputs)
        rows.append(dict(zip(FIELDS, (name, family, shapes, int(sums["macs"]),
                                      int(sums["params"]), network.description))))
    return rows


def load() -> list[dict]:
    """The catalogue as installed."""
    text = (resources.files("perfsim.workloads") / CATALOGUE).read_text(encoding="utf-8")
    return json.loads(text)


def write(path: str | Path | None = None) -> Path:
    """Write :func:`compute`'s catalogue (by default into the package's ``workloads``)."""
    from perfsim.storage import write_text_atomic

    target = Path(path) if path else Path(str(resources.files("perfsim.workloads"))) / CATALOGUE
    write_text_atomic(target, json.dumps(compute(), indent=1) + "\n")
    return target


if __name__ == "__main__":
    print(f"wrote {write()}")
