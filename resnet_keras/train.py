"""Training recipes of the papers and one function that runs them: :func:`train`.

A :class:`Recipe` holds a paper's hyper-parameters (optimizer, weight decay, batch size,
learning-rate schedule, run length, validation split, augmentation). :func:`train` builds the
model, loads the data, and runs ``model.fit`` with

* the data as uint8 numpy batches (:class:`resnet_keras.data.ArrayBatches`), normalised and
  augmented on the device by a :class:`resnet_keras.data.Preprocess` layer in front of the model;
* a checkpoint at the end of every epoch (``checkpoint/epoch-NNNN.weights.h5``: model +
  optimizer state; ``epoch-NNNN.seeds.npz``: the random states; ``state.json``: epoch, step,
  history, configuration), from which a rerun of the same call resumes, ending with the same
  schedule and numbers as an uninterrupted run;
* ``keras.callbacks.TerminateOnNaN`` (a :class:`TrainingDiverged` error names the epoch and
  step), TensorBoard logs when TensorFlow is importable, a progress bar;
* mixed precision (``precision="bf16" | "fp16" | "fp32"``), XLA (``jit_compile``), fixed seeds,
  data parallelism over all local accelerators (``keras.distribution.DataParallel`` on JAX,
  ``tf.distribute.MirroredStrategy`` on TensorFlow);

and writes ``results.json`` (see :data:`RESULTS_SCHEMA`).

Example::

    from resnet_keras.train import train
    results = train("resnet20", "he2015-cifar", out_dir="runs/r20", epochs=3)
    print(results["final_test_error"])
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as _dt
import hashlib
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np

import keras

from resnet_keras import data as data_lib

__all__ = [
    "RECIPES",
    "RESULTS_SCHEMA",
    "Recipe",
    "Schedule",
    "TrainingDiverged",
    "get_recipe",
    "resolve_schedule",
    "train",
    "validate_results",
    "environment_info",
    "peak_memory_bytes",
]

SCHEMA_VERSION = 1
PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training was stopped."""


# ---------------------------------------------------------------------------------------------
# Recipes


@dataclasses.dataclass(frozen=True)
class Recipe:
    """The hyper-parameters of a paper's training run.

    Attributes:
        name: registry key, e.g. "he2015-cifar".
        paper: the reference.
        dataset: "cifar10", "cifar100" or "mnist".
        default_model: the model name used when none is given.
        batch_size: mini-batch size (global, over all devices).
        learning_rate: the base learning rate.
        momentum: SGD momentum.
        nesterov: Nesterov momentum.
        weight_decay: the paper's weight decay `wd` (gradient `wd * w`); applied as
            ``keras.regularizers.L2(wd / 2)`` on every kernel of the model.
        duration: run length, in `duration_unit`.
        duration_unit: "steps" (iterations) or "epochs".
        lr_schedule: "piecewise" (multiply by `lr_decay_factor` at each milestone) or
            "exponential" (multiply by `lr_exponential_rate` after every epoch).
        lr_milestones: where the learning rate is divided, in `milestone_unit`.
        milestone_unit: "steps" or "epochs".
        lr_decay_factor: factor applied at each milestone.
        lr_exponential_rate: per-epoch factor of the "exponential" schedule.
        warmup_steps: steps at `warmup_learning_rate` before the base rate (0: none).
        warmup_learning_rate: the warm-up learning rate.
        validation_size: training examples held out for validation (0: none).
        augment: random crop and flip (CIFAR); False for MNIST.
        crop_padding: zero padding of the random crop.
        random_flip: random horizontal flips.
        model_kwargs: arguments passed to the model builder (e.g. stochastic depth's p_L).
        notes: where the paper is explicit and where we chose.
    """

    name: str
    paper: str
    dataset: str
    default_model: str
    batch_size: int
    learning_rate: float
    momentum: float
    nesterov: bool
    weight_decay: float
    duration: int
    duration_unit: str
    lr_schedule: str = "piecewise"
    lr_milestones: tuple = ()
    milestone_unit: str = "steps"
    lr_decay_factor: float = 0.1
    lr_exponential_rate: float = 1.0
    warmup_steps: int = 0
    warmup_learning_rate: float = 0.0
    validation_size: int = 5000
    augment: bool = True
    crop_padding: int = 4
    random_flip: bool = True
    model_kwargs: dict = dataclasses.field(default_factory=dict)
    notes: str = ""

    def __post_init__(self):
        if self.duration_unit not in ("steps", "epochs"):
            raise ValueError(f"duration_unit must be 'steps' or 'epochs'; got {self.duration_unit!r}")
        if self.milestone_unit not in ("steps", "epochs"):
            raise ValueError(
                f"milestone_unit must be 'steps' or 'epochs'; got {self.milestone_unit!r}"
            )
        if self.lr_schedule not in ("piecewise", "exponential"):
            raise ValueError(
                f"lr_schedule must be 'piecewise' or 'exponential'; got {self.lr_schedule!r}"
            )
        for field in ("batch_size", "duration"):
            if int(getattr(self, field)) <= 0:
                raise ValueError(f"{field} must be positive; got {getattr(self, field)}")
        if self.learning_rate <= 0 or not math.isfinite(self.learning_rate):
            raise ValueError(f"learning_rate must be positive; got {self.learning_rate}")
        if list(self.lr_milestones) != sorted(self.lr_milestones):
            raise ValueError(f"lr_milestones must increase; got {self.lr_milestones}")

    def replace(self, **changes):
        """A copy with some fields changed (unknown names raise ValueError)."""
        fields = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - fields)
        if unknown:
            raise ValueError(
                f"Unknown recipe field(s) {unknown}; recipe fields are {sorted(fields)}."
            )
        if "lr_milestones" in changes:
            changes["lr_milestones"] = tuple(changes["lr_milestones"])
        return dataclasses.replace(self, **changes)

    def to_dict(self):
        d = dataclasses.asdict(self)
        d["lr_milestones"] = list(self.lr_milestones)
        return d


