"""Reference counts for the zoo's transformers (tests/refs/networks.json): torchvision's own
``vit_b_16``, and PyTorch re-definitions of BERT-base uncased and GPT-2 124M in Hugging Face's
layouts. A development-time check: it needs PyTorch and torchvision, which perfsim does not.

    /path/to/torch/venv/bin/python scripts/transformer_reference_counts.py

Parameters are ``sum(p.numel() for p in model.parameters())`` (a tied weight counted once).
MACs are counted two ways for ViT: forward hooks (conv and linear from their output shapes;
``nn.MultiheadAttention`` from its query's shape: packed Q/K/V projection ``3 T D^2``, scores
and context ``2 T^2 D``, output projection ``T D^2``), and ``torch.utils.flop_counter.
FlopCounterMode`` (aten FLOPs / 2) on the train-mode graph with math attention (dropout is 0;
in eval mode the native attention fast path is not counted, nor are fused SDPA kernels on
CPU). BERT and GPT-2 use FlopCounterMode. Printed with torch 2.14.1 and torchvision 0.29.1:

    vit_b_16 params 86567656 hook MACs 17563828224 ... math attention 17563828224
      torchvision meta 86567656 17.564
    bert_base params 109482240 FlopCounter MACs at 128 11174215680; at 512 48318971904
    gpt2 params 124439808 FlopCounter MACs prefill 1024 (last-token logits) 106339037952;
      prefill 512 48356979456
    gpt2 decode at a context of 128 / 512 / 1024 tokens: 125891328 / 132969216 / 142406400
"""
import math, torch, torch.nn as nn, torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
import torchvision

def nparams(m): return sum(p.numel() for p in m.parameters())

def flops_macs(model, *args):
    with FlopCounterMode(display=False) as fc:
        with torch.no_grad(): model(*args)
    return fc.get_total_flops() // 2

# ---- ViT-B/16 -------------------------------------------------------------------------
vit = torchvision.models.vit_b_16().eval()
x = torch.zeros(1, 3, 224, 224)
macs = {"n": 0}
def lin_hook(m, i, o): macs["n"] += o.numel() // o.shape[-1] * m.in_features * m.out_features
def conv_hook(m, i, o): macs["n"] += o.numel() * m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
def mha_hook(m, i, o):
    q = i[0]; n, t, d = q.shape  # batch_first
    macs["n"] += 3 * n * t * d * d          # in_proj (packed q, k, v)
    macs["n"] += 2 * n * t * t * d          # q k^T and p v over all heads
    # out_proj is a NonDynamicallyQuantizableLinear called functionally: count here
    macs["n"] += n * t * d * d
hooks = []
for mod in vit.modules():
    if isinstance(mod, nn.MultiheadAttention): hooks.append(mod.register_forward_hook(mha_hook))
    elif isinstance(mod, nn.Linear) and not isinstance(mod, nn.modules.linear.NonDynamicallyQuantizableLinear):
        hooks.append(mod.register_forward_hook(lin_hook))
    elif isinstance(mod, nn.Conv2d): hooks.append(mod.register_forward_hook(conv_hook))
with torch.no_grad(): vit(x)
for h in hooks: h.remove()
print("vit_b_16 params", nparams(vit), "hook MACs", macs["n"], "FlopCounter MACs (eval: MHA fast path uncounted)", flops_macs(vit, x))
vit.train()  # no native MHA fast path: every matmul goes through aten (dropout is 0.0 in vit_b_16)
from torch.nn.attention import sdpa_kernel, SDPBackend
with sdpa_kernel(SDPBackend.MATH):  # attention as aten bmm, which FlopCounterMode counts
    print("  FlopCounter MACs, train-mode graph (dropout p=0), math attention", flops_macs(vit, x))
print("  torchvision meta", torchvision.models.ViT_B_16_Weights.IMAGENET1K_V1.meta["num_params"],
      torchvision.models.ViT_B_16_Weights.IMAGENET1K_V1.meta["_ops"])

# ---- BERT-base (HF BertModel layout) -------------------------------------------------
class Attn(nn.Module):
    def __init__(s, d, h, causal=False, packed=False):
        super().__init__(); s.h, s.causal = h, causal
        s.q, s.k, s.v, s.o = (nn.Linear(d, d) for _ in range(4))
    def forward(s, x):
        n, t, d = x.shape; dh = d // s.h
        sp = lambda y: y.view(n, t, s.h, dh).transpose(1, 2)
        q, k, v = sp(s.q(x)), sp(s.k(x)), sp(s.v(x))
        a = q @ k.transpose(-1, -2) / math.sqrt(dh)
        if s.causal: a = a.masked_fill(torch.ones(t, t, dtype=torch.bool).triu(1), float("-inf"))
        o = (a.softmax(-1) @ v).transpose(1, 2).reshape(n, t, d)
        return s.o(o)
