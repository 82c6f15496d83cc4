"""Config and Trainer classes with TRL 1.9.0's field names (test/fixtures/export/trl-config-fields.json)."""
import json
import os
import sys

sys.path.insert(0, __file__.rsplit("/", 2)[0])
from _record import record  # noqa: E402

FIELDS = json.load(open(os.environ["PREFSTUDIO_TRL_FIELDS"]))


def make(name):
    allowed = set(FIELDS["classes"][name]["fields"]) | set(FIELDS["training_arguments"])

    def __init__(self, **kw):
        for k in kw:
            if k not in allowed:
                raise TypeError(f"{name}.__init__() got an unexpected keyword argument '{k}'")
        self.__dict__.update(kw)

    config = type(name, (), {"__init__": __init__})
    trainer_name = name.replace("Config", "Trainer")

    def trainer_init(self, model, args, train_dataset, eval_dataset=None, processing_class=None, peft_config=None):
        if not isinstance(args, config):
            raise TypeError(f"{trainer_name} got {type(args).__name__}, not {name}")
        self.args = args
        record("trainer", trainer=trainer_name, config=name, args=vars(args), columns=train_dataset.column_names,
               train_rows=len(train_dataset), eval_rows=None if eval_dataset is None else len(eval_dataset),
               peft=vars(peft_config) if peft_config is not None else None)

    def train(self):
        record("train")

    def evaluate(self):
        return {"eval_loss": 0.0}

    def save_model(self, out):
        record("save", output_dir=out)

    trainer = type(trainer_name, (), {"__init__": trainer_init, "train": train, "evaluate": evaluate, "save_model": save_model})
    return config, trainer