_HE2015_NOTES = (
    "He et al. 2015, Sec. 4.2: SGD, momentum 0.9, weight decay 1e-4, mini-batch 128, lr 0.1 "
    "divided by 10 at 32k and 48k iterations, training stops at 64k iterations, 45k/5k "
    "train/validation split, 4-pixel padding + random 32x32 crop + horizontal flip, per-pixel "
    "mean subtraction. Our choices: per-channel mean/std normalisation (as fb.resnet.torch), "
    "padding applied after normalisation (zeros = the mean), the 5k validation images drawn "
    "with a fixed seed (the paper does not say which)."
)

RECIPES = {}


def _register(recipe):
    RECIPES[recipe.name] = recipe
    return recipe


_HE2015 = _register(Recipe(
    name="he2015-cifar",
    paper="He, Zhang, Ren, Sun. Deep Residual Learning for Image Recognition. CVPR 2016 "
          "(arXiv:1512.03385), Sec. 4.2",
    dataset="cifar10", default_model="resnet20",
    batch_size=128, learning_rate=0.1, momentum=0.9, nesterov=False, weight_decay=1e-4,
    duration=64000, duration_unit="steps",
    lr_milestones=(32000, 48000), milestone_unit="steps", lr_decay_factor=0.1,
    validation_size=5000, notes=_HE2015_NOTES,
))
# The two variants below differ from he2015-cifar only in the fields they name.
_register(_HE2015.replace(
    name="he2015-cifar-warmup",
    paper="He et al. 2015, Sec. 4.2 (ResNet-110)",
    default_model="resnet110",
    warmup_steps=400, warmup_learning_rate=0.01,
    notes=_HE2015_NOTES + " ResNet-110: lr 0.01 until the training error is below 80% "
    "(about 400 iterations), then 0.1; we use a fixed 400 iterations.",
))
_register(_HE2015.replace(
    name="he2016-preact-cifar",
    paper="He, Zhang, Ren, Sun. Identity Mappings in Deep Residual Networks. ECCV 2016 "
          "(arXiv:1603.05027), Sec. 4",
    default_model="preact_resnet164",
    warmup_steps=400, warmup_learning_rate=0.01,
    notes="He et al. 2016: the He 2015 CIFAR schedule (lr 0.1, /10 at 32k and 48k "
    "iterations, stop at 64k, about 164 epochs), batch 128, weight decay 1e-4, momentum 0.9, "
    "lr 0.01 warm-up for the first 400 iterations for the 110- and 164-layer (and deeper) "
    "networks. Set warmup_steps=0 for shallower ones. Our choice: the He 2015 45k/5k split "
    "(validation_size=0 trains on all 50k).",
))
_register(Recipe(
    name="huang2016-sd-cifar",
    paper="Huang, Sun, Liu, Sedra, Weinberger. Deep Networks with Stochastic Depth. ECCV 2016 "
          "(arXiv:1603.09382), Sec. 4",
    dataset="cifar10", default_model="resnet110",
    batch_size=128, learning_rate=0.1, momentum=0.9, nesterov=True, weight_decay=1e-4,
    duration=500, duration_unit="epochs",
    lr_milestones=(250, 375), milestone_unit="epochs", lr_decay_factor=0.1,
    validation_size=5000, model_kwargs={"final_survival_probability": 0.5},
    notes="Huang et al. 2016: 500 epochs, batch 128, lr 0.1 divided by 10 after epochs 250 and "
    "375, weight decay 1e-4, momentum 0.9 with Nesterov (dampening 0), linear decay of the "
    "survival probability to p_L = 0.5, the standard augmentation, 5k images held out for "
    "validation. For a constant-depth baseline pass "
    "model_kwargs={'final_survival_probability': 1.0}.",
))
_register(Recipe(
    name="srivastava2015-highway-mnist",
    paper="Srivastava, Greff, Schmidhuber. Training Very Deep Networks. NIPS 2015 "
          "(arXiv:1507.06228), Sec. 3.1 / Fig. 1",
    dataset="mnist", default_model="highway_mlp50",
    batch_size=128, learning_rate=0.01, momentum=0.9, nesterov=False, weight_decay=0.0,
    duration=400, duration_unit="epochs",
    lr_schedule="exponential", lr_exponential_rate=0.99,
    validation_size=0, augment=False, crop_padding=0, random_flip=False,
    notes="Srivastava et al. 2015 (MNIST depth experiment): fully connected nets of 10-100 "
    "layers, 50 units per highway layer / 71 per plain layer, a plain first layer, SGD with "
    "momentum, an exponentially decaying learning rate, 400 epochs; the learning rate, "
    "momentum, decay factor, activation and gate bias were chosen per network by a random "
    "search that the paper does not list. Our choices: momentum 0.9, lr 0.01, decay 0.99 "
    "per epoch, batch 128, ReLU, gate bias -2 (the model default), no weight decay, no "
    "augmentation, inputs standardised with the training mean/std. 400 epochs is long: "
    "pass epochs=... to shorten (the decay is rescaled).",
))


