"""Every architecture split for the lab: encoder, bottleneck code, decoder, and compiled calls.

A :class:`LabModel` wraps a trained denoiser (or the classifier) and, when the model has a
bottleneck in the articles' sense, splits it at its layer named ``"code"``:

* encoder = ``Model(input, get_layer("code").output)``;
* decoder = a new ``Input`` of the code's shape through the layers after ``"code"``, in order.

That works for the chains that :mod:`..models` builds (dense, conv, conv with a sized
bottleneck) whether built here, trained by the user or loaded from a ``.keras`` file; the
split is checked once (decoder∘encoder must give the model's own output) and a model whose
layers after the code are not a plain chain keeps working in the views that need no code.

Codes are always handed out flat, ``(N, size)`` float32 (the conv's 4×4×8 as 128 numbers),
so projections treat every model alike; :meth:`LabModel.decode` takes them back flat.

Every call is one ``tf.function`` with a ``(None, ...)`` batch signature, traced once and
called through its concrete function (as :class:`..inference.Pipeline` does): no
``model.predict`` (about 100 ms a call) and no eager Keras call.
"""

from __future__ import annotations

import dataclasses
import threading
from typing import Optional

import numpy as np

from ..errors import ConfigError

UNET_NOTE = (
    "none in the articles' sense: the U-Net's skip connections carry its 28×28 and 14×14 features "
    "around its deepest level, and that level holds 7×7×64 = 3,136 values, more than the 784 input "
    "pixels, so nothing is forced through a narrow code (zero the skips to see what it carries alone)"
)
CLASSIFIER_NOTE = "not a denoiser: the classifier maps a digit to ten probabilities; it has no code to decode"
CHECK_ATOL = 1e-4  # decoder∘encoder against the model itself, on [0, 1] outputs
LIVE_BATCH = 3  # the window's frame: the input, its noisy version and the reconstruction


@dataclasses.dataclass(frozen=True)
class Bottleneck:
    """What a model's bottleneck is: ``shape`` of one code (None: no code to show), its
    ``size`` (numbers per code) and a ``description`` for people."""

    shape: Optional[tuple]
    description: str

    @property
    def size(self) -> Optional[int]:
        return None if self.shape is None else int(np.prod(self.shape))

    @property
    def exists(self) -> bool:
        return self.shape is not None

    def __str__(self) -> str:
        return self.description


def _shape_text(shape: tuple) -> str:
    if len(shape) == 1:
        return f"a vector of {shape[0]}"
    return "×".join(str(s) for s in shape) + f" = {int(np.prod(shape))}"


def _kind_of(model) -> str:
    shape = tuple(model.output_shape) if not isinstance(model.output_shape, list) else None
    return "classifier" if shape == (None, 10) else "denoiser"


