"""A recipe's learning-rate schedule and run length, resolved in optimizer steps."""

from __future__ import annotations

import dataclasses
import math

from resnet_keras.train.recipes import get_recipe

__all__ = ["Schedule", "resolve_schedule"]


@dataclasses.dataclass
class Schedule:
    """A recipe's learning-rate schedule and run length, resolved in optimizer steps.

    The learning rate of update number `step` (0-based) is :meth:`lr_at`; the keras schedule of
    :meth:`keras_schedule` gives the same values as a function of ``optimizer.iterations``.
    """

    steps_per_epoch: int
    total_steps: int
    epochs: int
    kind: str
    boundaries: list  # steps at which the learning rate changes (piecewise)
    values: list  # len(boundaries) + 1 learning rates
    decay_steps: int = 0  # exponential: steps per decay
    decay_rate: float = 1.0
    scale_factor: float = 1.0

    def lr_at(self, step):
        if self.kind == "exponential":
            return self.values[0] * self.decay_rate ** (step // self.decay_steps)
        i = sum(1 for b in self.boundaries if step >= b)
        return self.values[i]

    def keras_schedule(self):
        """The schedule as a keras learning-rate schedule (or a float when constant)."""
        import keras

        if self.kind == "exponential":
            return keras.optimizers.schedules.ExponentialDecay(
                self.values[0], self.decay_steps, self.decay_rate, staircase=True
            )
        if not self.boundaries:
            return float(self.values[0])
        # Keras uses values[i] for step <= boundaries[i]; our boundary b means "from update b".
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [int(b) - 1 for b in self.boundaries], [float(v) for v in self.values]
        )

    def to_dict(self):
        return dataclasses.asdict(self)


def _round(x):
    """Rounds half up (Python's round() rounds half to even)."""
    return int(math.floor(x + 0.5))


def resolve_schedule(recipe, steps_per_epoch, epochs=None, steps=None, scale=None):
    """Resolves `recipe`'s run length and learning-rate schedule into optimizer steps.

    By default the run has the recipe's length. ``epochs=N``, ``steps=N`` or ``scale=s``
    shorten (or lengthen) it; every milestone (and the warm-up, and the exponential decay
    period) is scaled by the same factor, so the schedule keeps its shape.
    """
    recipe = get_recipe(recipe)
    spe = int(steps_per_epoch)
    if spe <= 0:
        raise ValueError("steps_per_epoch must be positive (is the training set empty?).")
    if sum(v is not None for v in (epochs, steps, scale)) > 1:
        raise ValueError("Give at most one of epochs, steps and scale.")
    native = recipe.duration * (spe if recipe.duration_unit == "epochs" else 1)
    if epochs is not None:
        if int(epochs) <= 0:
            raise ValueError(f"epochs must be positive; got {epochs}")
        total = int(epochs) * spe
    elif steps is not None:
        if int(steps) <= 0:
            raise ValueError(f"steps must be positive; got {steps}")
        total = int(steps)
    elif scale is not None:
        if not float(scale) > 0:
            raise ValueError(f"scale must be positive; got {scale}")
        total = max(1, _round(native * float(scale)))
    else:
        total = native
    f = total / native
    n_epochs = -(-total // spe)
    unit = spe if recipe.milestone_unit == "epochs" else 1
    if recipe.lr_schedule == "exponential":
        return Schedule(spe, total, n_epochs, "exponential", [], [recipe.learning_rate],
                        decay_steps=max(1, _round(spe * f)),
                        decay_rate=recipe.lr_exponential_rate, scale_factor=f)
    boundaries, values = [], []
    lr = recipe.learning_rate
    if recipe.warmup_steps:
        w = max(1, _round(recipe.warmup_steps * f))
        boundaries.append(w)
        values.append(recipe.warmup_learning_rate)
    values.append(lr)
    for m in recipe.lr_milestones:
        lr = float(f"{lr * recipe.lr_decay_factor:.12g}")
        b = max(1, _round(m * unit * f))
        if boundaries and b <= boundaries[-1]:
            b = boundaries[-1] + 1
        boundaries.append(b)
        values.append(lr)
    return Schedule(spe, total, n_epochs, "piecewise", boundaries, values, scale_factor=f)
