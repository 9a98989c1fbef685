"""A template that is not a format string is a config error naming its key and where it was set
(the task YAML's path, or the command line), through the real CLI, before anything is written.

Every template of a task's library is checked (not only the selected one), formatted as a run
will format it: an unmatched brace, a bad conversion or format spec fails here, not mid-run, and
never as a bare ValueError from the calibration baseline that used to read the template first.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from test_bad_input import CONFIG_TIMEOUT, error_line, ptlab, written
from test_task_yaml import write

USER_TASK = """\
name: my_rte
kind: classification
local: {{dir: rte, format: jsonl, files: {{train: train.jsonl, validation: val.jsonl}}}}
columns: {{premise: premise, hypothesis: hypothesis, label: label}}
labels: {{entailment: " True", not_entailment: " False"}}
{templates}
metrics: [accuracy]
main_metric: accuracy
"""


def user_task(tmp_path: Path, templates: str) -> tuple:
    """(the --config-dir override, the task YAML's path) of a user's own task `my_rte`."""
    path = write(tmp_path / "conf" / "task" / "my_rte.yaml", USER_TASK.format(templates=templates))
    return f"--config-dir={tmp_path / 'conf'}", path


def config_error(tmp_path: Path, *overrides: str) -> str:
    log_dir = tmp_path / "runs"
    proc = ptlab(
        *overrides,
        "model=tiny-llama",
        "method=zero_shot",
        log_dir=log_dir,
        cache=tmp_path / "cache",
        timeout=CONFIG_TIMEOUT,
    )
    line = error_line(proc)
    assert written(log_dir) == [], written(log_dir)
    return line


@pytest.mark.parametrize(
    "templates, said",
    [
        ('template: "{premise Question: {hypothesis}"', "task.template (in {path}) is not a format string"),
        # a library: the broken template is not even the selected one
        (
            'template: a\ntemplates: {a: {text: "{premise}"}, b: {text: "{premise} {"}}',
            "task.templates.b.text (in {path}) is not a format string",
        ),
        ('template: "{premise} {hypotesis}"', "task.template (in {path}) uses {{hypotesis}}, which is not a template"),
    ],
    ids=["template", "unselected-library-template", "unknown-field"],
)
def test_bad_template_in_a_users_task_yaml_names_key_and_file(templates, said, tmp_path):
    config_dir, path = user_task(tmp_path, templates)
    line = config_error(tmp_path, config_dir, "task=my_rte")
    assert said.format(path=path) in line, line


@pytest.mark.parametrize(
    "overrides, needles",
    [
        (  # the calibrated metrics read rte's template: this was a bare "ValueError: unexpected '{'"
            ["task=rte", "task.template=follows", 'task.templates.follows.text="{premise {x"'],
            ["task.templates.follows.text (set on the command line) is not a format string", "{{ or }}"],
        ),
        (
            ["task=rte", 'task.templates.given_that.text="{premise!x}"'],
            ["task.templates.given_that.text (set on the command line)", "Unknown conversion specifier x"],
        ),
        (
            ["task=copa", 'task.choice_template="{choice"'],
            ["task.choice_template (set on the command line) is not a format string", "{{ or }}"],
        ),
    ],
    ids=["calibrated-task", "conversion", "choice-template"],
)
def test_bad_template_set_on_the_command_line_says_so(overrides, needles, tmp_path):
    line = config_error(tmp_path, *overrides)
    for needle in needles:
        assert needle in line, line
