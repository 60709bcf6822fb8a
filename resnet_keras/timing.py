"""Wall-clock timing of models, measured the way the book reports it.

Timings on a shared machine drift with the background load. :func:`forward_seconds` therefore
alternates the models inside every repeat and reports medians, so that a load spike slows all
of them alike and their ratio stays meaningful. Report ratios measured in one run, never
absolute speeds from different runs. :func:`train_step_seconds` does the same for one training
step (forward pass, backward pass and weight update) of compiled models.
"""

from __future__ import annotations

import time

import numpy as np

__all__ = ["forward_seconds", "train_step_seconds"]


def _alternating_medians(calls, repeats, warmup):
    """Median seconds of each of ``{name: function()}``, timed in turn inside every repeat."""
    if int(repeats) < 1:
        raise ValueError(f"repeats must be at least 1; got {repeats}")
    if int(warmup) < 0:
        raise ValueError(f"warmup must be at least 0; got {warmup}")
    for call in calls.values():
        for _ in range(int(warmup)):
            call()
    times = {name: [] for name in calls}
    for _ in range(int(repeats)):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - start)
    return {name: float(np.median(t)) for name, t in times.items()}


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
    return _alternating_medians(
        {name: (lambda m=model: m.predict_on_batch(x)) for name, model in models.items()},
        repeats, warmup)


def train_step_seconds(models, x, y, repeats=5, warmup=2):
    """Median seconds of one training step (``train_on_batch(x, y)``) of each compiled model.

    A step is the forward pass, the backward pass and the weight update of one batch. The
    models' weights change while they are timed: time copies, not models you still need.

    Args:
        models: ``{name: keras.Model}``, each compiled (``model.compile(optimizer, loss)``).
        x, y: one batch of inputs and targets.
        repeats: timed steps per model (alternating between the models).
        warmup: untimed steps per model first (tracing, compilation, caches).

    Returns:
        ``{name: median seconds}``.
    """
    not_compiled = [name for name, model in models.items() if not model.compiled]
    if not_compiled:
        raise ValueError(f"train_step_seconds needs compiled models; not compiled: {not_compiled}")
    return _alternating_medians(
        {name: (lambda m=model: m.train_on_batch(x, y)) for name, model in models.items()},
        repeats, warmup)