def get_recipe(name_or_recipe):
    """A :class:`Recipe` by name (or the recipe itself)."""
    if isinstance(name_or_recipe, Recipe):
        return name_or_recipe
    if name_or_recipe not in RECIPES:
        raise ValueError(
            f"Unknown recipe {name_or_recipe!r}; choose one of {sorted(RECIPES)}."
        )
    return RECIPES[name_or_recipe]


# ---------------------------------------------------------------------------------------------
# Schedule


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


# ---------------------------------------------------------------------------------------------
# Results schema

_NUM = {"type": ["number", "null"]}
_EPOCH_SCHEMA = {
    "type": "object",
    "required": ["epoch", "step", "learning_rate", "train_loss", "train_error", "val_loss",
                 "val_error", "test_loss", "test_error", "epoch_time_s", "train_time_s",
                 "images_per_second"],
    "properties": {
        "epoch": {"type": "integer"},  # 1-based: the number of completed epochs
        "step": {"type": "integer"},  # optimizer steps done at the end of the epoch
        "learning_rate": {"type": "number"},  # of the epoch's last step
        "train_loss": _NUM,  # mean over the epoch, augmented data, incl. the L2 term
        "train_error": _NUM,  # 1 - accuracy over the epoch (augmented, training mode)
        "val_loss": _NUM, "val_error": _NUM,  # null without a validation split
        "test_loss": _NUM, "test_error": _NUM,  # null on epochs not evaluated
        "epoch_time_s": {"type": "number"},  # whole epoch, evaluation included
        "train_time_s": {"type": "number"},  # training steps only
        "images_per_second": {"type": "number"},  # training images / train_time_s
    },
}

RESULTS_SCHEMA = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "resnet_keras training results",
    "type": "object",
    "required": [
        "schema_version", "status", "model", "recipe", "hyperparameters", "schedule",
        "dataset", "history", "final_test_error", "final_test_loss", "final_val_error",
        "wall_time_s", "train_time_s", "images_per_second", "seed", "environment",
        "started_at", "finished_at", "resumed_at_epochs", "out_dir",
    ],
    "properties": {
        "schema_version": {"type": "integer"},
        "status": {"enum": ["completed", "diverged"]},
        "model": {
            "type": "object",
            "required": ["name", "params", "kwargs"],
            "properties": {"name": {"type": "string"}, "params": {"type": "integer"},
                           "kwargs": {"type": "object"}},
        },
        "recipe": {  # Recipe.to_dict() after the overrides
            "type": "object",
            "required": ["name", "paper", "batch_size", "learning_rate", "momentum",
                         "nesterov", "weight_decay", "duration", "duration_unit"],
        },
        "hyperparameters": {  # the run's effective settings
            "type": "object",
            "required": ["batch_size", "learning_rate", "momentum", "nesterov", "weight_decay",
                         "epochs", "total_steps", "steps_per_epoch", "precision",
                         "jit_compile", "augment", "overrides"],
        },
        "schedule": {
            "type": "object",
            "required": ["kind", "boundaries", "values", "total_steps", "steps_per_epoch",
                         "epochs", "scale_factor"],
        },
        "dataset": {  # ImageDataset.describe() + limits
            "type": "object",
            "required": ["name", "source", "checksums", "num_train", "num_validation",
                         "num_test", "normalization"],
            "properties": {"checksums": {"type": "object"}},
        },
        "history": {"type": "array", "items": _EPOCH_SCHEMA},
        "final_test_error": _NUM,
        "final_test_loss": _NUM,
        "final_val_error": _NUM,
        "best_val_error": _NUM,
        "test_error_at_best_val": _NUM,
        "wall_time_s": {"type": "number"},  # over all sessions of the run (resumes included)
        "train_time_s": {"type": "number"},  # training steps only, all epochs
        "images_per_second": _NUM,  # training throughput, first epoch (compilation) excluded
        "images_per_second_incl_first_epoch": _NUM,
        "seed": {"type": "integer"},
        "environment": {
            "type": "object",
            "required": ["backend", "keras_version", "backend_version", "numpy_version",
                         "python_version", "resnet_keras_version", "device", "device_count",
                         "cpu", "platform", "git_commit"],
        },
        "started_at": {"type": "string"},
        "finished_at": {"type": "string"},
        "resumed_at_epochs": {"type": "array", "items": {"type": "integer"}},
        "out_dir": {"type": ["string", "null"]},
        "diverged": {"type": ["object", "null"]},
        "peak_memory_bytes": {"type": ["integer", "null"]},
    },
}


def validate_results(results, schema=RESULTS_SCHEMA):
    """Checks a results dict against :data:`RESULTS_SCHEMA` (a subset of JSON schema:
    type, required, properties, items, enum). Raises ValueError naming the first problem."""
    _validate(results, schema, "results")
    return True


_TYPES = {
    "object": dict, "array": list, "string": str, "boolean": bool,
    "integer": int, "number": (int, float), "null": type(None),
}


