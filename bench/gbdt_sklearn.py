#!/usr/bin/python3
"""bench/gbdt_sklearn.py: the export-and-fit pipeline an analyst would run
instead of gbdt_train: COPY the training table out of PostgreSQL with psql,
parse it with pandas, fit scikit-learn's HistGradientBoostingClassifier with
the same settings (100 rounds, learning rate 0.1, 31 leaves, 20 rows per
leaf, 255 bins, no early stopping), and print the times as ratios to the
bare scan and to gbdt_train measured by bench/gbdt.sql (environment
BENCH_SCAN_MS and BENCH_TRAIN_MS; the connection comes from
PGHOST/PGPORT/PGUSER/PGDATABASE).  scikit-learn uses every core (OpenMP);
gbdt_train boosts in one backend."""
import io
import os
import subprocess
import sys
import time

try:
    import pandas as pd
    from sklearn.ensemble import HistGradientBoostingClassifier
except ImportError:
    print("python3-sklearn (with pandas) is not installed: export-and-fit not measured")
    sys.exit(0)

scan_ms = float(os.environ["BENCH_SCAN_MS"])
train_ms = float(os.environ["BENCH_TRAIN_MS"])

start = time.perf_counter()
csv = subprocess.run(
    ["psql", "-X", "-q", "-c",
     "\\copy (SELECT y::int, x[1], x[2], x[3], x[4], x[5], x[6], x[7], x[8], x[9], x[10] FROM bench_gbdt) TO STDOUT WITH (FORMAT csv)"],
    check=True, capture_output=True).stdout
data = pd.read_csv(io.BytesIO(csv), header=None).to_numpy()
y, X = data[:, 0], data[:, 1:]
export_ms = 1000 * (time.perf_counter() - start)

t0 = time.perf_counter()
HistGradientBoostingClassifier(max_iter=100, learning_rate=0.1, max_leaf_nodes=31,
                               min_samples_leaf=20, max_bins=255,
                               early_stopping=False).fit(X, y)
fit_ms = 1000 * (time.perf_counter() - t0)

total = export_ms + fit_ms
print(" export_ms | fit_ms | total_ms | ratio_to_bare_scan | gbdt_train_ms | sklearn_total_over_gbdt_train")
print(f" {export_ms:9.0f} | {fit_ms:6.0f} | {total:8.0f} | {total / scan_ms:18.1f} | {train_ms:13.0f} | {total / train_ms:29.2f}")
