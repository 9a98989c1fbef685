"""`python -m ptlab.report`: the same as `ptlab-report`."""

from ptlab.report import main

main()
