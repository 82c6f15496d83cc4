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
import sys
import tempfile
from pathlib import Path

import onnx

from shape_model import ROOT, LlamaConfig, random_model, write_config
from build_demo import export_onnx  # noqa: E402  (scripts/demo-model, on the path through shape_model)

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench-results" / "models" / "qwen2.5-0.5b-shape"


def main():
    c = LlamaConfig(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                    num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
                    rope_theta=1000000.0, rms_norm_eps=1e-6, tie_word_embeddings=True,
                    bos_token_id=151643, eos_token_id=151643, pad_token_id=151643)
    model = random_model(c, seed=25, qkv_bias=True)
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=OUT.parent) as tmp:
        export_onnx(model, Path(tmp) / "model.onnx")
        print("exported; saving as model.onnx + model.onnx_data", flush=True)
        m = onnx.load(str(Path(tmp) / "model.onnx"))
        for f in ("model.onnx", "model.onnx_data"):
            (OUT / f).unlink(missing_ok=True)
        onnx.save_model(m, str(OUT / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                        location="model.onnx_data", size_threshold=1024)
    write_config(OUT, c, "Qwen2ForCausalLM", "qwen2", use_sliding_window=False)
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
