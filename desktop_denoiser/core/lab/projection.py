"""From codes to a 2-D map and back: PCA, the code itself (2-D bottlenecks) and t-SNE.

Every projector has ``project(codes) -> (N, 2)`` and ``inverse(points) -> (N, size)`` and
says whether that inverse is exact (``exact_inverse``):

* :class:`PCA` — the default, instant. Plain numpy, the eigenvectors of the codes' scatter
  matrix (scikit-learn is not a dependency of the app, and two components of a few thousand
  codes need nothing more). ``inverse`` is
  ``mean + points @ components``: every map position is a code on the plane through the
  codes' mean spanned by the two components, so any position decodes.
* :class:`CodePlane` — a 2-D bottleneck needs no projection: the map is the code itself and
  its inverse is exact.
* :class:`TSNE` — scikit-learn's t-SNE (the optional extra ``[lab]``), with a progress
  callback and cancellable. t-SNE cannot place new points, so :meth:`TSNE.project` places a
  code at the weighted mean of the embedded positions of its k nearest neighbours in code
  space (weights 1/distance; a code equal to a fitted one lands on it). Its ``inverse`` is the
  same rule the other way (the k nearest map points' codes), only an approximation.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Callable, Optional

import numpy as np

from ..errors import ConfigError, DenoiserError

NEIGHBOURS = 10  # k of the t-SNE placement of new points
TSNE_PCA_DIMS = 50  # codes larger than this are reduced by PCA first (the usual t-SNE recipe)
TSNE_ITERATIONS = 1000
COVARIANCE_LIMIT = 2048  # PCA of codes up to this size through their scatter matrix, larger ones by SVD


class Cancelled(DenoiserError):
    """A map computation was cancelled (by the ``cancel`` callable)."""


class PCA:
    """Two principal components of codes ``(N, size)``: ``mean``, ``components`` (2, size),
    ``explained`` (the fraction of the codes' variance each component holds)."""

    method = "pca"
    exact_inverse = True  # exact for positions on the plane; a code off it projects onto it

    def __init__(self, mean: np.ndarray, components: np.ndarray, explained: np.ndarray):
        self.mean, self.components, self.explained = mean, components, explained

    @classmethod
    def fit(cls, codes, dims: int = 2) -> "PCA":
        c = np.asarray(codes, dtype=np.float64)
        if c.ndim != 2 or len(c) < 2:
            raise ConfigError("PCA needs at least two codes of the same size.")
        mean = c.mean(axis=0)
        x = c - mean
        if c.shape[1] <= COVARIANCE_LIMIT:
            # the eigenvectors of the (size × size) scatter matrix: the same components as the
            # SVD of the centred codes, 20-50 times faster for 5,000 codes (the window's map)
            scatter = x.T @ x
            w, v = np.linalg.eigh(scatter)
            order = np.argsort(w)[::-1][: min(dims, len(c))]
            s2, vt, total = np.maximum(w[order], 0.0), v[:, order].T, float(np.trace(scatter))
        else:
            _, s, vt = np.linalg.svd(x, full_matrices=False)
            s2 = s**2
            total = float(np.sum(s2))
        explained = s2[:dims] / total if total > 0 else np.zeros(min(dims, len(s2)))
        comps = vt[:dims]
        # a fixed sign per component (the largest loading positive): the same map every time
        comps = comps * np.where(comps[np.arange(len(comps)), np.argmax(np.abs(comps), axis=1)] < 0, -1.0, 1.0)[:, None]
        if len(comps) < dims:  # fewer codes or dimensions than components: pad with zeros
            comps = np.vstack([comps, np.zeros((dims - len(comps), c.shape[1]))])
            explained = np.concatenate([explained, np.zeros(dims - len(explained))])
        return cls(mean.astype(np.float32), comps.astype(np.float32), explained)

    def project(self, codes) -> np.ndarray:
        return (np.asarray(codes, np.float32).reshape(-1, self.mean.size) - self.mean) @ self.components.T

    def inverse(self, points) -> np.ndarray:
        return self.mean + np.asarray(points, np.float32).reshape(-1, 2) @ self.components

    def describe(self) -> str:
        return f"PCA, {100 * float(np.sum(self.explained)):.0f}% of the variance"


class CodePlane:
    """The map of a 2-D code: the code itself."""

    method = "code"
    exact_inverse = True

    def __init__(self, size: int = 2):
        if size != 2:
            raise ConfigError(f"The map is the code itself only for a 2-D code, not one of {size}.")

    def project(self, codes) -> np.ndarray:
        return np.asarray(codes, np.float32).reshape(-1, 2).copy()

    def inverse(self, points) -> np.ndarray:
        return np.asarray(points, np.float32).reshape(-1, 2).copy()

    def describe(self) -> str:
        return "the 2-D code itself"


def _knn_mean(queries, keys, values, k: int) -> np.ndarray:
    """Weighted (1/distance) mean of ``values`` of the k ``keys`` nearest each query."""
    q = np.asarray(queries, np.float32).reshape(len(queries), -1)
    # einsum, not BLAS: a (3 × 5,000) product for the window's markers is a millisecond this way,
    # where a threaded BLAS call waits for its threads (2-6 ms on a busy two-core machine)
    d2 = (np.einsum("ij,ij->i", q, q)[:, None] - 2.0 * np.einsum("ij,kj->ik", q, keys)
          + np.einsum("ij,ij->i", keys, keys)[None, :])
    k = min(k, len(keys))
    idx = np.argpartition(d2, k - 1, axis=1)[:, :k]
    d = np.sqrt(np.maximum(np.take_along_axis(d2, idx, axis=1), 0.0))
    w = 1.0 / np.maximum(d, 1e-6)
    exact = d < 1e-6  # a query equal to a key takes that key's value
    w = np.where(exact.any(axis=1, keepdims=True), exact.astype(np.float32), w)
    w /= w.sum(axis=1, keepdims=True)
    return np.einsum("nk,nkd->nd", w, values[idx]).astype(np.float32)


class TSNE:
    """A t-SNE embedding of fitted codes; new codes are placed by k nearest neighbours."""

    method = "tsne"
    exact_inverse = False

    def __init__(self, codes: np.ndarray, points: np.ndarray, neighbours: int = NEIGHBOURS):
        self.codes = np.asarray(codes, np.float32)
        self.points = np.asarray(points, np.float32)
        self.neighbours = neighbours

    @classmethod
    def fit(cls, codes, seed: int = 0, perplexity: float = 30.0, iterations: int = TSNE_ITERATIONS,
            on_progress: Optional[Callable] = None, cancel: Optional[Callable[[], bool]] = None) -> "TSNE":
        """Embed ``codes`` (a minute or more for 5,000 on two cores: run it in a worker thread).
        ``on_progress(fraction, text)`` reports the iterations (at least 250); ``cancel()``
        returning True stops it with :class:`Cancelled`."""
        iterations = max(int(iterations), 250)
        manifold = require_sklearn()
        codes = np.asarray(codes, np.float32)
        x = codes if codes.shape[1] <= TSNE_PCA_DIMS else PCA.fit(codes, TSNE_PCA_DIMS).project(codes)
        tsne = manifold.TSNE(n_components=2, perplexity=min(perplexity, max(1.0, (len(x) - 1) / 3)), init="pca",
                             random_state=seed, **{_iterations_keyword(manifold): iterations})
        with _tsne_progress(on_progress, cancel, iterations):
            points = tsne.fit_transform(x.astype(np.float64))
        return cls(codes, points.astype(np.float32))

    def project(self, codes) -> np.ndarray:
        return _knn_mean(codes, self.codes, self.points, self.neighbours)

    def inverse(self, points) -> np.ndarray:
        return _knn_mean(points, self.points, self.codes, self.neighbours)

    def describe(self) -> str:
        return f"t-SNE (new points: mean of their {self.neighbours} nearest neighbours)"


def require_sklearn():
    """scikit-learn's ``manifold`` module, or a ConfigError saying how to install it."""
    try:
        from sklearn import manifold
    except ImportError:
        raise ConfigError("The t-SNE map needs scikit-learn: pip install 'desktop-denoiser[lab]' "
                          "(or pip install scikit-learn).") from None
    return manifold


def tsne_available() -> bool:
    try:
        require_sklearn()
    except ConfigError:
        return False
    return True


def _iterations_keyword(manifold) -> str:
    import inspect

    return "max_iter" if "max_iter" in inspect.signature(manifold.TSNE).parameters else "n_iter"


_patch_lock = threading.Lock()


@contextlib.contextmanager
def _tsne_progress(on_progress, cancel, iterations: int = TSNE_ITERATIONS):
    """Report t-SNE's iterations and stop it on ``cancel``: scikit-learn has no callback, so its
    private ``_gradient_descent`` is wrapped for this thread while the fit runs (other threads'
    t-SNE pass through untouched). Without that function (another scikit-learn), the fit runs
    without per-iteration progress and a cancel takes effect when it ends."""
    try:
        from sklearn.manifold import _t_sne
    except ImportError:
        _t_sne = None
    original = getattr(_t_sne, "_gradient_descent", None)
    if original is None or (on_progress is None and cancel is None):
        yield
        _check(cancel)
        return
    owner = threading.get_ident()

    def wrapped(objective, p0, *args, **kwargs):
        if threading.get_ident() != owner:
            return original(objective, p0, *args, **kwargs)
        count = [int(kwargs.get("it", args[0] if args else 0))]  # where this phase starts

        def watched(p, *a, **kw):
            count[0] += 1
            if count[0] % 10 == 0:
                _check(cancel)
                if on_progress is not None:
                    on_progress(min(1.0, count[0] / iterations), f"t-SNE iteration {count[0]} of {iterations}")
            return objective(p, *a, **kw)

        return original(watched, p0, *args, **kwargs)

    with _patch_lock:
        _t_sne._gradient_descent = wrapped
        try:
            yield
        finally:
            _t_sne._gradient_descent = original


def _check(cancel) -> None:
    if cancel is not None and cancel():
        raise Cancelled("The map was cancelled.")
