"""Stand-in for transformers' auto classes: records what train.py loads."""
import sys

sys.path.insert(0, __file__.rsplit("/", 2)[0])
from _record import record  # noqa: E402


class _Tokenizer:
    pad_token = None
    eos_token = "</s>"


class AutoTokenizer:
    @staticmethod
    def from_pretrained(model_id, **kw):
        record("tokenizer", model_id=model_id, kwargs=kw)
        return _Tokenizer()


class AutoModelForCausalLM:
    @staticmethod
    def from_pretrained(model_id, **kw):
        record("model", model_id=model_id, kwargs=kw)
        return object()
