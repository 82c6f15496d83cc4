"""Builds the bundled demo preference dataset, public/datasets/demo-fortunes-positive.jsonl.

The preference is one a short DPO run can visibly learn: *hopeful sayings over gloomy ones*.
For each prompt (the opening words of a held-out saying) the demo model samples several
completions (on-policy, as iterative DPO does); a small lexicon scores each one's tone, and the
most hopeful becomes `chosen`, the gloomiest `rejected` (pairs whose scores tie are dropped).
TRL's standard preference format: {"prompt", "chosen", "rejected"}, completions without the
prompt, each with a leading space as the tokenizer expects. A `split` field marks the held-out
test pairs.

    /usr/bin/python3 scripts/demo-model/build_demo_dataset.py   # after build_demo.py
"""
import json
import re
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import bpe  # noqa: E402
import corpus  # noqa: E402
from build_demo import CACHE, ROOT, SEED, sample  # noqa: E402
from llama import LlamaConfig, LlamaForCausalLM  # noqa: E402

OUT = ROOT / "public" / "datasets" / "demo-fortunes-positive.jsonl"
CANDIDATES = 6
N_PROMPTS = 420
TEST_FRACTION = 0.15

POSITIVE = set("""
love loves loved loving kind kindness joy joyful happy happiness hope hopeful smile smiles laugh
laughter friend friends friendship good great best wonderful beautiful beauty bright peace gentle
warm gift gifts grateful gratitude trust wise wisdom courage brave free freedom success succeed
win wins help helps heart hearts light shine sun sunshine dream dreams delight glad bless blessed
sweet fine grow grows learn learns true truth together care cares generous thank thanks calm
""".split())
NEGATIVE = set("""
hate hates hated sad sadness fear fears afraid war death die dies dead kill kills killed pain
cruel evil bad worst worse fail fails failure lose loses lost lonely angry anger misery miserable
sorrow tears cry cries grief wrong ugly poor sick disease enemy enemies stupid fool fools foolish
dark darkness hell crime guilty lie lies liar despair doom broken nothing never nobody trouble
""".split())


def tone(text: str) -> int:
    words = re.findall(r"[a-z']+", text.lower())
    return sum(w in POSITIVE for w in words) - sum(w in NEGATIVE for w in words)


def main():
    ckpt = torch.load(CACHE / "demo.pt")
    c = LlamaConfig(**ckpt["config"])
    model = LlamaForCausalLM(c)
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    vocab, merges = ckpt["vocab"], ckpt["merges"]
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
        cands = []
        for j in range(CANDIDATES):
            ids = sample(model, p_ids, n=40, temperature=1.0, top_k=50, seed=SEED + k * CANDIDATES + j)
            completion = decode(ids[len(p_ids):])
            if completion.strip():
                cands.append((tone(completion), j, completion))
        if len(cands) < 2:
            continue
        cands.sort()
        (lo, _, rejected), (hi, _, chosen) = cands[0], cands[-1]
        if hi > lo:
            rows.append({"prompt": prompt, "chosen": chosen, "rejected": rejected})
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
