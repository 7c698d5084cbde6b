"""SCALE-Sim interop: its topology CSVs as networks, its ``.cfg`` files as hardware.

SCALE-Sim (Samajdar et al., ISPASS 2020; read from v3.0.0's ``topology_utils.py`` and
``scale_config.py``) describes a workload as a CSV and an accelerator as an INI file. perfsim
reads both, so ``perfsim run alexnet.csv --hw scale.cfg`` costs SCALE-Sim's own inputs with the
DESIGN section 4.1 model, which is SCALE-Sim's.

**Topologies** (:func:`load_scalesim_topology`). The header row picks the format:

* conv: ``Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels,
  Num Filter, Strides,`` (or SCALE-Sim's own writer's ``Stride height, Stride width``);
* GEMM: ``Layer, M, N, K,``.

Each row may end in a comma (SCALE-Sim drops whatever follows the last comma, so ``,#dw`` there
is a comment) and may carry SCALE-Sim's sparsity ratio ``N:M`` as one more field, which is
checked and ignored (perfsim models dense compute; SCALE-Sim too unless its config turns
sparsity on, which :func:`load_scalesim_config` refuses). Blank lines are skipped.

Every row becomes a layer with **an input of its own**: SCALE-Sim costs each row alone, and
its rows need not chain (AlexNet's file skips the pooling layers between convs), so chaining
rows whose shapes happen to line up would invent a graph the file does not describe. The
network is named after the file's stem. Decisions that keep perfsim's numbers SCALE-Sim's:

* A conv row is a convolution without padding, bias or dilation. SCALE-Sim sizes its output
  ``ceil((H - F + s) / s)``, letting the last window hang past the edge (it reads nothing
  there), where a no-padding convolution has ``(H - F) // s + 1`` outputs; perfsim pads the
  bottom and right by ``(s - (H - F) % s) % s`` zeros, the overhanging part of that last window,
  so output sizes, MACs and cycles are SCALE-Sim's (they differ when ``s`` does not divide
  ``H - F``: AlexNet's Conv1, ResNet-50's stride-2 layers).
* A row whose name contains ``DP`` is depthwise, as in SCALE-Sim, which runs it as one layer
  per channel, each with ``Num Filter`` filters over that channel: perfsim makes it one conv
  with ``groups = Channels`` and ``Channels * Num Filter`` outputs, whose matrix-engine cycles
  (``G`` GEMMs back to back) are the sum of SCALE-Sim's per-channel layers.
* A GEMM row multiplies an ``M x K`` matrix by a ``K x N`` one. SCALE-Sim runs it as a conv of
  an ``M x K`` one-channel map with ``N`` filters of ``1 x K``: ``M`` output pixels, ``N``
  filters, reduction ``K``. perfsim makes it the same GEMM as a 1x1 convolution of a
  ``K``-channel ``M x 1`` map with ``N`` filters (DESIGN section 2: ``Np = M``, ``K = N``,
  ``T_red = K``), output ``(N, M, 1)``; SCALE-Sim's output map is ``M x 1`` too.

**Configs** (:func:`load_scalesim_config`). perfsim reads these keys (case-insensitively, as
``configparser`` and SCALE-Sim do):

* ``[general] run_name``: the accelerator's name;
* ``[architecture_presets] ArrayHeight, ArrayWidth``: the matrix engine ``array``, rows x
  columns, and ``Dataflow`` (``os``, ``ws``, ``is``: output, weight, input stationary);
* ``[architecture_presets] IfmapSramSzkB, FilterSramSzkB, OfmapSramSzkB``: the SRAM per operand
  (SCALE-Sim's kB are 1024 bytes); the SRAM's size is their sum;
* ``[run_presets] InterfaceBandwidth``: ``CALC`` or ``USER``, and in ``USER`` mode
  ``[architecture_presets] Bandwidth``, the DRAM's words per cycle (below);
* ``[sparsity] SparsitySupport``, when present, must be false.

Every other key and section (memory offsets, request buffers, SRAM bank layouts, Ramulator and
linear time models, ...) belongs to one SCALE-Sim version or another and is not modelled by
perfsim; it is accepted and ignored, so SCALE-Sim's own configs load unchanged. A misspelt key
perfsim reads shows up as that key missing, with the near miss suggested.

* Units: SCALE-Sim counts cycles and words; a word is 1 byte (``word_size = 1`` in its
  ``single_layer_sim.py``) and perfsim runs it at 1 GHz, so ``Bandwidth`` words per cycle are
  ``Bandwidth`` bytes per cycle and GB/s. Precision is int8 (1-byte activations and weights,
  SCALE-Sim's word) with 4-byte accumulators, as an int8 array sums into int32.
* ``CALC`` is SCALE-Sim's stall-free mode: it runs the array unhindered and reports the DRAM
  bandwidth that would take. perfsim gives DRAM and SRAM a bandwidth
  (:data:`UNLIMITED_BYTES_PER_CYCLE`) that moves any layer's bytes in a negligible fraction
  of a cycle, so a layer's total cycles are its compute cycles, the DESIGN section 4.1 count,
  and nothing else adds.
* ``USER`` gives DRAM bandwidths as a list; SCALE-Sim v3 feeds its first entry to the output
  buffer (its input buffers take theirs from the ``[layout]`` bank bandwidths). perfsim has one
  DRAM channel shared by all operands and gives it the first entry. The SRAM bandwidth stays
  unlimited in both modes: SCALE-Sim's buffers feed the array every cycle whatever it needs.
* SCALE-Sim has no vector engine: its topologies hold only conv and GEMM rows, all run on the
  array. perfsim adds ``vector`` with one lane per array column (``ArrayWidth`` lanes, no
  pipeline latency) for the ops an array cannot run (pooling, activations, ...) when a zoo
  network runs on a SCALE-Sim config: as wide as the array's output row, like the TPU's
  activation unit under its 256 columns, it keeps pace with the outputs the array drains.
  Because perfsim otherwise runs each layer on the engine that finishes first, and a
  badly shaped GEMM (``M = 1``) can finish sooner on ``vector``, runs that mean to reproduce
  SCALE-Sim pin the GEMM ops to the array with :data:`SCALESIM_PINS`.

Problems are :class:`~perfsim.errors.WorkloadError` (topologies) or
:class:`~perfsim.errors.ConfigError` (configs) naming ``file:line``; a config's problems are
collected and reported together as ``file:line: section.Key: problem``.
"""

