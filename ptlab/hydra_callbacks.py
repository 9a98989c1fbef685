"""Hydra callbacks: a sweep ends with its comparison table, so the main job prints the answer."""

from pathlib import Path

from hydra.experimental.callback import Callback


class SweepReport(Callback):
    """After a multirun, run ptlab-report over the sweep dir (report.md, .csv, .tex, plots)."""

    def on_multirun_end(self, config, **kwargs) -> None:
        from ptlab.errors import PtlabError
        from ptlab.report import report

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            text, written = report([sweep_dir], sweep_dir, None, "val")
        except PtlabError as err:
            print(f"ptlab-report: skipped: {err}")
            return
        print(text)
        for path in written:
            print(f"ptlab-report: wrote {path}")
