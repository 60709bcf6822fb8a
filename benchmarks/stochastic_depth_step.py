"""Training step time with stochastic depth: does dropping blocks make training faster?

Huang et al. (2016) train ResNet-110 with stochastic depth (linear decay to p_L = 0.5: on
average 40.25 of 54 blocks survive a mini-batch) and report that training takes about 25 % less
time, because their code computes a branch only when its block survives. This script times one
training step (forward, backward, SGD update of one CIFAR-sized batch; ``model.train_on_batch``,
alternating between the models, median of ``--repeats``) of

* ``constant``: the network without stochastic depth,
* ``batch``: stochastic depth with ``stochastic_depth_mode="batch"`` (one draw per mini-batch;
  the branch is computed and multiplied by 0 or 1/p),
* ``skip``: ``stochastic_depth_mode="skip"`` (the same draw; a dropped branch is not computed),
* ``expected-depth``: a constant-depth network with about as many blocks as survive on
  average (ResNet-80 for ResNet-110, ResNet-44 for ResNet-56): what skipping could save at most,

and prints each one's time and its ratio to ``constant``, measured in the same run. Run it on
each backend with ``KERAS_BACKEND``::

    python benchmarks/stochastic_depth_step.py                      # ResNet-110, batch 128
    python benchmarks/stochastic_depth_step.py --depth 56 --repeats 20 --json sd.json
    KERAS_BACKEND=jax python benchmarks/stochastic_depth_step.py
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def expected_depth_reference(depth, final_survival_probability=0.5):
    """The CIFAR ResNet depth `6n + 2` whose block count is nearest the expected number of
    surviving blocks of a `depth`-layer network under the linear decay rule."""
    from resnet_keras.stochastic_depth import linear_survival_probabilities

    blocks = (depth - 2) // 6 * 3
    expected = sum(linear_survival_probabilities(blocks, final_survival_probability))
    return 6 * max(1, round(expected / 3)) + 2, expected


def build_models(depth):
    import keras

    from resnet_keras.models import resnet_cifar

    reference, expected = expected_depth_reference(depth)
    configs = {
        "constant": dict(depth=depth),
        "batch": dict(depth=depth, final_survival_probability=0.5, stochastic_depth_mode="batch"),
        "skip": dict(depth=depth, final_survival_probability=0.5, stochastic_depth_mode="skip"),
        "expected-depth": dict(depth=reference),
    }
    models = {}
    for name, kwargs in configs.items():
        keras.utils.set_random_seed(0)
        models[name] = resnet_cifar(**kwargs)
        models[name].compile(
            optimizer=keras.optimizers.SGD(0.1, momentum=0.9, nesterov=True),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    return models, configs, expected


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, default=110, help="CIFAR ResNet depth (6n + 2)")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=20, help="timed steps per model")
    parser.add_argument("--warmup", type=int, default=3,
                        help="untimed steps per model first (tracing, compilation)")
    parser.add_argument("--json", type=Path, help="also write the measurements here")
    args = parser.parse_args(argv)
    if args.depth < 8 or (args.depth - 2) % 6:
        parser.error(f"--depth must be 6n + 2 with n >= 1; got {args.depth}")
    if args.repeats < 1 or args.warmup < 1 or args.batch_size < 1:
        parser.error("--repeats, --warmup and --batch-size must be at least 1")

    import keras
    import numpy as np

    from resnet_keras.timing import train_step_seconds
    from resnet_keras.train.environment import environment_info

    start = time.perf_counter()
    models, configs, expected = build_models(args.depth)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch_size, 32, 32, 3)).astype("float32")
    y = rng.integers(0, 10, size=args.batch_size)
    seconds = train_step_seconds(models, x, y, repeats=args.repeats, warmup=args.warmup)
    base = seconds["constant"]
    print(f"ResNet-{args.depth}, batch {args.batch_size}, backend {keras.backend.backend()}, "
          f"median of {args.repeats} steps (alternating); blocks surviving on average with "
          f"p_L = 0.5: {expected:.2f} of {(args.depth - 2) // 6 * 3}")
    for name, s in seconds.items():
        print(f"  {name:15s} (ResNet-{configs[name]['depth']:<3d}) {1000 * s:8.1f} ms/step  "
              f"{s / base:5.2f}x constant depth")
    if args.json:
        args.json.write_text(json.dumps({
            "benchmark": "stochastic_depth_step",
            "environment": environment_info(),
            "depth": args.depth, "batch_size": args.batch_size, "repeats": args.repeats,
            "warmup": args.warmup, "expected_surviving_blocks": expected,
            "models": {name: {"config": configs[name], "median_step_s": s,
                              "ratio_to_constant": s / base} for name, s in seconds.items()},
            "total_s": time.perf_counter() - start,
        }, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