from __future__ import annotations

import configparser
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from perfsim.errors import ConfigError, WorkloadError, problems_text, suggest
from perfsim.hardware.limits import MAX_BANDWIDTH
from perfsim.hardware.model import Dram, HwConfig, MatrixEngine, Precision, Sram, VectorEngine
from perfsim.hardware.rules import Key, keys_of, value_problems
from perfsim.text_files import is_file, read_text
from perfsim.workload.limits import MAX_DIM, power_text

if TYPE_CHECKING:  # the topology half builds networks; a config needs none of it
    from perfsim.workload.network import Layer, Network

TOPOLOGY_SUFFIX = ".csv"
CONFIG_SUFFIX = ".cfg"

ARRAY_ENGINE = "array"
VECTOR_ENGINE = "vector"


def __getattr__(name: str):
    """``SCALESIM_PINS``, built from the op registry on first use (so that loading a config
    does not load the op registry): ``simulate(..., pin=SCALESIM_PINS)`` runs every
    GEMM-shaped op on the array, as SCALE-Sim does."""
    if name == "SCALESIM_PINS":
        from perfsim.workload.ops import OPS

        return {kind: ARRAY_ENGINE for kind, cls in OPS.items() if "matrix" in cls.engine_kinds}
    raise AttributeError(f"module 'perfsim.io.scalesim' has no attribute {name!r}")

CLOCK_GHZ = 1.0
WORD_BYTES = 1
PRECISION = Precision(activation_bytes=WORD_BYTES, weight_bytes=WORD_BYTES,
                      accumulator_bytes=4)
UNLIMITED_BYTES_PER_CYCLE = MAX_BANDWIDTH
"""Bandwidth standing for "no limit", the most a config may give (1e30): even 1e20 bytes move
in 1e-10 of a cycle, below the rounding of perfsim's pipeline time (1e-6 cycle), so a layer's
bytes add no cycle."""

