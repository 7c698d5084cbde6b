"""The zoo's transformers (workloads/transformers.py): counts worked by hand per block and
against the cited references (tests/refs/networks.json), their structure as the reference
implementations have it, ``--seq-len``/``--phase`` through the API, the CLI and sweeps, and
``perfsim show``'s token shapes."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from cli_runs import assert_one_line_error as assert_user_error, perfsim_cli
import perfsim
from perfsim import load_workload, totals
from perfsim.errors import PerfsimError, WorkloadError
from perfsim.sweeps.evaluate import point_id
from perfsim.workload import NetworkBuilder
from perfsim.workload.ops import make_op, user_attributes
from perfsim.workload.zoo import networks_taking, workload_options
from refdata import reference_networks

REFS = reference_networks()
NEW = ("vit_b_16", "bert_base", "gpt2")


# --- counts, by hand ----------------------------------------------------------------------

def block_macs(t: int, d: int = 768, mlp: int = 3072, keys: int | None = None) -> int:
    """One block's MACs at ``t`` query tokens over ``keys`` keys (default ``t``): Q, K, V
    ``3 t d^2``; scores and context ``2 t keys d`` (all heads: ``heads x t x keys x d_head``
    twice); output projection ``t d^2``; MLP ``2 t d mlp``."""
    keys = t if keys is None else keys
    return 3 * t * d * d + 2 * t * keys * d + t * d * d + 2 * t * d * mlp


# A block's parameters (the same in all three): two layer norms 2 * 2 * 768, Q/K/V 3 * (768^2
# + 768), output projection 768^2 + 768, MLP 768 * 3072 + 3072 + 3072 * 768 + 768.
BLOCK_PARAMS = 2 * 1536 + 3 * 590_592 + 590_592 + 2_362_368 + 2_360_064
LM_HEAD_MACS = 768 * 50_257


def test_a_block_has_7_087_872_parameters():
    assert BLOCK_PARAMS == 7_087_872


def test_vit_b_16_by_hand():
    # 224 / 16 = 14: 196 patches of 3 * 16 * 16 = 768 inputs, plus the class token: 197
    patch = 196 * 768 * 768
    assert block_macs(197) == 1_453_954_560
    macs = patch + 12 * block_macs(197) + 768 * 1000
    params = (768 * 768 + 768) + 768 + 197 * 768 + 12 * BLOCK_PARAMS + 1536 + 769_000
    got = totals(load_workload("vit_b_16"))
    assert (got["macs"], got["params"]) == (macs, params) == (17_563_828_224, 86_567_656)
    # torchvision's docs: 86,567,656 parameters and 17.56 GFLOPS (MACs, attention included)
    assert round(macs / 1e9, 2) == REFS["vit_b_16"]["published"]["torchvision_GFLOPS"]


@pytest.mark.parametrize("seq_len", [128, 512, 7])
def test_bert_base_by_hand(seq_len):
    embeddings = 30_522 * 768 + 512 * 768 + 2 * 768 + 1536
    params = embeddings + 12 * BLOCK_PARAMS + 768 * 768 + 768
    macs = 12 * block_macs(seq_len) + 768 * 768  # the pooler on the first token
    got = totals(load_workload("bert_base", seq_len=seq_len))
    assert (got["macs"], got["params"]) == (macs, params)
    assert params == 109_482_240
    if seq_len == 128:
        assert macs == REFS["bert_base"]["macs"] == 11_174_215_680
    if seq_len == 512:
        assert macs == REFS["bert_base"]["macs_at_512"]


@pytest.mark.parametrize("seq_len", [1024, 512, 1])
def test_gpt2_prefill_by_hand(seq_len):
    # the dense L x L causal scores; the head on the last token only
    macs = 12 * block_macs(seq_len) + LM_HEAD_MACS
    params = 50_257 * 768 + 1024 * 768 + 12 * BLOCK_PARAMS + 1536  # the head is tied
    got = totals(load_workload("gpt2", seq_len=seq_len))
    assert (got["macs"], got["params"]) == (macs, params)
    assert params == REFS["gpt2"]["params"] == 124_439_808
    if seq_len == 512:
        assert macs == REFS["gpt2"]["macs_prefill_512"]


@pytest.mark.parametrize("context", [128, 512, 1024, 2])
def test_gpt2_decode_by_hand(context):
    # one query token over the cache of the L - 1 tokens before it and itself: L keys
    macs = 12 * block_macs(1, keys=context) + LM_HEAD_MACS
    got = totals(load_workload("gpt2", seq_len=context, phase="decode"))
    assert got["macs"] == macs and got["params"] == 124_439_808
    if str(context) in REFS["gpt2"]["macs_decode"]:
        assert macs == REFS["gpt2"]["macs_decode"][str(context)]


def test_decode_reads_each_weight_once_and_the_two_tables_one_row():
    # weight elements read: every parameter but the two embedding tables (one row each), plus
    # the tied head's 768 x 50257, read again
    got = totals(load_workload("gpt2", seq_len=128, phase="decode"))
    assert got["weight_elems"] == 124_439_808 - 50_257 * 768 - 1024 * 768 + 2 * 768 \
        + 50_257 * 768


# --- structure -----------------------------------------------------------------------------

def layers_of(network, kind):
    return [layer for layer in network.layers if layer.op.kind == kind]


def test_vit_structure_is_torchvisions():
    net = load_workload("vit_b_16")
    conv = net.layer("patch_embed").op
    assert (conv.kernel, conv.stride, conv.out_channels) == ((16, 16), (16, 16), 768)
    assert net.shape_of("patch_tokens") == (196, 1, 768)
    assert net.layer("class_token").op.shape == (1, 1, 768)
    assert net.layer("tokens").op.axis == 0 and net.shape_of("tokens") == (197, 1, 768)
    assert net.layer("pos_embed").op.max_positions == 197
    assert {layer.op.eps for layer in layers_of(net, "layer_norm")} == {1e-6}
    assert len(layers_of(net, "layer_norm")) == 25
    assert {layer.op.approximate for layer in layers_of(net, "gelu")} == {"none"}
    assert {layer.op.axis for layer in layers_of(net, "softmax")} == {2}
    assert net.shape_of("layer0/attn/scores") == (12, 197, 197)
    assert net.shape_of("class_out") == (1, 1, 768) and net.shape_of("head") == (1, 1, 1000)
    assert not layers_of(net, "placeholder")


def test_vit_at_another_image_size_has_a_position_per_patch():
    net = load_workload("vit_b_16", input_shape=(3, 384, 384))
    assert net.layer("pos_embed").op.max_positions == 24 * 24 + 1 == 577
    with pytest.raises(WorkloadError, match="multiples of 16, got 100x100"):
        load_workload("vit_b_16", input_shape=(3, 100, 100))


def test_bert_structure():
    net = load_workload("bert_base")
    assert [layer.name for layer in net.inputs] == ["input_ids", "token_type_ids"]
    assert {net.shape_of(layer.name) for layer in net.inputs} == {(128, 1, 1)}
    tables = {layer.name: (layer.op.num_embeddings, layer.op.dim)
              for layer in layers_of(net, "embedding")}
    assert tables == {"word_embed": (30_522, 768), "type_embed": (2, 768)}
    assert net.layer("pos_embed").op.max_positions == 512
    assert {layer.op.eps for layer in layers_of(net, "layer_norm")} == {1e-12}
    # post-LN: a block's layer norms read its residual adds
    assert net.layer("layer0/ln1").inputs == ("layer0/add1",)
    assert net.layer("pooler/tanh").inputs == ("pooler/dense",)
    assert net.shape_of("pooler/first") == (1, 1, 768)


def test_gpt2_structure_in_both_phases():
    prefill = load_workload("gpt2")
    assert net_inputs(prefill) == {"input_ids": (1024, 1, 1)}
    assert {layer.op.approximate for layer in layers_of(prefill, "gelu")} == {"tanh"}
    head = prefill.layer("lm_head").op
    assert (head.out_features, head.bias, head.tied) == (50_257, False, True)
    assert prefill.shape_of("last_token") == (1, 1, 768)
    assert prefill.shape_of("layer0/attn/scores") == (12, 1024, 1024)

    # the 101st token: the 100 before it cached, its own key and value appended
    decode = load_workload("gpt2", seq_len=101, phase="decode")
    inputs = net_inputs(decode)
    assert inputs.pop("input_ids") == (1, 1, 1)
    assert inputs == {f"layer{i}/past_{kv}": (12, 100, 64) for i in range(12) for kv in "kv"}
    appends = layers_of(decode, "kv_append")
    assert len(appends) == 24 and {a.op.axis for a in appends} == {1}
    assert decode.shape_of("layer0/attn/k_cache") == (12, 101, 64)
    assert decode.shape_of("layer0/attn/scores") == (12, 1, 101)
    pos = decode.layer("pos_embed").op
    assert (pos.max_positions, pos.offset) == (1024, 100)


def net_inputs(network):
    return {layer.name: network.shape_of(layer.name) for layer in network.inputs}


# --- options -------------------------------------------------------------------------------

def test_the_zoo_declares_which_networks_take_which_options():
    assert workload_options("gpt2") == ("seq_len", "phase")
    assert workload_options("bert_base") == ("seq_len",)
    assert workload_options("vit_b_16") == ("input_shape",)
    assert workload_options("resnet50") == ("input_shape",)
    assert networks_taking("seq_len") == ["bert_base", "gpt2"]


def test_defaults_are_the_published_settings():
    assert load_workload("bert_base").shape_of("input_ids") == (128, 1, 1)
    assert load_workload("gpt2").shape_of("input_ids") == (1024, 1, 1)
    # decode's default is the 1024th token: 1023 cached, the new token at position 1023
    decode = load_workload("gpt2", phase="decode")
    assert decode.shape_of("layer0/past_k") == (12, 1023, 64)
    assert decode.layer("pos_embed").op.offset == 1023


@pytest.mark.parametrize("name,options,says", [
    ("resnet50", {"seq_len": 12}, "resnet50 takes no --seq-len (--seq-len applies to "
                                  "bert_base, gpt2); it takes --input-shape"),
    ("bert_base", {"phase": "decode"}, "bert_base takes no --phase (--phase applies to gpt2)"),
    ("gpt2", {"input_shape": (3, 8, 8)}, "gpt2 takes no --input-shape; it takes --seq-len, "
                                         "--phase"),
    ("gpt2", {"seq_len": 0}, "--seq-len must be a positive integer (tokens), got 0"),
    ("gpt2", {"seq_len": True}, "--seq-len must be a positive integer"),
    ("gpt2", {"phase": "decod"}, "--phase must be one of prefill, decode, got 'decod'; did "
                                 "you mean: decode?"),
    ("gpt2", {"seq_len": 1025}, "a prompt of 1025 tokens does not fit (--seq-len at most 1024)"),
    ("gpt2", {"seq_len": 1025, "phase": "decode"}, "a decode step at a context of 1025 "
                                                    "tokens does not fit (--seq-len at most "
                                                    "1024)"),
    ("gpt2", {"seq_len": 1, "phase": "decode"}, "--seq-len at least 2 with --phase decode"),
    ("bert_base", {"seq_len": 513}, "bert_base has 512 positions"),
    ("tiny_cnn", {"seq_len": 8}, "--seq-len applies to the zoo's bert_base, gpt2, not to "
                                 "tiny_cnn"),
])
def test_bad_options_are_workload_errors(name, options, says):
    with pytest.raises(WorkloadError) as err:
        load_workload(name, **options)
    assert says in str(err.value)


def test_simulate_takes_the_options_with_a_name_only():
    by_name = perfsim.simulate("gpt2", "matrix_engine", seq_len=64, phase="decode")
    built = perfsim.simulate(load_workload("gpt2", seq_len=64, phase="decode"), "matrix_engine")
    assert by_name.totals == built.totals
    with pytest.raises(PerfsimError, match="pass its name instead"):
        perfsim.simulate(load_workload("gpt2"), "matrix_engine", seq_len=64)


# --- token tensors -------------------------------------------------------------------------

def test_networks_declare_their_token_tensors():
    vit = load_workload("vit_b_16")
    assert {"patch_tokens", "class_token", "tokens", "layer0/attn/q", "layer0/attn/merge",
            "ln", "class_out", "head"} <= vit.tokens
    assert not {"input", "patch_embed", "layer0/attn/q_heads", "layer0/attn/scores",
                "layer0/attn/context"} & vit.tokens
    decode = load_workload("gpt2", seq_len=8, phase="decode")
    # one token's heads (12, 1, 64) have a token tensor's form, but are not one
    assert decode.shape_of("layer0/attn/q_heads") == (12, 1, 64)
    assert "layer0/attn/q_heads" not in decode.tokens and "layer0/attn/q" in decode.tokens
    assert "layer0/past_k" not in decode.tokens and "input_ids" in decode.tokens
    assert load_workload("resnet50").tokens == frozenset()


def test_a_token_declaration_is_checked():
    b = NetworkBuilder("t", (4, 2, 8))
    with pytest.raises(WorkloadError, match=r"'input' is declared a token tensor \[T, 1, D\] "
                                            r"but its output is \[4, 2, 8\]"):
        perfsim.Network("t", tuple(b._layers), tokens={"input"})


def test_show_lists_tokens_as_tokens_by_features_and_heads_whole(tmp_path):
    result = perfsim_cli("show", "vit_b_16", "--format", "csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    shape = {row["layer"]: row["out_shape"]
             for row in csv.DictReader(io.StringIO(result.stdout))}
    assert shape["patch_embed"] == "768x14x14"
    assert shape["patch_tokens"] == "196x768"
    assert shape["tokens"] == "197x768" and shape["layer0/mlp/fc1"] == "197x3072"
    assert shape["layer0/attn/q_heads"] == "12x197x64"
    assert shape["layer0/attn/scores"] == "12x197x197"
    assert shape["head"] == "1x1000"
    decode = perfsim_cli("show", "gpt2", "--phase", "decode", "--seq-len", "5", "--format",
                         "json", cwd=tmp_path)
    layers = {r["name"]: r for r in json.loads(decode.stdout)["layers"]}
    assert layers["layer0/attn/q"]["out_shape"] == [1, 768]
    assert layers["layer0/attn/q_heads"]["out_shape"] == [12, 1, 64]
    assert layers["layer0/past_k"]["out_shape"] == [12, 4, 64]  # the 4 tokens before the 5th


def test_the_lecture_view_has_a_full_row_per_linear_layer(tmp_path):
    result = perfsim_cli("show", "bert_base", "--seq-len", "16", "--view", "lecture",
                         "--format", "csv", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    full = [row for row in csv.DictReader(io.StringIO(result.stdout)) if row["type"] == "Full"]
    # 12 blocks of q, k, v, out, fc1, fc2, and the pooler
    assert len(full) == 12 * 6 + 1
    q = full[0]
    # the lecture's rule: a MAC per weight plus a bias add per output; 16 positions of 768
    assert (q["Ni"], q["M"], q["No"]) == ("768", "16", "768")
    assert int(q["MACs"]) == 16 * 768 * (768 + 1)


def test_slice_takes_its_step_by_its_written_name():
    # a field called ``step`` would hide Op.step, which the receptive field reads
    op = make_op("slice", axis=0, start=0, stop=9, step=2)
    assert op.out_shapes(((9, 1, 4),)) == ((5, 1, 4),)
    assert user_attributes(op)["step"] == 2
    assert op.step((9, 1, 4)) == (1, 1)


# --- the command line ----------------------------------------------------------------------

@pytest.mark.parametrize("name,options", [("vit_b_16", []), ("bert_base", []),
                                          ("bert_base", ["--seq-len", "384"]),
                                          ("gpt2", []), ("gpt2", ["--seq-len", "512"]),
                                          ("gpt2", ["--phase", "decode"])])
def test_show_and_run_every_new_network(tmp_path, name, options):
    shown = perfsim_cli("show", name, *options, "--format", "json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    data = json.loads(shown.stdout)
    assert "placeholder" not in {layer["op"] for layer in data["layers"]}
    expected = totals(load_workload(name, **dict(zip(
        [o.strip("-").replace("-", "_") for o in options[::2]],
        [int(v) if v.isdigit() else v for v in options[1::2]]))))
    assert data["totals"]["macs"] == expected["macs"]
    assert data["totals"]["params"] == REFS[name]["params"]
    if not options:
        assert data["totals"]["macs"] == REFS[name]["macs"]
    run = perfsim_cli("run", name, *options, "--hw", "matrix_engine", "--format", "json",
                      cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = json.loads(run.stdout)
    assert rows["totals"]["macs"] == expected["macs"]
    assert rows["totals"]["params"] == REFS[name]["params"]


@pytest.mark.parametrize("args,says", [
    (["show", "resnet50", "--seq-len", "12"], "resnet50 takes no --seq-len"),
    (["show", "bert_base", "--phase", "decode"], "bert_base takes no --phase"),
    (["run", "gpt2", "--hw", "matrix_engine", "--phase", "decode", "--seq-len", "1025"],
     "a decode step at a context of 1025 tokens does not fit (--seq-len at most 1024)"),
    (["show", "gpt2", "--seq-len", "0"], "--seq-len must be a positive integer (tokens)"),
    (["show", "gpt2", "--seq-len", "-4"], "--seq-len must be a positive integer (tokens)"),
    (["show", "gpt2", "--seq-len", "12.5"], "got '12.5'"),
    (["show", "gpt2", "--seq-len", "2000"], "gpt2 has 1024 positions"),
    (["show", "gpt2", "--phase", "train"], "--phase must be one of prefill, decode"),
    (["export", "vit_b_16", "v.onnx", "--seq-len", "8"], "vit_b_16 takes no --seq-len"),
])
def test_cli_option_errors_are_one_line(tmp_path, args, says):
    assert_user_error(perfsim_cli(*args, cwd=tmp_path), says)


# --- sweeps --------------------------------------------------------------------------------

def test_sweep_rows_per_length_and_phase():
    frame = perfsim.sweep("gpt2", "matrix_engine", seq_len=[1, 1024],
                          phase=["prefill", "decode"], executor="serial")
    assert list(frame[["seq_len", "phase"]].itertuples(index=False, name=None)) == [
        (1, "prefill"), (1, "decode"), (1024, "prefill"), (1024, "decode")]
    assert list(frame["status"]) == ["ok", "infeasible", "ok", "ok"]
    assert "at least 2 with --phase decode" in frame["reason"].iloc[1]
    ok = frame[frame["status"] == "ok"]
    for (_, row) in ok.iterrows():
        net = load_workload("gpt2", seq_len=int(row["seq_len"]), phase=row["phase"])
        assert row["macs"] == totals(net)["macs"]


def test_a_sweep_without_sequence_settings_keeps_its_point_ids():
    # resumable directories written before sweeps had sequence settings keep their ids
    point = {"engines.mxu.rows": 64}
    assert point_id(point, "alexnet", 1) == point_id(point, "alexnet", 1, ())
    assert point_id(point, "gpt2", 1, (("seq_len", 64),)) != point_id(point, "gpt2", 1)


@pytest.mark.parametrize("workloads,options,says", [
    (["resnet50"], {"seq_len": 64}, "seq_len 64: resnet50 takes no --seq-len"),
    (["gpt2"], {"seq_len": [64, 64]}, "seq_len lists a value twice"),
    (["gpt2"], {"phase": "train"}, "phase 'train': --phase must be one of prefill, decode"),
    (["bert_base"], {"seq_len": 600}, "seq_len 600: bert_base has 512 positions"),
])
def test_sweep_refuses_bad_sequence_settings(workloads, options, says):
    with pytest.raises(PerfsimError) as err:
        perfsim.sweep(workloads, "matrix_engine", executor="serial", **options)
    assert says in str(err.value)


def test_spec_keys_seq_len_and_phase(tmp_path):
    spec = tmp_path / "spec.yaml"
    spec.write_text("workloads: [gpt2]\nhw: matrix_engine\nseq_len: [32, 64]\n"
                    "phase: decode\n")
    out = tmp_path / "out"
    result = perfsim_cli("sweep", spec, "--out", out, "--workers", 1, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "x 2 seq_len value(s) x 1 phase value(s) = 2 rows (2 ok" in result.stdout
    frame = pd.read_csv(out / "sweep.csv")
    assert list(frame["seq_len"]) == [32, 64] and list(frame["phase"]) == ["decode"] * 2


@pytest.mark.parametrize("body,where", [
    ("workloads: [resnet50]\nhw: matrix_engine\nseq_len: 64\n",
     ":3: seq_len: resnet50 takes no --seq-len"),
    ("workloads: [gpt2]\nhw: matrix_engine\nseq_len: [64, 0]\n",
     ":3: seq_len[1]: expected a positive integer (tokens), got 0"),
    ("workloads: [gpt2]\nhw: matrix_engine\nphase: [prefill, decod]\n",
     ":3: phase[1]: expected one of prefill, decode, got 'decod'; did you mean: decode?"),
    ("workloads: [gpt2]\nhw: matrix_engine\nseq_len: [1024, 2000]\n",
     ":3: seq_len[1]: gpt2 has 1024 positions"),
])
def test_bad_spec_sequence_keys_name_their_line(tmp_path, body, where):
    spec = tmp_path / "spec.yaml"
    spec.write_text(body)
    result = perfsim_cli("sweep", spec, "--out", tmp_path / "out", cwd=tmp_path)
    assert_user_error(result, f"{spec}{where}")
