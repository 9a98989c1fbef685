"""`ptlab-plan`: before a job is queued, what each method needs per device and how long a step
takes, which settings do not fit, and the cheapest change that would.

    ptlab-plan model=smollm2-135m task=sst2 --device rtx4090-24g --batch 8 --length 512
    ptlab-plan --config-json llama3-8b/config.json --device a100-80g --count 4 --length 2048 \\
        trainer.precision=bf16-mixed

Arguments after the options are ptlab-train's Hydra overrides (model, task, trainer.precision,
model.dtype, model.gradient_checkpointing, method settings). Every method is validated as a run
would be (one that does not apply reads n/a with the reason), then measured on the meta device
(ptlab/planning/footprint.py): nothing is downloaded but a config, no weight is read.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict
from pathlib import Path
from typing import List, Optional, Sequence

from hydra.errors import HydraException

from ptlab.errors import ConfigError, NotApplicable, PtlabError
from ptlab.planning.devices import GIB, NAMES, device
from ptlab.planning.estimate import Case, Setting

UTILISATION = 0.4  # of peak FLOP/s: typical model-FLOPs utilisation of a tuned bf16 GPU run
STAND_IN = {"causal": "tiny-llama", "encoder": "tiny-bert", "seq2seq": "tiny-t5"}  # tokenizer for --config-json


def plan_rows(
    overrides: Sequence[str],
    methods: Sequence[str],
    device_name: str,
    count: int,
    batch: Optional[int],
    length: Optional[int],
    utilisation: float,
    architecture: Optional[dict] = None,
) -> List[dict]:
    """One row per method: its estimate at the asked setting, whether it fits, and a fix."""
    from ptlab.methods import registry

    hardware = device(device_name)
    names = [n for n, m in sorted(registry().items(), key=lambda kv: kv[1].report_order) if m.trains]
    methods = list(methods) or names
    try:  # the overrides themselves are valid (else: one error, no table)
        _compose(list(overrides) + [f"method={methods[0]}"], architecture)
    except NotApplicable:
        pass  # its row says so
    rows = []
    for name in methods:
        try:
            overrides_now = list(overrides) + [f"method={name}"]
            case, base, footprint = _case(overrides_now, architecture, hardware, batch, length, utilisation)
        except ConfigError as err:  # not applicable, or a method's own need (QLoRA: bitsandbytes)
            rows.append({"method": name, "not_applicable": str(err)})
            continue
        found = case.estimate(base)
        fixed = None if case.fits(base) else case.fix(base, count)
        fixed_estimate = case.estimate(fixed) if fixed else None
        rows.append(
            {
                "method": name,
                "trainable": footprint.trainable,
                "parameters": footprint.parameters,
                "setting": asdict(base),
                "estimate": {**asdict(found), "total": found.total},
                "activations_checkpointed": case.estimate(Setting(base.batch, True, base.shards)).activations,
                "fits": case.fits(base),
                "fix": fixed.describe(base) if fixed else None,
                "fix_estimate": {**asdict(fixed_estimate), "total": fixed_estimate.total} if fixed else None,
                "device": hardware.name,
                "device_memory": hardware.memory,
                "device_flops": hardware.flops(case.precision),
            }
        )
    _suggest_qlora(rows)
    return rows


def planned_run(overrides, architecture=None):
    """The validated run of these overrides and what it trains with: (run, kind, method, reader, head)."""
    from ptlab.kinds import kind_class
    from ptlab.methods import method_class
    from ptlab.models.families import make_reader
    from ptlab.models.loading import load_tokenizer

    run = _compose(overrides, architecture)
    kind = kind_class(run.task.kind)(run.task)
    head = kind.head(run.model.family)
    reader = make_reader(run.model.family, load_tokenizer(run.model, run.paths.cache_dir), run.task, head)
    return run, kind, method_class(run.method.name)(run, kind), reader, head


def _case(overrides, architecture, hardware, batch, length, utilisation):
    from ptlab.models import training_memory
    from ptlab.planning.footprint import measure

    run, kind, method, reader, head = planned_run(overrides, architecture)
    batch = batch or run.data.batch_size
    length = length or run.task.max_source_length + (run.task.max_target_length if head.is_lm else 0)
    footprint = measure(run, method, reader, kind.num_labels(), batch, length)
    precision = str(run.trainer.get("precision") or "32-true")
    half = precision in training_memory.AUTOCAST and run.model.dtype.value == "float32"
    can_checkpoint = method.no_activation_checkpointing is None
    case = Case(footprint, batch, hardware, precision, half, utilisation, can_checkpoint, method.shardable)
    return case, Setting(batch, run.model.gradient_checkpointing), footprint


def _compose(overrides, architecture):
    """The validated run config of these overrides (ptlab-train's composition and validation)."""
    from hydra import compose, initialize_config_dir

    from ptlab.config import resolvers
    from ptlab.config.schema import ROOT
    from ptlab.config.validation import validate

    resolvers.register()
    nowhere = f"paths.output_dir={Path(tempfile.gettempdir()) / 'ptlab-plan'}"  # a plan writes no run
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        cfg = compose("train", overrides=[nowhere, *overrides])
    if architecture:  # --config-json: the stand-in model entry takes its architecture
        cfg.model.random_config, cfg.model.name = architecture, architecture.get("model_type", "config")
    return validate(cfg)


def _suggest_qlora(rows: List[dict]) -> None:
    """Where a method does not fit and no change does, but QLoRA fits as asked: say so (it is a
    different method, so it is offered last)."""
    qlora = next((r for r in rows if r["method"] == "qlora" and r.get("fits")), None)
    for row in rows:
        if qlora and row.get("fits") is False and not row["fix"] and row["method"] != "qlora":
            row["fix"] = "method=qlora (a 4-bit base)"


def table(rows: List[dict]) -> str:
    from ptlab.report.table import markdown

    header = [
        "method",
        "trainable",
        "weights",
        "grads",
        "AdamW",
        "activations",
        "(checkpointed)",
        "peak / device",
        "fits",
        "s / step",
        "change that fits",
    ]
    body = []
    for r in rows:
        if "not_applicable" in r:
            body.append([r["method"], "n/a: " + r["not_applicable"]] + [""] * (len(header) - 2))
            continue
        e = r["estimate"]
        memory = [e[k] for k in ("weights", "gradients", "optimizer")]
        memory += [e["activations"] + e["transient"], r["activations_checkpointed"], e["total"]]
        fits = "yes" if r["fits"] else "**no**"
        change = r["fix"] or ("" if r["fits"] else "none")
        body.append([r["method"], f"{r['trainable']:,}", *map(_gib, memory), fits, f"{e['step_seconds']:.3g}", change])
    return markdown(header, body)


def _gib(n: float) -> str:
    return f"{n / GIB:.2f} GiB"


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(prog="ptlab-plan", description=__doc__.split("\n\n")[0])
    parser.add_argument("overrides", nargs="*", help="ptlab-train's Hydra overrides (model=..., task=..., ...)")
    parser.add_argument("--device", default="cpu", choices=NAMES, help="the device kind (default: this CPU)")
    parser.add_argument("--count", type=int, default=1, help="devices of that kind the job may use")
    parser.add_argument("--methods", default="", help="comma-separated methods (default: every trained one)")
    parser.add_argument("--batch", type=int, help="micro-batch per device (default: data.batch_size)")
    parser.add_argument("--length", type=int, help="tokens per row (default: the task's longest training row)")
    parser.add_argument("--utilisation", type=float, default=UTILISATION, help="share of peak FLOP/s a step reaches")
    parser.add_argument("--config-json", type=Path, help="a Hugging Face config.json instead of model=")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.error = lambda message: parser.exit(2, f"ptlab-plan: error: {message}\n")  # one line, no usage
    args = parser.parse_intermixed_args(argv)  # overrides may follow the options
    overrides, architecture = list(args.overrides), None
    try:
        if args.config_json:
            architecture = json.loads(args.config_json.read_text(encoding="utf-8"))
            overrides.insert(0, f"model={_stand_in(architecture)}")
        methods = [m for m in args.methods.split(",") if m]
        rows = plan_rows(
            overrides, methods, args.device, args.count, args.batch, args.length, args.utilisation, architecture
        )
    except (PtlabError, OSError, ValueError, KeyError, HydraException) as err:  # bad input: one line
        parser.exit(2, f"ptlab-plan: error: {_one_line(err)}\n")
    print(table(rows))
    print(f"\nDevice: {args.device} x {args.count}, step time at {args.utilisation:.0%} of peak FLOP/s.")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


def _one_line(err: Exception) -> str:
    return " ".join(str(err).split("Config search path")[0].split()) or type(err).__name__


def _stand_in(architecture: dict) -> str:
    """The tiny model entry of a config.json's family, whose tokenizer the plan borrows (token ids
    change no sizes) and whose random_config the architecture replaces."""
    kind = str(architecture.get("model_type", ""))
    return STAND_IN["seq2seq" if kind in ("t5", "mt5", "bart") else "encoder" if "bert" in kind else "causal"]


if __name__ == "__main__":
    main()
