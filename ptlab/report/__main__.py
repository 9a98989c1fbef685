"""`python -m ptlab.report`: the same as `ptlab-report`."""

from ptlab.report.cli import main

main()
