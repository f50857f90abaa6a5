#!/usr/bin/python3
"""bench/logreg_sklearn.py: the export-and-fit pipeline an analyst would run
instead of logreg_train: COPY the training table out of PostgreSQL with psql,
parse it with pandas, fit scikit-learn's LogisticRegression (unpenalised,
exact Newton solver, and the default lbfgs), and print the times as ratios to
the bare scan measured by bench/logreg.sql (environment BENCH_SCAN_MS and
BENCH_TRAIN_MS; the connection comes from PGHOST/PGPORT/PGUSER/PGDATABASE).
Run by bench/logreg.sql through psql's \\! when python3-sklearn is installed."""
import io
import os
import subprocess
import sys
import time
import warnings

try:
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
except ImportError:
    print("python3-sklearn (with pandas) is not installed: export-and-fit not measured")
    sys.exit(0)

scan_ms = float(os.environ["BENCH_SCAN_MS"])
train_ms = float(os.environ["BENCH_TRAIN_MS"])

start = time.perf_counter()
csv = subprocess.run(
    ["psql", "-X", "-q", "-c",
     "\\copy (SELECT y::int, x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10] FROM bench_logreg) TO STDOUT WITH (FORMAT csv)"],
    check=True, capture_output=True).stdout
data = pd.read_csv(io.BytesIO(csv), header=None).to_numpy()
y, X = data[:, 0], data[:, 1:]
export_ms = 1000 * (time.perf_counter() - start)

rows = []
for solver in ("newton-cholesky", "lbfgs"):
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = LogisticRegression(penalty=None, solver=solver, tol=1e-8, max_iter=1000).fit(X, y)
    fit_ms = 1000 * (time.perf_counter() - t0)
    rows.append((solver, export_ms, fit_ms, model.n_iter_[0]))

print(" scikit-learn solver | export_ms | fit_ms | total_ms | ratio_to_bare_scan | ratio_to_logreg_train | n_iter")
for solver, e, f, n in rows:
    print(f" {solver:19} | {e:9.0f} | {f:6.0f} | {e + f:8.0f} | {(e + f) / scan_ms:18.1f} | {(e + f) / train_ms:21.1f} | {n}")
