"""The transformer headline claims, as perfsim's numbers have them on ``matrix_engine`` (README,
"Transformers and LLMs"): GPT-2's decode reads every weight once per token, prefill does not;
batching decode raises MACs per DRAM byte, less than in proportion because each sequence brings
its own KV cache; the cache's share of DRAM traffic grows with the context; ViT-B/16's matrix
products run on the array and its layer norms and softmax on the vector unit.

``matrix_engine`` is int8 (1 byte a weight, 1 an activation), 16,384 MACs a cycle against 30
DRAM bytes a cycle: a machine balance of 546 MACs per DRAM byte."""

from __future__ import annotations

import pytest

from perfsim import simulate

HW = "matrix_engine"
HEADS, HEAD_DIM, LAYERS = 12, 64, 12


def run(batch=1, **options):
    return simulate("gpt2", HW, batch=batch, **options)


def dram(frame) -> int:
    return int((frame["dram_read_bytes"] + frame["dram_write_bytes"]).sum())


def kv_bytes(frame) -> int:
    """DRAM bytes of the attention over the cache (the two matrix products reading the keys
    and values) and of the appends writing the new token's."""
    return dram(frame[frame["op"].isin(["matmul", "kv_append"])])


@pytest.fixture(scope="module")
def decode():
    """Decode at batch 1 at a context of 128, 512 and 1024 tokens."""
    return {length: run(seq_len=length, phase="decode") for length in (128, 512, 1024)}


def test_decode_reads_every_weight_once_per_token(decode):
    for length, result in decode.items():
        f = result.to_frame()
        linear = f[f["op"] == "linear"]
        # one token: a linear layer of n x k weights does n x k MACs, 1 MAC per weight byte
        # at int8 (its bias adds are ops), and its weights come from DRAM
        bias = linear["out_shape"].map(lambda s: s[2]).where(linear["layer"] != "lm_head", 0)
        assert (linear["macs"] == linear["weight_bytes"] - bias).all()
        assert (linear["dram_read_bytes"] >= linear["weight_bytes"]).all()
        assert set(linear["bound"]) == {"memory"}
        # weights dominate the traffic, so the network does about 1 MAC per DRAM byte: far
        # below the machine balance of 546, and every cycle is the DRAM's
        assert f["weight_bytes"].sum() / dram(f) > 0.85
        assert result.totals["macs"] / result.totals["dram_bytes"] == pytest.approx(1.0,
                                                                                   abs=0.05)
        memory = f[f["bound"] == "memory"]["total_cycles"].sum() / f["total_cycles"].sum()
        assert memory > 0.99, length


def test_prefill_of_512_tokens_is_not_weight_bound(decode):
    prefill = run(seq_len=512)
    f = prefill.to_frame()
    per_byte = prefill.totals["macs"] / prefill.totals["dram_bytes"]
    # 512 tokens share each weight read: over 100 times decode's MACs per DRAM byte
    assert per_byte > 100 * decode[512].totals["macs"] / decode[512].totals["dram_bytes"]
    assert prefill.totals["utilization"] > 100 * decode[512].totals["utilization"]
    # the block's linear layers, which hold most of the MACs, are compute-bound; what is
    # memory-bound is the attention scores' spill (12 x 512 x 512 per layer) and the head
    body = f[(f["op"] == "linear") & (f["layer"] != "lm_head")]
    assert body["macs"].sum() > 0.8 * f["macs"].sum()
    assert body[body["bound"] == "compute"]["macs"].sum() > 0.85 * body["macs"].sum()


def test_batching_decode_raises_macs_per_byte_less_than_in_proportion():
    runs = {b: run(batch=b, seq_len=512, phase="decode") for b in (1, 8, 64)}
    per_byte = {b: r.totals["macs"] / r.totals["dram_bytes"] for b, r in runs.items()}
    share = {b: kv_bytes(r.to_frame()) / r.totals["dram_bytes"] for b, r in runs.items()}
    assert per_byte[1] < per_byte[8] < per_byte[64]
    # the weights are shared by the batch, the caches are not: each sequence reads its own
    # 2 x 12 x 12 x 512 x 64 bytes, so the reuse grows less than the batch
    for b in (8, 64):
        assert per_byte[b] < b * per_byte[1]
    assert share[1] < share[8] < share[64]
    # and a token costs less time: 64 sequences take far less than 64 times one
    assert runs[64].totals["cycles"] < 64 / 4 * runs[1].totals["cycles"]


def test_the_kv_caches_share_of_dram_traffic_grows_with_the_context(decode):
    share = {}
    for length, result in decode.items():
        f = result.to_frame()
        # each of the L cached keys and values is read at least once (L - 1 from memory, the
        # new token's as it is appended): 2 x 12 layers x 12 heads x L x 64 bytes at int8
        cache = 2 * LAYERS * HEADS * length * HEAD_DIM
        assert kv_bytes(f) >= cache
        assert kv_bytes(f) <= 1.1 * (cache + 2 * LAYERS * HEADS * HEAD_DIM)
        share[length] = kv_bytes(f) / result.totals["dram_bytes"]
    assert share[128] < share[512] < share[1024]
    assert share[1024] > 5 * share[128]


def test_vit_runs_its_matrix_products_on_the_array_and_its_norms_on_the_vector_unit():
    f = simulate("vit_b_16", HW).to_frame()
    engines = f.groupby("op")["engine"].agg(set)
    assert engines["linear"] == {"mxu"} and engines["matmul"] == {"mxu"}
    assert engines["layer_norm"] == {"vpu"} and engines["softmax"] == {"vpu"}
    # attention's two products: 12 layers x 2 x 197 x 197 x 768 MACs (all heads)
    assert f[f["op"] == "matmul"]["macs"].sum() == 12 * 2 * 197 * 197 * 768
    # the vector unit keeps its lanes busy on them; the array does the MACs
    norms = f[f["op"].isin(["layer_norm", "softmax"])]
    assert (norms["utilization"] > 0.9).all()
    on_array = f[f["engine"] == "mxu"]
    assert on_array["macs"].sum() == f["macs"].sum()
    assert on_array["total_cycles"].sum() > 0.8 * f["total_cycles"].sum()