class LabModel:
    """A denoiser (or the classifier) ready for the lab's views; ``classifier`` (optional)
    reads the digits of reconstructions, interpolations and iterates.

    ``bottleneck`` says what the model has to show; ``has_code`` whether :meth:`encode` and
    :meth:`decode` work (dense and conv: yes; the U-Net and the classifier: no, see
    :data:`UNET_NOTE`); ``is_unet`` whether :meth:`layers` can zero the skips.
    """

    def __init__(self, model, classifier=None, name: Optional[str] = None, entry=None):
        import tensorflow as tf

        self.model = model
        self.classifier = classifier
        self.name = name or (entry.name if entry is not None else model.name)
        self.entry = entry  # the store's ModelEntry (its .meta), when loaded from the store
        self.kind = _kind_of(model)
        self.architecture = model.name
        self._lock = threading.Lock()
        self.encoder = self.decoder = None
        self.bottleneck, self.split_problem = self._split()
        images = tf.TensorSpec((None, 28, 28, 1), tf.float32)
        self._fn_denoise = self._compile(self._run_denoise, images) if self.kind == "denoiser" else None
        self._fn_classify = self._compile(self._run_classify, images) if classifier is not None else None
        if self.has_code:
            codes = tf.TensorSpec((None, self.code_size), tf.float32)
            self._fn_encode = self._compile(self._run_encode, images)
            self._fn_live = self._compile_live()
            self._fn_decode = self._compile(self._run_decode, codes)
            self._fn_step = self._compile(self._run_step, images)
        self._inside: dict = {}  # zero_skips -> (compiled call, [(name, kind)]), made by inside.py

    def layers(self, image, zero_skips: bool = False) -> list:
        """The output of every layer for one (28, 28) image: see :func:`.inside.layer_outputs`."""
        from .inside import layer_outputs

        return layer_outputs(self, image, zero_skips)

    # the split ---------------------------------------------------------------------------------

    def _split(self) -> tuple[Bottleneck, Optional[str]]:
        if self.kind == "classifier":
            return Bottleneck(None, CLASSIFIER_NOTE), CLASSIFIER_NOTE
        names = {layer.name for layer in self.model.layers}
        if "code" not in names:
            if "bottleneck7_b" in names:
                return Bottleneck(None, UNET_NOTE), UNET_NOTE
            problem = (f"{self.name} has no layer named 'code', so it cannot be split into an encoder and a "
                       "decoder (the models this app builds name their bottleneck 'code')")
            return Bottleneck(None, "unknown: no layer named 'code'"), problem
        try:
            self.encoder, self.decoder = _encoder_decoder(self.model)
        except ConfigError as exc:
            return Bottleneck(None, f"unknown: {exc}"), f"{self.name}: {exc}"
        shape = tuple(int(s) for s in self.encoder.output_shape[1:])
        return Bottleneck(shape, _shape_text(shape)), None

    @property
    def has_code(self) -> bool:
        return self.bottleneck.exists

    @property
    def code_size(self) -> Optional[int]:
        return self.bottleneck.size

    @property
    def is_unet(self) -> bool:
        return self.bottleneck.description == UNET_NOTE

    def require_code(self, what: str = "this view") -> None:
        """ConfigError naming the reason when the model has no code to show."""
        if not self.has_code:
            raise ConfigError(f"{self.name} cannot show {what}: its bottleneck is {self.split_problem}.")

    def require_denoiser(self, what: str = "this view") -> None:
        if self.kind != "denoiser":
            raise ConfigError(f"{self.name} cannot show {what}: it is {CLASSIFIER_NOTE}.")

    # graph bodies --------------------------------------------------------------------------------

    @staticmethod
    def _compile(body, spec):
        import tensorflow as tf

        return tf.function(body, input_signature=[spec], autograph=False).get_concrete_function()

    def _compile_live(self):
        """The frame's encode of exactly three images, with XLA (it fuses the conv encoder's small
        ops: about 0.8 instead of 1.5 ms here), unless TensorFlow runs on one thread or XLA
        cannot compile the graph. XLA compiles per shape, hence the fixed batch."""
        import tensorflow as tf

        from .. import device

        spec = tf.TensorSpec((LIVE_BATCH, 28, 28, 1), tf.float32)
        if not device.one_thread():
            try:
                fn = tf.function(self._run_encode, input_signature=[spec], autograph=False, jit_compile=True)
                fn = fn.get_concrete_function()
                fn(np.zeros((LIVE_BATCH, 28, 28, 1), np.float32))
                return fn
            except Exception:  # noqa: BLE001 - XLA could not compile it: the plain graph
                pass
        return self._compile(self._run_encode, spec)

    def _run_denoise(self, x):
        return self.model(x, training=False)

    def _run_classify(self, x):
        return self.classifier(x, training=False)

    def _run_encode(self, x):
        import tensorflow as tf

        return tf.reshape(self.encoder(x, training=False), (-1, self.code_size))

    def _run_decode(self, z):
        import tensorflow as tf

        return self.decoder(tf.reshape(z, (-1,) + self.bottleneck.shape), training=False)

    def _run_step(self, x):  # one pass: the input's code and the model's output from it
        import tensorflow as tf

        code = self.encoder(x, training=False)
        return tf.reshape(code, (-1, self.code_size)), self.decoder(code, training=False)

    # public calls ------------------------------------------------------------------------------

    def _call(self, fn, array, shape):
        x = np.ascontiguousarray(array, dtype=np.float32).reshape(shape)
        with self._lock:
            out = fn(x)
        if isinstance(out, (tuple, list)):
            return tuple(np.asarray(o) for o in out)
        return np.asarray(out)

    def encode(self, images) -> np.ndarray:
        """Codes ``(N, code_size)`` of ``(N, 28, 28)`` images (one compiled call)."""
        self.require_code("codes")
        x = np.asarray(images, dtype=np.float32).reshape(-1, 28, 28, 1)
        return self._call(self._fn_live if len(x) == LIVE_BATCH else self._fn_encode, x, x.shape)

    def decode(self, codes) -> np.ndarray:
        """Images ``(N, 28, 28)`` decoded from flat codes ``(N, code_size)`` (or one code)."""
        self.require_code("decoded codes")
        return self._call(self._fn_decode, codes, (-1, self.code_size))[..., 0]

    def encode_decode(self, images) -> tuple[np.ndarray, np.ndarray]:
        """``(codes, reconstructions)`` of images in one pass through the model."""
        self.require_code("codes")
        codes, out = self._call(self._fn_step, images, (-1, 28, 28, 1))
        return codes, out[..., 0]

    def denoise(self, images) -> np.ndarray:
        """The model's output ``(N, 28, 28)`` for ``(N, 28, 28)`` images."""
        self.require_denoiser("reconstructions")
        return self._call(self._fn_denoise, images, (-1, 28, 28, 1))[..., 0]

    def classify(self, images) -> Optional[np.ndarray]:
        """Class probabilities ``(N, 10)``, or None without a classifier."""
        if self._fn_classify is None:
            return None
        return self._call(self._fn_classify, images, (-1, 28, 28, 1))


