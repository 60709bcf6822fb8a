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
import time


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=20, help="timed calls (median)")
    args = parser.parse_args(argv)
    if args.repeats < 1:
        parser.error(f"--repeats must be at least 1; got {args.repeats}")

    import jax
    import jax.numpy as jnp
    import numpy as np

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

    def timed(fn, *operands):
        fn(*operands).block_until_ready()  # compile
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            fn(*operands).block_until_ready()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    print(f"jax {jax.__version__} on {jax.devices()[0].device_kind}; median of {args.repeats} "
          f"calls; one conv 3x3, batch 64, 32x32x16")
    for name, fn in cases.items():
        alone = timed(jax.jit(fn), x, w)
        in_cond = timed(jax.jit(lambda p, i, k, f=fn: jax.lax.cond(
            p, lambda: f(i, k), lambda: jnp.zeros_like(f(i, k)))), true, x, w)
        in_scan = timed(jax.jit(lambda i, k, f=fn: jax.lax.scan(
            lambda c, _: (c, f(i, k)), 0, None, length=1)[1][0]), x, w)
        print(f"  {name:28s} alone {1000 * alone:8.2f} ms | in lax.cond {in_cond / alone:6.1f}x "
              f"| in lax.scan {in_scan / alone:6.1f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