def _validate(value, schema, where):
    if "enum" in schema and value not in schema["enum"]:
        raise ValueError(f"{where}: {value!r} is not one of {schema['enum']}")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        ok = False
        for t in types:
            if t in ("integer", "number") and isinstance(value, bool):
                continue
            if isinstance(value, _TYPES[t]):
                ok = True
        if not ok:
            raise ValueError(f"{where}: expected {types}, got {type(value).__name__}")
    if isinstance(value, dict):
        for key in schema.get("required", []):
            if key not in value:
                raise ValueError(f"{where}: missing key {key!r}")
        for key, sub in schema.get("properties", {}).items():
            if key in value:
                _validate(value[key], sub, f"{where}.{key}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            _validate(item, schema["items"], f"{where}[{i}]")


# ---------------------------------------------------------------------------------------------
# Environment


def _git_commit():
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
            timeout=10,
        )
        if commit.returncode != 0:
            return None, None
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )
        return commit.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _devices():
    """(device name, device count, platform) of the backend's accelerators (CPU if none)."""
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            devs = jax.devices()
            d = devs[0]
            name = getattr(d, "device_kind", str(d))
            if d.platform == "cpu":
                name = f"cpu ({_cpu_name()})"
            return name, len(devs), d.platform
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return details.get("device_name", gpus[0].name), len(gpus), "gpu"
            return f"cpu ({_cpu_name()})", 1, "cpu"
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(0), torch.cuda.device_count(), "gpu"
    except Exception:  # pragma: no cover - device queries are best effort
        pass
    return f"cpu ({_cpu_name()})", 1, "cpu"


def _backend_version():
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return jax.__version__
        if backend == "tensorflow":
            import tensorflow as tf

            return tf.__version__
        if backend == "torch":
            import torch

            return torch.__version__
    except ImportError:
        pass
    return None


def environment_info():
    """Backend, versions, device and git commit, as a dict (part of the results file)."""
    device, count, kind = _devices()
    commit, dirty = _git_commit()
    try:
        from importlib.metadata import version

        rk_version = version("resnet-keras")
    except Exception:
        rk_version = getattr(sys.modules.get("resnet_keras"), "__version__", None)
    return {
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "backend_version": _backend_version(),
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "resnet_keras_version": rk_version,
        "device": device,
        "device_platform": kind,
        "device_count": count,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "git_commit": commit,
        "git_dirty": dirty,
    }


def peak_memory_bytes(reset=False):
    """Peak memory of the first accelerator (bytes), or the process' peak RSS on CPU.

    On CPU the figure is the peak resident memory of the whole process since it started
    (``reset`` has no effect there).
    """
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            d = jax.devices()[0]
            if d.platform != "cpu":
                stats = d.memory_stats() or {}
                if "peak_bytes_in_use" in stats:
                    return int(stats["peak_bytes_in_use"])
        elif backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                info = tf.config.experimental.get_memory_info("GPU:0")
                if reset:
                    tf.config.experimental.reset_memory_stats("GPU:0")
                return int(info["peak"])
    except Exception:  # pragma: no cover
        pass
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except Exception:  # pragma: no cover
        return None


# ---------------------------------------------------------------------------------------------
# Callbacks


class _NanGuard(keras.callbacks.TerminateOnNaN):
    """TerminateOnNaN that remembers where the loss diverged."""

    def __init__(self, steps_per_epoch):
        super().__init__()
        self.steps_per_epoch = steps_per_epoch
        self.diverged = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None:
            loss = float(keras.ops.convert_to_numpy(loss))
            if not math.isfinite(loss) and self.diverged is None:
                self.diverged = {
                    "epoch": self._epoch + 1,
                    "batch": int(batch) + 1,
                    "step": self._epoch * self.steps_per_epoch + int(batch) + 1,
                    "loss": str(loss),
                }
        super().on_batch_end(batch, logs)


class _RunMonitor(keras.callbacks.Callback):
    """Timing, per-epoch test evaluation, history, stop at the last step, checkpoints."""

    def __init__(self, run, nan_guard):
        super().__init__()
        self.run = run
        self.nan_guard = nan_guard
        self._epoch_start = None
        self._train_end = None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._epoch_start = time.perf_counter()
        self._train_end = None
        self._last_batch = self.run.schedule.steps_per_epoch

    def on_train_batch_end(self, batch, logs=None):
        step = self._epoch * self.run.schedule.steps_per_epoch + int(batch) + 1
        if step >= self.run.schedule.total_steps:
            self.model.stop_training = True
        self._last_batch = int(batch) + 1

    def on_test_begin(self, logs=None):
        if self._train_end is None:
            self._train_end = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        if self._train_end is None:
            self._train_end = time.perf_counter()
        if self.nan_guard.diverged is not None:
            return  # never checkpoint a diverged model
        raw_logs = logs
        logs = dict(logs or {})
        run = self.run
        spe = run.schedule.steps_per_epoch
        batches = getattr(self, "_last_batch", spe)
        step = min(epoch * spe + batches, run.schedule.total_steps)
        n_images = run.images_in_epoch(batches)
        train_time = self._train_end - self._epoch_start
        last_epoch = self.model.stop_training or epoch + 1 >= run.schedule.epochs
        test_loss = test_error = None
        if last_epoch or (run.test_every and (epoch + 1) % run.test_every == 0):
            res = self.model.evaluate(
                run.ds.x_test, run.ds.y_test, batch_size=run.eval_batch_size, verbose=0,
                return_dict=True,
            )
            test_loss = float(res["loss"])
            test_error = 1.0 - float(res["accuracy"])
        epoch_time = time.perf_counter() - self._epoch_start

        def f(key):
            v = logs.get(key)
            return None if v is None else float(v)

        acc, val_acc = f("accuracy"), f("val_accuracy")
        record = {
            "epoch": epoch + 1,
            "step": int(step),
            "learning_rate": float(run.schedule.lr_at(step - 1)),
            "train_loss": f("loss"),
            "train_error": None if acc is None else 1.0 - acc,
            "val_loss": f("val_loss"),
            "val_error": None if val_acc is None else 1.0 - val_acc,
            "test_loss": test_loss,
            "test_error": test_error,
            "epoch_time_s": epoch_time,
            "train_time_s": train_time,
            "images_per_second": n_images / train_time if train_time > 0 else 0.0,
        }
        run.history.append(record)
        # Keys for TensorBoard (keras hands the same logs dict to the callbacks that follow).
        if raw_logs is not None:
            raw_logs["learning_rate"] = record["learning_rate"]
            for key in ("train_error", "val_error", "test_loss", "test_error"):
                if record[key] is not None:
                    raw_logs["error" if key == "train_error" else key] = record[key]
        run.save_checkpoint(self.model, epoch + 1, step, finished=last_epoch)



