"""Gradient measurements for the book: backend-agnostic autodiff helpers.

`value_and_grad` differentiates a function of tensors with the backend's
own autodiff (TensorFlow, JAX or PyTorch). `gradient_norms` measures, for one
batch, the norm of the loss gradient with respect to the *input of every
layer* of a chain model (`∂ε/∂x_l` of He et al. 2016, eq. 5) and with respect
to every kernel, with batch normalisation in training mode, as during
training. Moving statistics are not updated (the model is left unchanged).
"""

import dataclasses

import keras
import numpy as np
from keras import ops


def value_and_grad(fn, args):
    """Returns `(fn(args), [∂fn/∂a for a in args])` for a scalar `fn`.

    Args:
        fn: function of a list of tensors returning a scalar tensor.
        args: list of arrays or tensors.

    Returns:
        The value and the list of gradients, as backend tensors.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        args = [tf.convert_to_tensor(a) for a in args]
        with tf.GradientTape() as tape:
            for a in args:
                tape.watch(a)
            value = fn(args)
        return value, tape.gradient(value, args)
    if backend == "jax":
        import jax

        return jax.value_and_grad(fn)([ops.convert_to_tensor(a) for a in args])
    if backend == "torch":
        import torch

        args = [ops.convert_to_tensor(a).detach().requires_grad_(True) for a in args]
        value = fn(args)
        return value, list(torch.autograd.grad(value, args))
    raise NotImplementedError(f"No autodiff for backend {backend!r}.")


def jacobian(fn, x):
    """Dense Jacobian `∂fn(x)/∂x` of a small function, shape `(out.size, x.size)`."""
    x = np.asarray(x)
    out = ops.convert_to_numpy(fn(ops.convert_to_tensor(x)))
    rows = []
    for i in range(out.size):
        def component(args, i=i):
            return ops.reshape(fn(args[0]), (-1,))[i]

        _, (g,) = value_and_grad(component, [x])
        rows.append(ops.convert_to_numpy(g).ravel())
    return np.stack(rows)


@dataclasses.dataclass
class GradientReport:
    """Result of `gradient_norms`.

    Attributes:
        loss: float, the loss of the batch.
        layer_names: names of the model's top-level layers, in order.
        input_grad_norms: `‖∂ε/∂x_l‖` for the input `x_l` of each of them.
        kernel_names: paths of the kernels (convolutions and dense).
        kernel_grad_norms: `‖∂ε/∂W‖` for each kernel.
    """

    loss: float
    layer_names: list
    input_grad_norms: np.ndarray
    kernel_names: list
    kernel_grad_norms: np.ndarray


def _first_call(layer, tensors):
    """`layer.input` or `layer.output` (of its first call); None if never called."""
    try:
        return getattr(layer, tensors)
    except (AttributeError, ValueError):
        return None


def _chain(model):
    layers = [l for l in model.layers if not isinstance(l, keras.layers.InputLayer)]
    for prev, layer in zip(layers, layers[1:]):
        inbound = _first_call(layer, "input")
        if inbound is None or inbound is not _first_call(prev, "output"):
            raise ValueError(
                "gradient_norms needs a chain model (each layer reads the previous "
                f"layer's output); layer {layer.name!r} does not read {prev.name!r}."
            )
    return layers


def gradient_norms(model, x, y, loss=None, training=True):
    """Gradient norms of one batch, per layer input and per kernel.

    Args:
        model: a chain model such as `resnet_cifar(56)` or `plain_mlp(20)`
            (every top-level layer reads the output of the previous one).
        x, y: one batch of inputs and integer labels.
        loss: loss function `loss(y_true, y_pred)`; defaults to sparse
            categorical cross-entropy on logits.
        training: bool, run BN with batch statistics (as in training).

    Returns:
        A `GradientReport`.
    """
    layers = _chain(model)
    if loss is None:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    x = ops.convert_to_tensor(np.asarray(x, dtype="float32"))
    y = ops.convert_to_tensor(np.asarray(y))
    shapes = []
    h = x
    with keras.StatelessScope():
        for layer in layers:
            shapes.append(tuple(h.shape))
            h = layer(h, training=training)
    variables = list(model.trainable_variables)
    kernel_index = [i for i, v in enumerate(variables) if v.name == "kernel"]
    probes = [np.zeros(s, "float32") for s in shapes]
    n = len(variables)

    def fn(args):
        values, deltas = args[:n], args[n:]
        with keras.StatelessScope(state_mapping=list(zip(variables, values))):
            h = x
            for layer, delta in zip(layers, deltas):
                h = layer(h + delta, training=training)
            return loss(y, h)

    value, grads = value_and_grad(fn, [v.value for v in variables] + probes)
    grads = [ops.convert_to_numpy(g) for g in grads]
    return GradientReport(
        loss=float(ops.convert_to_numpy(value)),
        layer_names=[l.name for l in layers],
        input_grad_norms=np.array([np.linalg.norm(g) for g in grads[n:]]),
        kernel_names=[variables[i].path for i in kernel_index],
        kernel_grad_norms=np.array([np.linalg.norm(grads[i]) for i in kernel_index]),
    )
