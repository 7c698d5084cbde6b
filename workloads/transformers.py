"""Transformers: ViT-B/16 (Dosovitskiy et al. 2021, torchvision's ``vit_b_16``), BERT-base
uncased (Devlin et al. 2019, Hugging Face's ``bert-base-uncased``) and GPT-2 124M (Radford et
al. 2019, Hugging Face's ``gpt2``), as their reference implementations compute them at
inference.

Tensors are per sample. A token tensor is ``(T, 1, D)``: ``T`` tokens of ``D`` features; these
networks declare which tensors are tokens (their inputs of token ids, ViT's patch tokens and
class token, and every reshape merging heads back; the rest follows from the first input), so
``perfsim show`` prints them ``TxD``. Attention splits the features into ``H`` heads ``(H, T,
D / H)`` by a reshape (a view), and a transpose is a reshape to the transposed shape (a view
too, as the IR has it: the consumer reads the elements in the order it needs).

A block's attention is three ``linear`` projections (Q, K, V; torchvision and GPT-2 pack the
three into one weight ``3D`` wide: the same parameters and MACs), the scores ``Q K^T`` (a
``matmul`` of ``H x T x dh`` by ``H x dh x T``), a ``scale`` by ``1 / sqrt(dh)`` on the scores
(where Hugging Face's eager attention applies it), ``softmax`` over the keys (axis 2), the
``matmul`` with V, the heads merged by a reshape, and the output projection. Per block of
``T`` tokens, width ``D`` and MLP width ``F`` the MACs are ``3 T D^2`` (Q, K, V) ``+ 2 T^2 D``
(the two matrix products, all heads) ``+ T D^2`` (output projection) ``+ 2 T D F`` (MLP).

What is and is not counted:

* Dropout is the identity at inference and is left out.
* GPT-2's causal mask: the scores are the dense ``T x T`` matrix, as eager attention (and
  PyTorch's math kernel) computes it, so prefill's attention MACs count the masked half too
  (FlashAttention's causal kernels skip most of it: there these MACs are an upper bound). The
  mask is applied inside the softmax (Hugging Face's ``torch.where`` on the scores, before the
  exponential): it is not a layer, and its select per score is not counted. BERT runs
  unpadded sequences, so it has no attention mask either.
* Prefill (GPT-2) is the prompt's forward pass as a server runs it: every layer over all
  ``L`` tokens, and the language-model head on the last token only (the one whose logits pick
  the next token; Hugging Face's ``logits_to_keep=1``, vLLM's default). Writing the prompt's
  keys and values into a cache for later decode steps is not modelled (``2 x 12 x L x 768``
  elements, 19 MB at ``L = 1024`` and int8).
* Decode (GPT-2) at a context of ``L`` tokens is one step computing the ``L``-th token: each
  layer's past keys and values, of the ``L - 1`` tokens before it, are network inputs of
  ``(12, L - 1, 64)`` (the cache, in memory), the new token's key and value are appended in
  place (``kv_append``), and its attention reads all ``L``.
"""

from __future__ import annotations

from perfsim.errors import WorkloadError
from perfsim.workload import Network, NetworkBuilder


