"""Wall-clock timing of models, measured the way the book reports it.

Timings on a shared machine drift with the background load. :func:`forward_seconds` therefore
alternates the models inside every repeat and reports medians, so that a load spike slows all
of them alike and their ratio stays meaningful. Report ratios measured in one run, never
absolute speeds from different runs. :func:`train_step_seconds` does the same for one training
step (forward pass, backward pass and weight update) of compiled models.

:func:`training_workload` sums what a chapter's training runs computed (images, multiply-adds)
and how long they took where they ran, so that a chapter can estimate, and say how it
estimated, how long the same runs would take on another device.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np

__all__ = ["T4_FP32_PEAK_FLOPS", "TrainingWorkload", "alternating_medians", "forward_seconds",
           "train_step_seconds", "training_workload"]

# NVIDIA T4 (Colab's free GPU): 8.1 TFLOPS single precision, the datasheet's peak.
T4_FP32_PEAK_FLOPS = 8.1e12


def alternating_medians(calls, repeats=5, warmup=2):
    """Median seconds of each of ``{name: function()}``, timed in turn inside every repeat.

    Each function must return only when its work is done (e.g. call ``block_until_ready()``
    on a JAX result). ``warmup`` untimed calls of each come first.
    """
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
    return alternating_medians(
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
    return alternating_medians(
        {name: (lambda m=model: m.train_on_batch(x, y)) for name, model in models.items()},
        repeats, warmup)


@dataclasses.dataclass(frozen=True)
class TrainingWorkload:
    """What a set of training runs computed, and how long they took where they ran.

    Attributes:
        runs: number of runs.
        images: training images processed (epochs x training images, summed over the runs).
        flop: floating-point operations of the training passes, counted as
            ``3 x 2 x (multiply-adds of one forward pass) x images``: the backward pass costs
            about twice the forward pass, and a multiply-add is two operations. Evaluation
            passes are not counted.
        measured_minutes: the runs' own wall-clock times (``wall_time_s``), summed, on the
            devices they ran on (see each results file).
    """

    runs: int
    images: int
    flop: float
    measured_minutes: float

    def estimated_minutes(self, peak_flops, utilisation):
        """Minutes for `flop` at `utilisation` (0-1] of a device's `peak_flops`: an estimate
        of the arithmetic alone (no compilation, data loading or evaluation)."""
        if not 0 < utilisation <= 1:
            raise ValueError(f"utilisation must be in (0, 1]; got {utilisation!r}")
        if not peak_flops > 0:
            raise ValueError(f"peak_flops must be positive; got {peak_flops!r}")
        return self.flop / (peak_flops * utilisation) / 60


def training_workload(results):
    """Sums the training work of results dicts (as returned by ``train`` or ``env.experiment``).

    Args:
        results: a list of results dicts; each names its model (``results["model"]["name"]``,
            with ``results["spec"]["model_overrides"]`` if any), its epochs and its number of
            training images.

    Returns:
        A :class:`TrainingWorkload`.
    """
    from resnet_keras.flops import count_macs
    from resnet_keras.models import get_model

    results = list(results)
    if not results:
        raise ValueError("training_workload needs at least one results dict")
    macs = {}
    images = flop = seconds = 0.0
    for res in results:
        overrides = (res.get("spec") or {}).get("model_overrides") or {}
        key = (res["model"]["name"], tuple(sorted((k, repr(v)) for k, v in overrides.items())))
        if key not in macs:
            macs[key] = count_macs(get_model(res["model"]["name"], **overrides)).total
        n = res["hyperparameters"]["epochs"] * res["dataset"]["num_train"]
        images += n
        flop += 3 * 2 * macs[key] * n
        seconds += res["wall_time_s"]
    return TrainingWorkload(runs=len(results), images=int(images), flop=float(flop),
                            measured_minutes=seconds / 60)
