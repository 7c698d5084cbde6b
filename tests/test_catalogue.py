"""``catalogue.json`` (what ``perfsim list`` shows of the networks, kept so that listing builds
none) is exactly what building and counting every network gives now: after adding or changing
a network, ``python -m perfsim.io.catalogue`` writes it again."""

from __future__ import annotations

from perfsim.io import catalogue
from perfsim.io.examples import example_networks
from perfsim.workload.zoo import workload_names


def test_the_catalogue_is_what_the_networks_count_today():
    kept = catalogue.load()
    assert kept == catalogue.compute(), "run: python -m perfsim.io.catalogue"
    assert [row["name"] for row in kept] == [*workload_names(), *example_networks()]
    resnet50 = next(row for row in kept if row["name"] == "resnet50")
    # the published ResNet-50: 25.56M parameters (He et al.; torchvision: 25,557,032)
    assert (resnet50["input"], round(resnet50["params"] / 1e6, 2)) == ("3x224x224", 25.56)
