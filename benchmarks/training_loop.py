"""Training throughput of whole runs: `python -m resnet_keras train` (compiled loop and fit loop)
against a bare `model.fit` of the same network, measured in one run.

Each configuration trains the same network on the same images (real CIFAR-10 from a local
folder) for the same number of steps, in its own subprocess, alternating over `--repeats`:

* ``cli-compiled``: ``python -m resnet_keras train --loop compiled`` (JAX only);
* ``cli-fit``: ``python -m resnet_keras train --loop fit`` (our ``model.fit`` with the
  checkpoint and monitoring callbacks);
* ``bare-fit``: a plain ``model.fit(x, y, batch_size=...)`` of the same network on the
  standardised arrays, no callbacks, no augmentation (the reference).

The figure of merit is the training images per second after the first epoch (compilation
excluded); the script prints each configuration's best run and the ratios to ``bare-fit``.

    KERAS_BACKEND=jax python benchmarks/training_loop.py --data-dir ../shared/data
    KERAS_BACKEND=jax python benchmarks/training_loop.py --model resnet20 --width 16 \\
        --batch-size 128 --steps 1200 --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

BARE_FIT = r"""
import json, sys, time
import keras, numpy as np
from resnet_keras import data as data_lib
from resnet_keras.models import get_model
cfg = json.loads(sys.argv[1])
ds = data_lib.load_cifar10(source="local", data_dir=cfg["data_dir"])
x = ds.x_train[: cfg["limit_train"]]
y = ds.y_train[: cfg["limit_train"]]
mean, std = data_lib.channel_mean_std(x)
x = ((x - mean) / std).astype("float32")
keras.utils.set_random_seed(0)
model = get_model(cfg["model"], width=cfg["width"])
model.compile(keras.optimizers.SGD(0.1, momentum=0.9),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
steps_per_epoch = -(-len(x) // cfg["batch_size"])
epochs = -(-cfg["steps"] // steps_per_epoch)
times = []
class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None):
        times.append(time.perf_counter() - self.t)
model.fit(x, y, batch_size=cfg["batch_size"], epochs=epochs, verbose=0, callbacks=[Timer()])
steady = sum(times[1:])
print(json.dumps({"images_per_second": len(x) * (len(times) - 1) / steady}))
"""


def run_cli(cfg, loop, env):
    with tempfile.TemporaryDirectory() as out:
        argv = [sys.executable, "-m", "resnet_keras", "train", "--model", cfg["model"],
                "--model-arg", f"width={cfg['width']}", "--batch-size", str(cfg["batch_size"]),
                "--steps", str(cfg["steps"]), "--limit-train", str(cfg["limit_train"]),
                "--limit-test", "1000", "--test-every", "0", "--loop", loop,
                "--data-dir", cfg["data_dir"], "--out", out, "--verbose", "0",
                "--no-tensorboard"]
        proc = subprocess.run(argv, capture_output=True, text=True, env=env)
        if proc.returncode:
            raise RuntimeError(proc.stderr[-3000:])
        with open(os.path.join(out, "results.json")) as f:
            results = json.load(f)
    return results["images_per_second"]


def run_bare(cfg, env):
    proc = subprocess.run([sys.executable, "-c", BARE_FIT, json.dumps(cfg)],
                          capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(proc.stderr[-3000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])["images_per_second"]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet8")
    p.add_argument("--width", type=int, default=4)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--limit-train", type=int, default=4000,
                   help="training images (an epoch is limit_train / batch_size steps)")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--data-dir", default=os.environ.get("RESNET_KERAS_DATA_DIR"),
                   required=os.environ.get("RESNET_KERAS_DATA_DIR") is None)
    p.add_argument("--json", default=None, help="also write the measurements here")
    args = p.parse_args(argv)
    cfg = {"model": args.model, "width": args.width, "batch_size": args.batch_size,
           "steps": args.steps, "limit_train": args.limit_train, "data_dir": args.data_dir}
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2")
    backend = env.get("KERAS_BACKEND", "tensorflow")
    configs = ["cli-compiled", "cli-fit", "bare-fit"] if backend == "jax" else [
        "cli-fit", "bare-fit"]
    runs = {c: [] for c in configs}
    for _ in range(args.repeats):
        for c in configs:
            start = time.perf_counter()
            ips = run_bare(cfg, env) if c == "bare-fit" else run_cli(cfg, c.split("-")[1], env)
            runs[c].append(ips)
            print(f"{c:<13} {ips:9.1f} images/s  (process {time.perf_counter() - start:.0f} s)",
                  flush=True)
    best = {c: max(v) for c, v in runs.items()}
    print(f"\n{backend}, {args.model} width {args.width}, batch {args.batch_size}, "
          f"{args.steps} steps, best of {args.repeats}:")
    for c in configs:
        print(f"  {c:<13} {best[c]:9.1f} images/s   ratio to bare-fit {best[c] / best['bare-fit']:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"backend": backend, "config": cfg, "runs": runs, "best": best}, f, indent=1)


if __name__ == "__main__":
    main()
