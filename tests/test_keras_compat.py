"""The library's one private Keras call (`_keras_compat.nested_layers`) and a check that there
is no other. CI runs this file on the pinned Keras (requirements.txt) and on the declared floor
(requirements-floor.txt, `make test-floor`)."""

import ast
import pathlib

import keras
import pytest

from resnet_keras import ResidualBlock
from resnet_keras._keras_compat import nested_layers
from resnet_keras.models import resnet_cifar

LIBRARY = pathlib.Path(__file__).resolve().parents[1] / "resnet_keras"
COMPAT = LIBRARY / "_keras_compat.py"


def _owner_names(layer):
    """Names of the layers that own the variables, from the public `Variable.path`."""
    return {v.path.rsplit("/", 2)[-2] for v in layer.weights}


def test_nested_layers_of_a_block_are_its_sublayers():
    block = ResidualBlock(8, strides=2, shortcut="B", survival_probability=0.8, name="b")
    block.build((None, 8, 8, 4))
    expected = [*block.convs, *[bn for bn in block.bns if bn is not None],
                block.projection, block.projection_bn, block.stochastic_depth]
    found = nested_layers(block)
    assert sorted(map(id, found)) == sorted(map(id, expected))
    assert nested_layers(block, include_self=True)[0] is block
    assert {l.name for l in found if l.weights} == _owner_names(block)


def test_nested_layers_of_a_model_reach_inside_the_blocks():
    model = resnet_cifar(8, final_survival_probability=0.5)
    found = nested_layers(model)
    assert len({id(l) for l in found}) == len(found)  # each once
    top = [l for l in model.layers]
    assert all(any(l is t for l in found) for t in top)
    # Every variable belongs to a layer that nested_layers lists, and every convolution
    # of the model (3 blocks x 2 plus the stem; shortcut A has no projection) is found.
    assert _owner_names(model) <= {l.name for l in found}
    convs = [l for l in found if isinstance(l, keras.layers.Conv2D)]
    assert len(convs) == 7 == sum(v.path.endswith("/kernel") and len(v.shape) == 4
                                  for v in model.weights)
    assert sum(isinstance(l, keras.layers.Conv2D) for l in top) == 1


def test_nested_layers_refuses_a_non_layer():
    with pytest.raises(TypeError, match="Received: layer="):
        nested_layers([keras.layers.Dense(2)])


def test_nested_layers_says_so_when_keras_lacks_the_private_method(monkeypatch):
    layer = keras.layers.Dense(2)
    monkeypatch.delattr(keras.layers.Layer, "_flatten_layers")
    with pytest.raises(RuntimeError, match="_flatten_layers"):
        nested_layers(layer)


def _defined_names(tree):
    """Names the module itself defines: functions, classes, assigned names and attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.attr)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.rpartition(".")[2])
    return names


def test_the_library_uses_no_other_private_keras_api():
    """Outside `_keras_compat.py`, every `x._name` the library reads is one it defines itself
    (e.g. `self._cache`), and nothing imports `keras.src`."""
    files = sorted(p for p in LIBRARY.rglob("*.py") if p != COMPAT)
    assert len(files) > 10
    trees = {p: ast.parse(p.read_text(encoding="utf-8")) for p in files}
    own = set().union(*(_defined_names(t) for t in trees.values()))
    offences = []
    for path, tree in trees.items():
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                name = node.attr
                private = name.startswith("_") and not (name.startswith("__") and name.endswith("__"))
                if private and name not in own:
                    offences.append(f"{path.relative_to(LIBRARY)}:{node.lineno}: .{name}")
            modules = []
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            offences += [f"{path.relative_to(LIBRARY)}:{node.lineno}: import {m}" for m in modules
                         if m == "keras.src" or m.startswith("keras.src.")]
    assert not offences, "private Keras API outside _keras_compat.py:\n" + "\n".join(offences)
