"""The shipped conf/ YAMLs as the typed configs the registries' class-level questions read."""

from pathlib import Path

from omegaconf import OmegaConf

from ptlab.config.schema import ModelConfig

CONF = Path(__file__).resolve().parents[1] / "conf"


def model_config(model: str) -> ModelConfig:
    """conf/model/<model>.yaml as a ModelConfig, e.g. for a method's `not_applicable_to`."""
    yaml = OmegaConf.load(CONF / "model" / f"{model}.yaml")
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(ModelConfig), yaml))


def task_config(task: str):
    """conf/task/<task>.yaml as its kind's typed config, e.g. for a kind's `head` (which may read
    the task: token classification has an LM head only with an `lm_template`)."""
    from ptlab.kinds import kind_class

    yaml = OmegaConf.load(CONF / "task" / f"{task}.yaml")
    schema = kind_class(yaml.kind).config
    return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), yaml))
