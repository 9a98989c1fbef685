"""Hydra callbacks: a sweep ends with its comparison table, so the main job prints the answer."""

from pathlib import Path
from typing import List

from hydra.experimental.callback import Callback


class RedactSweepConfig(Callback):
    """Hydra writes <sweep dir>/multirun.yaml, the sweep's overrides and config, before any job
    runs; the first job to start rewrites it with secret-looking values redacted."""

    def on_job_start(self, config, **kwargs) -> None:
        from omegaconf import OmegaConf

        from ptlab import redaction
        from ptlab.record import write_text

        path = Path(str(config.hydra.sweep.dir)) / "multirun.yaml"
        if not path.is_file() or redaction.REDACTED in path.read_text():
            return
        saved = OmegaConf.to_container(OmegaConf.load(path), resolve=False)
        hydra_node = saved.get("hydra", {})
        overrides = hydra_node.get("overrides", {})
        for key in ("task", "hydra"):
            overrides[key] = [redaction.redact_override(o) for o in overrides.get(key, [])]
        redacted = {**redaction.redact({k: v for k, v in saved.items() if k != "hydra"}), "hydra": hydra_node}
        write_text(path, OmegaConf.to_yaml(OmegaConf.create(redacted)))


class SweepReport(Callback):
    """After a multirun, run ptlab-report over the sweep dir (report.md, .csv, .tex, plots).

    Runs may have run in other processes (SLURM jobs), so what did not complete is read from
    their records, for the sweep's exit status; a record that cannot be read counts as not
    completed, even when no table could be made.
    """

    unfinished: List[str] = []

    def on_multirun_end(self, config, **kwargs) -> None:
        from ptlab.errors import PtlabError
        from ptlab.report import NoTestSplit, report
        from ptlab.report_gather import BadRecord, find_results, read_record

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            try:
                text, written = report([sweep_dir], sweep_dir, None, "test")
            except NoTestSplit:  # tasks without a test split: their validation scores, marked so
                text, written = report([sweep_dir], sweep_dir, None, "val")
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
