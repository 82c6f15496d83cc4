"""Writes bench-results/models/smollm2-135m-shape/: a Llama with SmolLM2-135M's shape (vocab 49152,
hidden 576, 30 layers, 9 query / 3 kv heads of 64, MLP 1536, tied embeddings, rope theta 1e5) and
seeded random weights (std 0.02), exported as the demo model is (scripts/demo-model/build_demo.py
export_onnx: input_ids, attention_mask, position_ids and past_key_values.N.key/value in; logits and
present.N.key/value out), fp32, about 540 MB. For the generation benchmark
(`npm run bench -- --suite generate --gen-models demo,bench-results/models/smollm2-135m-shape`):
the weights are not SmolLM2's (no Hub here), the shape and so the work per token are.

    /usr/bin/python3 bench/make_smollm2_shape.py [out_dir]
"""
import sys
from pathlib import Path

from shape_model import ROOT, LlamaConfig, random_model, write_config
from build_demo import export_onnx  # noqa: E402  (scripts/demo-model, on the path through shape_model)

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench-results" / "models" / "smollm2-135m-shape"


def main():
    c = LlamaConfig(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
                    num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
                    rope_theta=100000.0, rms_norm_eps=1e-5, tie_word_embeddings=True,
                    bos_token_id=1, eos_token_id=2, pad_token_id=0)
    model = random_model(c, seed=135)
    OUT.mkdir(parents=True, exist_ok=True)
    export_onnx(model, OUT / "model.onnx")
    write_config(OUT, c, "LlamaForCausalLM", "llama", head_dim=c.head_dim, rope_scaling=None, attention_bias=False,
                 mlp_bias=False, pad_token_id=0)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
