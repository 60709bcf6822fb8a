"""Training with the papers' recipes: :func:`train` and what it is made of.

=====================  ==============================================================
``recipes``            :class:`Recipe`, :data:`RECIPES`: the papers' hyper-parameters
``schedule``           :func:`resolve_schedule`: learning rate and length in steps
``run``                :func:`train`: arguments -> data -> model -> loop -> results
``compiled_loop``      the JAX loop: one compiled call per epoch, data on the device
``fit_loop``           the ``model.fit`` loop (TensorFlow, PyTorch, callbacks)
``checkpoint``         per-epoch checkpoints and exact resume
``results``            the results JSON: schema, validation, spec fingerprints
``environment``        provenance: backend, versions, device, git commit, memory
``devices``            data parallelism and mixed precision
``concurrent``         several runs at once on one machine
=====================  ==============================================================

Example::

    from resnet_keras.train import train
    results = train("resnet20", "he2015-cifar", out_dir="runs/r20", epochs=3)
    print(results["final_test_error"])

The names are imported on first use, so that reading the recipes (``python -m resnet_keras
recipes``) does not load Keras.
"""

import importlib

_EXPORTS = {
    "RECIPES": "recipes",
    "Recipe": "recipes",
    "get_recipe": "recipes",
    "Schedule": "schedule",
    "resolve_schedule": "schedule",
    "TrainingDiverged": "run",
    "check_train_arguments": "run",
    "train": "run",
    "RESULTS_SCHEMA": "results",
    "SCHEMA_VERSION": "results",
    "fingerprint": "results",
    "run_spec": "results",
    "validate_results": "results",
    "environment_info": "environment",
    "device_info": "environment",
    "peak_memory_bytes": "environment",
    "PRECISIONS": "devices",
    "train_concurrently": "concurrent",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
