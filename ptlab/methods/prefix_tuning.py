"""Prefix tuning (Li & Liang, 2021): trained key/value prefixes at every layer, via peft.

peft starts prefixes from N(0, 1), far from any real key/value, which wrecks a pretrained LM's
behaviour at step 0 and is slow to recover on a small budget. As Li & Liang recommend for low
data, causal LMs start instead from the frozen model's own keys/values for real tokens (the class
verbalizers, a text, or sampled vocabulary): at step 0 the model behaves exactly as if those
tokens preceded the prompt. `init=random` keeps peft's init.
"""

import functools
import inspect
from dataclasses import dataclass

from ptlab.config.schema import Family
from ptlab.errors import ConfigError, positive
from ptlab.methods.virtual_tokens import PromptInit, VirtualTokensConfig, VirtualTokensMethod


@dataclass
class PrefixTuningConfig(VirtualTokensConfig):
    lr: float = 5e-3
    prefix_projection: bool = False  # the reparameterization MLP of Li & Liang (2021)
    encoder_hidden_size: int = 512

    def check(self) -> None:
        super().check()
        positive("method.encoder_hidden_size", self.encoder_hidden_size)


class PrefixTuning(VirtualTokensMethod):
    name = "prefix_tuning"
    config = PrefixTuningConfig
    report_order = 20
    # peft refuses it (its prefixes enter as a key/value cache, which a recomputed layer would extend twice)
    no_activation_checkpointing = "peft's prefix tuning refuses activation checkpointing"

    def check(self) -> None:
        super().check()
        if self.cfg.init not in (PromptInit.auto, PromptInit.random):
            if self.run.model.family != Family.causal or self.cfg.prefix_projection:
                raise ConfigError(
                    f"method.init={self.cfg.init.value} for prefix tuning needs a causal LM and "
                    f"method.prefix_projection=false; use init=random (or auto)"
                )

    def peft_config(self, reader):
        from peft import PrefixTuningConfig as PeftPrefixTuningConfig

        cfg = self.cfg
        return PeftPrefixTuningConfig(
            task_type=self.task_type(reader),
            num_virtual_tokens=cfg.num_virtual_tokens,
            prefix_projection=cfg.prefix_projection,
            encoder_hidden_size=cfg.encoder_hidden_size,
        )

    def wrap(self, backbone, reader):
        import torch

        model = super().wrap(backbone, reader)
        if reader.family == Family.encoder:
            accept_past_key_values(model)
        if reader.family != Family.causal or self.cfg.prefix_projection:
            return model  # no cache to read activations from / an MLP that cannot be inverted
        table = model.prompt_encoder[model.active_adapter].embedding.weight  # (n, layers*2*kv_dim)
        ids = self.init_token_ids(reader.tokenizer, table.shape[0])
        if ids:
            with torch.no_grad():
                cache = backbone(input_ids=torch.tensor([ids], device=backbone.device), use_cache=True).past_key_values
                # peft reads each row as [layer0 keys, layer0 values, layer1 keys, ...] per token.
                rows = [
                    torch.cat(
                        [layer.keys[0].transpose(0, 1).flatten(1), layer.values[0].transpose(0, 1).flatten(1)], dim=1
                    )
                    for layer in cache.layers
                ]
                table.copy_(torch.cat(rows, dim=1))
        return model


def accept_past_key_values(model) -> None:
    """Let peft hand an encoder classifier its prefix on transformers that renamed the argument.

    For a sequence classifier, peft (0.21) calls the encoder inside it (e.g. `bert`) itself with
    the prefix as `past_key_values`, and refuses ("Model does not support past key values") unless
    that name is in the encoder's forward signature. transformers 5.24 renamed it `cache` (the old
    name is a deprecated alias), although the encoder still prepends a given cache's keys/values
    in every self-attention layer and sizes the mask from peft's extended attention mask. This
    gives the peft model's encoder a forward that takes `past_key_values` and passes it as
    `cache` (a partial, so that a deep copy or a pickle of the model keeps it, bound to the copy).
    A no-op where the signature still says `past_key_values` (or has no `cache`). Also needed after
    `PeftModel.from_pretrained` on an exported encoder adapter.
    """
    encoder = model.base_model.get_submodule(model.transformer_backbone_name)
    accepted = inspect.signature(encoder.forward).parameters
    if "past_key_values" not in accepted and "cache" in accepted:
        encoder.forward = functools.partial(_forward_with_prefix, encoder)


def _forward_with_prefix(encoder, *args, past_key_values=None, **kwargs):
    return type(encoder).forward(encoder, *args, cache=past_key_values, **kwargs)
