"""`train()`: one run of a paper's recipe, from arguments to ``results.json``.

It checks every argument before any work, loads the data, builds the model with the recipe's
weight decay behind a ``Preprocess`` layer (normalisation and augmentation on the device),
resumes from the last checkpoint when there is one, trains with the compiled loop on JAX or
``model.fit`` elsewhere, and writes the results with their provenance.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import math
import sys
import time
import warnings
from pathlib import Path

import keras

from resnet_keras import data as data_lib
from resnet_keras.model_names import parse_model_name
from resnet_keras.train import checkpoint
from resnet_keras.train.compiled_loop import compiled_loop_unavailable, run_compiled
from resnet_keras.train.devices import PRECISIONS, distribution, precision_policy
from resnet_keras.train.environment import environment_info, peak_memory_bytes
from resnet_keras.train.fit_loop import run_fit
from resnet_keras.train.recipes import get_recipe
from resnet_keras.train.results import (
    SCHEMA_VERSION,
    fingerprint,
    run_spec,
    write_json_atomic,
)
from resnet_keras.train.schedule import resolve_schedule

__all__ = ["TrainingDiverged", "check_train_arguments", "train"]

LOOPS = ("auto", "compiled", "fit")


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite; training was stopped."""


def _now():
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def _positive_int_or_none(name, value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive integer; got {value!r}")
    return value


def check_train_arguments(model, recipe, *, epochs=None, steps=None, scale=None,
                          limit_train=None, limit_val=None, limit_test=None, precision="fp32",
                          jit_compile="auto", seed=0, test_every=1, eval_batch_size=1000,
                          loop="auto", time_budget_s=None, overrides=None):
    """Checks the arguments of :func:`train` that need no data; raises ValueError naming the
    first bad one. Returns the recipe after `overrides`.

    The command line calls it before it loads anything, so that a typo costs no download.
    """
    recipe = get_recipe(recipe)
    if overrides:
        recipe = recipe.replace(**overrides)
    if isinstance(model, str):
        parse_model_name(model)
    elif model is not None and not callable(model) and not isinstance(model, keras.Model):
        raise TypeError(f"model must be a name, a builder or a keras.Model; got {model!r}")
    if sum(v is not None for v in (epochs, steps, scale)) > 1:
        raise ValueError("Give at most one of epochs, steps and scale.")
    _positive_int_or_none("epochs", epochs)
    _positive_int_or_none("steps", steps)
    if scale is not None and not (isinstance(scale, (int, float)) and scale > 0
                                  and math.isfinite(scale)):
        raise ValueError(f"scale must be a positive number; got {scale!r}")
    for name, value in (("limit_train", limit_train), ("limit_val", limit_val),
                        ("limit_test", limit_test), ("eval_batch_size", eval_batch_size)):
        _positive_int_or_none(name, value)
    if eval_batch_size is None:
        raise ValueError("eval_batch_size must be a positive integer; got None")
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}; got {precision!r}")
    if jit_compile not in (True, False, "auto"):
        raise ValueError(f"jit_compile must be True, False or 'auto'; got {jit_compile!r}")
    if loop not in LOOPS:
        raise ValueError(f"loop must be one of {LOOPS}; got {loop!r}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer; got {seed!r}")
    if isinstance(test_every, bool) or not isinstance(test_every, int) or test_every < 0:
        raise ValueError(f"test_every must be a non-negative integer; got {test_every!r}")
    if time_budget_s is not None and not (isinstance(time_budget_s, (int, float))
                                          and time_budget_s > 0):
        raise ValueError(f"time_budget_s must be a positive number; got {time_budget_s!r}")
    return recipe


