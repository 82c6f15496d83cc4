"""Writes bench-results/models/qwen2.5-0.5b-shape/: a qwen2 model with Qwen2.5-0.5B's shape (vocab
151936, hidden 896, 24 layers, 14 query / 2 kv heads of 64, MLP 4864, q/k/v biases, tied
embeddings, rope theta 1e6, rms eps 1e-6) and seeded random weights (std 0.02), exported as the
demo model is (scripts/demo-model/build_demo.py export_onnx), fp32. For the real-shapes benchmark
(bench/real-shapes.ts, BENCHMARKS.md "Real shapes"): the weights are not Qwen's (no Hub here), the
shape and so the work per token are.

The f32 graph is over protobuf's 2 GB (the tied table is folded into a transposed copy for the LM
head: 630 M floats), so torch writes it with external data, one file per tensor; it is then saved
again as model.onnx + one model.onnx_data, the form the loader and bench/make-variants.ts read.

    /usr/bin/python3 bench/make_qwen25_shape.py [out_dir]
"""
import json
import shutil
import sys
import tempfile
from pathlib import Path

import onnx
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts" / "demo-model"))
from llama import LlamaConfig, LlamaForCausalLM  # noqa: E402
from build_demo import export_onnx  # noqa: E402

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench-results" / "models" / "qwen2.5-0.5b-shape"


def main():
    torch.manual_seed(25)
    c = LlamaConfig(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                    num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                    rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                    bos_token_id=151643, eos_token_id=151643, pad_token_id=151643)
    model = LlamaForCausalLM(c)
    with torch.no_grad():
        for layer in model.model.layers:  # qwen2: q/k/v with biases
            a = layer.self_attn
            for m in (a.q_proj, a.k_proj, a.v_proj):
                m.bias = torch.nn.Parameter(torch.zeros(m.out_features))
        for name, p in model.named_parameters():
            if "norm" in name:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02)
    n = sum(p.numel() for p in model.parameters())
    print(f"parameters {n:,}", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT.parent) as tmp:
        export_onnx(model, Path(tmp) / "model.onnx")
        print("exported; saving as model.onnx + model.onnx_data", flush=True)
        m = onnx.load(str(Path(tmp) / "model.onnx"))
        for f in ("model.onnx", "model.onnx_data"):
            (OUT / f).unlink(missing_ok=True)
        onnx.save_model(m, str(OUT / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx_data", size_threshold=1024)
    (OUT / "config.json").write_text(json.dumps({
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "vocab_size": c.vocab_size,
        "hidden_size": c.hidden_size, "intermediate_size": c.intermediate_size,
        "num_hidden_layers": c.num_hidden_layers, "num_attention_heads": c.num_attention_heads,
        "num_key_value_heads": c.num_key_value_heads, "max_position_embeddings": c.max_position_embeddings,
        "rope_theta": c.rope_theta, "rms_norm_eps": c.rms_norm_eps, "hidden_act": "silu",
        "tie_word_embeddings": True, "use_sliding_window": False, "bos_token_id": c.bos_token_id,
        "eos_token_id": c.eos_token_id, "torch_dtype": "float32",
    }, indent=2) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
