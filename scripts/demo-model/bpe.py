"""A small byte-level BPE trainer that writes a Hugging Face `tokenizer.json` (GPT-2 style:
ByteLevel pre-tokenizer and decoder), so the demo model's tokenizer goes through exactly the
loading path of any Hugging Face model. Pure Python, incremental pair counts: a few seconds.
"""
import collections
import json
import re

# GPT-2's pre-tokenization split, restricted to ASCII (the corpus is ASCII): on ASCII text it
# splits exactly as the Unicode-class original the JS tokenizer runs.
PRETOKENIZE = re.compile(r"""'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+| ?[^\sA-Za-z0-9]+|\s+(?!\S)|\s+""")
SPECIALS = ["<pad>", "<s>", "</s>"]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> printable character map."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs)))


def train(texts: list[str], vocab_size: int) -> tuple[dict[str, int], list[tuple[str, str]]]:
    b2u = bytes_to_unicode()
    word_freq: collections.Counter[str] = collections.Counter()
    for t in texts:
        for w in PRETOKENIZE.findall(t):
            word_freq["".join(b2u[b] for b in w.encode("utf-8"))] += 1
    words = [list(w) for w in word_freq]
    freqs = list(word_freq.values())
    vocab: dict[str, int] = {s: i for i, s in enumerate(SPECIALS)}
    for b in range(256):
        vocab[b2u[b]] = len(vocab)

    pair_count: collections.Counter[tuple[str, str]] = collections.Counter()
    where: dict[tuple[str, str], set[int]] = collections.defaultdict(set)
    for i, w in enumerate(words):
        for p in zip(w, w[1:]):
            pair_count[p] += freqs[i]
            where[p].add(i)

    merges: list[tuple[str, str]] = []
    while len(vocab) < vocab_size and pair_count:
        # Highest count; ties broken by the pair itself so the result is deterministic.
        best = max(pair_count.items(), key=lambda kv: (kv[1], kv[0]))[0]
        if pair_count[best] < 2:
            break
        merged = best[0] + best[1]
        merges.append(best)
        vocab[merged] = len(vocab)
        for i in list(where[best]):
            w, f = words[i], freqs[i]
            for p in zip(w, w[1:]):
                pair_count[p] -= f
                if pair_count[p] <= 0:
                    del pair_count[p]
            out: list[str] = []
            j = 0
            while j < len(w):
                if j + 1 < len(w) and (w[j], w[j + 1]) == best:
                    out.append(merged)
                    j += 2
                else:
                    out.append(w[j])
                    j += 1
            words[i] = out
            for p in zip(out, out[1:]):
                pair_count[p] += f
                where[p].add(i)
        del where[best]
    return vocab, merges


def tokenizer_json(vocab: dict[str, int], merges: list[tuple[str, str]]) -> dict:
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": vocab[s], "content": s, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for s in SPECIALS
        ],
        "normalizer": None,
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True},
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
            "pair": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                {"Sequence": {"id": "B", "type_id": 1}},
            ],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [vocab["<s>"]], "tokens": ["<s>"]}},
        },
        "decoder": {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True},
        "model": {
            "type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
            "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False, "ignore_merges": False,
            "vocab": vocab,
            "merges": [[a, b] for a, b in merges],
        },
    }


def encode(text: str, vocab: dict[str, int], merges: list[tuple[str, str]]) -> list[int]:
    """Reference encoder (no specials) used by the build script to tokenize the corpus."""
    b2u = bytes_to_unicode()
    rank = {m: i for i, m in enumerate(merges)}
    ids: list[int] = []
    cache: dict[str, list[int]] = {}
    for w in PRETOKENIZE.findall(text):
        u = "".join(b2u[b] for b in w.encode("utf-8"))
        if u not in cache:
            sym = list(u)
            while len(sym) > 1:
                pairs = [(rank.get(p, 1 << 30), k) for k, p in enumerate(zip(sym, sym[1:]))]
                r, k = min(pairs)
                if r == 1 << 30:
                    break
                sym[k : k + 2] = [sym[k] + sym[k + 1]]
            cache[u] = [vocab[s] for s in sym]
        ids.extend(cache[u])
    return ids