class _Run:
    """State of one training run: paths, schedule, history, timing, checkpoints."""

    def __init__(self, out_dir, ds, schedule, batch_size, drop_remainder, seed, test_every,
                 eval_batch_size, verbose, tensorboard, time_budget_s):
        self.out_dir = Path(out_dir) if out_dir is not None else None
        self.ds = ds
        self.schedule = schedule
        self.batch_size = batch_size
        self.drop_remainder = drop_remainder
        self.seed = seed
        self.test_every = test_every
        self.eval_batch_size = eval_batch_size
        self.verbose = verbose
        self.tensorboard_dir = (self.out_dir / "tensorboard"
                                if tensorboard and self.out_dir is not None else None)
        self.history = []
        self.config = None
        self.elapsed_before = 0.0
        self.session_start = time.perf_counter()
        self.deadline = None if time_budget_s is None else self.session_start + time_budget_s
        self.resumed_at = []
        self.started_at = None

    @property
    def ckpt_dir(self):
        return None if self.out_dir is None else self.out_dir / "checkpoint"

    def elapsed(self):
        return self.elapsed_before + (time.perf_counter() - self.session_start)

    def tests_after(self, epoch, step):
        """Whether the test set is evaluated after `epoch` (1-based), ending at `step`."""
        return step >= self.schedule.total_steps or bool(
            self.test_every and epoch % self.test_every == 0)

    def out_of_time(self):
        """True when another epoch like the last one would end after the time budget."""
        if self.deadline is None or not self.history:
            return False
        return time.perf_counter() + self.history[-1]["epoch_time_s"] > self.deadline

    def record_epoch(self, *, epoch, step, batches, train, val, test, train_time, epoch_time):
        """Appends the history record of an epoch. `train`, `val`, `test` are (loss, error)
        pairs or None."""
        n = len(self.ds.x_train)
        full = n // self.batch_size
        if batches <= full:
            images = batches * self.batch_size
        else:
            images = n if not self.drop_remainder else full * self.batch_size
        train = train or (None, None)
        val = val or (None, None)
        test = test or (None, None)
        record = {
            "epoch": int(epoch),
            "step": int(step),
            "learning_rate": float(self.schedule.lr_at(step - 1)),
            "train_loss": train[0],
            "train_error": train[1],
            "val_loss": val[0],
            "val_error": val[1],
            "test_loss": test[0],
            "test_error": test[1],
            "epoch_time_s": float(epoch_time),
            "train_time_s": float(train_time),
            "images_per_second": images / train_time if train_time > 0 else 0.0,
        }
        self.history.append(record)
        return record

    def print_epoch(self, record):
        parts = [f"Epoch {record['epoch']}/{self.schedule.epochs}",
                 f"{record['epoch_time_s']:.1f}s",
                 f"loss {record['train_loss']:.4f}", f"error {record['train_error']:.4f}"]
        for key in ("val_loss", "val_error", "test_loss", "test_error"):
            if record[key] is not None:
                parts.append(f"{key} {record[key]:.4f}")
        parts.append(f"lr {record['learning_rate']:g}")
        print(" - ".join(parts), flush=True)

    def save_checkpoint(self, model, epoch, step, finished):
        if self.ckpt_dir is None:
            return
        checkpoint.save(self.ckpt_dir, model, epoch, {
            "step": int(step),
            "finished": bool(finished),
            "history": self.history,
            "config": self.config,
            "elapsed_s": self.elapsed(),
            "resumed_at_epochs": self.resumed_at,
            "started_at": self.started_at,
        })


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
    loop="auto",
    time_budget_s=None,
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
        jit_compile: True, False or "auto" (``model.compile``'s argument; XLA) for the fit loop.
        seed: seeds weights, data order and augmentation (``keras.utils.set_random_seed``).
        resume: continue from ``out_dir/checkpoint`` if present (the run's settings must be
            the same); False starts over.
        test_every: evaluate on the test set every N epochs and after the last one (0: after
            the last one only).
        eval_batch_size: batch size of evaluation.
        tensorboard: write TensorBoard logs to ``out_dir/tensorboard`` (fit loop only, and only
            when tensorflow and tensorboard are importable; skipped silently otherwise).
        save_model: save ``out_dir/model.keras`` (preprocessing + network, raw uint8 images in,
            logits out) at the end.
        distribute: "auto" (data parallel when there are several accelerators) or False.
        loop: "compiled" (JAX only: one compiled call per epoch, see
            :mod:`resnet_keras.train.compiled_loop`), "fit" (``model.fit``) or "auto" (compiled
            where it can run, else fit).
        time_budget_s: stop cleanly (checkpoint kept, status "stopped") before an epoch that
            would end later than this many seconds after the call; a rerun resumes.
        verbose: 0 (silent), 1 (progress bar), 2 (one line per epoch), "auto".
        callbacks: extra keras callbacks (run after the checkpointing ones; fit loop only).
        model_overrides: extra builder arguments (e.g. ``{"final_survival_probability": 1.0}``).
        **overrides: recipe fields to change, e.g. ``batch_size=64``, ``learning_rate=0.05``,
            ``weight_decay=5e-4``, ``warmup_steps=0``, ``validation_size=0``, ``nesterov=True``.

    Returns:
        The results dict (also written to ``out_dir/results.json``), see
        :data:`RESULTS_SCHEMA`.

    Raises:
        TrainingDiverged: the loss became NaN/inf (the results file says where).
        ValueError: bad arguments (before any work), or a checkpoint from a different
            configuration.
    """
    started_at = _now()
    base_recipe = get_recipe(recipe)
    if model is None:
        model = base_recipe.default_model
    recipe = check_train_arguments(
        model, base_recipe, epochs=epochs, steps=steps, scale=scale, limit_train=limit_train,
        limit_val=limit_val, limit_test=limit_test, precision=precision,
        jit_compile=jit_compile, seed=seed, test_every=test_every,
        eval_batch_size=eval_batch_size, loop=loop, time_budget_s=time_budget_s,
        overrides=overrides,
    )
    if verbose == "auto":
        verbose = 1 if sys.stdout.isatty() else 2
    out_dir = Path(out_dir) if out_dir is not None else None
    limits = {"train": limit_train, "validation": limit_val, "test": limit_test}

    ds = _load_data(recipe, data, data_source, data_dir, (limit_train, limit_val, limit_test))
    if len(ds.x_train) == 0:
        raise ValueError("The training set is empty.")
    mean, std = data_lib.normalization_stats(ds.x_train, recipe.normalization)

    keras.utils.set_random_seed(seed)
    with distribution(distribute, verbose) as (_, n_devices):
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
        run = _Run(out_dir, ds, schedule, batch_size, drop_remainder, seed, test_every,
                   eval_batch_size, verbose, tensorboard, time_budget_s)
        run.started_at = started_at

        why_not_compiled = compiled_loop_unavailable(precision, n_devices, callbacks)
        if loop == "compiled" and why_not_compiled:
            raise ValueError(f"loop='compiled' cannot run here: {why_not_compiled}.")
        use_loop = "fit" if (loop == "fit" or why_not_compiled) else "compiled"

        with precision_policy(precision):
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

        spec = run_spec(model_name, recipe, seed=seed, precision=precision, epochs=epochs,
                        steps=steps, scale=scale, limits=limits,
                        model_overrides=model_overrides)
        dataset_desc = ds.describe()
        dataset_desc.update(
            limits=limits,
            normalization={"kind": recipe.normalization,
                           "mean_shape": list(mean.shape), "std_shape": list(std.shape),
                           "mean": mean.tolist() if mean.size <= 16 else
                           float(mean.mean()), "std": std.tolist()},
        )
        config = {
            "spec": spec,
            "spec_fingerprint": fingerprint(spec),
            "model_kwargs": model_kwargs,
            "schedule": schedule.to_dict(),
            "dataset": {k: v for k, v in dataset_desc.items() if k != "location"},
        }
        run.config = {"fingerprint": fingerprint(config), **config}

        initial_epoch = 0
        state = checkpoint.read_state(run.ckpt_dir) if (resume and run.ckpt_dir) else None
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
            checkpoint.restore(run.ckpt_dir, train_model, state)
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

        if out_dir is not None:
            out_dir.mkdir(parents=True, exist_ok=True)
            write_json_atomic(out_dir / "config.json", run.config)
        diverged = None
        if initial_epoch < schedule.epochs:
            if use_loop == "compiled":
                diverged = run_compiled(run, train_model, initial_epoch)
            else:
                diverged = run_fit(run, train_model, initial_epoch, callbacks)

    finished = bool(run.history) and run.history[-1]["step"] >= schedule.total_steps
    status = "diverged" if diverged else ("completed" if finished else "stopped")
    results = _results(run, recipe, schedule, net, model_name, model_kwargs, dataset_desc,
                       spec, seed, precision, jit_compile, overrides, diverged, batch_size,
                       status, use_loop)
    if out_dir is not None:
        write_json_atomic(out_dir / "results.json", results)
        if save_model and status == "completed":
            try:
                train_model.save(str(out_dir / "model.keras"))
            except Exception as e:  # pragma: no cover - serialisation of custom models
                warnings.warn(f"Could not save {out_dir / 'model.keras'}: {e}")
    if diverged is not None:
        last_good = run.history[-1]["epoch"] if run.history else 0
        raise TrainingDiverged(
            f"The training loss became NaN or infinite ({diverged['loss']}) at epoch "
            f"{diverged['epoch']}, step {diverged['step']} "
            f"(learning rate {schedule.lr_at(diverged['step'] - 1):g}); training stopped. Try a "
            f"lower learning rate (or a warm-up), precision='fp32', or check the data. "
            + (f"The last good checkpoint (epoch {last_good}) is in {run.ckpt_dir}."
               if run.ckpt_dir is not None and last_good else "")
        )
    return results


def _results(run, recipe, schedule, net, model_name, model_kwargs, dataset_desc, spec, seed,
             precision, jit_compile, overrides, diverged, batch_size, status, loop):
    hist = run.history
    last = hist[-1] if hist else {}
    vals = [(h["val_error"], h["test_error"]) for h in hist
            if h["val_error"] is not None and h["test_error"] is not None]
    best = min(vals, key=lambda v: v[0]) if vals else (None, None)
    train_time = float(sum(h["train_time_s"] for h in hist))
    images = sum(h["images_per_second"] * h["train_time_s"] for h in hist)
    steady = hist[1:] if len(hist) > 1 else hist
    steady_time = sum(h["train_time_s"] for h in steady)
    steady_images = sum(h["images_per_second"] * h["train_time_s"] for h in steady)
    tested = [h for h in hist if h["test_error"] is not None]
    overrides = {k: (list(v) if isinstance(v, tuple) else v) for k, v in (overrides or {}).items()}
    return {
        "schema_version": SCHEMA_VERSION,
        "status": status,
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
            "normalization": recipe.normalization,
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
        "reported_test_error": (best[1] if recipe.report == "best_validation"
                                else (tested[-1]["test_error"] if tested else None)),
        "wall_time_s": run.elapsed(),
        "train_time_s": train_time,
        "images_per_second": steady_images / steady_time if steady_time else None,
        "images_per_second_incl_first_epoch": images / train_time if train_time else None,
        "peak_memory_bytes": peak_memory_bytes(),
        "seed": seed,
        "spec": spec,
        "spec_fingerprint": fingerprint(spec),
        "loop": loop,
        "environment": environment_info(),
        "started_at": run.started_at,
        "finished_at": _now(),
        "resumed_at_epochs": run.resumed_at,
        "out_dir": None if run.out_dir is None else str(run.out_dir),
        "diverged": diverged,
        "command": list(sys.argv),
    }


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


def _load_data(recipe, data, data_source, data_dir, limits):
    validation_size = recipe.validation_size
    if data is None:
        data = data_lib.load_dataset(
            recipe.dataset, source=data_source, data_dir=data_dir,
            validation_size=validation_size,
        )
    elif validation_size and data.x_val is None:
        x_tr, y_tr, x_val, y_val = data_lib.train_validation_split(
            data.x_train, data.y_train, validation_size
        )
        data = dataclasses.replace(data, x_train=x_tr, y_train=y_tr, x_val=x_val, y_val=y_val,
                                   validation={"size": int(validation_size), "seed": 0,
                                               "method": "seeded_random"})
    return data.subset(*limits)
