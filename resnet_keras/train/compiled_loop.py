"""The compiled training loop of the JAX backend: one call per epoch, the data on the device.

``model.fit`` on JAX calls one jitted step per mini-batch, passes every variable in and out of
it and copies each batch from the host: for the small CIFAR networks of the papers that
dispatch, not the arithmetic, sets the speed. Here, following the Keras 3 guide "Writing a
training loop from scratch in JAX" (``model.stateless_call`` and
``optimizer.stateless_apply``), a whole epoch of steps is one ``jax.lax.scan`` inside one
``jax.jit`` call:

* the training set lives on the accelerator as uint8 (150 MB for CIFAR-10);
* each epoch's order is the permutation of :class:`resnet_keras.data.ArrayBatches` (drawn on
  the host from ``(seed, epoch)``, sent as one int32 index array), so both loops see the same
  batches;
* normalisation and augmentation run in the model's ``Preprocess`` layer, whose seed state,
  the batch normalisation statistics, the weight decay (the kernels' L2 losses), the
  learning-rate schedule (it reads the optimizer's iteration counter) and the momentum are all
  part of the state that the scan carries;
* the losses and correct counts of all steps come back once per epoch; evaluation is one
  compiled call per data set.

On a CPU, XLA runs the body of a ``scan`` (a while loop) many times slower than the same step
compiled alone (measured: 20 to 40 times for ResNet-8; the convolutions of the backward pass
are 6 to 50 times slower inside a loop body, see ``benchmarks/xla_cpu_nested_conv.py`` and
jax-ml/jax#12868), so there the loop calls one compiled step per mini-batch instead, still with the data on the device and one transfer of metrics per
epoch; on GPUs and TPUs the whole epoch is one call.

The steps are those of ``fit`` (same loss, same gradients, same optimizer update, same random
draws): ``tests/test_train.py`` checks that both loops give the same losses from the same seed.
"""

from __future__ import annotations

import time

import keras
import numpy as np

from resnet_keras import data as data_lib

__all__ = ["run_compiled", "compiled_loop_unavailable"]

# Whether a CPU runs each epoch as one scan too (see the module docstring: much slower there).
# Tests set it to check the scan path on a CPU.
SCAN_ON_CPU = False


def compiled_loop_unavailable(precision, n_devices, callbacks):
    """Why the compiled loop cannot run this configuration (a string), or None."""
    if keras.backend.backend() != "jax":
        return f"the compiled loop is written for JAX; the backend is {keras.backend.backend()}"
    if n_devices > 1:
        return "data parallelism over several devices runs through model.fit"
    if precision == "fp16":
        return "fp16 needs the loss scaling of model.fit (bf16 runs compiled)"
    if callbacks:
        return "keras callbacks run only inside model.fit"
    return None


def run_compiled(run, train_model, initial_epoch):
    """Trains `train_model` (compiled with an SGD optimizer) from `initial_epoch` to the end of
    `run`'s schedule, one compiled call per epoch.

    Returns:
        The divergence record (dict) or None.
    """
    return _CompiledTrainer(run, train_model).fit(initial_epoch)