# ---------------------------------------------------------------------------------------------
# The run


class _Run:
    """State of one training run (paths, schedule, history, checkpoints)."""

    def __init__(self, out_dir, ds, schedule, batch_size, drop_remainder, test_every,
                 eval_batch_size, verbose):
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.ds = ds
        self.schedule = schedule
        self.batch_size = batch_size
        self.drop_remainder = drop_remainder
        self.test_every = test_every
        self.eval_batch_size = eval_batch_size
        self.verbose = verbose
        self.history = []
        self.config = None
        self.elapsed_before = 0.0
        self.session_start = time.perf_counter()
        self.resumed_at = []
        self.started_at = None

    @property
    def ckpt_dir(self):
        return None if self.out_dir is None else self.out_dir / "checkpoint"

    def images_in_epoch(self, batches):
        n = len(self.ds.x_train)
        full = n // self.batch_size
        if batches <= full:
            return batches * self.batch_size
        return n if not self.drop_remainder else full * self.batch_size

    def elapsed(self):
        return self.elapsed_before + (time.perf_counter() - self.session_start)

    def save_checkpoint(self, model, epoch, step, finished):
        """Writes epoch-NNNN.weights.h5 (model + optimizer), epoch-NNNN.seeds.npz (random
        states) and then state.json, whose atomic replacement commits the checkpoint; the
        previous epoch's files are deleted afterwards. A kill at any moment leaves a
        consistent checkpoint."""
        if self.ckpt_dir is None:
            return
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        stem = f"epoch-{int(epoch):04d}"
        weights, seeds = f"{stem}.weights.h5", f"{stem}.seeds.npz"
        model.save_weights(str(self.ckpt_dir / weights))
        with open(self.ckpt_dir / seeds, "wb") as f:
            np.savez(f, **{f"{i}": keras.ops.convert_to_numpy(v.value)
                           for i, v in enumerate(_seed_states(model))})
        state = {
            "epoch": int(epoch),
            "step": int(step),
            "finished": bool(finished),
            "weights_file": weights,
            "seeds_file": seeds,
            "history": self.history,
            "config": self.config,
            "elapsed_s": self.elapsed(),
            "resumed_at_epochs": self.resumed_at,
            "started_at": self.started_at,
        }
        _write_json_atomic(self.ckpt_dir / "state.json", state)
        for old in self.ckpt_dir.glob("epoch-*"):
            if old.name not in (weights, seeds):
                old.unlink()


def _seed_states(model):
    """The random-seed state variables of the model's layers (augmentation, stochastic depth).

    ``save_weights`` leaves them out; the checkpoint keeps them so that a resumed run draws
    the same random numbers as an uninterrupted one.
    """
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def _restore_seed_states(model, path):
    if not Path(path).is_file():
        return
    states = _seed_states(model)
    with np.load(path) as saved:
        if len(saved.files) != len(states):
            raise ValueError(f"{path} holds {len(saved.files)} seed states; the model has "
                             f"{len(states)}.")
        for i, v in enumerate(states):
            v.assign(saved[f"{i}"])


def _write_json_atomic(path, obj):
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, indent=2, default=_json_default))
    os.replace(tmp, path)


def _json_default(o):
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, (tuple, set)):
        return list(o)
    if isinstance(o, Path):
        return str(o)
    return repr(o)


