"""Hydra callbacks: a sweep ends with its comparison table, so the main job prints the answer."""

from pathlib import Path
from typing import List

from hydra.experimental.callback import Callback


class SweepReport(Callback):
    """After a multirun, run ptlab-report over the sweep dir (report.md, .csv, .tex, plots).

    Runs may have run in other processes (SLURM jobs), so what did not complete is read from
    their records, for the sweep's exit status.
    """

    unfinished: List[str] = []

    def on_multirun_end(self, config, **kwargs) -> None:
        from ptlab.errors import PtlabError
        from ptlab.record import read_results
        from ptlab.report import find_results, report

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            text, written = report([sweep_dir], sweep_dir, None, "val")
        except PtlabError as err:
            print(f"ptlab-report: skipped: {err}")
            return
        print(text)
        for path in written:
            print(f"ptlab-report: wrote {path}")
        for path in find_results([sweep_dir]):
            record = read_results(path.parent)
            if record["status"] != "completed":
                SweepReport.unfinished.append(f"{path.parent}: {record['status']}: {record.get('error')}")
