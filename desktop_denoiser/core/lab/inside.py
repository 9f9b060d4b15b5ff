"""Inside the network: every layer's output for one input, the first layer's filters, and the
U-Net with its skip connections zeroed.

The U-Net's deepest level (``bottleneck7_b``) is not a bottleneck in the articles' sense:
the skips hand the encoder's 28×28 and 14×14 features straight to the decoder, so detail
need not pass through it, and it holds 7×7×64 = 3,136 values, four times the 784 input
pixels. :func:`skip_free` rebuilds the trained U-Net (same layers, same weights, nothing
retrained) with zeros where each ``Concatenate`` takes the encoder's features, so the
output shows what the deepest level alone carries.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

import numpy as np

from ..errors import ConfigError

UNET_LAYERS = ("enc28_a", "enc28_b", "enc14_a", "enc14_b", "bottleneck7_a", "bottleneck7_b", "up14",
               "dec14_a", "dec14_b", "up28", "dec28_a", "dec28_b", "clean")


@dataclasses.dataclass
class LayerOutput:
    """One layer's output for one input: ``values`` without the batch axis, e.g. (28, 28, 16)
    for a convolution's feature maps or (64,) for a dense layer."""

    name: str
    kind: str  # the Keras class: Conv2D, MaxPooling2D, Dense, ...
    values: np.ndarray

    @property
    def shape(self) -> tuple:
        return tuple(self.values.shape)

    @property
    def is_feature_maps(self) -> bool:
        return self.values.ndim == 3


@dataclasses.dataclass
class Filters:
    """The first learned layer's kernels as small images: ``kernels`` (n, h, w), from layer
    ``layer`` (a Conv2D's 3×3 kernels, or a first Dense layer's 784 weights per unit as 28×28)."""

    layer: str
    kernels: np.ndarray
    description: str


def _outputs_model(model):
    """Model(input → [every layer's output]) and the layers' (name, kind)."""
    import keras

    layers = [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]
    outs = keras.Model(model.input, [layer.output for layer in layers], name=f"{model.name}_layers")
    return outs, [(layer.name, type(layer).__name__) for layer in layers]


def skip_free(model, zero_skips: bool = True):
    """The U-Net rebuilt from its own trained layers, optionally with the skips zeroed.

    Returns ``(model, [(name, kind)])`` whose outputs are every step's tensor (the last is the
    image). With ``zero_skips=False`` it computes exactly the original network."""
    import keras

    pools = [layer for layer in model.layers if type(layer).__name__ == "MaxPooling2D"]
    joins = [layer for layer in model.layers if type(layer).__name__ == "Concatenate"]
    try:
        get = {name: model.get_layer(name) for name in UNET_LAYERS}
    except ValueError:
        get = {}
    if len(get) != len(UNET_LAYERS) or len(pools) != 2 or len(joins) != 2:
        raise ConfigError(f"{model.name} is not this app's U-Net (its layers are not those of models.build_unet).")
    steps: list = []

    def run(layer, x):  # the trained layers themselves (pooling and concatenation have no weights)
        y = layer(x)
        steps.append((layer.name, type(layer).__name__, y))
        return y

    def block(prefix, x):
        return run(get[f"{prefix}_b"], run(get[f"{prefix}_a"], x))

    def skip(x):
        return keras.ops.zeros_like(x) if zero_skips else x

    inp = keras.Input((28, 28, 1), name="noisy")
    e1 = block("enc28", inp)
    e2 = block("enc14", run(pools[0], e1))
    b = block("bottleneck7", run(pools[1], e2))
    d2 = block("dec14", run(joins[0], [run(get["up14"], b), skip(e2)]))
    d1 = block("dec28", run(joins[1], [run(get["up28"], d2), skip(e1)]))
    run(get["clean"], d1)
    rebuilt = keras.Model(inp, [y for _, _, y in steps], name=f"{model.name}_{'skip_free' if zero_skips else 'rebuilt'}")
    return rebuilt, [(name, kind) for name, kind, _ in steps]


def _graph(lab, zero_skips: bool):
    cached = lab._inside.get(zero_skips)
    if cached is not None:
        return cached
    import tensorflow as tf

    if zero_skips and not lab.is_unet:
        raise ConfigError(f"Only a U-Net has skip connections to zero; {lab.name} is {lab.architecture}.")
    outs, names = skip_free(lab.model) if zero_skips else _outputs_model(lab.model)
    spec = tf.TensorSpec((1, 28, 28, 1), tf.float32)
    fn = tf.function(lambda x: outs(x, training=False), input_signature=[spec], autograph=False).get_concrete_function()
    lab._inside[zero_skips] = (fn, names)
    return fn, names


def layer_outputs(lab, image, zero_skips: bool = False) -> list[LayerOutput]:
    """Every layer's output for one (28, 28) image, input to output (one compiled call).
    ``zero_skips`` (U-Net only): with the skip connections zeroed."""
    fn, names = _graph(lab, zero_skips)
    x = np.asarray(image, np.float32).reshape(1, 28, 28, 1)
    with lab._lock:
        values = fn(x)
    values = values if isinstance(values, (list, tuple)) else [values]
    return [LayerOutput(name, kind, np.asarray(v)[0]) for (name, kind), v in zip(names, values)]


def output(lab, image, zero_skips: bool = False) -> np.ndarray:
    """The model's (28, 28) output for one image; for a U-Net with ``zero_skips``, the
    skip-free network's. A classifier's is its (10,) probabilities."""
    last = layer_outputs(lab, image, zero_skips)[-1].values
    return last[..., 0] if lab.kind == "denoiser" else last


def first_filters(lab) -> Optional[Filters]:
    """The first Conv2D's kernels (n, 3, 3) (input channel 0), or for a network that starts with
    a Dense layer its weights per unit as (n, 28, 28); None when there is neither."""
    for layer in lab.model.layers:
        kind = type(layer).__name__
        if kind == "Conv2D":
            k = np.asarray(layer.get_weights()[0])  # (h, w, in, out)
            kernels = np.moveaxis(k[:, :, 0, :], -1, 0)
            return Filters(layer.name, kernels, f"{kernels.shape[0]} kernels of {k.shape[0]}×{k.shape[1]} "
                                                f"of the first convolution ({layer.name})")
        if kind == "Dense":
            w = np.asarray(layer.get_weights()[0])  # (784, units)
            if w.shape[0] != 784:
                return None
            kernels = np.moveaxis(w, -1, 0).reshape(-1, 28, 28)
            return Filters(layer.name, kernels, f"the 784 weights of each of the {kernels.shape[0]} units of "
                                                f"{layer.name}, as 28×28 images")
    return None
