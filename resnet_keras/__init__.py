"""resnet_keras: residual networks, highway layers and stochastic depth for Keras 3.

The layers use `keras.ops` only and run on the TensorFlow, JAX and PyTorch
backends. Images are channels last.
"""

from resnet_keras.blocks import BottleneckBlock, ResidualBlock
from resnet_keras.flops import MacReport, count_macs
from resnet_keras.highway import HighwayDense
from resnet_keras.stochastic_depth import StochasticDepth, linear_survival_probabilities

__version__ = "0.1.0"

__all__ = [
    "BottleneckBlock",
    "HighwayDense",
    "MacReport",
    "ResidualBlock",
    "StochasticDepth",
    "count_macs",
    "linear_survival_probabilities",
]
