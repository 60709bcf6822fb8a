"""The one place where `resnet_keras` reaches into a private Keras API.

Keras 3 has no public way to list the layers nested inside a custom layer:
`Model.layers` lists only the top level of a model, and a `Layer` keeps its
sublayers (the ones assigned as attributes, which Keras tracks) in private
state. `count_macs` needs them all, since the convolutions of a residual
block sit inside the block. `Layer._flatten_layers` is the method Keras
itself uses for this (`Model.layers` and the trainers call it); it has the
same signature in every Keras release this package declares and tests.

Everything else in the library uses public API only. If a Keras release
drops or changes the method, `nested_layers` raises an error that says so,
and `tests/test_keras_compat.py` fails on that release (CI runs it with the
pinned Keras of `requirements.txt` and the floor of `requirements-floor.txt`).
"""

import keras


def nested_layers(layer, include_self=False):
    """Every layer nested inside `layer`, at any depth, each once.

    Args:
        layer: a Keras layer or model.
        include_self: bool, whether `layer` itself comes first.

    Returns:
        A list of layers: the top-level layers of a model and, recursively,
        the sublayers of every custom layer (e.g. the convolutions and batch
        normalisations of a `ResidualBlock`).
    """
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(
            f"`layer` must be a Keras layer or model. Received: layer={layer!r}"
        )
    flatten = getattr(layer, "_flatten_layers", None)
    if not callable(flatten):
        raise RuntimeError(
            "resnet_keras lists nested layers with the private method "
            "`keras.layers.Layer._flatten_layers`, which this Keras "
            f"({keras.__version__}) does not have. Install a Keras version that "
            "resnet_keras declares and tests (see requirements.txt and "
            "requirements-floor.txt)."
        )
    return list(flatten(include_self=include_self, recursive=True))
