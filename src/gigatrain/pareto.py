"""The 2-D Pareto front, once: every front the tool draws (search, cost over chip ranges,
serving, sweeps) is this function on two arrays to minimise."""

from __future__ import annotations

import numpy as np


def pareto_front(k1: np.ndarray, k2: np.ndarray, *, keep_ties: bool = False) -> np.ndarray:
    """Indices of the points no other point beats in both ``k1`` and ``k2`` (both minimised),
    ordered by ``k1``. Non-finite points are never on the front. Exact duplicates: the first
    (in input order) only, or all of them with ``keep_ties``. Sort + running minimum: O(n log n).
    """
    k1 = np.asarray(k1, dtype=float)
    k2 = np.asarray(k2, dtype=float)
    finite = np.flatnonzero(np.isfinite(k1) & np.isfinite(k2))
    if finite.size == 0:
        return np.zeros(0, dtype=np.int64)
    a, b = k1[finite], k2[finite]
    o = np.lexsort((finite, b, a))  # by k1, then k2, then input order
    s1, s2 = a[o], b[o]
    best_before = np.minimum.accumulate(np.concatenate([[np.inf], s2[:-1]]))
    on = s2 < best_before
    if keep_ties:  # a point equal in both keys to the front point just before it stays
        same = np.concatenate([[False], (s1[1:] == s1[:-1]) & (s2[1:] == s2[:-1])])
        for i in np.flatnonzero(same):
            on[i] = on[i] or on[i - 1]
    return finite[o[on]]
