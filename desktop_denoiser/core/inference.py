"""Denoiser + classifier, as one compiled function.

The single-image path is one ``tf.function`` with a fixed input signature, traced and warmed
up once: it denoises, then classifies the noisy input and the reconstruction in one batch of
two. No ``model.predict`` per image (about 100 ms here) and no eager Keras call (17–30 ms).
The batched path serves the CLI, the evaluation and the noise sweep.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Optional

import numpy as np

# Images per call of the batched graphs. 128, not more: the window is a long-lived process, and
# the memory a batch's activations take stays with the process (the allocator keeps it): denoising
# 2,000 digits with the U-Net left it 160 MB larger at 512 a batch, 39 MB at 128 (the window's
# measuring of a new model; the soak's memory check failed at 512). 128 is as fast: 0.234 against
# 0.257 ms/digit for the U-Net, 0.142 against 0.147 for the conv network (10,000 digits, 2 cores).
BATCH = 128


@dataclasses.dataclass
class Prediction:
    noisy: np.ndarray  # (28, 28) what the denoiser saw
    reconstruction: np.ndarray  # (28, 28)
    probs_noisy: Optional[np.ndarray]  # (10,) classifier on the noisy input
    probs_reconstruction: Optional[np.ndarray]  # (10,) classifier on the reconstruction
    seconds: float

    @property
    def digit(self) -> Optional[int]:
        p = self.probs_reconstruction
        return None if p is None else int(np.argmax(p))

    @property
    def confidence(self) -> Optional[float]:
        p = self.probs_reconstruction
        return None if p is None else float(np.max(p))


class Pipeline:
    """A denoiser and/or a classifier (either may be None) with fast compiled call paths.

    ``xla``: compile the single-image graph with XLA, which fuses its small ops and saves
    about a millisecond when TensorFlow runs on several threads. The default is XLA unless
    TensorFlow was set to one thread (:func:`device.use_one_thread`), where plain graphs are
    faster. A graph that XLA cannot compile falls back to a plain one.
    """

    def __init__(self, denoiser=None, classifier=None, warmup: bool = True, xla: Optional[bool] = None):
        import tensorflow as tf

        from . import device

        self.denoiser = denoiser
        self.classifier = classifier
        self._lock = threading.Lock()
        self.xla = (not device.one_thread()) if xla is None else xla
        one = tf.TensorSpec((1, 28, 28, 1), tf.float32)
        many = tf.TensorSpec((None, 28, 28, 1), tf.float32)
        fn = lambda f, spec, jit=False: tf.function(f, input_signature=[spec], autograph=False, jit_compile=jit)  # noqa: E731
        self._single = fn(self._run_single, one, self.xla)
        self._single_plain = fn(self._run_single, one) if self.xla else self._single
        self._single_call = None  # its concrete function, once traced (see _call_single)
        self._denoise_many = fn(self._run_denoise, many) if denoiser is not None else None
        self._classify_many = fn(self._run_classify, many) if classifier is not None else None
        if warmup:
            self.warmup()

    # graph bodies ------------------------------------------------------------------------------

    def _run_single(self, x):
        import tensorflow as tf

        y = self.denoiser(x, training=False) if self.denoiser is not None else x
        if self.classifier is None:
            return y, tf.zeros((2, 10))
        return y, self.classifier(tf.concat([x, y], axis=0), training=False)

    def _run_denoise(self, x):
        return self.denoiser(x, training=False)

    def _run_classify(self, x):
        return self.classifier(x, training=False)

    # public ------------------------------------------------------------------------------------

    def warmup(self) -> None:
        zeros = np.zeros((1, 28, 28), np.float32)
        try:
            self.run(zeros[0])
        except Exception:  # noqa: BLE001 - XLA could not compile this model: use the plain graph
            if not self.xla:
                raise
            self.xla, self._single, self._single_call = False, self._single_plain, None
            self.run(zeros[0])
        if self._denoise_many is not None:
            self.denoise(zeros)
        if self._classify_many is not None:
            self.classify(zeros)

    def run(self, image: np.ndarray) -> Prediction:
        """Denoise and classify one (28, 28) image in [0, 1]; the interactive path."""
        x = np.ascontiguousarray(image, dtype=np.float32).reshape(1, 28, 28, 1)
        t0 = time.perf_counter()
        with self._lock:
            y, probs = self._call_single(x)
            y, probs = y.numpy(), probs.numpy()
        seconds = time.perf_counter() - t0
        has_clf = self.classifier is not None
        return Prediction(
            noisy=x[0, :, :, 0],
            reconstruction=y[0, :, :, 0],
            probs_noisy=probs[0] if has_clf else None,
            probs_reconstruction=probs[1] if has_clf else None,
            seconds=seconds,
        )

    def _call_single(self, x):
        """Call the single-image graph's concrete function: a tf.function's own call binds and
        checks its arguments in Python every time, about 0.4 ms of a 3 ms U-Net frame here."""
        if self._single_call is None:
            self._single_call = self._single.get_concrete_function()
        return self._single_call(x)

    def denoise(self, images: np.ndarray) -> np.ndarray:
        """Denoise (N, 28, 28) images in batches; returns (N, 28, 28)."""
        if self._denoise_many is None:
            return np.asarray(images, np.float32)
        return self._batched(self._denoise_many, images)[..., 0]

    def classify(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities (N, 10) for (N, 28, 28) images."""
        if self._classify_many is None:
            raise RuntimeError("No classifier loaded.")
        return self._batched(self._classify_many, images)

    def _batched(self, fn, images):
        x = np.asarray(images, np.float32).reshape(-1, 28, 28, 1)
        out = []
        with self._lock:
            for i in range(0, len(x), BATCH):
                out.append(fn(x[i : i + BATCH]).numpy())
        if not out:
            return np.zeros((0,) + tuple(fn.get_concrete_function().structured_outputs.shape[1:]), np.float32)
        return np.concatenate(out)
