"""Checkpoints of a run: one per epoch, committed atomically, resumed exactly.

``out_dir/checkpoint/`` holds ``epoch-NNNN.weights.h5`` (model and optimizer variables),
``epoch-NNNN.seeds.npz`` (the random-seed states of augmentation and stochastic depth, which
``save_weights`` leaves out) and ``state.json`` (epoch, step, history, configuration). The
state file is replaced last and atomically: a kill at any moment leaves the previous complete
checkpoint, and a rerun continues from it with the same batches and random draws as an
uninterrupted run.
"""

from __future__ import annotations

import json
from pathlib import Path

import keras
import numpy as np

from resnet_keras.train.results import write_json_atomic

__all__ = ["read_state", "restore", "save"]

STATE_FILE = "state.json"


def read_state(ckpt_dir):
    """The committed checkpoint state of `ckpt_dir` (its state.json), or None."""
    path = Path(ckpt_dir) / STATE_FILE
    if not path.is_file():
        return None
    try:
        state = json.loads(path.read_text())
        # Checkpoints of version 0.1.0 before file names were recorded used fixed names.
        state.setdefault("weights_file", "last.weights.h5")
        state.setdefault("seeds_file", "seeds.npz")
        missing = [state[k] for k in ("weights_file", "seeds_file")
                   if not (Path(ckpt_dir) / state[k]).is_file()]
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


def save(ckpt_dir, model, epoch, state):
    """Writes the checkpoint of `epoch` and commits it with `state` (a JSON-able dict).

    The previous epoch's files are deleted after the commit.
    """
    ckpt_dir = Path(ckpt_dir)
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    stem = f"epoch-{int(epoch):04d}"
    weights, seeds = f"{stem}.weights.h5", f"{stem}.seeds.npz"
    model.save_weights(str(ckpt_dir / weights))
    with open(ckpt_dir / seeds, "wb") as f:
        np.savez(f, **{f"{i}": keras.ops.convert_to_numpy(v.value)
                       for i, v in enumerate(seed_states(model))})
    write_json_atomic(ckpt_dir / STATE_FILE,
                      dict(state, epoch=int(epoch), weights_file=weights, seeds_file=seeds))
    for old in ckpt_dir.glob("epoch-*"):
        if old.name not in (weights, seeds):
            old.unlink()


def restore(ckpt_dir, model, state):
    """Loads the weights, optimizer variables and seed states of `state` into `model`."""
    ckpt_dir = Path(ckpt_dir)
    model.optimizer.build(model.trainable_variables)
    model.load_weights(str(ckpt_dir / state["weights_file"]))
    path = ckpt_dir / state["seeds_file"]
    if not path.is_file():
        return
    states = seed_states(model)
    with np.load(path) as saved:
        if len(saved.files) != len(states):
            raise ValueError(f"{path} holds {len(saved.files)} seed states; the model has "
                             f"{len(states)}.")
        for i, v in enumerate(states):
            v.assign(saved[f"{i}"])


def seed_states(model):
    """The random-seed state variables of the model's layers (augmentation, stochastic depth).

    ``save_weights`` leaves them out; the checkpoint keeps them so that a resumed run draws
    the same random numbers as an uninterrupted one.
    """
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]