def _fingerprint(config):
    blob = json.dumps(config, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


@contextlib.contextmanager
def _dtype_policy(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}; got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def _distribution(distribute, verbose):
    """Data parallelism over the local accelerators when there is more than one."""
    backend = keras.backend.backend()
    if distribute is False:
        yield None, 1
        return
    if backend == "jax":
        import jax

        devices = jax.devices()
        if len(devices) > 1:
            previous = keras.distribution.distribution()
            dist = keras.distribution.DataParallel(devices=devices)
            keras.distribution.set_distribution(dist)
            if verbose:
                print(f"Data parallel over {len(devices)} devices (keras.distribution)")
            try:
                yield None, len(devices)
            finally:
                keras.distribution.set_distribution(previous)
            return
    elif backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        if len(gpus) > 1:
            strategy = tf.distribute.MirroredStrategy()
            if verbose:
                print(f"Data parallel over {len(gpus)} GPUs (tf.distribute.MirroredStrategy)")
            with strategy.scope():
                yield strategy, len(gpus)
            return
    yield None, 1


def _build_model(model, ds, recipe, model_overrides):
    """(keras model, name, kwargs) from a name, a builder, or a model."""
    kwargs = dict(recipe.model_kwargs)
    kwargs.update(model_overrides or {})
    if recipe.weight_decay:
        kwargs.setdefault("kernel_regularizer", keras.regularizers.L2(recipe.weight_decay / 2))
    if isinstance(model, keras.Model):
        if recipe.weight_decay:
            warnings.warn(
                "A model instance was given: the recipe's weight decay is not applied "
                "(pass a model name or a builder to get it as L2 on the kernels)."
            )
        return model, model.name, {}
    if isinstance(model, str):
        from resnet_keras.models import get_model

        name = model

        def builder(**kw):
            return get_model(name, **kw)
    elif callable(model):
        builder = model
        name = getattr(model, "__name__", "model")
    else:
        raise TypeError(f"model must be a name, a builder or a keras.Model; got {model!r}")
    kwargs.setdefault("input_shape", ds.image_shape)
    try:
        built = builder(num_classes=ds.num_classes, **kwargs)
    except TypeError as e:
        if "num_classes" not in str(e):
            raise
        # ImageNet-style builders: `classes` and a softmax to turn off.
        built = builder(classes=ds.num_classes, classifier_activation=None, **kwargs)
    described = {
        k: (keras.saving.serialize_keras_object(v) if not isinstance(
            v, (int, float, str, bool, list, tuple, dict, type(None))) else v)
        for k, v in kwargs.items()
    }
    return built, name, described


def _load_data(dataset, data, data_source, data_dir, validation_size, limits):
    if data is None:
        data = data_lib.load_dataset(
            dataset, source=data_source, data_dir=data_dir, validation_size=validation_size
        )
    elif validation_size and data.x_val is None:
        x_tr, y_tr, x_val, y_val = data_lib.train_validation_split(
            data.x_train, data.y_train, validation_size
        )
        data = dataclasses.replace(data, x_train=x_tr, y_train=y_tr, x_val=x_val, y_val=y_val,
                                   validation={"size": int(validation_size), "seed": 0,
                                               "method": "seeded_random"})
    return data.subset(*limits)


def train(
    model=None,
    recipe="he2015-cifar",
    out_dir=None,
    *,
    epochs=None,
    steps=None,
    scale=None,
    data=None,
    data_dir=None,
    data_source=None,
    limit_train=None,
    limit_val=None,
    limit_test=None,
    precision="fp32",
    jit_compile="auto",
    seed=0,
    resume=True,
    test_every=1,
    eval_batch_size=1000,
    tensorboard=True,
    save_model=True,
    distribute="auto",
    verbose="auto",
    callbacks=None,
    model_overrides=None,
    **overrides,
):
    """Trains `model` with a paper's recipe and writes checkpoints and a results JSON.

    Args:
        model: a model name for :func:`resnet_keras.models.get_model` (e.g. "resnet56"), a
            builder called as ``builder(num_classes=..., input_shape=..., kernel_regularizer=...,
            **model_kwargs)``, or a ``keras.Model`` (then weight decay is not added).
            Default: the recipe's ``default_model``.
        recipe: a recipe name (see :data:`RECIPES`) or a :class:`Recipe`.
        out_dir: where checkpoints, TensorBoard logs, ``results.json`` and ``model.keras`` go;
            None keeps nothing on disk (no checkpoint, no resume).
        epochs, steps, scale: shorten the run (at most one); the schedule stays proportional,
            see :func:`resolve_schedule`.
        data: an :class:`resnet_keras.data.ImageDataset` to use instead of loading one.
        data_dir, data_source: where the data come from (see :mod:`resnet_keras.data`).
        limit_train, limit_val, limit_test: use only the first N examples of each split.
        precision: "fp32", "bf16" (mixed_bfloat16) or "fp16" (mixed_float16, loss scaling).
        jit_compile: True, False or "auto" (``model.compile``'s argument; XLA).
        seed: seeds weights, data order and augmentation (``keras.utils.set_random_seed``).
        resume: continue from ``out_dir/checkpoint`` if present (the run's settings must be
            the same); False starts over.
        test_every: evaluate on the test set every N epochs and after the last one (0: after
            the last one only).
        eval_batch_size: batch size of evaluation.
        tensorboard: write TensorBoard logs to ``out_dir/tensorboard`` (only when tensorflow
            and tensorboard are importable; skipped silently otherwise).
        save_model: save ``out_dir/model.keras`` (preprocessing + network, raw uint8 images in,
            logits out) at the end.
        distribute: "auto" (data parallel when there are several accelerators) or False.
        verbose: 0 (silent), 1 (progress bar), 2 (one line per epoch), "auto".
        callbacks: extra keras callbacks (run after the checkpointing ones).
        model_overrides: extra builder arguments (e.g. ``{"final_survival_probability": 1.0}``).
        **overrides: recipe fields to change, e.g. ``batch_size=64``, ``learning_rate=0.05``,
            ``weight_decay=5e-4``, ``warmup_steps=0``, ``validation_size=0``, ``nesterov=True``.

    Returns:
        The results dict (also written to ``out_dir/results.json``), see
        :data:`RESULTS_SCHEMA`.

    Raises:
        TrainingDiverged: the loss became NaN/inf (the results file says where).
        ValueError: unknown recipe/fields, or a checkpoint from a different configuration.
    """
    started_at = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    base_recipe = get_recipe(recipe)
    recipe = base_recipe.replace(**overrides) if overrides else base_recipe
    if model is None:
        model = recipe.default_model
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    if jit_compile not in (True, False, "auto"):
        raise ValueError(f"jit_compile must be True, False or 'auto'; got {jit_compile!r}")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}; got {precision!r}")
    seed = int(seed)
    out_dir = Path(out_dir) if out_dir is not None else None

    ds = _load_data(recipe.dataset, data, data_source, data_dir, recipe.validation_size,
                    (limit_train, limit_val, limit_test))
    if len(ds.x_train) == 0:
        raise ValueError("The training set is empty.")
    mean, std = data_lib.channel_mean_std(ds.x_train)

    keras.utils.set_random_seed(seed)
    with _distribution(distribute, verbose) as (strategy, n_devices):
        batch_size = int(recipe.batch_size)
        drop_remainder = n_devices > 1 and len(ds.x_train) % batch_size % n_devices != 0
        if n_devices > 1 and batch_size % n_devices:
            raise ValueError(
                f"batch_size {batch_size} is not divisible by the {n_devices} devices."
            )
        spe = len(ds.x_train) // batch_size if drop_remainder else -(-len(ds.x_train) // batch_size)
        if spe == 0:
            raise ValueError(
                f"The training set ({len(ds.x_train)}) is smaller than one batch ({batch_size})."
            )
        schedule = resolve_schedule(recipe, spe, epochs=epochs, steps=steps, scale=scale)
        run = _Run(out_dir, ds, schedule, batch_size, drop_remainder, test_every,
                   eval_batch_size, verbose)
        run.started_at = started_at

        with _dtype_policy(precision):
            net, model_name, model_kwargs = _build_model(model, ds, recipe, model_overrides)
            train_model = data_lib.with_preprocessing(
                net, ds.image_shape, mean, std, augment=recipe.augment,
                padding=recipe.crop_padding, flip=recipe.random_flip, seed=seed,
            )
            optimizer = keras.optimizers.SGD(
                learning_rate=schedule.keras_schedule(), momentum=recipe.momentum,
                nesterov=recipe.nesterov,
            )
            train_model.compile(
                optimizer=optimizer,
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                jit_compile=jit_compile,
            )

        overrides_record = {k: (list(v) if isinstance(v, tuple) else v)
                            for k, v in overrides.items()}
        dataset_desc = ds.describe()
        dataset_desc.update(
            limits={"train": limit_train, "validation": limit_val, "test": limit_test},
            normalization={"mean": mean.tolist(), "std": std.tolist()},
        )
        config = {
            "model": model_name,
            "model_kwargs": model_kwargs,
            "recipe": recipe.to_dict(),
            "schedule": schedule.to_dict(),
            "dataset": {k: v for k, v in dataset_desc.items() if k != "location"},
            "seed": seed,
            "precision": precision,
        }
        run.config = {"fingerprint": _fingerprint(config), **config}

        initial_epoch = 0
        state = _read_state(run.ckpt_dir) if (resume and run.ckpt_dir) else None
        if state is not None:
            if state.get("config", {}).get("fingerprint") != run.config["fingerprint"]:
                raise ValueError(
                    f"{run.ckpt_dir} holds a checkpoint of a different run (model, recipe, "
                    "hyper-parameters, data, seed or precision differ). Use another out_dir, "
                    "or resume=False (--no-resume) to start over."
                )
            results_path = out_dir / "results.json"
            if state.get("finished") and results_path.is_file():
                if verbose:
                    print(f"{out_dir}: this run is already complete; returning its results.")
                return json.loads(results_path.read_text())
            train_model.optimizer.build(train_model.trainable_variables)
            train_model.load_weights(str(run.ckpt_dir / state["weights_file"]))
            _restore_seed_states(train_model, run.ckpt_dir / state["seeds_file"])
            initial_epoch = int(state["epoch"])
            run.history = list(state["history"])
            run.elapsed_before = float(state.get("elapsed_s", 0.0))
            run.resumed_at = list(state.get("resumed_at_epochs", [])) + [initial_epoch]
            run.started_at = state.get("started_at") or started_at
            if verbose:
                print(f"Resuming {out_dir} after epoch {initial_epoch} "
                      f"(step {state['step']} of {schedule.total_steps}).", flush=True)
        elif out_dir is not None and not resume and run.ckpt_dir.exists():
            for p in run.ckpt_dir.glob("*"):
                p.unlink()

        nan_guard = _NanGuard(spe)
        monitor = _RunMonitor(run, nan_guard)
        cbs = [nan_guard, monitor]
        if tensorboard and out_dir is not None and _tensorboard_available():
            cbs.append(keras.callbacks.TensorBoard(log_dir=str(out_dir / "tensorboard"),
                                                   update_freq="epoch"))
        cbs.extend(callbacks or [])

        batches = data_lib.ArrayBatches(
            ds.x_train, ds.y_train, batch_size, shuffle=True, seed=seed,
            drop_remainder=drop_remainder, initial_epoch=initial_epoch,
        )
        validation = (ds.x_val, ds.y_val) if ds.x_val is not None and len(ds.x_val) else None
        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            _write_json_atomic(out_dir / "config.json", run.config)
        if initial_epoch < schedule.epochs:
            train_model.fit(
                batches,
                steps_per_epoch=spe,
                shuffle=False,  # ArrayBatches shuffles, reproducibly
                epochs=schedule.epochs,
                initial_epoch=initial_epoch,
                validation_data=validation,
                validation_batch_size=eval_batch_size,
                callbacks=cbs,
                verbose=verbose,
            )

    results = _results(run, recipe, schedule, net, model_name, model_kwargs, dataset_desc,
                       seed, precision, jit_compile, overrides_record, nan_guard.diverged,
                       batch_size)
    if out_dir is not None:
        _write_json_atomic(out_dir / "results.json", results)
        if save_model and nan_guard.diverged is None:
            try:
                train_model.save(str(out_dir / "model.keras"))
            except Exception as e:  # pragma: no cover - serialisation of custom models
                warnings.warn(f"Could not save {out_dir / 'model.keras'}: {e}")
    if nan_guard.diverged is not None:
        d = nan_guard.diverged
        last_good = run.history[-1]["epoch"] if run.history else 0
        raise TrainingDiverged(
            f"The training loss became NaN or infinite ({d['loss']}) at epoch {d['epoch']}, "
            f"step {d['step']} "
            f"(learning rate {schedule.lr_at(d['step'] - 1):g}); training stopped. Try a lower "
            f"learning rate (or a warm-up), precision='fp32', or check the data. "
            + (f"The last good checkpoint (epoch {last_good}) is in {run.ckpt_dir}."
               if run.ckpt_dir is not None and last_good else "")
        )
    return results


