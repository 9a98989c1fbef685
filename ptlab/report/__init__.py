"""ptlab-report: one comparison table, and plots, from the results.json of runs and sweeps. The
command and `report()` are in cli.py (as planning's are); the package itself imports nothing, so
its modules import each other, never the package."""
