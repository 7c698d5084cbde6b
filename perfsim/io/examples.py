"""The examples perfsim installs, found by name from any directory: network files
(``workloads/examples/*.yaml``, installed as ``perfsim.workloads/examples``) and sweep specs
(``workloads/examples/sweeps/*.yaml``). ``perfsim show tiny_cnn`` and ``perfsim sweep
sweep_small`` read them; ``perfsim list`` lists them."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

from perfsim.errors import ConfigError, suggest

SWEEPS = "sweeps"
"""The folder of example sweep specs, inside the examples folder."""


def _yaml_files(folder) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {p.name.removesuffix(".yaml"): Path(str(p)) for p in sorted(
        folder.iterdir(), key=lambda p: p.name) if p.name.endswith(".yaml")}


def example_networks() -> dict[str, Path]:
    """Name -> path of every installed example network file, sorted by name."""
    return _yaml_files(resources.files("perfsim.workloads") / "examples")


def example_sweeps() -> dict[str, Path]:
    """Name -> path of every installed example sweep spec, sorted by name."""
    return _yaml_files(resources.files("perfsim.workloads") / "examples" / SWEEPS)


def sweep_spec_path(name_or_path: str | Path) -> Path:
    """A sweep spec's path: the file itself, or an installed example by name (with or without
    ``.yaml``); a :class:`ConfigError` lists the examples otherwise."""
    path = Path(name_or_path)
    if path.exists() or path.parent != Path("."):
        return path
    examples = example_sweeps()
    stem = path.name.removesuffix(".yaml")
    if stem in examples:
        return examples[stem]
    raise ConfigError(f"no sweep spec '{name_or_path}': not a file and not an installed "
                      f"example{suggest(stem, list(examples))} (examples: "
                      f"{', '.join(examples)})")


def first_comment(path: Path) -> str:
    """The first sentence of a YAML file's leading comment (its one-line description)."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#").strip())
    return re.split(r"(?<=[.?])\s", " ".join(line for line in lines if line), maxsplit=1)[0]
