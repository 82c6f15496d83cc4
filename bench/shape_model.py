"""A model at a real model's shape with seeded random weights, and its config.json as the Hub has it:
the pieces bench/make_smollm2_shape.py and bench/make_qwen25_shape.py share. The weights are not the
real model's (no Hub here); the shape, and so the work per token, is.
"""
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "demo-model"))
from llama import LlamaConfig, LlamaForCausalLM  # noqa: E402,F401  (LlamaConfig: for the callers)


def random_model(c, seed, qkv_bias=False):
    """LlamaForCausalLM(c) with norms at 1 and every other weight N(0, 0.02); qkv_bias adds qwen2's q/k/v biases."""
    torch.manual_seed(seed)
    model = LlamaForCausalLM(c)
    with torch.no_grad():
        if qkv_bias:
            for layer in model.model.layers:
                a = layer.self_attn
                for m in (a.q_proj, a.k_proj, a.v_proj):
                    m.bias = torch.nn.Parameter(torch.zeros(m.out_features))
        for name, p in model.named_parameters():
            if "norm" in name:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)
    print(f"parameters {sum(p.numel() for p in model.parameters()):,}", flush=True)
    return model


def write_config(out, c, architecture, model_type, **extra):
    """config.json with the fields every llama-family config has, then `extra` (model-specific)."""
    (out / "config.json").write_text(json.dumps({
        "architectures": [architecture], "model_type": model_type, "vocab_size": c.vocab_size,
        "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_hidden_layers, "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads, "max_position_embeddings": c.max_position_embeddings,
        "rope_theta": c.rope_theta, "rms_norm_eps": c.rms_norm_eps, "hidden_act": "silu",
        "tie_word_embeddings": c.tie_word_embeddings, "bos_token_id": c.bos_token_id,
        "eos_token_id": c.eos_token_id, **extra, "torch_dtype": "float32",
    }, indent=2) + "\n")