def _tensorboard_available():
    """keras.callbacks.TensorBoard needs tensorflow and the tensorboard package."""
    try:
        import tensorboard  # noqa: F401
        import tensorflow  # noqa: F401

        return True
    except ImportError:
        return False


def _read_state(ckpt_dir):
    """The committed checkpoint of `ckpt_dir` (its state.json), or None."""
    path = ckpt_dir / "state.json"
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
        # Checkpoints of version 0.1.0 before file names were recorded used fixed names.
        state.setdefault("weights_file", "last.weights.h5")
        state.setdefault("seeds_file", "seeds.npz")
        missing = [state[k] for k in ("weights_file", "seeds_file")
                   if not (ckpt_dir / state[k]).is_file()]
    except (json.JSONDecodeError, KeyError, TypeError) as e:
        raise ValueError(
            f"{path} is corrupt ({e!r}); delete {ckpt_dir} or pass resume=False."
        ) from e
    if missing:
        raise ValueError(
            f"{path} names {missing}, which are missing; delete {ckpt_dir} or pass "
            "resume=False."
        )
    return state


def _results(run, recipe, schedule, net, model_name, model_kwargs, dataset_desc, seed,
             precision, jit_compile, overrides, diverged, batch_size):
    hist = run.history
    last = hist[-1] if hist else {}
    vals = [(h["val_error"], h["test_error"]) for h in hist if h["val_error"] is not None]
    best = min(vals, key=lambda v: v[0]) if vals else (None, None)
    train_time = float(sum(h["train_time_s"] for h in hist))
    images = sum(h["images_per_second"] * h["train_time_s"] for h in hist)
    steady = hist[1:] if len(hist) > 1 else hist
    steady_time = sum(h["train_time_s"] for h in steady)
    steady_images = sum(h["images_per_second"] * h["train_time_s"] for h in steady)
    tested = [h for h in hist if h["test_error"] is not None]
    return {
        "schema_version": SCHEMA_VERSION,
        "status": "diverged" if diverged else "completed",
        "model": {"name": model_name, "params": int(net.count_params()),
                  "kwargs": model_kwargs},
        "recipe": recipe.to_dict(),
        "hyperparameters": {
            "batch_size": batch_size,
            "learning_rate": recipe.learning_rate,
            "momentum": recipe.momentum,
            "nesterov": recipe.nesterov,
            "weight_decay": recipe.weight_decay,
            "weight_decay_as": f"L2({recipe.weight_decay / 2:g}) on every kernel "
                               "(gradient = weight_decay * w)",
            "epochs": schedule.epochs,
            "total_steps": schedule.total_steps,
            "steps_per_epoch": schedule.steps_per_epoch,
            "precision": precision,
            "jit_compile": jit_compile,
            "augment": recipe.augment,
            "crop_padding": recipe.crop_padding,
            "random_flip": recipe.random_flip,
            "validation_size": recipe.validation_size,
            "overrides": overrides,
        },
        "schedule": schedule.to_dict(),
        "dataset": dataset_desc,
        "history": hist,
        "final_test_error": tested[-1]["test_error"] if tested else None,
        "final_test_loss": tested[-1]["test_loss"] if tested else None,
        "final_val_error": last.get("val_error"),
        "best_val_error": best[0],
        "test_error_at_best_val": best[1],
        "wall_time_s": run.elapsed(),
        "train_time_s": train_time,
        "images_per_second": steady_images / steady_time if steady_time else None,
        "images_per_second_incl_first_epoch": images / train_time if train_time else None,
        "peak_memory_bytes": peak_memory_bytes(),
        "seed": seed,
        "environment": environment_info(),
        "started_at": run.started_at,
        "finished_at": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "resumed_at_epochs": run.resumed_at,
        "out_dir": None if run.out_dir is None else str(run.out_dir),
        "diverged": diverged,
        "command": list(sys.argv),
    }
