"""Every shipped model x method x task composes and validates, or fails with the one config error
that combination deserves, before anything loads; named experiments compose too."""

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from conf_files import CONF, model_config, task_config
from ptlab.errors import ConfigError

MODELS = sorted(p.stem for p in (CONF / "model").glob("*.yaml"))
METHODS = sorted(p.stem for p in (CONF / "method").glob("*.yaml"))
TASKS = sorted(p.stem for p in (CONF / "task").glob("*.yaml"))


def _expected_error(model, method, task):
    """What the registries' class attributes say of this point, by the rules the docs state."""
    import re

    from ptlab.kinds import LM_HEADS, kind_of
    from ptlab.methods import method_class

    family, m = model_config(model).family, method_class(method)
    kind = kind_of(task_config(task))
    head = kind.head(family)
    if m.needs_lm_head and family not in LM_HEADS:
        return "needs a model with an LM head"
    if head is None:
        return f"cannot {kind.action}"
    if m.trains and not head.trainable:
        return "has no local weights to train"
    if m.reads_train_split and not m.trains:
        return "set data.k or data.k_per_class"  # its demonstrations are the run's k-shot draw
    reason = m.not_applicable_to(model_config(model))
    return re.escape(reason) if reason else None


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("task", TASKS)
def test_every_combination_validates_or_says_why_not(compose_run, model, method, task):
    expected = _expected_error(model, method, task)
    if expected is None:
        run = compose_run(f"model={model}", f"method={method}", f"task={task}")
        assert (run.model.name, run.method.name, run.task.name) == (model, method, task)
    else:
        with pytest.raises(ConfigError, match=expected):
            compose_run(f"model={model}", f"method={method}", f"task={task}")


def test_registries_match_conf_and_import_nothing_heavy():
    """Each conf/method YAML selects a registered method and each registered method has a YAML;
    every shipped task's kind is registered. Reading the registries imports no torch: validation
    reads every schema before any heavy import."""
    import subprocess
    import sys

    from ptlab.kinds import registry as kinds
    from ptlab.methods import registry as methods

    assert sorted(methods()) == METHODS
    assert {OmegaConf.load(CONF / "method" / f"{m}.yaml").name for m in METHODS} == set(METHODS)
    assert {OmegaConf.load(CONF / "task" / f"{t}.yaml").kind for t in TASKS} <= set(kinds())
    probe = (
        "import sys; from ptlab.kinds import registry as k; from ptlab.methods import registry as m; "
        "k(); m(); print(sorted({'torch', 'peft', 'lightning', 'transformers'} & set(sys.modules)))"
    )
    assert subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout == "[]\n"


def test_quickstart_experiment_composes_the_main_job(compose_run):
    run = compose_run("experiment=quickstart", "method=prefix_tuning")
    assert (run.name, run.model.name, run.task.name) == ("quickstart", "smollm2-135m", "sst2")
    assert run.trainer["max_steps"] == 40 and run.data.k == 256


EXPERIMENTS = sorted(p.stem for p in (CONF.parent / "experiments" / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
@pytest.mark.parametrize("method,task", [("lora", "sst2"), ("full_finetune", "copa"), ("prefix_tuning", "rte")])
def test_every_named_experiment_validates_with_a_trained_method(compose_run, experiment, method, task):
    """A misspelt key or an invalid value in an experiment YAML (e.g. a fractional
    val_check_interval) must fail here, not an hour into a sweep."""
    run = compose_run(f"experiment={experiment}", f"method={method}", f"task={task}")
    expected = OmegaConf.load(CONF.parent / "experiments" / "experiment" / f"{experiment}.yaml").name
    assert (run.name, run.method.name, run.task.name) == (expected, method, task)


@pytest.mark.parametrize(
    "launcher,target", [("local", "BasicLauncher"), ("local_parallel", "LocalLauncher"), ("slurm", "SlurmLauncher")]
)
def test_every_launcher_config_composes(launcher, target):
    from hydra import compose, initialize_config_dir

    from ptlab.config import resolvers

    resolvers.register()

    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[f"hydra/launcher={launcher}", "trainer=ddp_cpu"], return_hydra_config=True)
    settings = cfg.hydra.launcher
    assert settings._target_.endswith(target)
    if launcher == "slurm":  # one task per device, ptlab's signal, requeue allowed, submitit's off
        assert settings.tasks_per_node == cfg.trainer.devices == 2
        assert settings.additional_parameters.signal == "USR1@120"
        assert settings.additional_parameters.requeue is True and settings.max_num_timeout == 0


@pytest.mark.parametrize("overrides", [["trainer=fsdp"], ["trainer=fsdp", "trainer.devices=8", "trainer.num_nodes=2"]])
def test_fsdp_trainer_config_builds_a_mesh_over_every_device(overrides):
    from hydra import compose, initialize_config_dir
    from lightning.pytorch.strategies import ModelParallelStrategy
    from omegaconf import OmegaConf

    from ptlab.config import resolvers

    resolvers.register()
    from ptlab.config.trainer import trainer_options

    with initialize_config_dir(config_dir=str(Path(__file__).resolve().parents[1] / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=overrides)
    options = trainer_options(OmegaConf.to_container(cfg.trainer, resolve=True))
    strategy = options["strategy"]
    assert isinstance(strategy, ModelParallelStrategy) and options["precision"] == "bf16-mixed"
    # every device data-parallel (Lightning's "auto" would make the devices of a node tensor-parallel)
    assert strategy._data_parallel_size == options["devices"] * options["num_nodes"]
    assert strategy._tensor_parallel_size == 1


def test_trainer_keys_checked_up_front_are_lightnings_own():
    """ptlab checks trainer.* names and values without importing Lightning (a config error stays
    fast); the names must be exactly the installed Trainer's, less those ptlab sets itself."""
    import inspect
    import typing

    from lightning import Trainer
    from lightning.fabric.connector import _PRECISION_INPUT

    from ptlab.config.trainer import PRECISIONS, SET_BY_PTLAB, TRAINER_ARGS

    lightning_args = set(inspect.signature(Trainer.__init__).parameters) - {"self"}
    assert set(TRAINER_ARGS) == lightning_args - set(SET_BY_PTLAB)
    assert set(SET_BY_PTLAB) <= lightning_args
    allowed = {str(v) for literal in typing.get_args(_PRECISION_INPUT) for v in typing.get_args(literal)}
    assert set(PRECISIONS) == allowed
