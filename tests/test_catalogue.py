"""``catalogue.json`` (what ``perfsim list`` shows of the networks and the shipped configs,
kept so that listing builds and loads none) is exactly what building and counting every
network and loading every config gives now: after adding or changing a network or a config,
``python -m perfsim.io.catalogue`` writes it again."""

from __future__ import annotations

from perfsim.hardware.loading import shipped_config_names
from perfsim.io import catalogue
from perfsim.io.examples import example_networks
from perfsim.workload.zoo import workload_names


def test_the_catalogue_is_what_the_networks_count_today():
    kept = catalogue.load()
    assert kept == catalogue.compute(), "run: python -m perfsim.io.catalogue"
    assert [row["name"] for row in kept["networks"]] == [*workload_names(),
                                                         *example_networks()]
    assert [row["name"] for row in kept["hw"]] == shipped_config_names()
    assert all(catalogue.config_path(row["name"]).is_file() for row in kept["hw"])
    resnet50 = next(row for row in kept["networks"] if row["name"] == "resnet50")
    # the published ResNet-50: 25.56M parameters (He et al.; torchvision: 25,557,032)
    assert (resnet50["input"], round(resnet50["params"] / 1e6, 2)) == ("3x224x224", 25.56)
    # the TPU v1 (Jouppi et al. 2017): 256x256 8-bit MACs at 700 MHz, 24 MiB unified buffer +
    # 4 MiB accumulators + the 256 KiB weight FIFO = 28.25 MiB on chip, 34 GB/s DDR3
    tpu = next(row for row in kept["hw"] if row["name"] == "tpu_v1")
    assert tpu["description"].startswith("0.7 GHz int8: mxu 256x256 WS array")
    assert "SRAM 28.25 MiB, DRAM 34 GB/s" in tpu["description"]
