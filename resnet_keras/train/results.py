"""The results file of a run: its JSON schema, its validation, and the run's fingerprints.

Every run writes ``results.json`` (schema below). Two fingerprints identify what ran:

* ``spec_fingerprint``: what was *asked for*: model, builder arguments, the recipe's numbers,
  the run length and data limits, seed and precision (:func:`run_spec`). Two runs with the same
  spec are the same experiment, on whatever machine or backend; the campaign and the notebooks
  find stored results by it.
* ``config["fingerprint"]`` (``config.json`` and the checkpoint): the spec plus the data actually
  read (file checksums, split, normalisation statistics). A checkpoint resumes only with the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np

__all__ = [
    "RESULTS_SCHEMA",
    "SCHEMA_VERSION",
    "fingerprint",
    "run_spec",
    "validate_results",
]

SCHEMA_VERSION = 2

# Recipe fields that describe rather than define a run: changing them changes no number.
_DESCRIPTIVE_RECIPE_FIELDS = ("name", "paper", "notes", "default_model")


def run_spec(model, recipe, *, seed=0, precision="fp32", epochs=None, steps=None, scale=None,
             limits=None, model_overrides=None):
    """The definition of a run, as a JSON-able dict that needs no data and no device.

    Args:
        model: the model name (e.g. "resnet56").
        recipe: a :class:`~resnet_keras.train.Recipe` (after overrides).
        seed, precision: as :func:`~resnet_keras.train.train`.
        epochs, steps, scale: the run length (at most one; None: the recipe's).
        limits: ``{"train": n, "validation": n, "test": n}`` example limits (None: all).
        model_overrides: builder arguments given on top of the recipe's ``model_kwargs``.
    """
    numbers = {k: v for k, v in recipe.to_dict().items() if k not in _DESCRIPTIVE_RECIPE_FIELDS}
    limits = dict(limits or {})
    return {
        "model": str(model),
        "model_overrides": dict(model_overrides or {}),
        "recipe": numbers,
        "length": {"epochs": epochs, "steps": steps, "scale": scale},
        "limits": {k: limits.get(k) for k in ("train", "validation", "test")},
        "seed": int(seed),
        "precision": precision,
    }


def fingerprint(obj):
    """A short stable hash of a JSON-able object (sorted keys)."""
    blob = json.dumps(obj, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


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
        "started_at", "finished_at", "resumed_at_epochs", "out_dir", "spec",
        "spec_fingerprint", "loop",
    ],
    "properties": {
        "schema_version": {"type": "integer"},
        "status": {"enum": ["completed", "diverged", "stopped"]},  # stopped: out of time budget
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
        "reported_test_error": _NUM,  # the one the recipe's paper reports (final or best val)
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
        "spec": {"type": "object"},  # what was asked for (see run_spec), no data or device
        "spec_fingerprint": {"type": "string"},
        "loop": {"enum": ["fit", "compiled"]},  # which training loop ran (same semantics)
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


def write_json_atomic(path, obj, indent=2, ensure_ascii=True):
    """Writes `obj` as JSON to `path` through a temporary file, so that `path` is always whole.

    NumPy numbers and arrays, tuples, sets and paths are written as their JSON equivalents.
    `ensure_ascii=False` keeps non-ASCII text (e.g. Korean) readable in the file.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    text = json.dumps(obj, indent=indent, ensure_ascii=ensure_ascii, default=_json_default)
    tmp.write_text(text, encoding="utf-8")
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
