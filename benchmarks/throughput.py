"""Training throughput and peak memory: resnet_keras against plain keras.

(a) our CIFAR ResNet-20/56/110 (``resnet_keras.models.resnet_cifar``) against the same networks
    written here directly with ``keras.layers`` (a functional "twin": same layers, same
    parameter count, same option-A shortcuts);
(b) our ``resnet_imagenet(50)`` against ``keras.applications.ResNet50(weights=None)``.

Every model is measured in its own subprocess (so that peak memory is its own), with the same
backend, precision, batch size and number of steps, training with ``model.fit`` (SGD with
momentum, sparse cross-entropy) on synthetic data. The script prints images/second, peak memory
and the ratios ours / reference.

    python benchmarks/throughput.py --quick                  # CPU: a few steps
    KERAS_BACKEND=jax python benchmarks/throughput.py        # GPU: the full run
    python benchmarks/throughput.py --models resnet20 --steps 20 --json out.json
    python benchmarks/throughput.py --quick --repeats 3      # a shared CPU: keep the best of 3

Peak memory: on a GPU, the device's peak bytes in use (JAX ``memory_stats``, TensorFlow
``get_memory_info``); on CPU, the growth of the process' peak resident memory over what it was
after the imports (``ru_maxrss``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CIFAR_DEPTHS = {"resnet20": 20, "resnet56": 56, "resnet110": 110}
PAIRS = {  # name: (ours, reference)
    "resnet20": ("ours_resnet20", "keras_resnet20"),
    "resnet56": ("ours_resnet56", "keras_resnet56"),
    "resnet110": ("ours_resnet110", "keras_resnet110"),
    "resnet50": ("ours_resnet50", "keras_applications_resnet50"),
}


# ---------------------------------------------------------------------------------------------
# The plain-keras twin of resnet_cifar(depth) (He et al. 2015, CIFAR, option A shortcuts)


def keras_cifar_resnet(depth, num_classes=10, input_shape=(32, 32, 3), width=16):
    """ResNet-`depth` for CIFAR written directly with keras.layers (functional API)."""
    import keras
    from keras import layers, ops

    n = (depth - 2) // 6

    def bn(name):
        return layers.BatchNormalization(momentum=0.9, epsilon=1e-5, name=name)

    def conv(filters, strides, name):
        return layers.Conv2D(filters, 3, strides=strides,
                             padding="valid" if strides > 1 else "same", use_bias=False,
                             kernel_initializer="he_normal", name=name)

    inputs = keras.Input(input_shape)
    x = conv(width, 1, "stem_conv")(inputs)
    x = layers.ReLU()(bn("stem_bn")(x))
    for stage in range(3):
        filters = width * 2**stage
        for b in range(n):
            strides = 2 if (stage > 0 and b == 0) else 1
            name = f"s{stage + 1}b{b + 1}"
            y = layers.ZeroPadding2D(1)(x) if strides > 1 else x
            y = layers.ReLU()(bn(f"{name}_bn1")(conv(filters, strides, f"{name}_conv1")(y)))
            y = bn(f"{name}_bn2")(conv(filters, 1, f"{name}_conv2")(y))
            shortcut = x
            if strides > 1:
                shortcut = layers.MaxPooling2D(pool_size=1, strides=strides)(shortcut)
            extra = filters - x.shape[-1]
            if extra:
                shortcut = layers.Lambda(
                    lambda t, e=extra: ops.pad(t, [[0, 0], [0, 0], [0, 0], [0, e]]),
                    output_shape=lambda s, e=extra: s[:-1] + (s[-1] + e,),
                )(shortcut)
            x = layers.ReLU()(layers.Add()([shortcut, y]))
    x = layers.GlobalAveragePooling2D()(x)
    outputs = layers.Dense(num_classes, name="logits")(x)
    return keras.Model(inputs, outputs, name=f"keras_resnet{depth}")


def build(kind, image_size):
    """(model, input shape, number of classes, from_logits)."""
    import keras

    if kind.startswith("ours_resnet") and kind != "ours_resnet50":
        from resnet_keras.models import resnet_cifar

        return resnet_cifar(int(kind[len("ours_resnet"):])), (32, 32, 3), 10, True
    if kind.startswith("keras_resnet"):
        return keras_cifar_resnet(int(kind[len("keras_resnet"):])), (32, 32, 3), 10, True
    shape = (image_size, image_size, 3)
    if kind == "ours_resnet50":
        from resnet_keras.models import resnet_imagenet

        return resnet_imagenet(50, input_shape=shape), shape, 1000, False
    if kind == "keras_applications_resnet50":
        return keras.applications.ResNet50(weights=None, input_shape=shape), shape, 1000, False
    raise ValueError(kind)


# ---------------------------------------------------------------------------------------------
# One measurement (in a subprocess)


def _rss_peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def measure(kind, batch_size, steps, warmup, precision, jit_compile, image_size):
    import keras
    import numpy as np

    from resnet_keras.train import PRECISIONS, device_info, peak_memory_bytes

    rss_base = _rss_peak()
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy(PRECISIONS[precision])
    model, shape, classes, from_logits = build(kind, image_size)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        jit_compile=jit_compile,
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch_size,) + shape).astype("float32")
    y = rng.integers(0, classes, batch_size)

    class Repeat(keras.utils.PyDataset):
        """The same batch over and over (the input pipeline is not what is measured)."""

        def __init__(self):
            super().__init__()

        @property
        def num_batches(self):
            return None

        def __getitem__(self, i):
            return x, y

    class Timer(keras.callbacks.Callback):
        """Times steps warmup+1 ... warmup+steps inside one fit (no per-fit overhead). Reading
        the loss at the two timing points waits for the device (JAX dispatches
        asynchronously)."""

        def __init__(self):
            super().__init__()
            self.times = {}

        def on_train_begin(self, logs=None):
            self.times["begin"] = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            if batch in (warmup - 1, warmup + steps - 1):
                float(keras.ops.convert_to_numpy(logs["loss"]))
                self.times[batch] = time.perf_counter()

    timer = Timer()
    model.fit(Repeat(), steps_per_epoch=warmup + steps, epochs=1, verbose=0, callbacks=[timer])
    compile_s = timer.times[warmup - 1] - timer.times["begin"]
    elapsed = timer.times[warmup + steps - 1] - timer.times[warmup - 1]
    device, count, platform_ = device_info()
    peak = peak_memory_bytes()
    if platform_ == "cpu":
        peak = _rss_peak() - rss_base
    return {
        "model": kind,
        "params": int(model.count_params()),
        "batch_size": batch_size,
        "steps": steps,
        "input_shape": list(shape),
        "images_per_second": batch_size * steps / elapsed,
        "step_time_ms": 1000 * elapsed / steps,
        "warmup_s": compile_s,
        "peak_memory_bytes": peak,
        "peak_memory_kind": "device peak" if platform_ != "cpu" else "process peak RSS growth",
        "device": device,
        "device_count": count,
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "precision": precision,
        "jit_compile": jit_compile,
    }


def run_one(kind, args):
    cmd = [sys.executable, os.path.abspath(__file__), "--single", kind,
           "--batch-size", str(args.batch_size if kind not in PAIRS["resnet50"]
                               else args.imagenet_batch_size),
           "--steps", str(args.steps), "--warmup", str(args.warmup),
           "--precision", args.precision, "--image-size", str(args.image_size)]
    if args.jit_compile is not None:
        cmd.append("--jit-compile" if args.jit_compile else "--no-jit-compile")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([REPO, os.environ.get("PYTHONPATH", "")]),
               TF_CPP_MIN_LOG_LEVEL="2")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"{kind} failed:\n{proc.stderr[-4000:]}")
    line = [l for l in proc.stdout.splitlines() if l.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(PAIRS), choices=list(PAIRS))
    p.add_argument("--batch-size", type=int, default=128, help="CIFAR models")
    p.add_argument("--imagenet-batch-size", type=int, default=64, help="ResNet-50")
    p.add_argument("--image-size", type=int, default=224, help="ResNet-50 input size")
    p.add_argument("--steps", type=int, default=50, help="timed steps per model")
    p.add_argument("--warmup", type=int, default=5,
                   help="untimed steps first (compilation, autotuning); at least 1")
    p.add_argument("--precision", choices=["fp32", "bf16", "fp16"], default="fp32")
    p.add_argument("--jit-compile", action=argparse.BooleanOptionalAction, default=None)
    p.add_argument("--quick", action="store_true",
                   help="CPU-sized: 10 timed steps after 3, CIFAR batch 64, ResNet-50 batch 8")
    p.add_argument("--repeats", type=int, default=1,
                   help="measure each pair N times, alternating, and keep each model's best "
                   "run (on a shared machine the fastest run is the least disturbed one)")
    p.add_argument("--json", default=None, help="also write the measurements here")
    p.add_argument("--single", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        p.error("--warmup and --steps must be at least 1")
    if args.quick:
        args.steps, args.warmup = 10, 3
        args.batch_size, args.imagenet_batch_size = 64, 8
    jit = "auto" if args.jit_compile is None else args.jit_compile

    if args.single:  # run_one passed the batch size of this model as --batch-size
        res = measure(args.single, args.batch_size, args.steps, args.warmup, args.precision,
                      jit, args.image_size)
        print("RESULT " + json.dumps(res), flush=True)
        return 0

    rows, ratios = [], {}
    header = f"{'model':<30}{'params':>12}{'batch':>7}{'images/s':>11}{'step ms':>10}{'peak MiB':>10}"
    print(header)
    for name in args.models:
        runs = {kind: [] for kind in PAIRS[name]}
        for _ in range(max(1, args.repeats)):
            for kind in PAIRS[name]:
                runs[kind].append(run_one(kind, args))
        pair = []
        for kind in PAIRS[name]:
            best = max(runs[kind], key=lambda r: r["images_per_second"])
            best["all_images_per_second"] = [r["images_per_second"] for r in runs[kind]]
            pair.append(best)
        for r in pair:
            rows.append(r)
            mem = r["peak_memory_bytes"]
            print(f"{r['model']:<30}{r['params']:>12,}{r['batch_size']:>7}"
                  f"{r['images_per_second']:>11.1f}{r['step_time_ms']:>10.1f}"
                  f"{(mem or 0) / 2**20:>10.0f}", flush=True)
        ours, ref = pair
        ratios[name] = {
            "throughput_ours_over_reference": ours["images_per_second"] / ref["images_per_second"],
            "memory_ours_over_reference": (ours["peak_memory_bytes"] / ref["peak_memory_bytes"]
                                           if ours["peak_memory_bytes"] and
                                           ref["peak_memory_bytes"] else None),
            "same_params": ours["params"] == ref["params"],
        }
    print()
    print("ratios (ours / reference):")
    for name, r in ratios.items():
        mem = r["memory_ours_over_reference"]
        print(f"  {name:<10} throughput {r['throughput_ours_over_reference']:.3f}   "
              f"peak memory {'n/a' if mem is None else f'{mem:.3f}'}   "
              f"same parameter count: {r['same_params']}")
    first = rows[0]
    print(f"\n{first['device']} x{first['device_count']}, backend {first['backend']}, keras "
          f"{first['keras_version']}, precision {args.precision}, jit_compile {jit}, "
          f"{os.cpu_count()} CPU cores, {platform.platform()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"command": sys.argv, "rows": rows, "ratios": ratios}, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
