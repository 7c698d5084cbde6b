"""The README's examples run as written: the quick start's perfsim command, every command in
a ``sh`` block, and the Python snippet."""

from __future__ import annotations

import re
import shlex
import shutil
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


def test_readme_commands_run_in_order(tmp_path):
    """Every `perfsim ...` command of the README, in order, in one scratch copy of the folders
    the examples name (later commands read files earlier ones write; --out writes nothing
    into the checkout)."""
    for folder in ("workloads", "hw_configs", "scripts"):
        shutil.copytree(ROOT / folder, tmp_path / folder)
    commands = perfsim_commands()
    assert len(commands) >= 15
    for command in commands:
        args = shlex.split(command)[1:]
        result = subprocess.run([sys.executable, "-m", "perfsim", *args], cwd=tmp_path,
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, f"{command}: {result.stderr}"
        assert result.stdout.strip(), command


def test_readme_python_snippet_runs(tmp_path):
    (snippet,) = [b for b in blocks("python") if "load_workload" in b]
    # From outside the checkout, whose perfsim/ folder would shadow the installed package.
    result = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, timeout=300,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "depthwise conv" in result.stdout
