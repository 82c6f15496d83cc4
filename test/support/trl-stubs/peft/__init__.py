"""Stand-in for peft.LoraConfig: the fields of PEFT's LoraConfig the hand-off uses."""
import dataclasses


@dataclasses.dataclass
class LoraConfig:
    r: int = 8
    lora_alpha: int = 8
    lora_dropout: float = 0.0
    use_rslora: bool = False
    target_modules: object = None
    bias: str = "none"
    task_type: str = None
