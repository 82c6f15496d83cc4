"""Builds the bundled demo model, public/models/demo-fortunes/: a tiny Llama (about 1M
parameters) that writes fortune-cookie sayings, in the Hugging Face layout (model.onnx,
config.json, generation_config.json, tokenizer.json, tokenizer_config.json).

Reproducible and offline: text from Debian's `fortunes` package, our own byte-level BPE, a
plain PyTorch Llama (llama.py), a fixed seed. Run with Debian's Python and PyTorch:

    apt-get install fortunes python3-torch python3-onnx
    /usr/bin/python3 scripts/demo-model/build_demo.py [--steps 1500]

Users and CI never run this; the output is committed.
"""
import argparse
import json
import math
import random
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).parent))
import bpe  # noqa: E402
import corpus  # noqa: E402
from llama import LlamaConfig, LlamaForCausalLM  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "public" / "models" / "demo-fortunes"
CACHE = Path(__file__).parent / ".cache"
SEED = 1234
SEQ = 128
BATCH = 16


def packed_windows(texts, vocab, merges, c: LlamaConfig):
    ids: list[int] = []
    for t in texts:
        ids += [c.bos_token_id] + bpe.encode(t, vocab, merges) + [c.eos_token_id]
    n = (len(ids) - 1) // SEQ
    x = torch.tensor(ids[: n * SEQ + 1])
    return x[:-1].view(n, SEQ), x[1:].view(n, SEQ), len(ids)


def evaluate(model, xs, ys):
    model.eval()
    with torch.no_grad():
        B, T = xs.shape
        logits, _ = model(xs, torch.ones(B, T, dtype=torch.long), torch.arange(T).expand(B, T))
        loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ys.reshape(-1))
    model.train()
    return loss.item()


