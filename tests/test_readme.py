"""The README's examples run as written: the quick start's perfsim command, every command in
a ``sh`` block, and the Python snippet."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parent.parent
README = (ROOT / "README.md").read_text()


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def perfsim_commands() -> list[str]:
    """Each `perfsim ...` command of the sh blocks (the part after `&&` in the quick start)."""
    commands = []
    for block in blocks("sh"):
        for line in block.splitlines():
            command = line.split("&&")[-1].strip()
            if command.startswith("perfsim "):
                commands.append(command)
    return commands


def test_quick_start_is_exactly_two_commands():
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", quick, flags=re.S)
    lines = block.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("pip install . && perfsim ")
    assert lines[1] == 'pip install ".[test]" && pytest'


def test_readme_commands_run_in_order_from_an_empty_directory(tmp_path):
    """Every `perfsim ...` command of the README, in order, from an empty directory outside
    the checkout, as after `pip install .`: the networks, examples, sweep specs and hardware
    configs they name come with the installed package (later commands read files earlier
    ones write). Every default text table fits 120 columns."""
    assert not tmp_path.resolve().is_relative_to(ROOT.resolve())
    commands = perfsim_commands()
    assert len(commands) >= 25
    for command in commands:
        args = shlex.split(command)[1:]
        result = subprocess.run([sys.executable, "-m", "perfsim", *args], cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert result.stdout.strip(), command
        if args[0] in ("run", "list", "compare") and "--format" not in args \
                and "--columns" not in args:  # named columns are printed whole
            width = max(map(len, result.stdout.splitlines()))
            assert width <= 120, f"{command}: {width} columns"


def test_quick_start_run_fits_120_columns_and_tells_the_depthwise_story(tmp_path):
    command = README.split("## Quick start", 1)[1].split("```sh\n", 1)[1].splitlines()[0]
    args = shlex.split(command.split("&&")[-1])[1:]
    result = subprocess.run([sys.executable, "-m", "perfsim", *args], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(map(len, lines)) <= 120
    text = " ".join(line.strip() for line in lines)
    # the summary's middle line: depthwise layers, few MACs, many cycles, on the vector unit
    assert "by kind: depthwise conv 3% of MACs in 48% of cycles (vpu" in text
    assert "hardware: " in text and "matrix_engine.yaml (shipped)" in text
    dw = next(line for line in lines if line.startswith("block1/dw "))
    assert "depthwise conv" in dw and " vpu " in dw


def test_readme_python_snippet_runs(tmp_path):
    (snippet,) = [b for b in blocks("python") if "load_workload" in b]
    # From outside the checkout, whose perfsim/ folder would shadow the installed package.
    result = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, timeout=300,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "depthwise conv" in result.stdout
