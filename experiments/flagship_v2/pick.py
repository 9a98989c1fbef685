"""Print the override of one method's tuned pick from ptlab-report's tuned.csv, for run.sh.

python experiments/flagship_v2/pick.py TUNED_CSV MODEL METHOD   ->   method.lr=0.1
"""

import csv
import sys

path, model, method = sys.argv[1:]
rows = [r for r in csv.DictReader(open(path)) if (r["model"], r["task"], r["method"]) == (model, "sst2", method)]
if len(rows) != 1 or not rows[0]["variant"].startswith("method.lr="):
    sys.exit(f"{path}: no single method.lr pick for {model} x sst2 x {method}: {rows}")
print(rows[0]["variant"])
