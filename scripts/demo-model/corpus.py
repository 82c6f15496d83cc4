"""The demo model's training text: short fortune-cookie sayings from Debian's `fortunes` package.

Deterministic: the same package version gives the same corpus. Sections with code, chat logs,
ASCII art or material unsuited to a demo are left out; each saying is one line of plain ASCII.
"""
import random
import re
import unicodedata
from pathlib import Path

FORTUNES_DIR = Path("/usr/share/games/fortunes")
SECTIONS = [
    "art", "computers", "cookie", "definitions", "education", "food", "fortunes", "goedel", "humorists",
    "kids", "law", "literature", "love", "magic", "medicine", "miscellaneous", "paradoxum",
    "people", "pets", "platitudes", "politics", "riddles", "science", "songs-poems", "sports", "tao",
    "wisdom", "work",
]
MIN_CHARS, MAX_CHARS = 24, 220


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    text = re.sub(r"\s+", " ", text).strip()
    # Attributions ("-- Mark Twain") are names, not prose: the model learns sayings.
    text = re.sub(r"\s+--\s*[A-Z][^.!?]*$", "", text).strip()
    return text


def sayings(seed: int = 1234) -> list[str]:
    if not FORTUNES_DIR.exists():
        raise SystemExit("Debian's fortunes package is needed: apt-get install fortunes")
    seen: set[str] = set()
    out: list[str] = []
    for section in SECTIONS:
        raw = (FORTUNES_DIR / section).read_text(encoding="utf-8", errors="ignore")
        for chunk in raw.split("\n%\n"):
            s = _clean(chunk)
            if not (MIN_CHARS <= len(s) <= MAX_CHARS) or s in seen:
                continue
            if not re.match(r"^[A-Z\"']", s) or not re.search(r"[.!?\"']$", s):
                continue  # keep whole sentences
            seen.add(s)
            out.append(s)
    random.Random(seed).shuffle(out)
    return out


if __name__ == "__main__":
    s = sayings()
    print(len(s), "sayings,", sum(len(x) for x in s), "chars")
    for x in s[:10]:
        print("-", x)
