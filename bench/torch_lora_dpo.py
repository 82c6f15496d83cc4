"""The peer a user would otherwise run: one LoRA-DPO step in PyTorch on the CPU at a model's shape,
for the real-shapes benchmark (bench/real-shapes.ts, BENCHMARKS.md "Real shapes").

The model is scripts/demo-model/llama.py's Llama built from the folder's config.json (llama or
qwen2: q/k/v biases added for qwen2) with seeded random weights: the shape, not the values, sets
the work. Frozen base, LoRA r (alpha = r, as the Trainer's default) on every linear layer of the
blocks (PEFT's all-linear: q, k, v, o, gate, up, down; not the LM head), f32.
Data: B pairs of T tokens each (a quarter prompt, the rest completion; seeded ids), chosen and
rejected in one batch of 2·B rows as TRL concatenates them. Reference log-probs (adapter off) are
computed once before timing. One timed step = forward of the 2·B rows, summed completion log-probs,
DPO sigmoid loss (beta 0.1), backward, AdamW (lr 1e-4), zero_grad. A forward with the adapter to
the summed log-probs under no_grad is timed too (step / forward). Peak memory: the process's peak
resident set (ru_maxrss), which includes the weights and Python itself.

    /usr/bin/python3 bench/torch_lora_dpo.py <model-dir> [--batch 1x64] [--steps 2] [--warmup 1] [--threads 2] [--lora-r 8]

Prints one JSON object on stdout.
"""
import argparse
import json
import math
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "demo-model"))
from llama import LlamaConfig, LlamaForCausalLM  # noqa: E402


class LoraLinear(nn.Module):
    """base(x) + (x · Aᵀ) · Bᵀ · alpha / r, A (r, in) Kaiming-uniform, B (out, r) zeros: PEFT's LoRA."""

    def __init__(self, base: nn.Linear, r: int, alpha: float):
        super().__init__()
        self.base = base
        self.lora_A = nn.Parameter(torch.empty(r, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.scale = alpha / r
        self.enabled = True

    def forward(self, x):
        y = self.base(x)
        if self.enabled:
            y = y + F.linear(F.linear(x, self.lora_A), self.lora_B) * self.scale
        return y


def build(cfg: dict, r: int):
    kind = cfg.get("model_type")
    if kind not in ("llama", "qwen2"):
        raise SystemExit(f"torch_lora_dpo.py: model_type {kind!r}: llama or qwen2 only")
    c = LlamaConfig(
        vocab_size=cfg["vocab_size"], hidden_size=cfg["hidden_size"], intermediate_size=cfg["intermediate_size"],
        num_hidden_layers=cfg["num_hidden_layers"], num_attention_heads=cfg["num_attention_heads"],
        num_key_value_heads=cfg.get("num_key_value_heads", cfg["num_attention_heads"]),
        max_position_embeddings=cfg.get("max_position_embeddings", 2048), rope_theta=cfg.get("rope_theta", 10000.0),
        rms_norm_eps=cfg.get("rms_norm_eps", 1e-6), tie_word_embeddings=cfg.get("tie_word_embeddings", False),
    )
    head_dim = cfg.get("head_dim", c.hidden_size // c.num_attention_heads)
    if head_dim != c.head_dim:
        raise SystemExit(f"torch_lora_dpo.py: head_dim {head_dim} != hidden / heads {c.head_dim}: not modelled by llama.py")
    torch.manual_seed(0)
    model = LlamaForCausalLM(c)
    for p in model.parameters():
        p.requires_grad_(False)
    loras = []
    for layer in model.model.layers:
        a = layer.self_attn
        if kind == "qwen2":  # q/k/v biases
            for m in (a.q_proj, a.k_proj, a.v_proj):
                m.bias = nn.Parameter(torch.randn(m.out_features) * 0.02, requires_grad=False)
        for owner, names in ((a, ("q_proj", "k_proj", "v_proj", "o_proj")), (layer.mlp, ("gate_proj", "up_proj", "down_proj"))):
            for n in names:
                lora = LoraLinear(getattr(owner, n), r, float(r))
                setattr(owner, n, lora)
                loras.append(lora)
    return model, loras


def seq_logps(model, ids, prompt_len):
    """Summed log-probs of the completion tokens (positions >= prompt_len) of each row (N,)."""
    N, T = ids.shape
    mask = torch.ones(N, T, dtype=torch.long)
    pos = torch.arange(T)[None, :].expand(N, T)
    logits, _ = model(ids, mask, pos)  # (N, T, V)
    logp = torch.log_softmax(logits[:, :-1], dim=-1).gather(-1, ids[:, 1:, None])[..., 0]  # (N, T-1)
    return logp[:, prompt_len - 1:].sum(-1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("--batch", default="1x64", help="B x T: B pairs, T tokens per sequence")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--lora-r", type=int, default=8)
    ap.add_argument("--beta", type=float, default=0.1)
    a = ap.parse_args()
    B, T = (int(x) for x in a.batch.lower().split("x"))
    torch.set_num_threads(a.threads)
    cfg = json.loads((Path(a.model_dir) / "config.json").read_text())
    t0 = time.perf_counter()
    model, loras = build(cfg, a.lora_r)
    build_s = time.perf_counter() - t0
    params = [p for l in loras for p in (l.lora_A, l.lora_B)]
    opt = torch.optim.AdamW(params, lr=1e-4)
    g = torch.Generator().manual_seed(12345)
    P = max(1, T // 4)
    prompt = torch.randint(3, cfg["vocab_size"], (B, P), generator=g)
    chosen = torch.randint(3, cfg["vocab_size"], (B, T - P), generator=g)
    rejected = torch.randint(3, cfg["vocab_size"], (B, T - P), generator=g)
    ids = torch.cat([torch.cat([prompt, chosen], 1), torch.cat([prompt, rejected], 1)], 0)  # (2B, T)

    with torch.no_grad():
        for l in loras:
            l.enabled = False
        ref = seq_logps(model, ids, P)
        for l in loras:
            l.enabled = True

    losses = []

    def step():
        logp = seq_logps(model, ids, P)
        margin = (logp[:B] - ref[:B]) - (logp[B:] - ref[B:])
        loss = -F.logsigmoid(a.beta * margin).mean()
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        losses.append(loss.item())

    def forward():
        with torch.no_grad():
            seq_logps(model, ids, P)

    def timed(fn, n):
        out = []
        for _ in range(n):
            t = time.perf_counter()
            fn()
            out.append((time.perf_counter() - t) * 1000)
        return out

    timed(step, a.warmup)
    step_ms = timed(step, a.steps)
    timed(forward, min(a.warmup, 1))
    fwd_ms = timed(forward, a.steps)
    tokens = 2 * B * T
    step_med = statistics.median(step_ms)
    fwd_med = statistics.median(fwd_ms)
    print(json.dumps({
        "peer": "pytorch-cpu",
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "model_type": cfg.get("model_type"),
        "parameters": sum(p.numel() for p in model.parameters() if not any(p is q for q in params)),
        "lora_parameters": sum(p.numel() for p in params),
        "B": B, "T": T, "tokens": tokens,
        "build_s": build_s,
        "step_ms": step_med, "step_samples_ms": step_ms,
        "forward_ms": fwd_med, "forward_samples_ms": fwd_ms,
        "tokens_per_s": tokens / (step_med / 1000),
        "step_over_forward": step_med / fwd_med,
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "losses": losses,
    }))


if __name__ == "__main__":
    main()
