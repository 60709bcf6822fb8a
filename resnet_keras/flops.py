"""Multiply-accumulate (MAC) counts of a Keras model, per layer and per block.

The counter runs one forward pass on a batch of one zero image and records
the input and output shape of every convolution and dense layer, including
the sublayers nested inside blocks. One MAC is one multiplication and one
addition; "FLOPs" in the ResNet papers (3.6 × 10⁹ for ResNet-34, 3.8 × 10⁹
for ResNet-50) are multiply-adds in this sense. Batch normalisation,
activations, pooling and additions are not counted (they are a fraction of a
percent of the convolutions' work).
"""

import dataclasses
import functools
import math

import keras
import numpy as np

from resnet_keras._keras_compat import nested_layers


@dataclasses.dataclass
class MacReport:
    """Result of `count_macs`.

    Attributes:
        total: int, multiply-accumulates of one forward pass of one sample.
        per_layer: dict, leaf layer name -> MACs (convolutions and dense).
        per_block: dict, top-level layer name of the model -> MACs of it and
            of everything nested inside it, in model order.
        params_per_block: dict, top-level layer name -> parameter count.
    """

    total: int
    per_layer: dict
    per_block: dict
    params_per_block: dict

    def summary(self, top=None):
        """A text table of the blocks, largest first when `top` is given."""
        rows = list(self.per_block.items())
        if top is not None:
            rows = sorted(rows, key=lambda kv: -kv[1])[:top]
        width = max([len(k) for k, _ in rows] + [5])
        lines = [f"{'block':<{width}}  {'MACs':>15}  {'params':>12}"]
        for name, macs in rows:
            lines.append(
                f"{name:<{width}}  {macs:>15,}  {self.params_per_block.get(name, 0):>12,}"
            )
        lines.append(f"{'total':<{width}}  {self.total:>15,}")
        return "\n".join(lines)


def _layer_macs(layer, in_shape, out_shape):
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return math.prod(out_shape[1:]) * kh * kw
    if isinstance(layer, keras.layers.Conv2D):
        kh, kw = layer.kernel_size
        groups = getattr(layer, "groups", 1) or 1
        return math.prod(out_shape[1:]) * kh * kw * in_shape[-1] // groups
    if isinstance(layer, keras.layers.Dense):
        return math.prod(in_shape[1:]) * layer.units
    return 0


_COUNTED = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def count_macs(model, input_shape=None):
    """Counts the multiply-accumulates of one forward pass of one sample.

    Args:
        model: a built Keras model (functional, sequential or subclassed).
        input_shape: shape of one sample, without the batch axis; defaults to
            the model's input shape.

    Returns:
        A `MacReport`.

    Example:

    >>> from resnet_keras.models import resnet_cifar
    >>> report = count_macs(resnet_cifar(56))
    >>> round(report.total / 1e6)
    125
    """
    if input_shape is None:
        try:
            input_shape = tuple(model.inputs[0].shape[1:])
        except (AttributeError, IndexError, TypeError, ValueError):
            raise ValueError(
                "The model has no known input shape; pass `input_shape` "
                f"(one sample, no batch axis). Received: input_shape={input_shape!r}"
            )
    if any(d is None for d in input_shape):
        raise ValueError(
            "Every dimension of the input must be known to count MACs. "
            f"Received: input_shape={tuple(input_shape)}"
        )

    top_level = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    owner = {}
    for top in top_level:
        for leaf in nested_layers(top, include_self=True):
            owner.setdefault(id(leaf), top.name)

    records = []
    patched = []
    for leaf in nested_layers(model):
        if not isinstance(leaf, _COUNTED):
            continue
        original = leaf.call

        @functools.wraps(original)
        def recording_call(*args, __leaf=leaf, __original=original, **kwargs):
            out = __original(*args, **kwargs)
            records.append((__leaf, tuple(args[0].shape), tuple(out.shape)))
            return out

        leaf.call = recording_call
        patched.append(leaf)
    try:
        model(np.zeros((1,) + tuple(input_shape), dtype="float32"), training=False)
    finally:
        for leaf in patched:
            del leaf.call

    per_layer = {}
    per_block = {top.name: 0 for top in top_level}
    for leaf, in_shape, out_shape in records:
        macs = _layer_macs(leaf, in_shape, out_shape)
        per_layer[leaf.name] = per_layer.get(leaf.name, 0) + macs
        block = owner.get(id(leaf), leaf.name)
        per_block[block] = per_block.get(block, 0) + macs
    params = {top.name: top.count_params() for top in top_level if top.built}
    return MacReport(
        total=sum(per_layer.values()),
        per_layer=per_layer,
        per_block=per_block,
        params_per_block=params,
    )
