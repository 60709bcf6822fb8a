"""Highway layer (Srivastava, Greff and Schmidhuber, 2015) and its gate-bias rule."""

import math

import keras
from keras import ops

from resnet_keras.blocks import _check_positive_int

_CARRY_GATES = ("complement", "independent")


def transform_bias_for_depth(num_layers):
    """The initial transform-gate bias for a stack of `num_layers` highway layers.

    Returns `-ln(num_layers)`, so that every new layer starts with the gate
    `T = sigmoid(b_T) = 1 / (num_layers + 1)` (with `HighwayDense`'s default
    zero gate kernel, for every input). The carry path of the whole stack then
    scales the signal and the gradient by `(1 - T)^num_layers ≈ 1/e` at
    initialisation, whatever the depth: -2.20, -2.94, -3.89 and -4.60 for the
    9, 19, 49 and 99 highway layers of the 10-, 20-, 50- and 100-layer MLPs of
    Srivastava et al.

    Where it comes from: the paper treats the bias as a hyper-parameter ("the
    initial bias is best treated as a hyperparameter, as a general guideline
    we suggest values of -1, -2 and -3 for convolutional highway networks of
    depth approximately 10, 20 and 30"; for the MNIST MLPs it was searched
    "between -1 and -10"). The rule is ours, from measurement (chapter 5 and
    `tests/test_highway.py`): with it the gradient of a 100-layer highway MLP
    at initialisation changes by at most 2.7x from layer to layer across the
    stack, and `highway_mlp(100)` trains on MNIST as well as `highway_mlp(10)`.
    A fixed bias cannot do this: -2 leaves 0.88^99 ≈ 1e-4 of the gradient at
    the bottom of 99 layers, -4.6 makes a 9-layer stack start as nearly the
    identity.

    Args:
        num_layers: int > 0, the number of highway layers in the stack.
    """
    _check_positive_int(num_layers, "num_layers")
    return -math.log(num_layers)


