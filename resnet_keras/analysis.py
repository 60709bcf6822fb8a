"""Gradient and signal measurements for the book: backend-agnostic autodiff helpers.

`value_and_grad` differentiates a function of tensors with the backend's
own autodiff (TensorFlow, JAX or PyTorch). `gradient_norms` measures, for one
batch, the norm of the loss gradient with respect to the *input of every
layer* of a chain model (`∂ε/∂x_l` of He et al. 2016, eq. 5) and with respect
to every kernel, with batch normalisation in training mode, as during
training. `residual_signals` measures the forward signal of every residual
block: the size of its input, of its residual `F(x_l)` and of its shortcut.
Moving statistics are not updated (the model is left unchanged).
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
        input_grads: with `return_gradients=True`, the gradients `∂ε/∂x_l`
            themselves (numpy arrays of the shapes of the layer inputs, batch
            included), else `None`.
    """

    loss: float
    layer_names: list
    input_grad_norms: np.ndarray
    kernel_names: list
    kernel_grad_norms: np.ndarray
    input_grads: list | None = None


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


def gradient_norms(model, x, y, loss=None, training=True, return_gradients=False):
    """Gradient norms of one batch, per layer input and per kernel.

    The gradient with respect to the input `x_l` of layer `l` is taken by adding
    a zero tensor (a probe) to that input and differentiating with respect to
    the probe.

    Args:
        model: a chain model such as `resnet_cifar(56)` or `plain_mlp(20)`
            (every top-level layer reads the output of the previous one).
        x, y: one batch of inputs and integer labels.
        loss: loss function `loss(y_true, y_pred)`; defaults to sparse
            categorical cross-entropy on logits.
        training: bool, run BN with batch statistics (as in training).
        return_gradients: bool, also return the per-coordinate gradients
            `∂ε/∂x_l` (`GradientReport.input_grads`), e.g. to compare the
            gradients on both sides of a block coordinate by coordinate.

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
        input_grads=grads[n:] if return_gradients else None,
    )


@dataclasses.dataclass
class ResidualSignals:
    """Result of `residual_signals`, one entry per residual block (in order).

    Attributes:
        block_names: names of the residual (or plain) blocks.
        input_rms: root mean square of each block's input `x_l`.
        branch_norms: `‖F(x_l)‖` of the residual branch (over the whole batch).
        shortcut_norms: `‖shortcut(x_l)‖`, which is `‖x_l‖` for an identity
            shortcut (NaN for a plain block).
        branch_std: standard deviation of the elements of `F(x_l)`: the
            "response" of the block's last layer in He et al. (2015), Fig. 7
            (the output of the last BN, before the addition and the ReLU).
        output_rms: root mean square of each block's output `x_{l+1}`.
    """

    block_names: list
    input_rms: np.ndarray
    branch_norms: np.ndarray
    shortcut_norms: np.ndarray
    branch_std: np.ndarray
    output_rms: np.ndarray

    @property
    def ratios(self):
        """`‖F(x_l)‖ / ‖shortcut(x_l)‖` per block: how much a block adds to what it passes on."""
        return self.branch_norms / self.shortcut_norms


def residual_signals(model, x, training=False):
    """The forward signal through every residual block of a chain model, for one batch.

    For each `ResidualBlock` or `BottleneckBlock` among the model's top-level
    layers, the size of its input, of the two terms it adds (the residual
    `F(x_l)` and the shortcut, `ResidualBlock.branch_and_shortcut`) and of its
    output.

    Args:
        model: a chain model such as `resnet_cifar(56)` (every top-level layer
            reads the output of the previous one), with normalised float inputs.
        x: one batch of inputs.
        training: bool, BN with batch statistics (`True`, as in training) or
            with the moving statistics (`False`, as the trained network is
            used). Moving statistics are not updated either way.

    Returns:
        A `ResidualSignals`.

    Raises:
        ValueError: the model is not a chain, or has no residual block.
    """
    from resnet_keras.blocks import BottleneckBlock, ResidualBlock

    layers = _chain(model)
    if not any(isinstance(l, (ResidualBlock, BottleneckBlock)) for l in layers):
        raise ValueError(
            f"residual_signals needs a model with residual blocks; {model.name!r} has none "
            f"among its layers {[l.name for l in layers]}."
        )

    def rms(t):
        return float(np.sqrt(np.mean(np.square(ops.convert_to_numpy(t).astype("float64")))))

    def norm(t):
        return float(np.linalg.norm(ops.convert_to_numpy(t).astype("float64")))

    names, rows = [], []
    h = ops.convert_to_tensor(np.asarray(x, dtype="float32"))
    with keras.StatelessScope():
        for layer in layers:
            if not isinstance(layer, (ResidualBlock, BottleneckBlock)):
                h = layer(h, training=training)
                continue
            branch, shortcut = layer.branch_and_shortcut(h, training=training)
            out = layer.merge(branch, shortcut, training=training)
            f = ops.convert_to_numpy(branch).astype("float64")
            names.append(layer.name)
            rows.append((rms(h), norm(f), np.nan if shortcut is None else norm(shortcut),
                         float(np.std(f)), rms(out)))
            h = out
    cols = np.array(rows).T
    return ResidualSignals(names, *cols)
