"""The architectures, by name.

Every denoiser maps ``(N, 28, 28, 1)`` float images in [0, 1] to the same shape with a sigmoid
output; the classifier maps them to ten softmax probabilities. Builders return uncompiled
Keras models; the trainer compiles them.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

from .errors import ConfigError

INPUT_SHAPE = (28, 28, 1)
MAX_BOTTLENECK = 784  # a code as large as the input: the most a "bottleneck" can mean here


@dataclasses.dataclass(frozen=True)
class Architecture:
    name: str
    kind: str  # "denoiser" or "classifier"
    summary: str
    build: Callable[..., object]
    loss: str
    learning_rate: float = 1e-3
    bottleneck: Optional[int] = None  # the default code size when it can be set (dense, conv), else None


def _layers():
    import keras

    return keras, keras.layers


def build_dense(bottleneck: Optional[int] = None):
    """The first article's autoencoder: 784 → Dense(64, relu) → Dense(784, sigmoid).

    101,200 parameters. Flatten/Reshape only adapt it to the common 28×28×1 interface.
    ``bottleneck``: the code's size (default 64, the article's, layer for layer). Another size k
    gives 784 → Dense(256, relu) → Dense(k, *linear*, "code") → Dense(256, relu) → 784: one
    layer from the pixels to a small code is a linear projection (for k = 2 about a 2-D PCA of
    the digits, a blur of overlapping classes), so a small code gets a hidden layer on each side
    to fold the digits onto it, and no ReLU on the code itself (with 2 units it would leave
    whole directions dead and squash the digits against the axes).
    """
    keras, L = _layers()
    k = check_bottleneck("dense", bottleneck)
    inp = keras.Input(INPUT_SHAPE, name="noisy")
    x = L.Flatten()(inp)
    if k == DENSE_CODE:
        x = L.Dense(k, activation="relu", name="code")(x)
    else:
        x = L.Dense(DENSE_HIDDEN, activation="relu", name="encode")(x)
        x = L.Dense(k, name="code")(x)
        x = L.Dense(DENSE_HIDDEN, activation="relu", name="decode")(x)
    x = L.Dense(784, activation="sigmoid")(x)
    out = L.Reshape(INPUT_SHAPE, name="clean")(x)
    return keras.Model(inp, out, name="dense")


def build_conv(bottleneck: Optional[int] = None):
    """The second article's convolutional autoencoder, layer for layer.

    Encoder Conv(16)-Pool-Conv(8)-Pool-Conv(8)-Pool to 4×4×8; decoder Conv(8)-Up-Conv(8)-Up-
    Conv(16, valid)-Up-Conv(1, sigmoid). 3×3 kernels, ReLU, 'same' padding except the valid
    convolution that brings 16×16 back to 14×14. 4,385 parameters.

    ``bottleneck``: the code's size (default 128 = 4×4×8, the article's, layer for layer: the
    last pooling is the code). Another size k inserts, after that pooling (then named
    "pool4"), Flatten → Dense(k, linear, name "code") → Dense(128, relu) → Reshape(4, 4, 8),
    and the article's decoder follows unchanged.
    """
    keras, L = _layers()
    k = check_bottleneck("conv", bottleneck)
    inp = keras.Input(INPUT_SHAPE, name="noisy")
    x = L.Conv2D(16, 3, activation="relu", padding="same")(inp)
    x = L.MaxPooling2D(2, padding="same")(x)
    x = L.Conv2D(8, 3, activation="relu", padding="same")(x)
    x = L.MaxPooling2D(2, padding="same")(x)
    x = L.Conv2D(8, 3, activation="relu", padding="same")(x)
    if k == CONV_CODE:
        x = L.MaxPooling2D(2, padding="same", name="code")(x)
    else:
        x = L.MaxPooling2D(2, padding="same", name="pool4")(x)
        x = L.Flatten()(x)
        x = L.Dense(k, name="code")(x)
        x = L.Dense(CONV_CODE, activation="relu")(x)
        x = L.Reshape((4, 4, 8))(x)
    x = L.Conv2D(8, 3, activation="relu", padding="same")(x)
    x = L.UpSampling2D(2)(x)
    x = L.Conv2D(8, 3, activation="relu", padding="same")(x)
    x = L.UpSampling2D(2)(x)
    x = L.Conv2D(16, 3, activation="relu")(x)
    x = L.UpSampling2D(2)(x)
    out = L.Conv2D(1, 3, activation="sigmoid", padding="same", name="clean")(x)
    return keras.Model(inp, out, name="conv")


def _block(L, x, filters, name):
    x = L.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_a")(x)
    return L.Conv2D(filters, 3, padding="same", activation="relu", name=f"{name}_b")(x)


def build_unet(width: int = 16):
    """Our design: a small U-Net with skip connections.

    Two 3×3 convolutions per level at 28, 14 and 7 pixels (width, 2·width, 4·width filters),
    max-pooling down, transposed convolutions up, and the encoder's features concatenated
    into the decoder at each level so fine stroke detail need not pass through the
    bottleneck. A 1×1 sigmoid convolution gives the clean image. The 7×7 bottleneck sees the
    whole digit (receptive field > 28 px), which is what removing heavy noise and filling
    erased strokes needs; the skips keep edges sharp, which is where PSNR is won.
    """
    keras, L = _layers()
    inp = keras.Input(INPUT_SHAPE, name="noisy")
    e1 = _block(L, inp, width, "enc28")
    e2 = _block(L, L.MaxPooling2D(2)(e1), 2 * width, "enc14")
    b = _block(L, L.MaxPooling2D(2)(e2), 4 * width, "bottleneck7")
    u2 = L.Conv2DTranspose(2 * width, 2, strides=2, activation="relu", name="up14")(b)
    d2 = _block(L, L.Concatenate()([u2, e2]), 2 * width, "dec14")
    u1 = L.Conv2DTranspose(width, 2, strides=2, activation="relu", name="up28")(d2)
    d1 = _block(L, L.Concatenate()([u1, e1]), width, "dec28")
    out = L.Conv2D(1, 1, activation="sigmoid", name="clean")(d1)
    return keras.Model(inp, out, name="unet")


def build_classifier():
    """A CNN digit classifier: two conv blocks (32 and 64 filters), dropout, 128-unit dense, softmax."""
    keras, L = _layers()
    inp = keras.Input(INPUT_SHAPE, name="digit")
    x = L.Conv2D(32, 3, padding="same", activation="relu")(inp)
    x = L.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = L.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D(2)(x)
    x = L.Dropout(0.25)(x)
    x = L.Flatten()(x)
    x = L.Dense(128, activation="relu")(x)
    x = L.Dropout(0.4)(x)
    out = L.Dense(10, activation="softmax", name="probabilities")(x)
    return keras.Model(inp, out, name="classifier")


DENSE_CODE = 64  # the first article's code size
DENSE_HIDDEN = 256  # the hidden layers around a dense code of another size than the article's
CONV_CODE = 4 * 4 * 8  # the second article's: its last pooling, 4×4×8


def check_bottleneck(arch: str, bottleneck: Optional[int]) -> int:
    """The code size to build ``arch`` with (None: the architecture's default). ConfigError for
    an architecture without a settable bottleneck or a size outside 1..784."""
    a = get(arch)
    if a.bottleneck is None:
        if bottleneck is None:
            return 0
        why = "it is a classifier, not an autoencoder" if a.kind == "classifier" else (
            "its skip connections bypass its deepest level, so it has no bottleneck to size")
        raise ConfigError(f"The bottleneck can only be set for dense and conv, not {arch}: {why}.")
    if bottleneck is None:
        return a.bottleneck
    if isinstance(bottleneck, bool) or not isinstance(bottleneck, int) or not 1 <= bottleneck <= MAX_BOTTLENECK:
        raise ConfigError(f"The bottleneck must be a whole number from 1 to {MAX_BOTTLENECK}, got {bottleneck!r}.")
    return bottleneck


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in (
        Architecture("dense", "denoiser", "first article: dense 784→64→784", build_dense, "binary_crossentropy",
                     bottleneck=DENSE_CODE),
        Architecture("conv", "denoiser", "second article: conv 16/8/8 autoencoder", build_conv, "binary_crossentropy",
                     bottleneck=CONV_CODE),
        Architecture("unet", "denoiser", "ours: U-Net 16/32/64 with skip connections", build_unet, "binary_crossentropy"),
        Architecture("classifier", "classifier", "CNN digit classifier 32/64", build_classifier, "sparse_categorical_crossentropy"),
    )
}

DENOISERS = tuple(name for name, a in ARCHITECTURES.items() if a.kind == "denoiser")


def get(name: str) -> Architecture:
    try:
        return ARCHITECTURES[name]
    except KeyError:
        raise ConfigError(f"Unknown architecture '{name}'; choose one of: {', '.join(ARCHITECTURES)}.") from None


def summary(name: str, bottleneck: Optional[int] = None) -> str:
    """The architecture's one-line summary, saying the code size when it is not the default."""
    a = get(name)
    k = check_bottleneck(name, bottleneck)
    if a.bottleneck is None or k == a.bottleneck:
        return a.summary
    if name == "dense":
        return f"dense 784→{DENSE_HIDDEN}→{k}→{DENSE_HIDDEN}→784 (linear code; the first article's is 784→64→784)"
    return f"{a.summary} with a linear code of {k} after its 4×4×8 pooling"


def build(name: str, bottleneck: Optional[int] = None):
    """Build an architecture; ``bottleneck`` sets the code size of dense and conv (see
    :func:`check_bottleneck`)."""
    check_bottleneck(name, bottleneck)
    return get(name).build() if bottleneck is None else get(name).build(bottleneck=bottleneck)
