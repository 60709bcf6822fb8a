"""Why a training step inside `jax.lax.scan` or `jax.lax.cond` is slow on a CPU: a minimal case.

The compiled training loop runs one step per call on CPUs because a step inside `lax.scan` was
20-40x slower there, and `stochastic_depth_mode="skip"` (a branch inside `lax.cond`) made a
ResNet step ~21x slower under JAX on a CPU (benchmarks/README.md). This script times single
3x3 convolutions (batch 64, 32x32, 16 -> 16 channels, NHWC) and their gradients compiled alone
and the same computations inside `lax.cond` and `lax.scan`, on whatever device JAX uses, and
prints each nested time as a ratio to the same computation compiled alone.

    KERAS_BACKEND=jax python benchmarks/xla_cpu_nested_conv.py [--repeats 20]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls (median)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}")

    import jax
    import jax.numpy as jnp
    import numpy as np

    from resnet_keras.timing import alternating_medians

    x = jnp.asarray(np.random.default_rng(0).normal(size=(64, 32, 32, 16)), jnp.float32)
    w = jnp.asarray(np.random.default_rng(1).normal(size=(3, 3, 16, 16)) * 0.1, jnp.float32)
    true = jnp.asarray(True)

    def conv(inputs, kernel):
        return jax.lax.conv_general_dilated(inputs, kernel, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    def loss(inputs, kernel):
        return jnp.sum(conv(inputs, kernel) ** 2)

    weight_grad = jax.grad(loss, argnums=1)
    input_grad = jax.grad(loss, argnums=0)
    cases = {
        "forward": lambda i, k: conv(i, k),
        "gradient w.r.t. the input": input_grad,
        "gradient w.r.t. the kernel": weight_grad,
    }

    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}; median of {args.repeats} "
          f"calls, alternating; one conv 3x3, batch 64, 32x32x16")
    for name, fn in cases.items():
        alone = jax.jit(fn)
        in_cond = jax.jit(lambda p, i, k, f=fn: jax.lax.cond(
            p, lambda: f(i, k), lambda: jnp.zeros_like(f(i, k))))
        in_scan = jax.jit(lambda i, k, f=fn: jax.lax.scan(
            lambda c, _: (c, f(i, k)), 0, None, length=1)[1][0])
        seconds = alternating_medians({
            "alone": lambda: alone(x, w).block_until_ready(),
            "cond": lambda: in_cond(true, x, w).block_until_ready(),
            "scan": lambda: in_scan(x, w).block_until_ready(),
        }, repeats=args.repeats, warmup=1)  # the first call compiles
        print(f"  {name:28s} alone {1000 * seconds['alone']:8.2f} ms | in lax.cond "
              f"{seconds['cond'] / seconds['alone']:6.1f}x | in lax.scan "
              f"{seconds['scan'] / seconds['alone']:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
