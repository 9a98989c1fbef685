"""Hydra callbacks: a sweep ends with its comparison table, so the main job prints the answer."""

from pathlib import Path
from typing import List

from hydra.experimental.callback import Callback


class RedactSweepConfig(Callback):
    """Hydra writes what it was given before any job runs: <sweep dir>/multirun.yaml, and with
    hydra.output_subdir set <run dir>/<output_subdir>/config.yaml, hydra.yaml and overrides.yaml.
    Each job rewrites them with every secret redacted (ptlab/config/redaction.py) before its own work,
    and again after it, with what its validation found to be secret (ptlab/config/schema.py)."""

    def on_job_start(self, config, **kwargs) -> None:
        written = [Path(str(config.hydra.sweep.dir)) / "multirun.yaml"]
        if config.hydra.output_subdir is not None:
            written += (Path(str(config.hydra.runtime.output_dir)) / str(config.hydra.output_subdir)).glob("*.yaml")
        for path in written:
            if path.is_file():
                _redact_file(path)

    def on_job_end(self, config, job_return, **kwargs) -> None:
        self.on_job_start(config)


def _redact_file(path: Path) -> None:
    from omegaconf import OmegaConf

    from ptlab.config import redaction
    from ptlab.run.record import write_text

    saved = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
    if isinstance(saved, list):  # overrides.yaml
        redacted = [redaction.redact_override(o) for o in saved]
    else:
        overrides = saved.get("hydra", {}).get("overrides", {})
        redacted = redaction.redact(saved)
        for key in ("task", "hydra"):
            if key in overrides:
                redacted["hydra"]["overrides"][key] = [redaction.redact_override(o) for o in overrides[key]]
    text = OmegaConf.to_yaml(OmegaConf.create(redacted))
    if text != OmegaConf.to_yaml(OmegaConf.create(saved)):
        write_text(path, text)


class SweepReport(Callback):
    """After a multirun, run ptlab-report over the sweep dir (report.md, .csv, .tex, plots).

    Runs may have run in other processes (SLURM jobs), so what did not complete is read from
    their records, for the sweep's exit status; a record that cannot be read counts as not
    completed, even when no table could be made.
    """

    unfinished: List[str] = []

    def on_multirun_end(self, config, **kwargs) -> None:
        from ptlab.errors import PtlabError
        from ptlab.report.cli import NoTestSplit, report
        from ptlab.report.sections import MARGIN
        from omegaconf import OmegaConf
        from ptlab.report.gather import BadRecord, find_results, read_record

        sweep_dir = Path(config.hydra.sweep.dir)
        margin = OmegaConf.select(config, "report.margin", default=MARGIN)  # validated per run
        try:
            try:
                text, written = report([sweep_dir], sweep_dir, None, "test", margin)
            except NoTestSplit:  # tasks without a test split: their validation scores, marked so
                text, written = report([sweep_dir], sweep_dir, None, "val", margin)
        except PtlabError as err:
            print(f"ptlab-report: skipped: {err}")
        else:
            print(text)
            for path in written:
                print(f"ptlab-report: wrote {path}")
        try:
            paths = find_results([sweep_dir])
        except PtlabError:
            return  # no run wrote a record
        for path in paths:
            try:
                record = read_record(path)
            except BadRecord as bad:
                SweepReport.unfinished.append(f"{path.parent}: unreadable {path.name}: {bad.reason}")
                continue
            if record["status"] != "completed":
                SweepReport.unfinished.append(f"{path.parent}: {record['status']}: {record.get('error')}")