DATAFLOWS = {"os": "output_stationary", "ws": "weight_stationary", "is": "input_stationary"}
BANDWIDTH_MODES = ("CALC", "USER")

_INTEGER = re.compile(r"\+?[0-9]+")
_SPARSITY = re.compile(r"([0-9]+):([0-9]+)")


# --------------------------------------------------------------------------- topologies


@dataclass(frozen=True)
class _Format:
    """One topology format: its name and the names of its numeric columns, in order."""

    name: str
    columns: tuple[str, ...]


CONV = _Format("conv", ("IFMAP Height", "IFMAP Width", "Filter Height", "Filter Width",
                        "Channels", "Num Filter", "Strides"))
CONV_TWO_STRIDES = _Format("conv", CONV.columns[:-1] + ("Stride Height", "Stride Width"))
GEMM = _Format("GEMM", ("M", "N", "K"))
HEADERS = ("'Layer name, IFMAP Height, IFMAP Width, Filter Height, Filter Width, Channels, "
           "Num Filter, Strides,' (conv) or 'Layer, M, N, K,' (GEMM)")


def _fields(line: str) -> list[str]:
    """A row's fields, stripped, without what follows its last comma when that is empty or a
    ``#`` comment (SCALE-Sim drops whatever follows the last comma)."""
    fields = [f.strip() for f in line.split(",")]
    if len(fields) > 1 and (not fields[-1] or fields[-1].startswith("#")):
        fields.pop()
    return fields


def _format_of(header: str) -> _Format | None:
    """The format a header row announces, or None."""
    cells = [c.replace(" ", "").lower() for c in _fields(header)] + [""]
    if cells[1:4] == ["m", "n", "k"]:
        return GEMM
    conv_cells = [c.replace(" ", "").lower() for c in CONV.columns[:-1]]
    if cells[1:7] == conv_cells and cells[7].startswith("stride"):
        return CONV_TWO_STRIDES if cells[8].startswith("stride") else CONV
    return None


def _header(lines: list[str]) -> tuple[int, str] | None:
    """(1-based line, text) of the first non-blank line."""
    for number, line in enumerate(lines, 1):
        if line.strip():
            return number, line
    return None


def is_scalesim_topology(path: str | Path) -> bool:
    """Whether ``path`` is a ``.csv`` file whose header row is a SCALE-Sim topology's."""
    path = Path(path)
    if path.suffix.lower() != TOPOLOGY_SUFFIX or not is_file(path):
        return False
    try:
        header = _header(read_text(path, WorkloadError).splitlines())
    except WorkloadError:
        return False
    return header is not None and _format_of(header[1]) is not None


def load_scalesim_topology(path: str | Path) -> Network:
    """A SCALE-Sim topology CSV (conv or GEMM format) as a network of independent layers, each
    reading an input of its own, named after the file's stem (module docstring)."""
    from perfsim.workload.network import Layer, Network, check_layer_size

    path = Path(path)
    lines = read_text(path, WorkloadError).splitlines()
    header = _header(lines)
    if header is None:
        raise WorkloadError(f"{path}:1: empty file: a SCALE-Sim topology starts with the "
                            f"header {HEADERS}")
    header_line, header_text = header
    fmt = _format_of(header_text)
    if fmt is None:
        raise WorkloadError(f"{path}:{header_line}: not a SCALE-Sim topology header: expected "
                            f"{HEADERS}, got '{header_text.strip()}'")
    layers: list[Layer] = []
    first_line: dict[str, int] = {}
    for number, line in enumerate(lines[header_line:], header_line + 1):
        if not line.strip():
            continue
        name, values = _row(path, number, line, fmt)
        input_name = f"{name}/ifmap"
        for taken in (name, input_name):
            if taken in first_line:
                raise WorkloadError(f"{path}:{number}: layer '{name}': the name '{taken}' is "
                                    f"taken by the row at line {first_line[taken]}")
            first_line[taken] = number
        try:
            ifmap, layer = _layers(path, number, name, input_name, values, fmt)
        except ValueError as err:  # a depthwise row's Channels x Num Filter outputs
            raise WorkloadError(f"{path}:{number}: layer '{name}': {err}") from None
        try:
            check_layer_size(path.stem, layer, (ifmap.op.shape,),
                             layer.op.out_shapes((ifmap.op.shape,)), 1)
        except WorkloadError as err:
            raise WorkloadError(f"{path}:{number}: {err}") from None
        layers += [ifmap, layer]
    if not layers:
        raise WorkloadError(f"{path}:{header_line}: no layers: the header is the only row")
    rows = len(layers) // 2
    description = (f"SCALE-Sim {fmt.name} topology {path.name}: {rows} layer(s), each with an "
                   f"input of its own (SCALE-Sim costs every row alone)")
    return Network(path.stem, tuple(layers), 1, description, str(path))