def _encoder_decoder(model):
    """Split a chain model at its layer named "code"; ConfigError when it is not a chain there."""
    import keras

    code = model.get_layer("code")
    layers = list(model.layers)
    encoder = keras.Model(model.input, code.output, name=f"{model.name}_encoder")
    z = keras.Input(tuple(code.output.shape[1:]), name="code_in")
    y = z
    try:
        for layer in layers[layers.index(code) + 1:]:
            y = layer(y)
        decoder = keras.Model(z, y, name=f"{model.name}_decoder")
    except Exception as exc:  # noqa: BLE001 - a graph that is not a chain after the code
        raise ConfigError(f"its layers after 'code' are not a plain chain ({type(exc).__name__})") from None
    x = np.random.default_rng(0).random((2, 28, 28, 1)).astype(np.float32)
    whole = np.asarray(model(x, training=False))
    split = np.asarray(decoder(encoder(x, training=False), training=False))
    if split.shape != whole.shape or not np.allclose(split, whole, atol=CHECK_ATOL):
        raise ConfigError("decoder(encoder(x)) differs from the model's output: its graph is not a chain after 'code'")
    return encoder, decoder


def load(store, name: Optional[str] = None, classifier: Optional[str] = None, need_classifier: bool = False) -> LabModel:
    """A :class:`LabModel` of a stored model (default: the store's default denoiser) with the
    store's classifier (or the one named); ModelFileError when a named model is missing."""
    from ..errors import ModelFileError

    entry = store.find(name) if name else store.default("denoiser")
    if entry is None:
        raise ModelFileError("No denoiser found; train one with 'desktop-denoiser train'.")
    loaded = store.load(str(entry.path))
    c_entry = store.find(classifier) if classifier else store.default("classifier")
    clf = None
    if c_entry is not None:
        clf = loaded.model if c_entry.path == loaded.entry.path else store.load(str(c_entry.path), "classifier").model
    elif need_classifier:
        raise ModelFileError("No classifier found; train one with 'desktop-denoiser train --arch classifier'.")
    return LabModel(loaded.model, clf, entry=loaded.entry)