def train(c: LlamaConfig, steps: int, xs, ys, vx, vy):
    torch.manual_seed(SEED)
    model = LlamaForCausalLM(c)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"model: {n_params / 1e6:.2f}M parameters, {len(xs)} train windows of {SEQ}")
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = 100
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    )
    gen = torch.Generator().manual_seed(SEED)
    best, best_state = float("inf"), None
    t0 = time.time()
    for step in range(steps):
        idx = torch.randint(0, len(xs), (BATCH,), generator=gen)
        x, y = xs[idx], ys[idx]
        B, T = x.shape
        logits, _ = model(x, torch.ones(B, T, dtype=torch.long), torch.arange(T).expand(B, T))
        loss = F.cross_entropy(logits.reshape(-1, c.vocab_size), y.reshape(-1))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if step % 100 == 0 or step == steps - 1:
            val = evaluate(model, vx, vy)
            print(f"step {step:5d} train {loss.item():.3f} val {val:.3f} ({time.time() - t0:.0f}s)", flush=True)
            if val < best:
                best, best_state = val, {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    print(f"best val loss {best:.3f}")
    return model, best


@torch.no_grad()
def sample(model, prompt_ids, n=60, temperature=0.8, top_k=40, seed=0):
    g = torch.Generator().manual_seed(seed)
    ids = list(prompt_ids)
    for _ in range(n):
        x = torch.tensor([ids])
        logits, _ = model(x, torch.ones_like(x), torch.arange(len(ids))[None])
        logits = logits[0, -1] / temperature
        v, i = torch.topk(logits, top_k)
        nxt = i[torch.multinomial(F.softmax(v, -1), 1, generator=g)].item()
        if nxt == model.config.eos_token_id:
            break
        ids.append(nxt)
    return ids


def export_onnx(model: LlamaForCausalLM, path: Path):
    """Optimum / onnxruntime-genai layout: inputs input_ids, attention_mask, position_ids and
    past_key_values.N.key/value (B, NKV, past, HS); outputs logits and present.N.key/value."""
    c = model.config
    L = c.num_hidden_layers

    class Wrapper(torch.nn.Module):
        def __init__(self, m):
            super().__init__()
            self.m = m

        def forward(self, input_ids, attention_mask, position_ids, *past_flat):
            past = [(past_flat[2 * i], past_flat[2 * i + 1]) for i in range(L)]
            logits, presents = self.m(input_ids, attention_mask, position_ids, past)
            return (logits, *[t for kv in presents for t in kv])

    model.eval()
    B, T, P = 1, 3, 2
    past = []
    for _ in range(L):
        past += [torch.zeros(B, c.num_key_value_heads, P, c.head_dim)] * 2
    inputs = (
        torch.ones(B, T, dtype=torch.long),
        torch.ones(B, P + T, dtype=torch.long),
        torch.arange(P, P + T)[None],
        *past,
    )
    past_names = [f"past_key_values.{i}.{kv}" for i in range(L) for kv in ("key", "value")]
    present_names = [f"present.{i}.{kv}" for i in range(L) for kv in ("key", "value")]
    dyn = {"input_ids": {0: "batch_size", 1: "sequence_length"},
           "attention_mask": {0: "batch_size", 1: "total_sequence_length"},
           "position_ids": {0: "batch_size", 1: "sequence_length"},
           "logits": {0: "batch_size", 1: "sequence_length"}}
    for n in past_names:
        dyn[n] = {0: "batch_size", 2: "past_sequence_length"}
    for n in present_names:
        dyn[n] = {0: "batch_size", 2: "total_sequence_length"}
    torch.onnx.export(
        Wrapper(model), inputs, str(path), opset_version=14,
        input_names=["input_ids", "attention_mask", "position_ids", *past_names],
        output_names=["logits", *present_names], dynamic_axes=dyn, do_constant_folding=True,
    )


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=1000)
    args = ap.parse_args()
    torch.set_num_threads(2)
    random.seed(SEED)

    texts = corpus.sayings(SEED)
    n_val = len(texts) // 20
    val_texts, train_texts = texts[:n_val], texts[n_val:]
    c = LlamaConfig()
    vocab, merges = bpe.train(train_texts, c.vocab_size)
    xs, ys, n_tok = packed_windows(train_texts, vocab, merges, c)
    vx, vy, _ = packed_windows(val_texts, vocab, merges, c)
    print(f"{len(train_texts)} train / {len(val_texts)} held-out sayings, {n_tok} train tokens")

    model, best = train(c, args.steps, xs, ys, vx, vy)
    # The dataset builder (build_demo_dataset.py) samples from these weights.
    CACHE.mkdir(parents=True, exist_ok=True)
    torch.save({"config": c.__dict__, "state_dict": model.state_dict(), "vocab": vocab, "merges": merges}, CACHE / "demo.pt")

    OUT.mkdir(parents=True, exist_ok=True)
    inv = {i: s for s, i in vocab.items()}
    u2b = {u: b for b, u in bpe.bytes_to_unicode().items()}
    decode = lambda ids: bytes(u2b[ch] for i in ids if i > 2 for ch in inv[i]).decode("utf-8", "replace")
    samples = []
    for k, p in enumerate(["Life is", "A friend", "The secret of", "Never", "Love"]):
        ids = sample(model, [c.bos_token_id] + bpe.encode(p, vocab, merges), seed=k)
        samples.append(decode(ids))
        print("sample:", samples[-1])

    export_onnx(model, OUT / "model.onnx")
    (OUT / "tokenizer.json").write_text(json.dumps(bpe.tokenizer_json(vocab, merges), ensure_ascii=False))
    config = {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama",
        "vocab_size": c.vocab_size, "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_hidden_layers, "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads, "head_dim": c.head_dim,
        "max_position_embeddings": c.max_position_embeddings, "rope_theta": c.rope_theta, "rope_scaling": None,
        "rms_norm_eps": c.rms_norm_eps, "hidden_act": "silu", "tie_word_embeddings": c.tie_word_embeddings,
        "attention_bias": False, "mlp_bias": False, "bos_token_id": c.bos_token_id,
        "eos_token_id": c.eos_token_id, "pad_token_id": c.pad_token_id, "torch_dtype": "float32",
        "transformers_version": "4.46.0",
    }
    (OUT / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    (OUT / "generation_config.json").write_text(json.dumps({
        "bos_token_id": c.bos_token_id, "eos_token_id": c.eos_token_id, "pad_token_id": c.pad_token_id,
        "do_sample": True, "temperature": 0.8, "top_k": 40, "max_new_tokens": 60,
    }, indent=2) + "\n")
    (OUT / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>",
        "pad_token": "<pad>", "add_bos_token": True, "add_eos_token": False,
        "model_max_length": c.max_position_embeddings, "clean_up_tokenization_spaces": False,
    }, indent=2) + "\n")
    (OUT / "README.md").write_text(
        "# demo-fortunes\n\nPrefStudio's bundled demo model: a Llama-architecture model of "
        f"{sum(p.numel() for p in model.parameters()) / 1e6:.2f}M parameters trained from scratch on "
        f"{len(train_texts)} sayings from Debian's `fortunes` package (held-out loss {best:.3f} nats/token). "
        "It writes short fortune-cookie sayings. Built by `scripts/demo-model/build_demo.py`; "
        "fortunes are in the public domain or freely redistributable per Debian's copyright file.\n\n"
        "Samples at build time (temperature 0.8, top-k 40):\n\n" + "".join(f"- {s}\n" for s in samples)
    )
    print("wrote", OUT)


if __name__ == "__main__":
    main()
