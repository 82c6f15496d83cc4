"""Builds the bundled demo preference dataset, public/datasets/demo-fortunes-positive.jsonl.

The preference is one a short DPO run can visibly learn: *hopeful sayings over gloomy ones*.
For each prompt (the opening words of a held-out saying) the demo model samples candidates
(on-policy, as iterative DPO does) and the first one with a word of the tone lexicon
(tone-lexicon.json: antonym pairs such as good/bad, friend/enemy, always/never) becomes a
minimal pair: `chosen` has every such word in its hopeful form, `rejected` in its gloomy form,
the rest of the text identical. Pairs that differ only in tone put the whole preference signal
on the words that carry it; pairs of two unrelated samples (the first version of this set) also
differ in everything else, and a 1M-parameter model needed a whole epoch before held-out
accuracy rose above chance. The candidate whose first tone word comes earliest is taken, so
that the pair still differs after truncation to 32 tokens.
TRL's standard preference format: {"prompt", "chosen", "rejected"}, completions without the
prompt, each with a leading space as the tokenizer expects. A `split` field marks the held-out
test pairs.

The model is read back from the bundled ONNX export (public/models/demo-fortunes), so the data
is on-policy for exactly the model users get, and this step needs no training checkpoint.

    /usr/bin/python3 scripts/demo-model/build_demo_dataset.py   # after build_demo.py
"""
import json
import re
import sys
from pathlib import Path

import onnx
import torch
from onnx import numpy_helper

sys.path.insert(0, str(Path(__file__).parent))
import bpe  # noqa: E402
import corpus  # noqa: E402
from build_demo import ROOT, SEED  # noqa: E402
from llama import LlamaConfig, LlamaForCausalLM  # noqa: E402

MODEL_DIR = ROOT / "public" / "models" / "demo-fortunes"
OUT = ROOT / "public" / "datasets" / "demo-fortunes-positive.jsonl"
CANDIDATES = 8
N_PROMPTS = 420
TEST_FRACTION = 0.15

LEXICON = json.loads((Path(__file__).parent / "tone-lexicon.json").read_text())
TO_HOPEFUL = {gloomy: hopeful for hopeful, gloomy in LEXICON["antonyms"]}
TO_GLOOMY = {hopeful: gloomy for hopeful, gloomy in LEXICON["antonyms"]}
POSITIVE = set(TO_GLOOMY) | set(LEXICON["positive"])
NEGATIVE = set(TO_HOPEFUL) | set(LEXICON["negative"])
MAX_LENGTH = 32  # tokens of prompt + completion within which a pair must differ
WORD = re.compile(r"[A-Za-z']+")


def tone(text: str) -> int:
    words = re.findall(r"[a-z']+", text.lower())
    return sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)


def swap(text: str, table: dict) -> str:
    """Every word of `table` replaced by its antonym, keeping a leading capital."""
    def one(m):
        w = m.group(0)
        t = table.get(w.lower())
        return w if t is None else (t[0].upper() + t[1:] if w[0].isupper() else t)
    return WORD.sub(one, text)


def first_tone_word(text: str):
    """Character offset of the first word that has an antonym, or None."""
    for m in WORD.finditer(text):
        if m.group(0).lower() in TO_HOPEFUL or m.group(0).lower() in TO_GLOOMY:
            return m.start()
    return None


