"""Where a run ran: backend, versions, device, git commit, memory (the results' provenance)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np

__all__ = ["device_info", "environment_info", "peak_memory_bytes"]


COMMIT_ENV = "RESNET_KERAS_GIT_COMMIT"


def _git_commit():
    """(commit, dirty) of the checkout the library runs from.

    A copy of the working tree without ``.git`` (as on a lent GPU machine) has no history: there
    the caller states the commit in ``RESNET_KERAS_GIT_COMMIT`` (``<sha>`` or ``<sha>-dirty``).
    """
    stated = os.environ.get(COMMIT_ENV)
    if stated:
        sha, _, flag = stated.strip().partition("-")
        return sha, flag == "dirty"
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(
            ["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True,
            timeout=10,
        )
        if commit.returncode != 0:
            return None, None
        dirty = subprocess.run(
            ["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True, text=True, timeout=10,
        )
        return commit.stdout.strip(), bool(dirty.stdout.strip())
    except (OSError, subprocess.SubprocessError):
        return None, None


def _cpu_name():
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def device_info():
    """``(name, count, platform)`` of the backend's devices: the first accelerator's name, how
    many there are, and "gpu"/"tpu"; ``("cpu (<model>)", 1, "cpu")`` without one."""
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            devs = jax.devices()
            d = devs[0]
            name = getattr(d, "device_kind", str(d))
            if d.platform == "cpu":
                name = f"cpu ({_cpu_name()})"
            return name, len(devs), d.platform
        if backend == "tensorflow":
            import tensorflow as tf

            gpus = tf.config.list_physical_devices("GPU")
            if gpus:
                details = tf.config.experimental.get_device_details(gpus[0])
                return details.get("device_name", gpus[0].name), len(gpus), "gpu"
            return f"cpu ({_cpu_name()})", 1, "cpu"
        if backend == "torch":
            import torch

            if torch.cuda.is_available():
                return torch.cuda.get_device_name(0), torch.cuda.device_count(), "gpu"
    except Exception:  # pragma: no cover - device queries are best effort
        pass
    return f"cpu ({_cpu_name()})", 1, "cpu"


def _backend_version():
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            return jax.__version__
        if backend == "tensorflow":
            import tensorflow as tf

            return tf.__version__
        if backend == "torch":
            import torch

            return torch.__version__
    except ImportError:
        pass
    return None


def environment_info():
    """Backend, versions, device and git commit, as a dict (part of the results file)."""
    device, count, kind = device_info()
    commit, dirty = _git_commit()
    try:
        from importlib.metadata import version

        rk_version = version("resnet-keras")
    except Exception:
        rk_version = getattr(sys.modules.get("resnet_keras"), "__version__", None)
    return {
        "backend": keras.backend.backend(),
        "keras_version": keras.__version__,
        "backend_version": _backend_version(),
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "resnet_keras_version": rk_version,
        "device": device,
        "device_platform": kind,
        "device_count": count,
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "hostname": platform.node(),
        "git_commit": commit,
        "git_dirty": dirty,
    }


def peak_memory_bytes(reset=False):
    """Peak memory of the first accelerator (bytes), or the process' peak RSS on CPU.

    On CPU the figure is the peak resident memory of the whole process since it started
    (``reset`` has no effect there).
    """
    backend = keras.backend.backend()
    try:
        if backend == "jax":
            import jax

            d = jax.devices()[0]
            if d.platform != "cpu":
                stats = d.memory_stats() or {}
                if "peak_bytes_in_use" in stats:
                    return int(stats["peak_bytes_in_use"])
        elif backend == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                info = tf.config.experimental.get_memory_info("GPU:0")
                if reset:
                    tf.config.experimental.reset_memory_stats("GPU:0")
                return int(info["peak"])
    except Exception:  # pragma: no cover
        pass
    try:
        import resource

        return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024
    except Exception:  # pragma: no cover
        return None