def _row(path: Path, number: int, line: str, fmt: _Format) -> tuple[str, tuple[int, ...]]:
    """A data row's layer name and numeric fields, checked."""
    fields = _fields(line)
    wanted = 1 + len(fmt.columns)
    if len(fields) not in (wanted, wanted + 1):
        raise WorkloadError(f"{path}:{number}: expected {wanted} fields (name, "
                            f"{', '.join(fmt.columns)}) and an optional sparsity ratio N:M, "
                            f"got {len(fields)}: '{line.strip()}'")
    name = fields[0]
    if not name:
        raise WorkloadError(f"{path}:{number}: the layer name (first field) is empty")
    values = []
    for column, text in zip(fmt.columns, fields[1:wanted]):
        if not _INTEGER.fullmatch(text) or int(text) < 1:
            raise WorkloadError(f"{path}:{number}: layer '{name}': {column}: expected a "
                                f"positive integer, got '{text}'")
        if int(text) > MAX_DIM:
            raise WorkloadError(f"{path}:{number}: layer '{name}': {column}: {int(text):,} is "
                                f"beyond {power_text(MAX_DIM)}, the largest size perfsim "
                                f"accepts")
        values.append(int(text))
    if len(fields) > wanted:
        ratio = _SPARSITY.fullmatch(fields[wanted])
        if not ratio or not 1 <= int(ratio[1]) <= int(ratio[2]):
            raise WorkloadError(f"{path}:{number}: layer '{name}': sparsity ratio: expected "
                                f"N:M with 1 <= N <= M, got '{fields[wanted]}'")
    return name, tuple(values)


def _layers(path: Path, number: int, name: str, input_name: str, values: tuple[int, ...],
            fmt: _Format) -> tuple[Layer, Layer]:
    """The input and the conv of one row."""
    from perfsim.workload.network import Layer
    from perfsim.workload.ops import make_op

    if fmt is GEMM:
        m, n, k = values
        return (Layer(input_name, make_op("input", shape=(k, m, 1))),
                Layer(name, make_op("conv", out_channels=n, kernel=1, bias=False),
                      (input_name,)))
    h, w, fy, fx, c, k, *strides = values
    sy, sx = (strides[0], strides[0]) if len(strides) == 1 else strides
    for what, f, size in (("Height", fy, h), ("Width", fx, w)):
        if f > size:
            raise WorkloadError(f"{path}:{number}: layer '{name}': Filter {what} {f} exceeds "
                                f"IFMAP {what} {size}")
    # The overhanging part of SCALE-Sim's last window: output ceil((H - F + s) / s).
    padding = (0, 0, -(h - fy) % sy, -(w - fx) % sx)
    groups = c if "DP" in name else 1
    return (Layer(input_name, make_op("input", shape=(c, h, w))),
            Layer(name, make_op("conv", out_channels=k * groups, kernel=(fy, fx),
                                stride=(sy, sx), padding=padding, groups=groups, bias=False),
                  (input_name,)))


# --------------------------------------------------------------------------- configs


def is_scalesim_config(path: str | Path) -> bool:
    """Whether ``path`` names a SCALE-Sim config (a ``.cfg`` file; perfsim's own are YAML)."""
    return Path(path).suffix.lower() == CONFIG_SUFFIX