def _heads(b: NetworkBuilder, x: str, heads: int, name: str, *,
           transposed: bool = False) -> str:
    """The ``(T, 1, D)`` tokens ``x`` as ``heads`` heads ``(H, T, D / H)``, or transposed
    ``(H, D / H, T)`` (keys for the scores): a view."""
    t, _, d = b.shape(x)
    shape = (heads, d // heads, t) if transposed else (heads, t, d // heads)
    return b.add("reshape", x, shape=shape, name=name, tokens=False)


def _attend(b: NetworkBuilder, q: str, k_t: str, v: str, name: str) -> str:
    """``softmax(Q K^T / sqrt(dh)) V`` on heads: ``q`` ``(H, Tq, dh)``, ``k_t`` ``(H, dh,
    Tk)``, ``v`` ``(H, Tk, dh)``; the heads merged back into ``(Tq, 1, H dh)`` tokens."""
    heads, tq, dh = b.shape(q)
    s = b.add("matmul", q, k_t, name=f"{name}/scores")
    s = b.add("scale", s, factor=dh ** -0.5, name=f"{name}/scale")
    p = b.add("softmax", s, axis=2, name=f"{name}/softmax")
    o = b.add("matmul", p, v, name=f"{name}/context")
    return b.add("reshape", o, shape=(tq, 1, heads * dh), name=f"{name}/merge", tokens=True)


def _self_attention(b: NetworkBuilder, x: str, heads: int, name: str) -> str:
    """Multi-head self-attention over the tokens ``x`` ``(T, 1, D)``, output projection
    included."""
    d = b.shape(x)[2]
    q = b.add("linear", x, out_features=d, name=f"{name}/q")
    k = b.add("linear", x, out_features=d, name=f"{name}/k")
    v = b.add("linear", x, out_features=d, name=f"{name}/v")
    o = _attend(b, _heads(b, q, heads, f"{name}/q_heads"),
                _heads(b, k, heads, f"{name}/k_heads", transposed=True),
                _heads(b, v, heads, f"{name}/v_heads"), name)
    return b.add("linear", o, out_features=d, name=f"{name}/out")


def _mlp(b: NetworkBuilder, x: str, hidden: int, name: str, gelu: str = "none") -> str:
    """Linear to ``hidden``, GELU (``gelu``: exact ``none`` or ``tanh``), linear back."""
    d = b.shape(x)[2]
    h = b.add("linear", x, out_features=hidden, name=f"{name}/fc1")
    h = b.add("gelu", h, approximate=gelu, name=f"{name}/gelu")
    return b.add("linear", h, out_features=d, name=f"{name}/fc2")


def _pre_ln_block(b: NetworkBuilder, x: str, heads: int, hidden: int, eps: float, name: str,
                  gelu: str = "none") -> str:
    """A pre-LN encoder block (ViT, GPT-2 prefill): ``x + attention(LN(x))``, then ``x +
    MLP(LN(x))``."""
    a = b.add("layer_norm", x, eps=eps, name=f"{name}/ln1")
    x = b.add("add", x, _self_attention(b, a, heads, f"{name}/attn"), name=f"{name}/add1")
    m = b.add("layer_norm", x, eps=eps, name=f"{name}/ln2")
    return b.add("add", x, _mlp(b, m, hidden, f"{name}/mlp", gelu), name=f"{name}/add2")


# ViT-B/16 (torchvision vit_b_16: patch 16, 12 layers, width 768, 12 heads, MLP 3072)
VIT_PATCH, VIT_LAYERS, VIT_WIDTH, VIT_HEADS, VIT_MLP, VIT_EPS = 16, 12, 768, 12, 3072, 1e-6


def vit_b_16(input_shape=(3, 224, 224)) -> Network:
    """torchvision's ``vit_b_16`` (``VisionTransformer``): a 16x16/16 patch convolution to 768
    features, the ``(768, 14, 14)`` map read as 196 tokens ``(196, 1, 768)`` (torchvision's
    reshape and permute: a view), a learnt class token concatenated in front (197 tokens),
    learnt positions added, 12 pre-LN blocks (layer norm eps 1e-6, exact GELU), a final layer
    norm, the class token sliced out and the 1000-class head. At another ``input_shape`` it is
    the model torchvision builds for that ``image_size`` (sides multiples of 16, a position per
    patch and one for the class token)."""
    c, h, w = input_shape
    if h % VIT_PATCH or w % VIT_PATCH:
        raise WorkloadError(f"vit_b_16 cuts the image into {VIT_PATCH}x{VIT_PATCH} patches: "
                            f"its sides must be multiples of {VIT_PATCH}, got {h}x{w}")
    tokens = (h // VIT_PATCH) * (w // VIT_PATCH) + 1
    b = NetworkBuilder("vit_b_16", input_shape,
                       description=f"ViT-B/16 (torchvision), {tokens} tokens of {VIT_WIDTH}")
    x = b.add("conv", b.input, out_channels=VIT_WIDTH, kernel=VIT_PATCH, stride=VIT_PATCH,
              bias=True, name="patch_embed")
    x = b.add("reshape", x, shape=(tokens - 1, 1, VIT_WIDTH), name="patch_tokens",
              tokens=True)
    cls = b.add("parameter", shape=(1, 1, VIT_WIDTH), name="class_token", tokens=True)
    x = b.add("concat", cls, x, axis=0, name="tokens")
    x = b.add("positional_embedding", x, max_positions=tokens, name="pos_embed")
    for i in range(VIT_LAYERS):
        x = _pre_ln_block(b, x, VIT_HEADS, VIT_MLP, VIT_EPS, f"layer{i}")
    x = b.add("layer_norm", x, eps=VIT_EPS, name="ln")
    x = b.add("slice", x, axis=0, start=0, stop=1, name="class_out")
    b.add("linear", x, out_features=1000, name="head")
    return b.build()


# BERT-base uncased (Devlin et al. 2019; Hugging Face bert-base-uncased config.json)
BERT_LAYERS, BERT_WIDTH, BERT_HEADS, BERT_MLP = 12, 768, 12, 3072
BERT_VOCAB, BERT_POSITIONS, BERT_TYPES, BERT_EPS = 30522, 512, 2, 1e-12
BERT_SEQ_LEN = 128
"""BERT's sequence length unless one is given (the pre-training's for 90% of its steps)."""


def bert_base(seq_len: int = BERT_SEQ_LEN) -> Network:
    """BERT-base uncased on one unpadded sequence of ``seq_len`` tokens (at most its 512
    positions): token ids and token-type ids ``(T, 1, 1)`` as network inputs, their embeddings
    added to learnt positions, layer norm (eps 1e-12), 12 post-LN blocks (``LN(x +
    attention(x))``, ``LN(x + MLP(x))``, exact GELU), and the pooler (a 768 -> 768 linear and
    tanh on the first token). Its outputs are the last block's tokens and the pooled vector."""
    if seq_len > BERT_POSITIONS:
        raise WorkloadError(f"bert_base has {BERT_POSITIONS} positions: a sequence of "
                            f"{seq_len} tokens does not fit (--seq-len at most "
                            f"{BERT_POSITIONS})")
    b = NetworkBuilder("bert_base", (seq_len, 1, 1), input_name="input_ids", tokens=True,
                       description=f"BERT-base uncased, {seq_len} tokens")
    types = b.add("input", shape=(seq_len, 1, 1), name="token_type_ids", tokens=True)
    x = b.add("embedding", b.input, num_embeddings=BERT_VOCAB, dim=BERT_WIDTH,
              name="word_embed")
    t = b.add("embedding", types, num_embeddings=BERT_TYPES, dim=BERT_WIDTH,
              name="type_embed")
    x = b.add("add", x, t, name="embed_sum")
    x = b.add("positional_embedding", x, max_positions=BERT_POSITIONS, name="pos_embed")
    x = b.add("layer_norm", x, eps=BERT_EPS, name="embed_ln")
    for i in range(BERT_LAYERS):
        name = f"layer{i}"
        a = _self_attention(b, x, BERT_HEADS, f"{name}/attn")
        x = b.add("add", x, a, name=f"{name}/add1")
        x = b.add("layer_norm", x, eps=BERT_EPS, name=f"{name}/ln1")
        m = _mlp(b, x, BERT_MLP, f"{name}/mlp")
        x = b.add("add", x, m, name=f"{name}/add2")
        x = b.add("layer_norm", x, eps=BERT_EPS, name=f"{name}/ln2")
    p = b.add("slice", x, axis=0, start=0, stop=1, name="pooler/first")
    p = b.add("linear", p, out_features=BERT_WIDTH, name="pooler/dense")
    b.add("tanh", p, name="pooler/tanh")
    return b.build()


# GPT-2 124M (Radford et al. 2019; Hugging Face gpt2 config.json)
GPT2_LAYERS, GPT2_WIDTH, GPT2_HEADS, GPT2_MLP = 12, 768, 12, 3072
GPT2_VOCAB, GPT2_POSITIONS, GPT2_EPS = 50257, 1024, 1e-5


def gpt2(seq_len: int | None = None, phase: str = "prefill") -> Network:
    """GPT-2 124M (pre-LN, layer norm eps 1e-5, tanh GELU, causal attention, final layer
    norm, the language-model head tied to the token embedding, no bias).

    ``phase="prefill"``: the forward pass over a prompt of ``seq_len`` tokens (default 1024,
    the whole context window). ``phase="decode"``: one step at a context of ``seq_len`` tokens
    (default 1024): the ``seq_len``-th token, whose attention reads a KV cache of ``seq_len``
    keys and values, its own appended to those of the ``seq_len - 1`` tokens before it; each
    layer's past keys and values are network inputs ``(12, seq_len - 1, 64)``, named
    ``layerN/past_k`` and ``layerN/past_v``. Either way the tokens must fit GPT-2's 1024
    learnt positions."""
    if phase == "decode":
        seq_len = GPT2_POSITIONS if seq_len is None else seq_len
        if seq_len > GPT2_POSITIONS:
            raise WorkloadError(f"gpt2 has {GPT2_POSITIONS} positions: a decode step at a "
                                f"context of {seq_len} tokens does not fit (--seq-len at most "
                                f"{GPT2_POSITIONS})")
        if seq_len < 2:
            raise WorkloadError("a decode step reads the cache of the tokens before it: at a "
                                "context of 1 token there are none (--seq-len at least 2 with "
                                "--phase decode; one token alone is --phase prefill)")
        return _gpt2_decode(seq_len - 1)
    seq_len = GPT2_POSITIONS if seq_len is None else seq_len
    if seq_len > GPT2_POSITIONS:
        raise WorkloadError(f"gpt2 has {GPT2_POSITIONS} positions: a prompt of {seq_len} "
                            f"tokens does not fit (--seq-len at most {GPT2_POSITIONS})")
    return _gpt2_prefill(seq_len)


def _gpt2_start(tokens: int, offset: int, description: str) -> tuple[NetworkBuilder, str]:
    """The token ids ``(tokens, 1, 1)``, their embedding and positions ``offset`` on."""
    b = NetworkBuilder("gpt2", (tokens, 1, 1), input_name="input_ids", tokens=True,
                       description=description)
    x = b.add("embedding", b.input, num_embeddings=GPT2_VOCAB, dim=GPT2_WIDTH,
              name="token_embed")
    x = b.add("positional_embedding", x, max_positions=GPT2_POSITIONS, offset=offset,
              name="pos_embed")
    return b, x


def _gpt2_end(b: NetworkBuilder, x: str) -> Network:
    """The final layer norm, the last token, and the tied language-model head."""
    x = b.add("layer_norm", x, eps=GPT2_EPS, name="ln_f")
    t = b.shape(x)[0]
    x = b.add("slice", x, axis=0, start=t - 1, stop=t, name="last_token")
    b.add("linear", x, out_features=GPT2_VOCAB, bias=False, tied=True, name="lm_head")
    return b.build()


def _gpt2_prefill(seq_len: int) -> Network:
    b, x = _gpt2_start(seq_len, 0, f"GPT-2 124M, prefill of {seq_len} tokens")
    for i in range(GPT2_LAYERS):
        x = _pre_ln_block(b, x, GPT2_HEADS, GPT2_MLP, GPT2_EPS, f"layer{i}", gelu="tanh")
    return _gpt2_end(b, x)


def _gpt2_decode(cached: int) -> Network:
    b, x = _gpt2_start(1, cached, f"GPT-2 124M, decode at a context of {cached + 1} tokens")
    dh = GPT2_WIDTH // GPT2_HEADS
    for i in range(GPT2_LAYERS):
        name = f"layer{i}"
        past_k = b.add("input", shape=(GPT2_HEADS, cached, dh), name=f"{name}/past_k")
        past_v = b.add("input", shape=(GPT2_HEADS, cached, dh), name=f"{name}/past_v")
        a = b.add("layer_norm", x, eps=GPT2_EPS, name=f"{name}/ln1")
        q = b.add("linear", a, out_features=GPT2_WIDTH, name=f"{name}/attn/q")
        k = b.add("linear", a, out_features=GPT2_WIDTH, name=f"{name}/attn/k")
        v = b.add("linear", a, out_features=GPT2_WIDTH, name=f"{name}/attn/v")
        keys = b.add("kv_append", past_k, _heads(b, k, GPT2_HEADS, f"{name}/attn/k_heads"),
                     axis=1, name=f"{name}/attn/k_cache")
        values = b.add("kv_append", past_v, _heads(b, v, GPT2_HEADS, f"{name}/attn/v_heads"),
                       axis=1, name=f"{name}/attn/v_cache")
        keys_t = b.add("reshape", keys, shape=(GPT2_HEADS, dh, cached + 1),
                       name=f"{name}/attn/k_t")
        o = _attend(b, _heads(b, q, GPT2_HEADS, f"{name}/attn/q_heads"), keys_t, values,
                    f"{name}/attn")
        o = b.add("linear", o, out_features=GPT2_WIDTH, name=f"{name}/attn/out")
        x = b.add("add", x, o, name=f"{name}/add1")
        m = b.add("layer_norm", x, eps=GPT2_EPS, name=f"{name}/ln2")
        x = b.add("add", x, _mlp(b, m, GPT2_MLP, f"{name}/mlp", "tanh"), name=f"{name}/add2")
    return _gpt2_end(b, x)


NETWORKS = {
    "vit_b_16": vit_b_16,
    "bert_base": bert_base,
    "gpt2": gpt2,
}
