"""report.html: the report as one self-contained page a person can browse (no server, no network).

It holds report.md's tables with their significance marks, the plots (inlined as PNG data), and a
per-example view in the manner of HELM's instance viewer: pick a task and two columns (two methods,
or two templates of one method) and a seed of each, and see the examples on which their predictions
differ, with the prompt, the gold answer, each prediction and its scores. Runs are aligned example by
example, which holds because every method on a task reads the same data path in the same order; a
run whose gold answers differ from its task's first run is left out of the view and listed.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Dict, List, Sequence

import pandas as pd

from ptlab.run.directory import RunDir

SHOWN = ("predicted", "scores", "example_scores")  # per run, beside the task's prompt and gold


def write_html(markdown_text: str, runs: pd.DataFrame, split: str, plots: Sequence[Path], out: Path) -> Path:
    """Write `out`/report.html; returns its path."""
    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables"])
    figures = "".join(
        f'<figure><img alt="{html.escape(p.name)}" src="data:image/png;base64,'
        f'{base64.b64encode(p.read_bytes()).decode()}"><figcaption>{html.escape(p.name)}</figcaption></figure>'
        for p in plots
        if p.suffix == ".png" and p.exists()
    )
    data = json.dumps(examples(runs, split), ensure_ascii=False).replace("</", "<\\/")
    path = out / "report.html"
    path.write_text(PAGE.replace("{{BODY}}", body).replace("{{FIGURES}}", figures).replace("{{DATA}}", data))
    return path


def examples(runs: pd.DataFrame, split: str) -> Dict[str, Any]:
    """Per task: its examples' prompts (deduplicated) and gold answers, and per column and seed the
    run's predictions and scores; runs that do not align with the task's first run are listed."""
    name = "test" if split == "test" else "val"
    tasks: Dict[str, Any] = {}
    done = runs[runs["state"] == "completed"].sort_values(["task", "rank", "column", "seed"])
    for (model, task), group in done.groupby(["model", "task"], sort=True):
        view = {"prompts": [], "gold": None, "columns": {}, "left_out": []}
        prompt_index: Dict[str, int] = {}
        for run in group.itertuples():
            rows = _rows(RunDir(Path(run.file).parent).predictions(name))
            if not rows:
                continue
            gold = [_gold(r) for r in rows]
            if view["gold"] is None:
                view["gold"] = gold
            if gold != view["gold"]:
                view["left_out"].append(f"{run.column} seed {run.seed}: its examples differ from the first run's")
                continue
            prompts = [prompt_index.setdefault(str(r.get("prompt", "")), len(prompt_index)) for r in rows]
            shown = {key: [r.get(key) for r in rows] for key in SHOWN}
            view["columns"].setdefault(run.column, {})[str(run.seed)] = {"prompt": prompts, **shown}
        view["prompts"] = list(prompt_index)
        if view["columns"]:
            tasks[f"{model} / {task}"] = view
    return {"split": name, "tasks": tasks}


def _rows(path: Path) -> List[Dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _gold(row: Dict[str, Any]) -> Any:
    return row["gold"] if "gold" in row else row.get("references")


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ptlab report</title>
<style>
body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
th,td{border:1px solid #ccc;padding:4px 8px;vertical-align:top;text-align:left}
th{background:#f3f3f3} figure{display:inline-block;margin:0.5em} img{max-width:560px}
pre{white-space:pre-wrap;margin:0;font-size:13px} .pick label{margin-right:1em}
#disagreements td{max-width:380px;overflow-wrap:anywhere} .differs{background:#fff3cd}
</style></head><body>
{{BODY}}
<h2>Plots</h2>
{{FIGURES}}
<h2>Examples where two runs disagree</h2>
<p>Pick a task, two columns (methods or templates) and a seed of each: the table lists the examples on
which their predictions differ, with the prompt, the gold answer, each prediction and its scores.</p>
<div class="pick">
<label>task <select id="task"></select></label>
<label>A <select id="column-a"></select> seed <select id="seed-a"></select></label>
<label>B <select id="column-b"></select> seed <select id="seed-b"></select></label>
</div>
<p><span id="disagree-count"></span></p>
<ul id="left-out"></ul>
<table id="disagreements"><thead><tr><th>#</th><th>prompt</th><th>gold</th>
<th>A: prediction</th><th>A: scores</th><th>B: prediction</th><th>B: scores</th></tr></thead><tbody></tbody></table>
<script type="application/json" id="ptlab-data">{{DATA}}</script>
<script>
"use strict";
const DATA = JSON.parse(document.getElementById("ptlab-data").textContent);
const $ = (id) => document.getElementById(id);
const text = (v) => (typeof v === "string" ? v : JSON.stringify(v, null, 1));
function options(select, values, chosen) {
  select.replaceChildren(...values.map((v) => new Option(v, v)));
  if (chosen !== undefined && values.includes(chosen)) select.value = chosen;
}
function cell(row, value, cls) {
  const td = row.insertCell(); const pre = document.createElement("pre");
  pre.textContent = value === undefined || value === null ? "" : text(value); td.appendChild(pre);
  if (cls) td.className = cls;
}
function scores(run, i) {  // the answers' scores and the example's metrics, where the kind records them
  const shown = {};
  if (run.scores[i] != null) shown.scores = run.scores[i];
  if (run.example_scores[i] != null) shown.metrics = run.example_scores[i];
  return shown;
}
function seeds(side) {
  const task = DATA.tasks[$("task").value];
  options($("seed-" + side), Object.keys(task.columns[$("column-" + side).value] || {}));
}
function pickTask() {
  const task = DATA.tasks[$("task").value]; const columns = Object.keys(task.columns);
  options($("column-a"), columns, columns[0]); options($("column-b"), columns, columns[1] || columns[0]);
  seeds("a"); seeds("b");
  $("left-out").replaceChildren(...task.left_out.map((why) => {
    const li = document.createElement("li"); li.textContent = why; return li;
  }));
  show();
}
function show() {
  const task = DATA.tasks[$("task").value];
  const a = task.columns[$("column-a").value][$("seed-a").value];
  const b = task.columns[$("column-b").value][$("seed-b").value];
  const body = $("disagreements").tBodies[0]; body.replaceChildren();
  let count = 0;
  task.gold.forEach((gold, i) => {
    if (JSON.stringify(a.predicted[i]) === JSON.stringify(b.predicted[i])) return;
    count += 1; const row = body.insertRow();
    const other = a.prompt[i] !== b.prompt[i] ? "\\n--- B: ---\\n" + task.prompts[b.prompt[i]] : "";
    cell(row, i); cell(row, task.prompts[a.prompt[i]] + other);
    cell(row, gold); cell(row, a.predicted[i], "differs"); cell(row, scores(a, i));
    cell(row, b.predicted[i], "differs"); cell(row, scores(b, i));
  });
  $("disagree-count").textContent = count + " of " + task.gold.length + " examples disagree (" + DATA.split + " split)";
}
const names = Object.keys(DATA.tasks);
if (names.length) {
  options($("task"), names, names[0]);
  $("task").addEventListener("change", pickTask);
  for (const side of ["a", "b"]) {
    $("column-" + side).addEventListener("change", () => { seeds(side); show(); });
    $("seed-" + side).addEventListener("change", show);
  }
  pickTask();
} else {
  $("disagree-count").textContent = "No run has predictions to compare.";
}
</script></body></html>
"""
