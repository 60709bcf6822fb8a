"""Devices and numerics of a run: data parallelism over the local accelerators, precision.

``precision="bf16"`` and ``"fp16"`` set Keras' mixed-precision policy (float32 variables,
bfloat16/float16 computation; fp16 with loss scaling) while the model is built; ``"fp32"`` is
the papers' setting and the recipes' default.
"""

from __future__ import annotations

import contextlib

import keras

__all__ = ["PRECISIONS", "distribution", "precision_policy"]

PRECISIONS = {"fp32": "float32", "bf16": "mixed_bfloat16", "fp16": "mixed_float16"}


@contextlib.contextmanager
def precision_policy(precision):
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {sorted(PRECISIONS)}; got {precision!r}")
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(PRECISIONS[precision])
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@contextlib.contextmanager
def distribution(distribute, verbose):
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


