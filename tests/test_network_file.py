"""perfsim's own network format: the shipped examples load, and every kind of malformed file
is one WorkloadError naming the file, the line and the key or layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from perfsim import WorkloadError, load_workload, totals
from perfsim.io.network_file import load_network_file

EXAMPLES = Path(__file__).parent.parent / "workloads" / "examples"

GOOD = """\
name: small
input_shape: [3, 32, 32]
layers:
  - {name: conv1, op: conv, out_channels: 8, kernel: 3, padding: 1}
  - {name: relu1, op: relu}
  - {name: fc, op: fc, out_features: 10}
"""


def write(tmp_path, text, name="net.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_examples_load_and_count_by_hand():
    tiny = load_workload(EXAMPLES / "tiny_cnn.yaml")
    assert tiny.name == "tiny_cnn" and tiny.shape_of("prob") == (10, 1, 1)
    # conv1 3*32*9 + bn 64; dw 32*9 + bn 64; pw 32*32 + bn 64; dilated 64*32*9 + 64; fc 640 + 10.
    assert totals(tiny)["params"] == 864 + 64 + 288 + 64 + 1024 + 64 + 18496 + 650
    lstm = load_workload(EXAMPLES / "lstm_tagger.yaml", batch=2)
    assert lstm.inputs[0].name == "tokens" and lstm.batch == 2
    assert totals(lstm)["macs"] == 2 * 32 * (4 * 256 * (128 + 256) + 4 * 256 * (256 + 256)
                                             + 17 * 256)


def test_inputs_default_to_the_previous_layer(tmp_path):
    net = load_network_file(write(tmp_path, GOOD))
    assert net.layer("relu1").inputs == ("conv1",) and net.layer("fc").inputs == ("relu1",)
    assert totals(net)["params"] == 8 * 27 + 8 + 8 * 32 * 32 * 10 + 10


@pytest.mark.parametrize("text,line,fragments", [
    ("name: x\ninput_shape: [3, 8, 8]\nlayers:\n  - {name: a, op: relu\n", 5,
     ["invalid YAML", "flow mapping at line 4"]),
    ("name: x\ninput_shape: [3, 8, 8]\nlayers:\n  - {name: a, op: cnv, out_channels: 4}\n", 4,
     ["layers[0].op", "unknown op 'cnv'", "did you mean: conv"]),
    ("name: x\ninput_shape: [3, 8, 8]\nlayers:\n  - {name: a, op: relu}\n"
     "  - {name: b, op: add, inputs: [a, ghost]}\n", 5,
     ["layer 'b'", "input 'ghost' is not a layer defined before it"]),
    ("name: x\ninput_shape: [3, 8, 8]\nlayers:\n  - {name: a, op: conv, out_channels: 4, "
     "kernel: 3, padding: 1}\n  - {name: b, op: add, inputs: [a, input]}\n", 5,
     ["layer 'b'", "'a' with shape [4, 8, 8]", "'input' with shape [3, 8, 8]"]),
    ("name: x\ninput_shape: [3, 8, 8]\nname: y\nlayers: []\n", 3,
     ["duplicate key 'name'", "first at line 1"]),
    ("name: x\ninput_shape: [3, 8, 8]\nlayers:\n  - name: a\n    op: conv\n"
     "    out_channels: 4\n    kernal: 3\n", 7,
     ["layers[0].kernal", "has no attribute 'kernal'", "did you mean: kernel"]),
    ("name: x\ninput_shape: [3, 8, 8]\nlayres: []\n", 3,
     ["unknown key 'layres'", "did you mean: layers"]),
    ("name: x\ninput_shape: [3, 8]\nlayers:\n  - {name: a, op: relu}\n", 2,
     ["input_shape", "[C, H, W]"]),
    ("name: x\ninput_shape: [3, 8, 8]\nlayers:\n  - {name: a, op: conv, out_channels: -4}\n",
     4, ["layer 'a' (conv)", "out_channels must be a positive integer"]),
    ("name: x\ninput_shape: [3, 8, 8]\nlayers:\n  - {name: a, op: fc, out_features: 4, "
     "in_features: 100}\n", 4, ["layer 'a'", "expects 100 input features, got 192"]),
    ("- just\n- a list\n", 1, ["a network file is a mapping"]),
    ("name: x\ninput_shape: [3, 8, 8]\nlayers:\n  - {op: relu}\n", 4, ["layer has no 'name'"]),
])
def test_malformed_files_name_file_line_and_place(tmp_path, text, line, fragments):
    path = write(tmp_path, text)
    with pytest.raises(WorkloadError) as err:
        load_network_file(path)
    message = str(err.value)
    assert message.startswith(f"{path}:{line}:"), message
    for fragment in fragments:
        assert fragment in message, message
    assert "\n" not in message


def test_missing_and_binary_files(tmp_path):
    with pytest.raises(WorkloadError, match="no such file"):
        load_workload(tmp_path / "absent.yaml")
    path = tmp_path / "garbage.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe")
    with pytest.raises(WorkloadError, match=str(path)):
        load_workload(path)
