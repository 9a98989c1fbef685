"""Multiple choice with the options in the prompt (MMLU style): a template lists an example's
choices under labels, `{options}` in its text, and the model is scored on each label.

Written as lm-eval 0.4.13's mmlu default template writes it: `{question}\\nA. ...\\nB. ...\\nAnswer:`,
each option `option_template` ("{label}. {choice}") on a line of its own, and the continuation
`choice_template: " {label}"` (lm-eval's target_delimiter " " before the letter). A template
that does not list options scores each choice's text, as before; both framings may sit in one
task's library, and `task.template` picks the one every method on the run shares.

The labels are the template's `option_labels`, a scheme: `letters` (A, B, ... Z), `numbers`
(1, 2, ...), or a list of one's own. A scheme with fewer labels than an example has choices is a
config error where the choice columns say so (one text each), else a data error naming the
example's file and line. A template without `option_labels` lists each example's own labels where
the task declares them (`task.columns.choice_labels`: ARC's "A"-"E" or "1"-"4" per question, from
the data), so a question is listed and scored under the labels its answer key names. The two keys
are named apart on purpose: `columns.choice_labels` is data (one label per choice, read from each
record, as `choices` is), `option_labels` is a template's way of labelling what it lists.
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any, List, Optional

from ptlab.kinds.fields import check_format
from ptlab.config.origin import origin
from ptlab.errors import ConfigError, DataError
from ptlab.config.task import TemplateConfig

OPTIONS = "options"  # the template field that lists the choices
CHOICE_LABELS = "choice_labels"  # the task.columns field of each example's own choice labels (data)
SCHEMES = {"letters": list(string.ascii_uppercase), "numbers": None}  # None: as many as asked for


@dataclass
class ChoiceTemplateConfig(TemplateConfig):
    """A multiple-choice template: how the choices follow it, and whether it lists them first."""

    choice_template: Optional[str] = None  # how a choice is written after the prompt; null: the task's
    option_labels: Any = None  # letters, numbers or a list of labels: the template lists `{options}`
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


def shown(
    template: ChoiceTemplateConfig, own: Optional[List[str]], count: int, where: str, key: str
) -> Optional[List[str]]:
    """The labels the example's `count` choices are listed and scored under: the template's
    option_labels where set, else the example's own from the data (`own`; None where the task
    declares none)."""
    scheme = template.option_labels
    if scheme is None:
        return own
    short = capacity(scheme)
    if short is not None and count > short:
        raise DataError(
            f"{where}: {count} choices, but {key}={scheme_text(scheme)} labels only {short} "
            f"option{'' if short == 1 else 's'}"
        )
    return labels(scheme, count)


def listing(template: ChoiceTemplateConfig, marks: List[str], choices: List[str]) -> str:
    """The `{options}` text: each choice under its label (`marks`, from `shown`), one per line."""
    return "\n".join(template.option_template.format(label=mark, choice=choice) for mark, choice in zip(marks, choices))


def lists(template: ChoiceTemplateConfig, taken: bool) -> bool:
    """Whether the template's text lists the options (`taken`: `{options}` is a field of the task's own)."""
    return not taken and OPTIONS in {f for _, f, _, _ in string.Formatter().parse(template.text) if f is not None}


def check(
    template: ChoiceTemplateConfig, name: Optional[str], fallback: str, columns: int, taken: bool, own: bool
) -> None:
    """One template's choice framing, before any data or model is read: `name` in task.templates
    (None: the task's lone `task.template`), `fallback` the task's `choice_template`, `columns` how
    many choice columns the task names (each at least one choice, unless it holds a list), `taken`
    whether the task has a field of its own called `options` (then `{options}` is that field), `own`
    whether the task declares each example's own labels (task.columns.choice_labels)."""
    prefix = f"task.templates.{name}" if name is not None else "task.template"
    text_key = f"{prefix}.text" if name is not None else prefix
    scheme_key = f"{prefix}.option_labels" if name is not None else "option_labels (of a task.templates entry)"
    if template.labels is not None:
        raise ConfigError(
            f"{_at(prefix + '.labels')}: verbalizers are a classification template's; a multiple_choice "
            f"template labels the options it lists with {prefix}.option_labels"
        )
    written = fallback if template.choice_template is None else template.choice_template
    key = "task.choice_template" if template.choice_template is None else f"{prefix}.choice_template"
    used = check_format(written, ["choice", "label"], key)
    if not used & {"choice", "label"}:
        raise ConfigError(f"{_at(key)}: {written!r} must use {{choice}} or {{label}}")
    if taken and template.option_labels is not None:
        raise ConfigError(
            f"{_at(scheme_key)}: the options are listed as {{{OPTIONS}}}, which is a field of task.columns or "
            f"task.derived here; rename that field (e.g. columns: {{choices: {OPTIONS}}})"
        )
    listed = lists(template, taken)
    if template.option_labels is not None:
        _check_scheme(template.option_labels, scheme_key, columns)
        if not listed:
            raise ConfigError(f"{_at(scheme_key)} labels options that {text_key} never lists: put {{{OPTIONS}}} in it")
    elif not own and (listed or "label" in used):
        what = f"{_at(text_key)} lists {{{OPTIONS}}}" if listed else f"{_at(key)} scores {{label}} after {text_key}"
        raise ConfigError(
            f"{what}, but {scheme_key} is not set: say how the options are labelled (letters, numbers or a list), "
            f"or name each example's own labels with task.columns.{CHOICE_LABELS}"
        )
    elif "label" in used and not listed:
        raise ConfigError(
            f"{_at(key)} scores {{label}} after {text_key}, which never lists the labelled options: put "
            f"{{{OPTIONS}}} in it"
        )
    if not listed:
        return
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
