"""Short model names ("resnet56", "plain20", "preact_resnet164", ...) and what they mean.

This module imports nothing heavy: the command line checks a name (and its depth) here before
it loads Keras or any data. :func:`resnet_keras.models.get_model` builds what
:func:`parse_model_name` returns.
"""

from __future__ import annotations

import re

__all__ = ["IMAGENET_DEPTHS", "MODEL_NAMES", "parse_model_name"]

IMAGENET_DEPTHS = (18, 34, 50, 101, 152)
BOTTLENECK_CIFAR_DEPTHS = (164, 1001)  # He et al. 2016's bottleneck CIFAR nets

MODEL_NAMES = (
    "resnet20", "resnet32", "resnet44", "resnet56", "resnet110", "resnet1202",
    "plain20", "plain32", "plain44", "plain56", "plain110",
    "resnet164", "preact_resnet110", "preact_resnet164", "preact_resnet1001",
    "resnet110_sd",
    "resnet18", "resnet34", "resnet50", "resnet101", "resnet152",
    "resnet50v2", "resnet101v2", "resnet152v2",
    "highway_mlp10", "highway_mlp20", "highway_mlp50", "highway_mlp100",
    "plain_mlp10", "plain_mlp20", "plain_mlp50", "plain_mlp100",
)

_NAME = re.compile(
    r"^(?P<cifar>cifar_)?(?P<kind>resnet|plain|preact_resnet|highway_mlp|plain_mlp)"
    r"(?P<depth>\d+)(?P<v2>v2)?(?P<sd>_sd)?$"
)


def _unknown(name, why=""):
    return ValueError(
        f"Unknown model name. Received: name={name!r}{why}; expected names like "
        f"{', '.join(MODEL_NAMES[:6])}, ... (see resnet_keras.model_names.MODEL_NAMES)"
    )


def parse_model_name(name):
    """What a short model name builds, checked without building anything.

    Names: ``resnet{d}`` (CIFAR for depths 6n+2, ImageNet for 18/34/50/101/152;
    ``cifar_resnet{d}`` forces CIFAR), ``plain{d}``, ``preact_resnet{d}`` (bottleneck for 164
    and 1001), ``resnet{d}v2`` (ImageNet v2), ``resnet{d}_sd`` (stochastic depth, p_L = 0.5),
    ``highway_mlp{d}``, ``plain_mlp{d}``.

    Returns:
        ``(builder, depth, kwargs)``: builder is "resnet_cifar", "resnet_imagenet",
        "highway_mlp" or "plain_mlp" (functions of :mod:`resnet_keras.models`).

    Raises:
        ValueError: an unknown name or a depth the architecture cannot have (the message
            says which depths it can).
    """
    match = _NAME.match(name) if isinstance(name, str) else None
    if not match:
        raise _unknown(name)
    kind, depth = match["kind"], int(match["depth"])
    if kind in ("highway_mlp", "plain_mlp"):
        if match["cifar"] or match["v2"] or match["sd"]:
            raise _unknown(name)
        if depth < 2:
            raise ValueError(f"The depth of {kind} must be at least 2. Received: name={name!r}")
        return kind, depth, {}
    if match["v2"] or (kind == "resnet" and depth in IMAGENET_DEPTHS and not match["cifar"]):
        if kind != "resnet" or match["cifar"] or match["sd"]:
            raise _unknown(name)
        if depth not in IMAGENET_DEPTHS:
            raise ValueError(
                f"ImageNet ResNets have depth {', '.join(map(str, IMAGENET_DEPTHS))}. "
                f"Received: name={name!r}"
            )
        return "resnet_imagenet", depth, ({"variant": "v2"} if match["v2"] else {})
    kwargs = {"name": name}
    if depth in BOTTLENECK_CIFAR_DEPTHS:
        kwargs["block"] = "bottleneck"
        ok = depth >= 11 and (depth - 2) % 9 == 0
    else:
        ok = depth >= 8 and (depth - 2) % 6 == 0
    if not ok:
        raise ValueError(
            f"A CIFAR ResNet with basic blocks has depth 6n + 2 (8, 14, 20, 32, 44, 56, 110, "
            f"..., 1202); with bottleneck blocks 9n + 2 (164, 1001). Received: name={name!r} "
            f"(depth {depth})"
        )
    if kind == "plain":
        kwargs["plain"] = True
    if kind == "preact_resnet":
        kwargs["variant"] = "v2"
    if match["sd"]:
        if kind == "plain":
            raise ValueError(f"Stochastic depth needs shortcuts. Received: name={name!r}")
        kwargs["final_survival_probability"] = 0.5
    return "resnet_cifar", depth, kwargs
