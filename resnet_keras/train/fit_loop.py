"""Training through ``model.fit``: the loop for the TensorFlow and PyTorch backends.

The batches are :class:`resnet_keras.data.ArrayBatches` (uint8, a permutation per epoch drawn
from ``(seed, epoch)``); normalisation and augmentation run in the model's ``Preprocess`` layer.
Two callbacks turn Keras' epochs into the run's history and checkpoints: :class:`_NanGuard`
(stops at the first non-finite loss and remembers where) and :class:`_RunMonitor` (timing,
test evaluation, the epoch record, the checkpoint, the stop at the last step or at the time
budget).

On JAX, :mod:`resnet_keras.train.compiled_loop` runs the same steps as one compiled call per
epoch; ``fit`` is kept for the backends where that loop does not exist, for user callbacks, for
fp16 loss scaling and for data parallelism over several devices.
"""

from __future__ import annotations

import math
import time

import keras

from resnet_keras import data as data_lib

__all__ = ["run_fit"]


def run_fit(run, train_model, initial_epoch, callbacks=None):
    """Trains `train_model` (compiled) from `initial_epoch` to the end of `run`'s schedule.

    Returns:
        The divergence record (dict) or None.
    """
    ds, schedule = run.ds, run.schedule
    nan_guard = _NanGuard(schedule.steps_per_epoch)
    monitor = _RunMonitor(run, nan_guard)
    cbs = [nan_guard, monitor]
    if run.tensorboard_dir is not None and _tensorboard_available():
        cbs.append(keras.callbacks.TensorBoard(log_dir=str(run.tensorboard_dir),
                                               update_freq="epoch"))
    cbs.extend(callbacks or [])
    batches = data_lib.ArrayBatches(
        ds.x_train, ds.y_train, run.batch_size, shuffle=True, seed=run.seed,
        drop_remainder=run.drop_remainder, initial_epoch=initial_epoch,
    )
    validation = (ds.x_val, ds.y_val) if ds.x_val is not None and len(ds.x_val) else None
    train_model.fit(
        batches,
        steps_per_epoch=schedule.steps_per_epoch,
        shuffle=False,  # ArrayBatches shuffles, reproducibly
        epochs=schedule.epochs,
        initial_epoch=initial_epoch,
        validation_data=validation,
        validation_batch_size=run.eval_batch_size,
        callbacks=cbs,
        verbose=run.verbose,
    )
    return nan_guard.diverged


def _tensorboard_available():
    """keras.callbacks.TensorBoard needs tensorflow and the tensorboard package."""
    try:
        import tensorboard  # noqa: F401
        import tensorflow  # noqa: F401

        return True
    except ImportError:
        return False


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
        run = self.run
        spe = run.schedule.steps_per_epoch
        step = min(epoch * spe + self._last_batch, run.schedule.total_steps)
        test = None
        if run.tests_after(epoch + 1, step):
            res = self.model.evaluate(
                run.ds.x_test, run.ds.y_test, batch_size=run.eval_batch_size, verbose=0,
                return_dict=True,
            )
            test = (float(res["loss"]), 1.0 - float(res["accuracy"]))

        def metric(key):
            value = (logs or {}).get(key)
            return None if value is None else float(value)

        acc, val_acc = metric("accuracy"), metric("val_accuracy")
        record = run.record_epoch(
            epoch=epoch + 1,
            step=step,
            batches=self._last_batch,
            train=(metric("loss"), None if acc is None else 1.0 - acc),
            val=None if val_acc is None else (metric("val_loss"), 1.0 - val_acc),
            test=test,
            train_time=self._train_end - self._epoch_start,
            epoch_time=time.perf_counter() - self._epoch_start,
        )
        # Keys for TensorBoard (keras hands the same logs dict to the callbacks that follow).
        if logs is not None:
            logs["learning_rate"] = record["learning_rate"]
            for key in ("train_error", "val_error", "test_loss", "test_error"):
                if record[key] is not None:
                    logs["error" if key == "train_error" else key] = record[key]
        finished = step >= run.schedule.total_steps
        run.save_checkpoint(self.model, epoch + 1, step, finished=finished)
        if not finished and run.out_of_time():
            self.model.stop_training = True
