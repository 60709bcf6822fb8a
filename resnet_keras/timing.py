"""Wall-clock timing of models, measured the way the book reports it.

Timings on a shared machine drift with the background load. :func:`forward_seconds` therefore
alternates the models inside every repeat and reports medians, so that a load spike slows all
of them alike and their ratio stays meaningful. Report ratios measured in one run, never
absolute speeds from different runs.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["forward_seconds"]


def forward_seconds(models, x, repeats=5, warmup=2):
    """Median seconds of one forward pass (``predict_on_batch(x)``) of each model.

    Args:
        models: ``{name: keras.Model}``.
        x: one batch of inputs.
        repeats: timed passes per model (alternating between the models).
        warmup: untimed passes per model first (tracing, compilation, caches).

    Returns:
        ``{name: median seconds}``.
    """
    if int(repeats) < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    for model in models.values():
        for _ in range(int(warmup)):
            model.predict_on_batch(x)
    times = {name: [] for name in models}
    for _ in range(int(repeats)):
        for name, model in models.items():
            start = time.perf_counter()
            model.predict_on_batch(x)
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}
