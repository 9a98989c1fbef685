"""The methods, by the name their `conf/method/<name>.yaml` selects."""

from ptlab.methods.full_finetune import FullFinetune
from ptlab.methods.lora import LoRA
from ptlab.methods.prefix_tuning import PrefixTuning
from ptlab.methods.prompt_tuning import PromptTuning
from ptlab.methods.zero_shot import ZeroShot

METHODS = {
    "full_finetune": FullFinetune,
    "lora": LoRA,
    "prefix_tuning": PrefixTuning,
    "prompt_tuning": PromptTuning,
    "zero_shot": ZeroShot,
}