def load_exported():
    """The model, vocab and merges as build_demo.py exported them. torch.onnx.export names the
    norms and embedding after their modules but the linear weights anonymously (onnx::MatMul_N,
    stored [in, out]); the MatMul node that reads each one carries the module path."""
    hf = json.loads((MODEL_DIR / "config.json").read_text())
    fields = LlamaConfig.__dataclass_fields__
    c = LlamaConfig(**{k: v for k, v in hf.items() if k in fields})
    graph = onnx.load(str(MODEL_DIR / "model.onnx")).graph
    inits = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    state = {}
    for name, arr in inits.items():
        if name.startswith("m.model."):
            state[name[len("m."):]] = torch.from_numpy(arr.copy())
    for node in graph.node:
        m = re.search(r"layers\.(\d+)/(self_attn|mlp)/(\w+_proj)/MatMul$", node.name)
        if node.op_type == "MatMul" and m:
            w = inits[node.input[1]]
            state[f"model.layers.{m[1]}.{m[2]}.{m[3]}.weight"] = torch.from_numpy(w.T.copy())
    model = LlamaForCausalLM(c)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert not unexpected and set(missing) <= {"lm_head.weight"}, (missing, unexpected)
    model.lm_head.weight = model.model.embed_tokens.weight  # tied, as exported
    model.eval()
    tok = json.loads((MODEL_DIR / "tokenizer.json").read_text())["model"]
    return model, tok["vocab"], [tuple(m) for m in tok["merges"]]


@torch.no_grad()
def sample_batch(model, prompt_ids, n_rows, n=40, temperature=1.0, top_k=50, seed=0):
    """n_rows completions of one prompt at once with the model's KV cache; each row stops at EOS."""
    g = torch.Generator().manual_seed(seed)
    eos = model.config.eos_token_id
    x = torch.tensor([prompt_ids] * n_rows)
    past, T = None, 0
    rows = [[] for _ in range(n_rows)]
    done = [False] * n_rows
    for _ in range(n):
        Tk = T + x.shape[1]
        logits, past = model(x, torch.ones(n_rows, Tk, dtype=torch.long), torch.arange(T, Tk)[None].expand(n_rows, -1), past)
        T = Tk
        v, i = torch.topk(logits[:, -1] / temperature, top_k)
        nxt = i.gather(1, torch.multinomial(torch.softmax(v, -1), 1, generator=g))  # (n_rows, 1)
        for r, t in enumerate(nxt[:, 0].tolist()):
            done[r] = done[r] or t == eos
            if not done[r]:
                rows[r].append(t)
        if all(done):
            break
        x = nxt
    return rows


def main():
    torch.set_num_threads(1)
    model, vocab, merges = load_exported()
    c = model.config
    inv = {i: s for s, i in vocab.items()}
    u2b = {u: b for b, u in bpe.bytes_to_unicode().items()}
    decode = lambda ids: bytes(u2b[ch] for i in ids if i > 2 for ch in inv[i]).decode("utf-8", "replace")

    texts = corpus.sayings(SEED)
    held_out = texts[: len(texts) // 20]  # the sayings build_demo.py kept out of training
    prompts = []
    for t in held_out + texts[len(held_out):]:
        words = t.split()
        if len(words) >= 6:
            prompts.append(" ".join(words[: 2 + len(prompts) % 3]))
        if len(prompts) == N_PROMPTS:
            break

    rows = []
    for k, prompt in enumerate(prompts):
        p_ids = [c.bos_token_id] + bpe.encode(prompt, vocab, merges)
        best = None  # (tokens up to the end of the first tone word, completion)
        for ids in sample_batch(model, p_ids, CANDIDATES, seed=SEED + k):
            completion = decode(ids)
            at = first_tone_word(completion)
            if at is None:
                continue
            end = WORD.match(completion, at).end()
            n = len(p_ids) + len(bpe.encode(completion[:end], vocab, merges))
            if n <= MAX_LENGTH and (best is None or n < best[0]):
                best = (n, completion)
        if best is not None:
            rows.append({"prompt": prompt, "chosen": swap(best[1], TO_HOPEFUL), "rejected": swap(best[1], TO_GLOOMY)})
        if k % 50 == 0:
            print(f"{k}/{len(prompts)} prompts, {len(rows)} pairs", flush=True)

    n_test = int(len(rows) * TEST_FRACTION)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with OUT.open("w") as f:
        for i, r in enumerate(rows):
            f.write(json.dumps({**r, "split": "test" if i < n_test else "train"}) + "\n")
    print(f"wrote {len(rows)} pairs ({n_test} test) to {OUT}")


if __name__ == "__main__":
    main()