class BertLayer(nn.Module):
    def __init__(s):
        super().__init__(); s.attn = Attn(768, 12); s.ln1 = nn.LayerNorm(768, eps=1e-12)
        s.fc1, s.fc2 = nn.Linear(768, 3072), nn.Linear(3072, 768); s.ln2 = nn.LayerNorm(768, eps=1e-12)
    def forward(s, x):
        x = s.ln1(x + s.attn(x))
        return s.ln2(x + s.fc2(F.gelu(s.fc1(x))))
class Bert(nn.Module):
    def __init__(s):
        super().__init__()
        s.word, s.pos, s.types_ = nn.Embedding(30522, 768), nn.Embedding(512, 768), nn.Embedding(2, 768)
        s.ln = nn.LayerNorm(768, eps=1e-12); s.layers = nn.ModuleList(BertLayer() for _ in range(12))
        s.pool = nn.Linear(768, 768)
    def forward(s, ids, types):
        t = ids.shape[1]
        x = s.ln(s.word(ids) + s.types_(types) + s.pos(torch.arange(t)))
        for l in s.layers: x = l(x)
        return x, torch.tanh(s.pool(x[:, 0]))
bert = Bert().eval(); ids = torch.zeros(1, 128, dtype=torch.long)
print("bert_base params", nparams(bert), "FlopCounter MACs at 128", flops_macs(bert, ids, ids))
ids = torch.zeros(1, 512, dtype=torch.long)
print("  FlopCounter MACs at 512", flops_macs(bert, ids, ids))

# ---- GPT-2 124M (HF GPT2Model + tied LM head) ----------------------------------------
class GptBlock(nn.Module):
    def __init__(s):
        super().__init__(); s.ln1 = nn.LayerNorm(768); s.attn = Attn(768, 12, causal=True)
        s.ln2 = nn.LayerNorm(768); s.fc1, s.fc2 = nn.Linear(768, 3072), nn.Linear(3072, 768)
    def forward(s, x):
        x = x + s.attn(s.ln1(x))
        return x + s.fc2(F.gelu(s.fc1(s.ln2(x)), approximate="tanh"))
class Gpt2(nn.Module):
    def __init__(s):
        super().__init__(); s.wte, s.wpe = nn.Embedding(50257, 768), nn.Embedding(1024, 768)
        s.blocks = nn.ModuleList(GptBlock() for _ in range(12)); s.ln_f = nn.LayerNorm(768)
        s.lm_head = nn.Linear(768, 50257, bias=False); s.lm_head.weight = s.wte.weight  # tied
    def forward(s, ids):
        x = s.wte(ids) + s.wpe(torch.arange(ids.shape[1]))
        for b in s.blocks: x = b(x)
        return s.lm_head(s.ln_f(x)[:, -1:])  # the last token's logits (serving prefill)
gpt = Gpt2().eval(); ids = torch.zeros(1, 1024, dtype=torch.long)
print("gpt2 params", nparams(gpt), "FlopCounter MACs prefill 1024 (last-token logits)", flops_macs(gpt, ids))
print("  FlopCounter MACs prefill 512", flops_macs(gpt, ids[:, :512]))

# ---- GPT-2 decode at a context of L: the L-th token, after a cache of the L - 1 before it ----
def decode_macs(L):
    def step(ids, past):
        x = gpt.wte(ids) + gpt.wpe(torch.tensor([L - 1]))
        for b, (pk, pv) in zip(gpt.blocks, past):
            a = b.ln1(x); at = b.attn; n, t, d = a.shape
            sp = lambda y: y.view(n, t, 12, 64).transpose(1, 2)
            q, k, v = sp(at.q(a)), sp(at.k(a)), sp(at.v(a))
            k, v = torch.cat([pk, k], 2), torch.cat([pv, v], 2)
            o = ((q @ k.transpose(-1, -2) / 8).softmax(-1) @ v).transpose(1, 2).reshape(n, t, d)
            x = x + at.o(o)
            x = x + b.fc2(F.gelu(b.fc1(b.ln2(x)), approximate="tanh"))
        return gpt.lm_head(gpt.ln_f(x))
    past = [(torch.zeros(1, 12, L - 1, 64), torch.zeros(1, 12, L - 1, 64)) for _ in range(12)]
    with FlopCounterMode(display=False) as fc, torch.no_grad():
        step(torch.zeros(1, 1, dtype=torch.long), past)
    return fc.get_total_flops() // 2
for L in (128, 512, 1024):
    print("gpt2 decode at a context of", L, "tokens: FlopCounter MACs", decode_macs(L))
