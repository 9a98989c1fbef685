"""Multiple choice with the options in the prompt (MMLU style): a template lists an example's
choices under labels, `{options}` in its text, and the model is scored on each label.

Written as lm-eval 0.4.13's mmlu default template writes it: `{question}\\nA. ...\\nB. ...\\nAnswer:`,
each option `option_template` ("{label}. {choice}") on a line of its own, and the continuation
`choice_template: " {label}"` (lm-eval's target_delimiter " " before the letter). A template
that does not list options scores each choice's text, as before; both framings may sit in one
task's library, and `task.template` picks the one every method on the run shares.

The labels are a scheme: `letters` (A, B, ... Z), `numbers` (1, 2, ...), or a list of one's own.
A scheme with fewer labels than an example has choices is a config error where the choice
columns say so (one text each), else a data error naming the example's file and line.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, List, Optional

from ptlab.config_origin import origin
from ptlab.errors import ConfigError, DataError
from ptlab.kinds import check_format
from ptlab.task_config import TemplateConfig

OPTIONS = "options"  # the template field that lists the choices
SCHEMES = {"letters": list(string.ascii_uppercase), "numbers": None}  # None: as many as asked for


@dataclass
class ChoiceTemplateConfig(TemplateConfig):
    """A multiple-choice template: how the choices follow it, and whether it lists them first."""

    choice_template: Optional[str] = None  # how a choice is written after the prompt; null: the task's
    choice_labels: Any = None  # letters, numbers or a list of labels: the template lists `{options}`
    option_template: str = "{label}. {choice}"  # one listed option, a line of its own


def scheme_text(scheme: Any) -> str:
    return scheme if isinstance(scheme, str) else "[" + ", ".join(map(str, scheme)) + "]"


def capacity(scheme: Any) -> Optional[int]:
    """How many choices `scheme` can label (None: any number)."""
    if isinstance(scheme, str):
        return None if SCHEMES[scheme] is None else len(SCHEMES[scheme])
    return len(scheme)


def labels(scheme: Any, count: int) -> List[str]:
    """The first `count` labels of `scheme` (at most its capacity)."""
    if scheme == "numbers":
        return [str(i + 1) for i in range(count)]
    return [str(label) for label in (SCHEMES[scheme] if isinstance(scheme, str) else scheme)[:count]]


def listing(template: ChoiceTemplateConfig, choices: List[str], where: str, key: str) -> str:
    """The `{options}` text: each choice under its label, one per line."""
    short = capacity(template.choice_labels)
    if short is not None and len(choices) > short:
        raise DataError(
            f"{where}: {len(choices)} choices, but {key}={scheme_text(template.choice_labels)} labels only {short} "
            f"option{'' if short == 1 else 's'}"
        )
    shown = zip(labels(template.choice_labels, len(choices)), choices)
    return "\n".join(template.option_template.format(label=label, choice=choice) for label, choice in shown)


def check(template: ChoiceTemplateConfig, name: Optional[str], fallback: str, columns: int, taken: bool) -> None:
    """One template's choice framing, before any data or model is read: `name` in task.templates
    (None: the task's lone `task.template`), `fallback` the task's `choice_template`, `columns` how
    many choice columns the task names (each at least one choice, unless it holds a list), `taken`
    whether the task has a field of its own called `options` (then `{options}` is that field)."""
    prefix = f"task.templates.{name}" if name is not None else "task.template"
    text_key = f"{prefix}.text" if name is not None else prefix
    scheme_key = f"{prefix}.choice_labels" if name is not None else "choice_labels (of a task.templates entry)"
    if template.labels is not None:
        raise ConfigError(
            f"{_at(prefix + '.labels')}: verbalizers are a classification template's; a multiple_choice "
            f"template labels the options it lists with {prefix}.choice_labels"
        )
    written = fallback if template.choice_template is None else template.choice_template
    key = "task.choice_template" if template.choice_template is None else f"{prefix}.choice_template"
    used = check_format(written, ["choice", "label"], key)
    if not used & {"choice", "label"}:
        raise ConfigError(f"{_at(key)}: {written!r} must use {{choice}} or {{label}}")
    if taken and template.choice_labels is not None:
        raise ConfigError(
            f"{_at(scheme_key)}: the options are listed as {{{OPTIONS}}}, which is a field of task.columns or "
            f"task.derived here; rename that field (e.g. columns: {{choices: {OPTIONS}}})"
        )
    lists = not taken and OPTIONS in {f for _, f, _, _ in string.Formatter().parse(template.text) if f is not None}
    if template.choice_labels is None:
        if lists or "label" in used:
            what = f"{_at(text_key)} lists {{{OPTIONS}}}" if lists else f"{_at(key)} scores {{label}} after {text_key}"
            raise ConfigError(
                f"{what}, but {scheme_key} is not set: say how the options are labelled (letters, numbers or a list)"
            )
        return
    _check_scheme(template.choice_labels, scheme_key, columns)
    if not lists:
        raise ConfigError(f"{_at(scheme_key)} labels options that {text_key} never lists: put {{{OPTIONS}}} in it")
    key = f"{prefix}.option_template"
    if check_format(template.option_template, ["label", "choice"], key) != {"label", "choice"}:
        raise ConfigError(f"{_at(key)}: {template.option_template!r} must use {{label}} and {{choice}}")


def _check_scheme(scheme: Any, key: str, columns: int) -> None:
    """A known scheme, or a list of distinct labels; at least as many labels as choice columns."""
    if (isinstance(scheme, str) and scheme not in SCHEMES) or (not isinstance(scheme, (str, list)) or not scheme):
        raise ConfigError(f"{_at(key)}: {scheme!r} is not a label scheme: letters, numbers or a list of labels")
    if isinstance(scheme, list):
        bad = [s for s in scheme if isinstance(s, bool) or not isinstance(s, (str, int)) or not str(s).strip()]
        if bad:
            raise ConfigError(f"{_at(key)}: {bad[0]!r} is not a label (a word or a number)")
        if len({str(s) for s in scheme}) < len(scheme):
            raise ConfigError(f"{_at(key)}: {scheme_text(scheme)} repeats a label; each option needs its own")
    short = capacity(scheme)
    if short is not None and short < columns:
        raise ConfigError(
            f"{_at(key)}: {scheme_text(scheme)} labels {short} option{'' if short == 1 else 's'}, but task.choices "
            f"names {columns} choice columns"
        )


def _at(key: str) -> str:
    """`key` and the task YAML (or command line) that set it."""
    return f"{key}{origin(key)}"
