"""analysis.uncertainty: paired bootstrap intervals, seeded; the shared draws equal the plain ones."""

import math

import pytest


def test_bootstrap_interval_is_seeded_and_paired():
    from qtok.analysis.uncertainty import paired_interval

    num, den = [3, 5, 2, 8, 4, 6] * 5, [2, 4, 2, 6, 3, 5] * 5
    a, b = paired_interval(num, den, seed=1), paired_interval(num, den, seed=1)
    assert a == b and a[0] < sum(num) / sum(den) < a[1]
    # Paired: when numerator and denominator move together the interval is narrow.
    tight = paired_interval([2 * x for x in den], den)
    assert tight == (2.0, 2.0)


def test_shared_draws_equal_the_plain_interval():
    from qtok.analysis.uncertainty import Resampler, paired_interval

    num, den = [3, 5, 2, 8, 4, 6, 1, 9] * 4, [2, 4, 2, 6, 3, 5, 2, 6] * 4
    boot = Resampler(n_boot=300, seed=4)
    assert boot.interval("n", num, "d", den) == pytest.approx(paired_interval(num, den, n_boot=300, seed=4))
    assert all(math.isnan(x) for x in boot.interval("e", [], "f", []))  # no documents, no interval