_SECTION_LINE = re.compile(r"\s*\[(.+)\]\s*$")
_KEY_LINE = re.compile(r"([^\s\[#;=:][^=:]*?)\s*[=:]")


@dataclass(frozen=True)
class _ConfigFile:
    """A parsed SCALE-Sim config and where each section and key is written (1-based lines;
    keys lower-cased, as ``configparser`` stores them, with their spelling in the file)."""

    path: Path
    parser: configparser.ConfigParser
    section_lines: dict[str, int]
    key_lines: dict[tuple[str, str], int]
    spellings: dict[tuple[str, str], str]


def _scan(path: Path, text: str, parser: configparser.ConfigParser) -> _ConfigFile:
    section_lines: dict[str, int] = {}
    key_lines: dict[tuple[str, str], int] = {}
    spellings: dict[tuple[str, str], str] = {}
    section = None
    for number, line in enumerate(text.splitlines(), 1):
        header = _SECTION_LINE.match(line)
        if header:
            section = header[1]
            section_lines.setdefault(section, number)
            continue
        key = _KEY_LINE.match(line)
        if section is not None and key:
            where = (section, parser.optionxform(key[1]))
            key_lines.setdefault(where, number)
            spellings.setdefault(where, key[1])
    return _ConfigFile(path, parser, section_lines, key_lines, spellings)


def _syntax_error(path: Path, err: configparser.Error) -> str:
    """``file:line: ...`` for what ``configparser`` rejects."""
    if isinstance(err, configparser.DuplicateSectionError):
        return f"{path}:{err.lineno}: [{err.section}]: duplicate section"
    if isinstance(err, configparser.DuplicateOptionError):
        return f"{path}:{err.lineno}: {err.section}.{err.option}: duplicate key"
    if isinstance(err, configparser.MissingSectionHeaderError):
        return (f"{path}:{err.lineno}: a key before any [section] header: "
                f"'{err.line.strip()}'")
    if isinstance(err, configparser.ParsingError):
        number, line = err.errors[0]
        return (f"{path}:{number}: neither 'Key: value' nor '[section]': "
                f"'{line.strip()}'")
    return f"{path}: {err}"


class _Reader:
    """Reads keys of a config, collecting every problem as ``file:line: section.Key: ...``."""

    def __init__(self, cfg: _ConfigFile):
        self.cfg = cfg
        self.problems: list[tuple[int, str]] = []

    def problem(self, section: str, key: str, text: str) -> None:
        cfg = self.cfg
        line = cfg.key_lines.get((section, cfg.parser.optionxform(key)),
                                 cfg.section_lines.get(section, 1))
        self.problems.append((line, f"{cfg.path}:{line}: {section}.{key}: {text}"))

    def text(self, section: str, key: str, required: bool = True) -> str | None:
        """The raw value, or None (a problem when ``required``)."""
        parser = self.cfg.parser
        if not parser.has_section(section):
            if required:
                near = suggest(section, parser.sections())
                self.problem(section, key, f"required key is missing: there is no "
                                           f"[{section}] section{near}")
            return None
        if not parser.has_option(section, key):
            if required:
                spelt = [self.cfg.spellings.get((section, k), k) for k in parser[section]]
                self.problem(section, key, f"required key is missing"
                                           f"{suggest(key, spelt)}")
            return None
        return parser.get(section, key).strip()

    def positive_int(self, section: str, key: str, limit: Key) -> int | None:
        """A positive integer within the limits of ``limit``, the perfsim key it becomes."""
        value = self.text(section, key)
        if value is None:
            return None
        if not _INTEGER.fullmatch(value) or int(value) < 1:
            self.problem(section, key, f"expected a positive integer, got '{value}'")
            return None
        problems = value_problems(limit, int(value))
        for text in problems:
            self.problem(section, key, text)
        return None if problems else int(value)

    def choice(self, section: str, key: str, choices: tuple[str, ...]) -> str | None:
        value = self.text(section, key)
        if value is None:
            return None
        if value not in choices:
            hint = (f"; did you mean: {value.lower()}?" if value.lower() in choices else
                    f"; did you mean: {value.upper()}?" if value.upper() in choices else
                    suggest(value, list(choices)))
            self.problem(section, key, f"must be one of {', '.join(choices)}, got "
                                       f"'{value}'{hint}")
            return None
        return value

    def bandwidth(self) -> int | None:
        """USER mode's ``Bandwidth``: a comma-separated list of positive integers; the first."""
        section, key = "architecture_presets", "Bandwidth"
        value = self.text(section, key)
        if value is None:
            return None
        entries = [v.strip() for v in value.split(",")]
        if not all(_INTEGER.fullmatch(v) and int(v) > 0 for v in entries):
            self.problem(section, key, f"expected words per cycle, a positive integer (or a "
                                       f"comma-separated list of them), got '{value}'")
            return None
        problems = value_problems(keys_of(Dram)["bandwidth_gb_per_s"],
                                  int(entries[0]) * WORD_BYTES * CLOCK_GHZ)
        for text in problems:
            self.problem(section, key, text)
        return None if problems else int(entries[0])

    def dense(self) -> None:
        """SCALE-Sim's sparse mode changes its cycle counts; perfsim models dense compute."""
        value = self.text("sparsity", "SparsitySupport", required=False)
        if value is None or value.lower() == "false":
            return
        if value.lower() == "true":
            self.problem("sparsity", "SparsitySupport", "perfsim models dense compute only; "
                         "SCALE-Sim's sparse mode changes its cycle counts (set it to false)")
        else:
            self.problem("sparsity", "SparsitySupport", f"expected true or false, got "
                                                        f"'{value}'")


