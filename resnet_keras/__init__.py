"""resnet_keras: residual networks, highway layers and stochastic depth for Keras 3.

The layers use `keras.ops` only and run on the TensorFlow, JAX and PyTorch
backends. Images are channels last.

The names below are imported on first use (PEP 562), so that `import resnet_keras`
and the command line (`python -m resnet_keras --help`) start without loading Keras
and its backend.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    "BottleneckBlock": "resnet_keras.blocks",
    "ResidualBlock": "resnet_keras.blocks",
    "MacReport": "resnet_keras.flops",
    "count_macs": "resnet_keras.flops",
    "HighwayDense": "resnet_keras.highway",
    "StochasticDepth": "resnet_keras.stochastic_depth",
    "linear_survival_probabilities": "resnet_keras.stochastic_depth",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'resnet_keras' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_EXPORTS))
