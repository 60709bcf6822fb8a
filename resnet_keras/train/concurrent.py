"""Several training runs at once on one machine, each in its own process.

Small CIFAR networks leave most of an accelerator idle; running a few of them side by side is
the cheapest speed-up. Each run is a ``python -m resnet_keras train ...`` process with its own
output folder, checkpoints and results; on JAX each process gets an equal share of the GPU
memory (``XLA_PYTHON_CLIENT_MEM_FRACTION``), on TensorFlow memory grows on demand. The lines a
run prints are echoed with its name in front and kept in ``<out>/train.log``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

__all__ = ["train_concurrently", "process_env"]


def process_env(n_processes, base=None):
    """The environment of one of `n_processes` training processes sharing the accelerators."""
    env = dict(os.environ if base is None else base)
    if n_processes > 1:
        share = max(0.05, round(0.9 / n_processes, 3))
        env.setdefault("XLA_PYTHON_CLIENT_MEM_FRACTION", f"{share}")
        env.setdefault("TF_FORCE_GPU_ALLOW_GROWTH", "true")
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _pump(stream, prefix, log, echo, lock):
    for line in iter(stream.readline, ""):
        log.write(line)
        log.flush()
        if echo:
            with lock:
                sys.stdout.write(f"[{prefix}] {line}")
                sys.stdout.flush()
    stream.close()


def train_concurrently(jobs, max_parallel=None, echo=True, python=None):
    """Runs training processes side by side, at most `max_parallel` at a time.

    Args:
        jobs: list of ``(name, out_dir, args)``: `args` are the arguments after
            ``python -m resnet_keras train`` (they must include ``--out out_dir``).
        max_parallel: how many run at once (default: all).
        echo: print every line of every run, prefixed with its name.
        python: the interpreter (default: this one).

    Returns:
        ``{name: exit status}`` (0 success, 2 bad arguments or data, 3 diverged, see
        ``python -m resnet_keras --help``).
    """
    if not jobs:
        return {}
    names = [name for name, _, _ in jobs]
    if len(set(names)) != len(names):
        raise ValueError(f"Job names must be unique; got {names}")
    max_parallel = len(jobs) if max_parallel is None else int(max_parallel)
    if max_parallel < 1:
        raise ValueError(f"max_parallel must be at least 1; got {max_parallel}")
    env = process_env(min(max_parallel, len(jobs)))
    python = python or sys.executable
    lock = threading.Lock()
    pending = list(jobs)
    running = {}
    status = {}
    while pending or running:
        while pending and len(running) < max_parallel:
            name, out_dir, args = pending.pop(0)
            Path(out_dir).mkdir(parents=True, exist_ok=True)
            log = open(Path(out_dir) / "train.log", "a", encoding="utf-8")
            proc = subprocess.Popen(
                [python, "-m", "resnet_keras", "train", *map(str, args)],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
            )
            pump = threading.Thread(target=_pump, args=(proc.stdout, name, log, echo, lock),
                                    daemon=True)
            pump.start()
            running[name] = (proc, pump, log)
        for name, (proc, pump, log) in list(running.items()):
            if proc.poll() is not None:
                pump.join()
                log.close()
                status[name] = proc.returncode
                del running[name]
        time.sleep(0.2)
    return {name: status[name] for name in names}