class _CompiledTrainer:
    def __init__(self, run, model):
        import jax
        import jax.numpy as jnp

        self.jax, self.jnp = jax, jnp
        self.run = run
        self.model = model
        self.optimizer = model.optimizer
        if not self.optimizer.built:
            self.optimizer.build(model.trainable_variables)
        self.loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        ds = run.ds
        self.train_data = self._to_device(ds.x_train, ds.y_train)
        self.val_data = (self._to_device(ds.x_val, ds.y_val)
                         if ds.x_val is not None and len(ds.x_val) else None)
        self.test_data = self._to_device(ds.x_test, ds.y_test)
        self.batches = data_lib.ArrayBatches(ds.x_train, ds.y_train, run.batch_size,
                                             shuffle=True, seed=run.seed)
        self.scan_epochs = SCAN_ON_CPU or jax.devices()[0].platform != "cpu"
        self._epoch_fn = jax.jit(self._epoch)
        self._step_fn = jax.jit(self._step)
        self._eval_fn = jax.jit(self._evaluate)

    def _to_device(self, x, y):
        return self.jnp.asarray(x), self.jnp.asarray(np.asarray(y, dtype=np.int32))

    # ---- the compiled functions -----------------------------------------------------------

    def _loss_and_updates(self, trainable, non_trainable, x, y):
        logits, non_trainable, losses = self.model.stateless_call(
            trainable, non_trainable, x, training=True, return_losses=True
        )
        loss = self.loss(y, logits)
        for extra in losses:  # the kernels' L2 terms (weight decay)
            loss = loss + self.jnp.sum(extra.astype("float32"))
        correct = self.jnp.sum(self.jnp.argmax(logits, axis=-1) == y)
        return loss, (non_trainable, correct)

    def _step(self, data, state, index):
        trainable, non_trainable, optimizer_vars = state
        x = self.jnp.take(data[0], index, axis=0)
        y = self.jnp.take(data[1], index, axis=0)
        grad_fn = self.jax.value_and_grad(self._loss_and_updates, has_aux=True)
        (loss, (non_trainable, correct)), grads = grad_fn(trainable, non_trainable, x, y)
        trainable, optimizer_vars = self.optimizer.stateless_apply(
            optimizer_vars, grads, trainable
        )
        return (trainable, non_trainable, optimizer_vars), (loss, correct)

    def _run_epoch(self, state, full_batches, tail):
        """One epoch: `full_batches` (n, batch) indices, one row per step; `tail` the last,
        smaller batch's indices (or an empty array). Returns the state and per-step losses and
        correct counts (device arrays)."""
        if self.scan_epochs:
            return self._epoch_fn(state, self.train_data, full_batches, tail)
        losses, corrects = [], []
        for index in [*full_batches, tail] if tail.size else full_batches:
            state, (loss, correct) = self._step_fn(self.train_data, state, index)
            losses.append(loss)
            corrects.append(correct)
        return state, self.jnp.stack(losses), self.jnp.stack(corrects)

    def _epoch(self, state, data, full_batches, tail):
        """The whole epoch as one scan (accelerators)."""
        state, (losses, corrects) = self.jax.lax.scan(
            lambda s, index: self._step(data, s, index), state, full_batches
        )
        if tail.shape[0]:
            state, (loss, correct) = self._step(data, state, tail)
            losses = self.jnp.concatenate([losses, loss[None]])
            corrects = self.jnp.concatenate([corrects, correct[None]])
        return state, losses, corrects

    def _evaluate(self, trainable, non_trainable, data, full_batches, tail):
        def batch_sums(index):
            x = self.jnp.take(data[0], index, axis=0)
            y = self.jnp.take(data[1], index, axis=0)
            logits, _, losses = self.model.stateless_call(
                trainable, non_trainable, x, training=False, return_losses=True
            )
            ce = self.loss(y, logits) * index.shape[0]
            correct = self.jnp.sum(self.jnp.argmax(logits, axis=-1) == y)
            regularization = sum((self.jnp.sum(v.astype("float32")) for v in losses), 0.0)
            return ce, correct, regularization

        def body(carry, index):
            ce, correct, regularization = batch_sums(index)
            return (carry[0] + ce, carry[1] + correct), regularization

        zero = (self.jnp.zeros((), "float32"), self.jnp.zeros((), "int32"))
        (ce, correct), regularization = self.jax.lax.scan(body, zero, full_batches)
        if tail.shape[0]:
            t_ce, t_correct, _ = batch_sums(tail)
            ce, correct = ce + t_ce, correct + t_correct
        return ce, correct, regularization[0]

    # ---- the loop -------------------------------------------------------------------------

    def _state(self):
        m = self.model
        return ([v.value for v in m.trainable_variables],
                [v.value for v in m.non_trainable_variables],
                [v.value for v in self.optimizer.variables])

    def _write_back(self, state):
        trainable, non_trainable, optimizer_vars = state
        for variables, values in ((self.model.trainable_variables, trainable),
                                  (self.model.non_trainable_variables, non_trainable),
                                  (self.optimizer.variables, optimizer_vars)):
            for variable, value in zip(variables, values):
                variable.assign(value)

    @staticmethod
    def _split(order, batch):
        full = len(order) // batch
        rows = np.sort(order[: full * batch].reshape(full, batch), axis=1).astype(np.int32)
        return rows, np.sort(order[full * batch:]).astype(np.int32)

    def _eval_set(self, data, state):
        n = int(data[1].shape[0])
        full, tail = self._split(np.arange(n), self.run.eval_batch_size)
        if not len(full):  # fewer examples than one evaluation batch
            full, tail = tail[None, :], tail[:0]
        ce, correct, regularization = self._eval_fn(state[0], state[1], data, full, tail)
        loss = float(ce) / n + float(regularization)
        return loss, 1.0 - int(correct) / n

    def fit(self, initial_epoch):
        run, schedule = self.run, self.run.schedule
        spe, batch = schedule.steps_per_epoch, run.batch_size
        state = self._state()
        for epoch in range(initial_epoch, schedule.epochs):
            start = time.perf_counter()
            done = epoch * spe
            steps = min(spe, schedule.total_steps - done)
            full, tail = self._split(self.batches.permutation(epoch), batch)
            if steps < len(full) + (1 if len(tail) else 0):  # the run ends inside this epoch
                full, tail = full[:steps], tail[:0]
            state, losses, corrects = self._run_epoch(state, full, tail)
            losses = np.asarray(losses)  # waits for the device
            train_time = time.perf_counter() - start
            bad = np.flatnonzero(~np.isfinite(losses))
            if bad.size:
                first = int(bad[0])
                return {"epoch": epoch + 1, "batch": first + 1, "step": done + first + 1,
                        "loss": str(float(losses[first]))}
            n_images = full.size + tail.size
            sizes = np.full(len(losses), batch, dtype=np.float64)
            if tail.size:
                sizes[-1] = tail.size
            train_loss = float(np.sum(losses * sizes) / n_images)
            train_error = 1.0 - float(np.sum(np.asarray(corrects))) / n_images
            step = done + len(losses)
            val = self._eval_set(self.val_data, state) if self.val_data is not None else None
            test = (self._eval_set(self.test_data, state)
                    if run.tests_after(epoch + 1, step) else None)
            record = run.record_epoch(
                epoch=epoch + 1, step=step, batches=len(losses), train=(train_loss, train_error),
                val=val, test=test, train_time=train_time,
                epoch_time=time.perf_counter() - start,
            )
            if run.verbose:
                run.print_epoch(record)
            finished = step >= schedule.total_steps
            if run.ckpt_dir is not None or finished:
                self._write_back(state)
            run.save_checkpoint(self.model, epoch + 1, step, finished=finished)
            if finished:
                break
            if run.out_of_time():
                break
        self._write_back(state)
        return None
