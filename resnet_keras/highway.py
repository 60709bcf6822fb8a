"""Highway layer (Srivastava, Greff and Schmidhuber, 2015)."""

import keras
from keras import ops

from resnet_keras.blocks import _check_positive_int

_CARRY_GATES = ("complement", "independent")


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

    The transform-gate bias starts at `transform_bias_init` (default `-2`),
    so `T ≈ 0.12` at initialisation and a deep stack of new highway layers
    mostly carries its input forward, as the paper recommends (it suggests
    -1 to -3).

    The gates act elementwise, so the input width must equal `units`.

    Args:
        units: int > 0, the width of the layer (input and output).
        activation: activation of `H`. Defaults to `"relu"`.
        carry_gate: `"complement"` (C = 1 - T) or `"independent"`.
        transform_bias_init: float, initial value of the transform-gate bias
            `b_T` (and of `b_C` with an independent carry gate, with the
            opposite sign, so that it starts carrying).
        kernel_initializer: initializer of `W_H`, `W_T` (and `W_C`).
        kernel_regularizer: optional regularizer of the kernels.
        **kwargs: base layer arguments (`name`, `dtype`, ...).

    Example:

    >>> layer = HighwayDense(50)
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
        kernel_regularizer=None,
        **kwargs,
    ):
        _check_positive_int(units, "units")
        if carry_gate not in _CARRY_GATES:
            raise ValueError(
                f"`carry_gate` must be one of {_CARRY_GATES}. "
                f"Received: carry_gate={carry_gate!r}"
            )
        super().__init__(**kwargs)
        self.units = units
        self.activation = keras.activations.get(activation)
        self.carry_gate = carry_gate
        self.transform_bias_init = float(transform_bias_init)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.supports_masking = True

    def _dense(self, name, activation, bias):
        return keras.layers.Dense(
            self.units,
            activation=activation,
            kernel_initializer=self.kernel_initializer,
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
        self.transform = self._dense("h", self.activation, 0.0)
        self.transform.build(input_shape)
        self.transform_gate = self._dense("t", "sigmoid", self.transform_bias_init)
        self.transform_gate.build(input_shape)
        if self.carry_gate == "independent":
            self.carry = self._dense("c", "sigmoid", -self.transform_bias_init)
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
                "kernel_regularizer": keras.regularizers.serialize(
                    self.kernel_regularizer
                ),
            }
        )
        return config
