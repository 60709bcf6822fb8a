"""The book's one standard for calling a difference between two trainings real.

Two trainings of the same network differ by more than the test-set sampling noise: the seed
changes the initial weights, the order of the batches and the augmentation. So the book judges
a difference of test (or training) errors against the spread *between seeds*:

* with several seeds per network, the standard error of the difference of the means is
  ``sqrt(s_a**2 / n_a + s_b**2 / n_b)`` from each network's own standard deviation;
* a network trained once borrows the seed standard deviation measured for a reference network
  at the same scale (``floor_std``; the book measures ResNet-20 and plain-20/56 with three
  seeds in chapters 2 and 4);
* the difference is called real when it exceeds twice its standard error, and within noise
  otherwise. Two seeds are few: the verdicts say how many there were.
"""

from __future__ import annotations

import dataclasses
import math
import statistics

__all__ = ["Difference", "difference", "mean_std"]


def mean_std(values):
    """``(mean, sample standard deviation or None, n)`` of a list of numbers."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("mean_std needs at least one value")
    std = statistics.stdev(values) if len(values) > 1 else None
    return statistics.fmean(values), std, len(values)


@dataclasses.dataclass(frozen=True)
class Difference:
    """``b - a`` of two groups of runs and whether it is beyond the seed noise.

    Attributes:
        diff: mean of `b` minus mean of `a`.
        se: the standard error of `diff` (from the seed spread).
        real: ``abs(diff) > 2 * se``.
        n_a, n_b: runs in each group.
    """

    diff: float
    se: float
    real: bool
    n_a: int
    n_b: int

    def text(self, unit="%p", scale=100.0):
        """Korean one-liner, e.g. "+3.10%p (표준오차 0.80%p, 시드 3/3개): 잡음보다 큼"."""
        verdict = "잡음보다 큼" if self.real else "잡음 안"
        return (f"{self.diff * scale:+.2f}{unit} (표준오차 {self.se * scale:.2f}{unit}, "
                f"시드 {self.n_a}/{self.n_b}개): {verdict}")


def difference(a, b, floor_std=None):
    """Compares two groups of measurements (e.g. the test errors of several seeds).

    Args:
        a, b: lists of numbers (one per seed).
        floor_std: the seed standard deviation to assume for a group with one run (and the
            least one to assume for any group, since a few seeds can agree by chance).

    Returns:
        A :class:`Difference`.

    Raises:
        ValueError: a group of one run without `floor_std`.
    """
    mean_a, std_a, n_a = mean_std(a)
    mean_b, std_b, n_b = mean_std(b)
    stds = []
    for std, n in ((std_a, n_a), (std_b, n_b)):
        if std is None and floor_std is None:
            raise ValueError("A group of one run needs floor_std (a seed spread measured at "
                             "the same scale).")
        if floor_std is not None:
            std = floor_std if std is None else max(std, floor_std)
        stds.append((std, n))
    se = math.sqrt(sum(s * s / n for s, n in stds))
    diff = mean_b - mean_a
    return Difference(diff=diff, se=se, real=abs(diff) > 2 * se, n_a=n_a, n_b=n_b)
