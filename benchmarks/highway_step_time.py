"""Training step time of the highway and plain MNIST MLPs, per backend and XLA setting.

Why this script: `highway_mlp(100)` trained about 30x slower per step than `highway_mlp(10)` in
chapter 5. It times one SGD-with-momentum step (batch 128, sparse cross-entropy, ``model.fit``
on one synthetic batch repeated; the input pipeline is not measured) of each model under

* ``tf``: TensorFlow, ``jit_compile=False`` (what ``"auto"`` resolves to on a CPU),
* ``tf-xla``: TensorFlow, ``jit_compile=True``,
* ``jax``: JAX (always XLA),

each in its own subprocess. It prints milliseconds per step (after ``--warmup`` untimed steps)
and the seconds until the first step ended (tracing + compilation).

    python benchmarks/highway_step_time.py                    # all models, all three settings
    python benchmarks/highway_step_time.py --models highway_mlp100 --configs tf jax --steps 20
    python benchmarks/highway_step_time.py --repeats 2 --json step_times.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = {"tf": ("tensorflow", False), "tf-xla": ("tensorflow", True), "jax": ("jax", True)}
MODELS = ("highway_mlp10", "highway_mlp100", "plain_mlp10", "plain_mlp100")


def measure(model_name, jit_compile, steps, warmup, batch_size):
    """Runs in the subprocess: returns the timing of `model_name` on this process's backend."""
    import keras
    import numpy as np

    from resnet_keras.models import get_model

    keras.utils.set_random_seed(0)
    model = get_model(model_name, input_shape=(784,))
    model.compile(
        optimizer=keras.optimizers.SGD(1e-3, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch_size, 784)).astype("float32")
    y = rng.integers(0, 10, size=batch_size)
    n = steps + warmup
    ends = []

    class Clock(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            float(logs["loss"])  # waits for the step (JAX dispatches asynchronously)
            ends.append(time.perf_counter())

    start = time.perf_counter()
    model.fit(np.repeat(x[None], n, 0).reshape(-1, 784), np.tile(y, n), batch_size=batch_size,
              epochs=1, shuffle=False, verbose=0, callbacks=[Clock()])
    return {
        "backend": keras.backend.backend(),
        "model": model_name,
        "jit_compile": bool(model.jit_compile),
        "ms_per_step": 1000 * (ends[-1] - ends[warmup - 1]) / steps,
        "first_step_s": ends[0] - start,
        "params": int(model.count_params()),
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--configs", nargs="+", choices=tuple(CONFIGS), default=list(CONFIGS))
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--repeats", type=int, default=1,
                   help="measure each setting N times and keep the fastest (a shared CPU)")
    p.add_argument("--json", help="also write the measurements here")
    p.add_argument("--child", nargs=2, metavar=("MODEL", "JIT"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.steps <= 0 or args.warmup <= 0 or args.repeats <= 0:
        p.error("--steps, --warmup and --repeats must be positive.")
    if args.child:
        model, jit = args.child
        print(json.dumps(measure(model, jit == "1", args.steps, args.warmup, args.batch_size)))
        return

    rows = []
    for config in args.configs:
        backend, jit = CONFIGS[config]
        for model in args.models:
            best = None
            for _ in range(args.repeats):
                env = dict(os.environ, KERAS_BACKEND=backend, TF_CPP_MIN_LOG_LEVEL="3",
                           PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""))
                out = subprocess.run(
                    [sys.executable, os.path.abspath(__file__), "--child", model, str(int(jit)),
                     "--steps", str(args.steps), "--warmup", str(args.warmup),
                     "--batch-size", str(args.batch_size)],
                    env=env, capture_output=True, text=True, check=True,
                )
                r = json.loads(out.stdout.strip().splitlines()[-1])
                if best is None or r["ms_per_step"] < best["ms_per_step"]:
                    best = r
            best["config"] = config
            rows.append(best)
            print(f"{config:7s} {model:15s} {best['ms_per_step']:8.2f} ms/step   first step "
                  f"{best['first_step_s']:6.1f} s", flush=True)
    print("\n| setting | " + " | ".join(args.models) + " |")
    print("|---|" + "---:|" * len(args.models))
    for config in args.configs:
        cells = [next(r for r in rows if r["config"] == config and r["model"] == m)
                 for m in args.models]
        print(f"| {config} | " + " | ".join(
            f"{c['ms_per_step']:.1f} ms ({c['first_step_s']:.0f} s)" for c in cells) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"steps": args.steps, "warmup": args.warmup, "batch_size": args.batch_size,
                       "repeats": args.repeats, "rows": rows}, f, indent=2)


if __name__ == "__main__":
    main()
