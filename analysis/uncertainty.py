"""Confidence intervals for the study's ratios: a paired bootstrap over documents.

A compression value is sum(tokens of T) / sum(tokens of the baseline) over a language's
documents; a premium is sum(tokens of T on L) / sum(tokens of T on the reference language) over
parallel documents. Resampling documents with replacement, the same draw for numerator and
denominator (paired: both count the same documents), gives the ratio's sampling distribution;
the 2.5% and 97.5% percentiles are the 95% interval. Documents, not lines, are resampled, because
sentences of one news story are not independent.
"""

from __future__ import annotations

import math

import numpy as np

N_BOOT = 1000
SEED = 0
_CHUNK_CELLS = 1 << 22  # replicates x documents resampled at once: memory stays ~32 MB


def paired_interval(num, den, *, n_boot: int = N_BOOT, seed: int = SEED,
                    level: float = 0.95) -> tuple[float, float]:
    """The percentile interval of ``sum(num[i]) / sum(den[i])`` under resampling of ``i``.

    >>> paired_interval([2, 2, 2], [1, 1, 1])
    (2.0, 2.0)
    >>> lo, hi = paired_interval([1, 2, 3, 4] * 10, [2, 2, 2, 2] * 10)
    >>> lo < 1.25 < hi
    True
    """
    num, den = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    n = len(num)
    if n == 0 or len(den) != n or n_boot <= 0:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    ratios = []
    per_chunk = max(1, _CHUNK_CELLS // n)
    done = 0
    while done < n_boot:
        k = min(per_chunk, n_boot - done)
        idx = rng.integers(0, n, size=(k, n))
        d = den[idx].sum(axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios.append(np.where(d > 0, num[idx].sum(axis=1) / d, np.nan))
        done += k
    r = np.concatenate(ratios)
    if np.isnan(r).all():
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    lo, hi = np.nanpercentile(r, [tail, 100 - tail])
    return float(lo), float(hi)


class Resampler:
    """Shared bootstrap draws for many ratios over the same documents: one draw of document
    indices per size n (seeded), and each count vector's resampled sums computed once, so that
    hundreds of intervals cost one gather each. Falls back to ``paired_interval`` when the draws
    would not fit in memory (millions of documents)."""
    def __init__(self, n_boot: int = N_BOOT, seed: int = SEED, level: float = 0.95):
        self.n_boot, self.seed, self.level = n_boot, seed, level
        self._draws: dict[int, object] = {}
        self._sums: dict[object, object] = {}

    def _resampled(self, key, counts):
        if key not in self._sums:
            counts = np.asarray(counts, dtype=np.float64)
            n = len(counts)
            if n not in self._draws:
                self._draws[n] = np.random.default_rng(self.seed).integers(0, n, size=(self.n_boot, n))
            self._sums[key] = counts[self._draws[n]].sum(axis=1)
        return self._sums[key]

    def interval(self, num_key, num, den_key, den) -> tuple[float, float]:
        """The interval of sum(num) / sum(den); the keys name the count vectors for reuse."""
        n = len(num)
        if n == 0 or len(den) != n or self.n_boot <= 0:
            return math.nan, math.nan
        if n * self.n_boot > _CHUNK_CELLS * 4:
            return paired_interval(num, den, n_boot=self.n_boot, seed=self.seed, level=self.level)
        a, b = self._resampled(num_key, num), self._resampled(den_key, den)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = np.where(b > 0, a / b, np.nan)
        if np.isnan(r).all():
            return math.nan, math.nan
        tail = (1 - self.level) / 2 * 100
        lo, hi = np.nanpercentile(r, [tail, 100 - tail])
        return float(lo), float(hi)
