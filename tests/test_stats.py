"""The book's standard for a real difference (resnet_keras.stats)."""

import math

import pytest

from resnet_keras.stats import difference, mean_std


def test_mean_std():
    assert mean_std([0.1, 0.2, 0.3]) == pytest.approx((0.2, 0.1, 3))
    assert mean_std([0.5]) == (0.5, None, 1)
    with pytest.raises(ValueError):
        mean_std([])


def test_difference_against_the_seed_spread():
    d = difference([0.50, 0.52, 0.51], [0.60, 0.61, 0.59])
    assert d.diff == pytest.approx(0.09) and d.real
    assert d.se == pytest.approx(math.sqrt(0.01**2 / 3 + 0.01**2 / 3))
    assert "+9.00%p" in d.text() and "잡음보다 큼" in d.text() and "시드 3/3개" in d.text()
    close = difference([0.50, 0.52, 0.51], [0.52, 0.50, 0.53])
    assert not close.real and "잡음 안" in close.text()


def test_single_runs_borrow_the_measured_spread():
    with pytest.raises(ValueError, match="floor_std"):
        difference([0.5], [0.6])
    d = difference([0.50], [0.53], floor_std=0.01)
    assert d.se == pytest.approx(math.sqrt(2) * 0.01) and d.real
    # The floor also bounds a spread that a few seeds underestimate by chance.
    assert difference([0.5, 0.5], [0.6, 0.6], floor_std=0.02).se == pytest.approx(0.02)
