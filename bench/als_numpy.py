#!/usr/bin/python3
"""Implicit-feedback ALS in plain numpy: the reference for retention.als_train.

Hu, Koren & Volinsky (2008): preference 1 for every (user, item) pair with a
positive weight, confidence 1 + alpha * weight; alternately, for each user
with the item factors fixed and for each item with the user factors fixed,
a few conjugate-gradient steps (Takacs, Pilaszy & Tikk 2011) on

    (Y'Y + Y'(C_u - I)Y + regularization I) x_u = Y' C_u p_u

started from the current x_u.  Written from the papers, independently of
the C code; it starts from the same SplitMix64 stream (uniform [0, 0.01),
users then items in id order) so that the two can be compared factor by
factor.

Usage:
    als_numpy.py PAIRS.csv [factors alpha regularization iterations]
PAIRS.csv holds user_id,item_id,weight lines (no header).  Prints the
training time in milliseconds and writes the factors to PAIRS.csv.factors
when ALS_NUMPY_WRITE is set.
"""
import os
import sys
import time

import numpy as np

GAMMA = np.uint64(0x9E3779B97F4A7C15)
M1 = np.uint64(0xBF58476D1CE4E5B9)
M2 = np.uint64(0x94D049BB133111EB)


def splitmix_uniform(seed, n, offset=0):
    """n draws of SplitMix64 (Steele, Lea & Flood 2014) as uniforms in [0, 1)."""
    with np.errstate(over='ignore'):
        k = np.arange(offset + 1, offset + n + 1, dtype=np.uint64)
        z = np.uint64(seed % 2**64) + k * GAMMA
        z = (z ^ (z >> np.uint64(30))) * M1
        z = (z ^ (z >> np.uint64(27))) * M2
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-53


def csr(rows, cols, vals, n_rows):
    order = np.lexsort((cols, rows))
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    return np.cumsum(indptr), cols[order], vals[order]


def solve_side(X, Y, indptr, indices, conf, regularization, cg_steps):
    f = X.shape[1]
    G = Y.T @ Y + regularization * np.eye(f)
    for u in range(X.shape[0]):
        lo, hi = indptr[u], indptr[u + 1]
        Yu = Y[indices[lo:hi]]
        c = conf[lo:hi]
        x = X[u]
        r = -(G @ x) + Yu.T @ (c - (c - 1.0) * (Yu @ x))
        p = r.copy()
        rsold = r @ r
        for _ in range(cg_steps):
            if rsold < 1e-20:
                break
            Ap = G @ p + Yu.T @ ((c - 1.0) * (Yu @ p))
            pap = p @ Ap
            if not pap > 0:
                break
            a = rsold / pap
            x += a * p
            r -= a * Ap
            rsnew = r @ r
            if rsnew < 1e-20:
                break
            p = r + (rsnew / rsold) * p
            rsold = rsnew


def train(user_ids, item_ids, weights, factors=32, alpha=1.0, regularization=0.01,
          iterations=15, cg_steps=3, seed=0):
    """Returns (users, items, X, Y): sorted ids and their factor rows."""
    # repeated pairs add up
    pairs = np.stack([user_ids, item_ids], axis=1)
    uniq, inverse = np.unique(pairs, axis=0, return_inverse=True)
    w = np.zeros(len(uniq))
    np.add.at(w, inverse.ravel(), weights)
    users, u_idx = np.unique(uniq[:, 0], return_inverse=True)
    items, i_idx = np.unique(uniq[:, 1], return_inverse=True)
    keep = w > 0
    conf = 1.0 + alpha * w[keep]
    u_idx, i_idx = u_idx[keep], i_idx[keep]
    by_user = csr(u_idx, i_idx, conf, len(users))
    by_item = csr(i_idx, u_idx, conf, len(items))

    draws = splitmix_uniform(seed, (len(users) + len(items)) * factors) * 0.01
    X = draws[:len(users) * factors].reshape(len(users), factors).copy()
    Y = draws[len(users) * factors:].reshape(len(items), factors).copy()
    for _ in range(iterations):
        solve_side(X, Y, *by_user, regularization, cg_steps)
        solve_side(Y, X, *by_item, regularization, cg_steps)
    return users, items, X, Y


def main():
    path = sys.argv[1]
    factors, alpha, reg, iterations = 32, 20.0, 0.1, 15
    if len(sys.argv) > 2:
        factors, alpha, reg, iterations = (int(sys.argv[2]), float(sys.argv[3]),
                                           float(sys.argv[4]), int(sys.argv[5]))
    data = np.loadtxt(path, delimiter=',', ndmin=2)
    start = time.perf_counter()
    users, items, X, Y = train(data[:, 0].astype(np.int64), data[:, 1].astype(np.int64),
                               data[:, 2], factors, alpha, reg, iterations)
    ms = 1000 * (time.perf_counter() - start)
    print(f'{ms:.0f}')
    if os.environ.get('ALS_NUMPY_WRITE'):
        with open(path + '.factors', 'w') as out:
            for kind, ids, F in (('u', users, X), ('i', items, Y)):
                for i, row in zip(ids, F):
                    out.write(kind + ',' + str(i) + ',' + ','.join(repr(float(v)) for v in row) + '\n')


if __name__ == '__main__':
    main()