def load_scalesim_config(path: str | Path) -> HwConfig:
    """A SCALE-Sim ``.cfg`` file as a perfsim accelerator (module docstring): the array with
    its dataflow, the per-operand SRAMs, the DRAM bandwidth of its mode, a vector engine."""
    path = Path(path)
    text = read_text(path, ConfigError)
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(text, source=str(path))
    except configparser.Error as err:
        raise ConfigError(_syntax_error(path, err)) from None
    read = _Reader(_scan(path, text, parser))
    arch = "architecture_presets"
    name = read.text("general", "run_name")
    if name == "":
        read.problem("general", "run_name", "must not be empty")
    array = keys_of(MatrixEngine)
    rows = read.positive_int(arch, "ArrayHeight", array["rows"])
    cols = read.positive_int(arch, "ArrayWidth", array["cols"])
    sram_kib = [read.positive_int(arch, key, keys_of(Sram)["size_kib"])
                for key in ("IfmapSramSzkB", "FilterSramSzkB", "OfmapSramSzkB")]
    if None not in sram_kib:
        for text in value_problems(keys_of(Sram)["size_kib"], sum(sram_kib)):  # type: ignore
            read.problem(arch, "OfmapSramSzkB", f"the three SRAMs together {text}")
    dataflow = read.choice(arch, "Dataflow", tuple(DATAFLOWS))
    mode = read.choice("run_presets", "InterfaceBandwidth", BANDWIDTH_MODES)
    words_per_cycle = read.bandwidth() if mode == "USER" else None
    read.dense()
    if read.problems:
        raise ConfigError(problems_text(str(path), sorted(read.problems)))
    ifmap, filter_, ofmap = sram_kib
    dram_bytes_per_cycle = (UNLIMITED_BYTES_PER_CYCLE if mode == "CALC"
                            else words_per_cycle * WORD_BYTES)  # type: ignore[operator]
    return HwConfig(
        name=name, clock_ghz=CLOCK_GHZ, precision=PRECISION,  # type: ignore[arg-type]
        engines=(MatrixEngine(ARRAY_ENGINE, rows, cols, DATAFLOWS[dataflow]),  # type: ignore
                 VectorEngine(VECTOR_ENGINE, cols)),  # type: ignore[arg-type]
        sram=Sram(size_kib=ifmap + filter_ + ofmap,  # type: ignore[operator]
                  bandwidth_bytes_per_cycle=UNLIMITED_BYTES_PER_CYCLE, ifmap_kib=ifmap,
                  filter_kib=filter_, ofmap_kib=ofmap),
        dram=Dram(bandwidth_gb_per_s=dram_bytes_per_cycle * CLOCK_GHZ, latency_ns=0.0))
