#!/usr/bin/env python3
"""The field names of TRL's trainer configs, read from TRL's own sources with Python's ast (TRL is
not installable on the machines that run our tests), for test/export/trl-train-py.test.ts.

    /usr/bin/python3 scripts/trl/extract_config_fields.py <trl checkout> v1.9.0 > test/fixtures/export/trl-config-fields.json

For each config class (DPOConfig, KTOConfig, SFTConfig in trl/trainer/; CPOConfig and ORPOConfig in
trl/experimental/ since TRL 1.x) it lists the annotated class attributes of the dataclass and of
its TRL base classes (_BaseConfig), read at the given tag with `git show`. transformers'
TrainingArguments, which they all extend, is not part of TRL: the TrainingArguments names the
hand-off writes are listed in TRAINING_ARGUMENTS below, as documented for transformers 4.56.2 (the
version the hand-off pins, TRL 1.9.0's tested minimum) and checked against its training_args.py.
"""
import ast
import json
import subprocess
import sys

CLASSES = {
    "DPOConfig": ("trl", "trl/trainer/dpo_config.py"),
    "KTOConfig": ("trl", "trl/trainer/kto_config.py"),
    "SFTConfig": ("trl", "trl/trainer/sft_config.py"),
    "CPOConfig": ("trl.experimental.cpo", "trl/experimental/cpo/cpo_config.py"),
    "ORPOConfig": ("trl.experimental.orpo", "trl/experimental/orpo/orpo_config.py"),
}
BASES = {"_BaseConfig": "trl/trainer/base_config.py"}

# transformers.TrainingArguments fields the hand-off's recipe uses (src/engine/export/trl.ts
# trainingArgs, and bf16 set by train.py), all documented fields of TrainingArguments in 4.56.2.
TRAINING_ARGUMENTS = [
    "output_dir", "learning_rate", "num_train_epochs", "max_steps", "per_device_train_batch_size",
    "per_device_eval_batch_size", "gradient_accumulation_steps", "warmup_ratio", "warmup_steps",
    "lr_scheduler_type", "weight_decay", "adam_beta1", "adam_beta2", "adam_epsilon", "max_grad_norm",
    "seed", "data_seed", "save_steps", "eval_strategy", "eval_steps", "logging_steps", "report_to", "bf16",
]


def source(repo, tag, path):
    return subprocess.run(["git", "-C", repo, "show", f"{tag}:{path}"], check=True, capture_output=True, text=True).stdout


def fields(repo, tag, path, name):
    tree = ast.parse(source(repo, tag, path))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == name)
    own = [s.target.id for s in cls.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
    bases = [b.id for b in cls.bases if isinstance(b, ast.Name)]
    inherited = []
    for b in bases:
        if b in BASES:
            inherited += fields(repo, tag, BASES[b], b)
    return inherited + [f for f in own if f not in inherited]


def main(repo, tag):
    commit = subprocess.run(["git", "-C", repo, "rev-parse", f"{tag}^{{commit}}"], check=True, capture_output=True, text=True).stdout.strip()
    out = {
        "provenance": {
            "trl": {"tag": tag, "commit": commit, "how": "scripts/trl/extract_config_fields.py: ast of each config dataclass and its TRL bases"},
            "training_arguments": "transformers 4.56.2 TrainingArguments, the names the hand-off uses (scripts/trl/extract_config_fields.py TRAINING_ARGUMENTS)",
        },
        "classes": {name: {"module": mod, "file": path, "fields": sorted(set(fields(repo, tag, path, name)))} for name, (mod, path) in CLASSES.items()},
        "training_arguments": TRAINING_ARGUMENTS,
    }
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