@keras.saving.register_keras_serializable(package="resnet_keras")
class HighwayDense(keras.layers.Layer):
    """A fully connected highway layer, `y = H(x)·T(x) + x·C(x)`.

    `H(x) = activation(x W_H + b_H)` is the plain layer's transform and
    `T(x) = sigmoid(x W_T + b_T)` the *transform gate*. The *carry gate* `C`
    is `1 - T` by default (`carry_gate="complement"`, the choice of
    Srivastava et al. and of the study note), so that `y = H·T + x·(1 - T)`:
    `T = 0` copies the input, `T = 1` gives the plain layer. With
    `carry_gate="independent"`, `C(x) = sigmoid(x W_C + b_C)` has its own
    weights (the general form of the note).

    The gates act elementwise, so the input width must equal `units`.

    Where the defaults come from:

    * `activation="relu"`: the paper's convolutional highway networks "utilize
      the rectified linear activation function to compute the block state H"
      (for the MNIST MLPs it searched ReLU and tanh).
    * `kernel_initializer="glorot_uniform"` (`W_H`): the paper initialises the
      weights other than the gate biases "using the same normalized
      initialization as plain networks"; Glorot and Bengio (2010) call
      `glorot_uniform` the normalized initialization.
    * `gate_kernel_initializer="zeros"` (`W_T`, and `W_C`): our measurement,
      and a departure from the paper, which initialises `W_T` like the other
      weights. A new gate then opens by `sigmoid(b_T)` for every input, the
      "initially biased towards carry behavior" that the paper asks of the
      bias. With `glorot_uniform` gate kernels the gate's pre-activation
      `x W_T` is as large as the layer's input (ReLU activations of RMS about
      1), so the bias no longer decides the gate. In a 100-layer MLP with
      `b_T = -4.6` the gradient at initialisation then varies 8.5x to
      38,800x from layer to layer (10 random draws, TensorFlow and JAX;
      2.7x with zero gate kernels), and on MNIST the 100-layer MLP diverged
      within 300 steps even with `b_T = -10` and a learning rate of 0.003
      (it trained with zero gate kernels and `b_T = -4.6` at 0.01 and
      0.05). The gate kernels learn from the first step: their gradient is
      `x · sigmoid'(b_T) · (H - x)`, not zero.
    * `transform_bias_init=-2.0` (`b_T`): the paper's "b_T can be initialized
      with a negative value (e.g. -1, -3 etc.) such that the network is
      initially biased towards carry behavior", and its guideline of -2 for
      a depth of about 20. It suits stacks of up to about ten layers; for a
      stack of `n` layers use `transform_bias_for_depth(n)` (`-ln n`, what
      `resnet_keras.models.highway_mlp` does).

    Args:
        units: int > 0, the width of the layer (input and output).
        activation: activation of `H`. Defaults to `"relu"`.
        carry_gate: `"complement"` (C = 1 - T) or `"independent"`.
        transform_bias_init: float, initial value of the transform-gate bias
            `b_T` (and of `b_C` with an independent carry gate, with the
            opposite sign, so that it starts carrying).
        kernel_initializer: initializer of `W_H`.
        gate_kernel_initializer: initializer of the gate kernels `W_T` (and
            `W_C`). Defaults to `"zeros"`.
        kernel_regularizer: optional regularizer of the kernels (`W_H` and the
            gates').
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> layer = HighwayDense(50, transform_bias_init=transform_bias_for_depth(99))
    >>> y = layer(keras.ops.ones((2, 50)))

    References:
        Srivastava, Greff and Schmidhuber, "Highway Networks", 2015 and
        "Training Very Deep Networks", NIPS 2015.
    """

    def __init__(
        self,
        units,
        activation="relu",
        carry_gate="complement",
        transform_bias_init=-2.0,
        kernel_initializer="glorot_uniform",
        gate_kernel_initializer="zeros",
        kernel_regularizer=None,
        **kwargs,
    ):
        _check_positive_int(units, "units")
        if carry_gate not in _CARRY_GATES:
            raise ValueError(
                f"`carry_gate` must be one of {_CARRY_GATES}. "
                f"Received: carry_gate={carry_gate!r}"
            )
        if isinstance(transform_bias_init, bool) or not isinstance(
            transform_bias_init, (int, float)
        ) or not math.isfinite(transform_bias_init):
            raise ValueError(
                "`transform_bias_init` must be a finite number. "
                f"Received: transform_bias_init={transform_bias_init!r}"
            )
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.carry_gate = carry_gate
        self.transform_bias_init = float(transform_bias_init)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.gate_kernel_initializer = keras.initializers.get(gate_kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.supports_masking = True

    def _dense(self, name, activation, kernel_initializer, bias):
        # A copy per sublayer: Keras returns the same values on every call of one unseeded
        # initializer instance, which once made W_T an exact copy of W_H in every layer (the
        # 100-layer MLP then exploded, chapter 5), and would make W_C a copy of W_T.
        kernel_initializer = kernel_initializer.__class__.from_config(
            kernel_initializer.get_config()
        )
        return keras.layers.Dense(
            self.units,
            activation=activation,
            kernel_initializer=kernel_initializer,
            kernel_regularizer=self.kernel_regularizer,
            bias_initializer=keras.initializers.Constant(bias),
            dtype=self.dtype_policy,
            name=f"{self.name}_{name}",
        )

    def build(self, input_shape):
        width = input_shape[-1]
        if width != self.units:
            raise ValueError(
                "A highway layer adds its input to its output, so the input width "
                f"must equal `units`. Received: units={self.units} and an input of "
                f"shape {tuple(input_shape)} (width {width}). Put a Dense({self.units}) "
                "layer before the first highway layer to change the width."
            )
        self.transform = self._dense("h", self.activation, self.kernel_initializer, 0.0)
        self.transform.build(input_shape)
        self.transform_gate = self._dense(
            "t", "sigmoid", self.gate_kernel_initializer, self.transform_bias_init
        )
        self.transform_gate.build(input_shape)
        if self.carry_gate == "independent":
            self.carry = self._dense(
                "c", "sigmoid", self.gate_kernel_initializer, -self.transform_bias_init
            )
            self.carry.build(input_shape)
        else:
            self.carry = None

    def gates(self, inputs):
        """Returns `(T(x), C(x))` for a batch, e.g. to plot what the gates learn."""
        if not self.built:
            self.build(tuple(inputs.shape))
            self.built = True
        t = self.transform_gate(inputs)
        c = self.carry(inputs) if self.carry is not None else 1.0 - t
        return t, c

    def call(self, inputs):
        h = self.transform(inputs)
        t, c = self.gates(inputs)
        return ops.add(ops.multiply(h, t), ops.multiply(inputs, c))

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "activation": keras.activations.serialize(self.activation),
                "carry_gate": self.carry_gate,
                "transform_bias_init": self.transform_bias_init,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "gate_kernel_initializer": keras.initializers.serialize(
                    self.gate_kernel_initializer
                ),
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
            }
        )
        return config
