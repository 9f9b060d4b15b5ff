"""desktop_denoiser.core.models: the architectures' shapes, sizes and structure."""

from __future__ import annotations

import numpy as np
import pytest

from desktop_denoiser.core import models
from desktop_denoiser.core.errors import ConfigError


@pytest.fixture(scope="module")
def built():
    return {name: models.build(name) for name in models.ARCHITECTURES}


def _kinds(model):
    return [type(layer).__name__ for layer in model.layers if type(layer).__name__ != "InputLayer"]


def test_registry():
    assert set(models.ARCHITECTURES) == {"dense", "conv", "unet", "classifier"}
    assert models.DENOISERS == ("dense", "conv", "unet")
    assert models.get("classifier").kind == "classifier"
    assert models.get("classifier").loss == "sparse_categorical_crossentropy"
    for name in models.DENOISERS:
        assert models.get(name).kind == "denoiser"
        assert models.get(name).loss == "binary_crossentropy"


@pytest.mark.parametrize("name", ["dense", "conv", "unet"])
def test_denoiser_output_shape_and_range(built, name):
    model = built[name]
    assert tuple(model.input_shape) == (None, 28, 28, 1)
    assert tuple(model.output_shape) == (None, 28, 28, 1)
    x = np.random.default_rng(0).random((3, 28, 28, 1)).astype(np.float32)
    y = np.asarray(model(x, training=False))
    assert y.shape == (3, 28, 28, 1)
    assert y.min() >= 0.0 and y.max() <= 1.0  # sigmoid output
    assert len(np.unique(np.round(y, 4))) > 10  # not a constant


def test_classifier_output_is_a_distribution(built):
    model = built["classifier"]
    assert tuple(model.output_shape) == (None, 10)
    x = np.random.default_rng(0).random((4, 28, 28, 1)).astype(np.float32)
    p = np.asarray(model(x, training=False))
    assert p.shape == (4, 10)
    np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-5)
    assert p.min() >= 0.0


def test_parameter_counts(built):
    assert built["dense"].count_params() == 101_200  # 784*64+64 + 64*784+784
    assert built["conv"].count_params() == 4_385  # the second article's network
    assert built["classifier"].count_params() > 100_000
    assert 50_000 < built["unet"].count_params() < 500_000


def test_dense_is_the_first_articles_network(built):
    model = built["dense"]
    dense = [layer for layer in model.layers if type(layer).__name__ == "Dense"]
    assert [(d.units, d.get_config()["activation"]) for d in dense] == [(64, "relu"), (784, "sigmoid")]
    assert model.get_layer("code").output.shape[1:] == (64,)


def test_conv_matches_the_article_layer_by_layer(built):
    model = built["conv"]
    expected = [
        # type, filters, output shape, activation, padding
        ("Conv2D", 16, (28, 28, 16), "relu", "same"),
        ("MaxPooling2D", None, (14, 14, 16), None, "same"),
        ("Conv2D", 8, (14, 14, 8), "relu", "same"),
        ("MaxPooling2D", None, (7, 7, 8), None, "same"),
        ("Conv2D", 8, (7, 7, 8), "relu", "same"),
        ("MaxPooling2D", None, (4, 4, 8), None, "same"),  # the code: 4x4x8
        ("Conv2D", 8, (4, 4, 8), "relu", "same"),
        ("UpSampling2D", None, (8, 8, 8), None, None),
        ("Conv2D", 8, (8, 8, 8), "relu", "same"),
        ("UpSampling2D", None, (16, 16, 8), None, None),
        ("Conv2D", 16, (14, 14, 16), "relu", "valid"),  # 16x16 back to 14x14
        ("UpSampling2D", None, (28, 28, 16), None, None),
        ("Conv2D", 1, (28, 28, 1), "sigmoid", "same"),
    ]
    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    assert len(layers) == len(expected)
    for layer, (kind, filters, shape, activation, padding) in zip(layers, expected):
        cfg = layer.get_config()
        assert type(layer).__name__ == kind, layer.name
        assert tuple(layer.output.shape[1:]) == shape, layer.name
        if kind == "Conv2D":
            assert cfg["filters"] == filters
            assert tuple(cfg["kernel_size"]) == (3, 3)
            assert cfg["activation"] == activation
            assert cfg["padding"] == padding
        if kind == "MaxPooling2D":
            assert tuple(cfg["pool_size"]) == (2, 2)
            assert cfg["padding"] == padding
    assert model.get_layer("code").output.shape[1:] == (4, 4, 8)


def test_unet_has_skip_connections(built):
    model = built["unet"]
    concats = [layer for layer in model.layers if type(layer).__name__ == "Concatenate"]
    assert len(concats) == 2
    # the skips join the 14x14 and the 28x28 levels
    assert sorted(tuple(c.output.shape[1:3]) for c in concats) == [(14, 14), (28, 28)]
    assert "Conv2DTranspose" in _kinds(model)
    # the bottleneck is at 7x7
    assert model.get_layer("bottleneck7_b").output.shape[1:] == (7, 7, 64)


def test_builders_return_fresh_models():
    a, b = models.build("conv"), models.build("conv")
    assert a is not b
    assert not all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


@pytest.mark.parametrize("name", ["resnet", "", "Dense", "unet "])
def test_unknown_name_is_a_config_error(name):
    with pytest.raises(ConfigError) as info:
        models.get(name)
    assert "unet" in str(info.value)  # lists the choices
    with pytest.raises(ConfigError):
        models.build(name)
