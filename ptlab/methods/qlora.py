"""QLoRA (Dettmers et al., 2023): LoRA on every linear layer of a base quantized to 4-bit
NormalFloat with double quantization, computing in bf16, through bitsandbytes (the base is
quantized as it loads: `load_options`) and peft's `prepare_model_for_kbit_training`.

A method of its own, not a model option, so the report shows it as its own column beside LoRA: the
same kind of adapter on a different base. bitsandbytes >= 0.46 has a CPU backend, so it runs (and
is tested) on CPU too; without bitsandbytes installed it is a config error naming the package.
The adapter exports in peft's format and loads onto the quantized or the full-precision base.
"""

import importlib.util
from dataclasses import dataclass
from typing import List, Optional

from ptlab.errors import ConfigError
from ptlab.methods.lora import LoRA, LoraMethodConfig

QUANT_TYPES = ("nf4", "fp4")
# The output layers transformers' Auto classes put on a body: kept in full precision, since a new
# task head trains (peft's modules_to_save) and a 4-bit layer cannot.
UNQUANTIZED = ("lm_head", "classifier", "score", "qa_outputs")
COMPUTE_DTYPES = ("bfloat16", "float16", "float32")


@dataclass
class QLoraMethodConfig(LoraMethodConfig):
    lr: float = 2e-4  # Dettmers et al., 2023, app. B.2: 2e-4 for 7B and 13B models
    r: int = 64
    alpha: int = 16
    dropout: float = 0.1  # 0.1 up to 13B, 0.05 above (app. B.2)
    target_modules: Optional[List[str]] = None  # null: every linear layer (the paper's finding: all of them)
    quant_type: str = "nf4"
    double_quant: bool = True
    compute_dtype: str = "bfloat16"

    def check(self) -> None:
        super().check()
        if self.quant_type not in QUANT_TYPES:
            raise ConfigError(f"method.quant_type must be one of {list(QUANT_TYPES)}, got {self.quant_type!r}")
        if self.compute_dtype not in COMPUTE_DTYPES:
            raise ConfigError(f"method.compute_dtype must be one of {list(COMPUTE_DTYPES)}, got {self.compute_dtype!r}")


class QLoRA(LoRA):
    name = "qlora"
    config = QLoraMethodConfig
    report_order = 31  # LoRA's matrices on every linear layer, over a 4-bit base
    trained_parameters = ("lora_",)

    def check(self) -> None:
        super().check()
        if importlib.util.find_spec("bitsandbytes") is None:
            raise ConfigError(
                "method=qlora quantizes the base with bitsandbytes: pip install 'ptlab[qlora]' (bitsandbytes>=0.46)"
            )

    def load_options(self) -> dict:
        import torch
        from transformers import BitsAndBytesConfig

        cfg = self.cfg
        quantization = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=cfg.quant_type,
            bnb_4bit_use_double_quant=cfg.double_quant,
            bnb_4bit_compute_dtype=getattr(torch, cfg.compute_dtype),
            llm_int8_skip_modules=list(UNQUANTIZED),  # (the name covers 4-bit too)
        )
        on_gpu = self.run.trainer.get("accelerator") != "cpu" and torch.cuda.is_available()
        device = f"cuda:{torch.cuda.current_device()}" if on_gpu else "cpu"
        return {"quantization_config": quantization, "device_map": {"": device}}

    def base_weight_bits(self) -> float:
        # 4-bit codes, an absmax per 64 weights: fp32, or (double quantization) 8-bit with an fp32
        # scale per 256 of those (Dettmers et al., 2023, sec. 3: 0.127 bits instead of 0.5)
        return 4 + (8 / 64 + 32 / (64 * 256) if self.cfg.double_quant else 32 / 64)

    def wrap(self, backbone, reader):
        from peft import prepare_model_for_kbit_training

        # norms and the embedding to fp32, the base frozen; checkpointing stays model.gradient_checkpointing's
        backbone = prepare_model_for_kbit_training(backbone, use_gradient_checkpointing=False)
        return super().wrap(backbone, reader)

    def peft_config(self, reader):
        config = super().peft_config(reader)
        if self.cfg.target_modules is None:
            config.target_modules = "all-linear"
            # peft's all-linear spares a causal LM's lm_head and a sequence classifier's head, not a
            # token classifier's: a head trains whole (modules_to_save), never under LoRA as well
            config.exclude_modules = rf"(.*\.)?({'|'.join(UNQUANTIZED)})(\..*)?"
        return config
