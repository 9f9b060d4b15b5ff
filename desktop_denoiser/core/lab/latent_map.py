"""The latent map: bottleneck codes of test digits on a 2-D map, the live markers, the first
article's vector field, and the learned manifold.

* :func:`build_map` encodes N test digits (in chunks: progress and cancel between them) and
  projects them (:mod:`.projection`). About a second for 5,000 digits with PCA.
* :meth:`LatentMap.markers` is the window's per-frame call: the input, its noisy version and
  the reconstruction encoded in one compiled call of three and projected by one matrix
  product (PCA), about a millisecond.
* :func:`manifold` decodes a regular grid of map positions: with a 2-D bottleneck it is the
  code itself, so the grid shows the manifold the model learned; for a PCA map it is the
  plane of the two components through the codes' mean.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import numpy as np

from ..errors import ConfigError
from . import projection
from .projection import Cancelled, CodePlane, PCA, TSNE

DEFAULT_COUNT = 5000  # test digits on the map
CHUNK = 1000  # digits encoded per call while building the map
METHODS = ("auto", "pca", "tsne", "code")


LINEAR, QUANTILE = "linear", "quantile"  # the manifold grid's spacing
GRID_LOW, GRID_HIGH = 1.0, 99.0  # the percentiles of the codes the manifold grid spans


@dataclasses.dataclass
class Markers:
    """Map positions (x, y) and codes of the live images; a missing image is None."""

    points: dict  # "clean" / "noisy" / "reconstruction" -> (2,) array or None
    codes: dict  # same keys -> (size,) array or None

    @property
    def arrow(self) -> Optional[tuple]:
        """(start, end) of the arrow noisy → reconstruction, or None."""
        a, b = self.points.get("noisy"), self.points.get("reconstruction")
        return None if a is None or b is None else (a, b)


@dataclasses.dataclass
class LatentMap:
    """``codes`` (N, size) of N digits with ``labels`` (N,), their map ``points`` (N, 2) and the
    ``projector`` that made them (``project``/``inverse``)."""

    codes: np.ndarray
    labels: np.ndarray
    points: np.ndarray
    projector: object
    model_name: str = ""

    @property
    def method(self) -> str:
        return self.projector.method

    def describe(self) -> str:
        return self.projector.describe()

    def place(self, codes) -> np.ndarray:
        return self.projector.project(codes)

    def markers(self, lab, noisy=None, clean=None, reconstruction=None) -> Markers:
        """Encode and place the live images (each (28, 28) or None) in one compiled call."""
        given = {"clean": clean, "noisy": noisy, "reconstruction": reconstruction}
        names = [k for k, v in given.items() if v is not None]
        batch = np.zeros((3, 28, 28), np.float32)  # always three: one traced XLA shape
        for i, name in enumerate(names):
            batch[i] = np.asarray(given[name], np.float32).reshape(28, 28)
        codes = lab.encode(batch)
        pts = self.projector.project(codes)
        points = {k: None for k in given}
        found = {k: None for k in given}
        for i, name in enumerate(names):
            points[name], found[name] = pts[i], codes[i]
        return Markers(points, found)

    def code_at(self, point) -> np.ndarray:
        """The code of a map position ``(x, y)`` (exact for PCA and 2-D codes; approximate for t-SNE)."""
        return self.projector.inverse(np.asarray(point, np.float32).reshape(1, 2))[0]

    def nearest(self, point) -> int:
        """The index of the digit whose map point is nearest ``(x, y)`` (a click on a point)."""
        d = np.sum((self.points - np.asarray(point, np.float32).reshape(1, 2)) ** 2, axis=1)
        return int(np.argmin(d))

    def decode_at(self, lab, point) -> np.ndarray:
        """The (28, 28) image decoded from a map position."""
        return lab.decode(self.code_at(point))[0]

    def extent(self, low: float = 1.0, high: float = 99.0) -> tuple:
        """(x0, x1, y0, y1): the points' ``low``-``high`` percentiles."""
        x0, x1 = np.percentile(self.points[:, 0], [low, high])
        y0, y1 = np.percentile(self.points[:, 1], [low, high])
        return float(x0), float(x1), float(y0), float(y1)


def encode_all(lab, images, on_progress: Optional[Callable] = None, cancel: Optional[Callable[[], bool]] = None,
               share: float = 1.0) -> np.ndarray:
    """Codes of many images, CHUNK at a time; ``on_progress(fraction * share, text)``."""
    x = np.asarray(images, np.float32)
    out = []
    for i in range(0, len(x), CHUNK):
        if cancel is not None and cancel():
            raise Cancelled("The map was cancelled.")
        out.append(lab.encode(x[i : i + CHUNK]))
        if on_progress is not None:
            on_progress(share * min(1.0, (i + CHUNK) / max(len(x), 1)), "encoding the digits")
    return np.concatenate(out) if out else np.zeros((0, lab.code_size), np.float32)


def build_map(lab, images, labels, method: str = "auto", seed: int = 0, on_progress: Optional[Callable] = None,
              cancel: Optional[Callable[[], bool]] = None, tsne_iterations: int = projection.TSNE_ITERATIONS) -> LatentMap:
    """The map of ``images`` (N, 28, 28) with their ``labels``. ``method``: "pca", "tsne",
    "code" (a 2-D code as it is) or "auto" ("code" for a 2-D code, else "pca").
    ``on_progress(fraction, text)``; ``cancel()`` → True stops with :class:`Cancelled`."""
    lab.require_code("a latent map")
    if method not in METHODS:
        raise ConfigError(f"Unknown map method '{method}'; choose one of: {', '.join(METHODS)}.")
    if method == "auto":
        method = "code" if lab.code_size == 2 else "pca"
    if method == "tsne":
        projection.require_sklearn()  # before the encoding: a missing extra is said at once
    share = 0.2 if method == "tsne" else 1.0
    codes = encode_all(lab, images, on_progress, cancel, share)
    if len(codes) < 2:
        raise ConfigError("A map needs at least two digits.")
    if method == "code":
        projector = CodePlane(lab.code_size)
    elif method == "pca":
        projector = PCA.fit(codes)
    else:
        report = None if on_progress is None else (lambda f, text: on_progress(share + (1 - share) * f, text))
        projector = TSNE.fit(codes, seed=seed, iterations=tsne_iterations, on_progress=report, cancel=cancel)
    points = projector.points if method == "tsne" else projector.project(codes)
    if on_progress is not None:
        on_progress(1.0, "map ready")
    return LatentMap(codes, np.asarray(labels).reshape(-1)[: len(codes)], points, projector, lab.name)


def mnist_digits(count: int = DEFAULT_COUNT, mnist_path: Optional[str] = None) -> tuple[np.ndarray, np.ndarray]:
    """The first ``count`` MNIST test digits as floats (N, 28, 28) and their labels."""
    from .. import data as data_mod

    mnist = data_mod.load_mnist(mnist_path)
    return data_mod.to_float(mnist.x_test[:count]), mnist.y_test[:count].astype(np.int64)


def vector_field(lab, latent_map: LatentMap, clean, noise, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """The first article's vector field: for each clean digit, its noisy version's map point
    (start) and its reconstruction's (end); the arrows point back toward the data."""
    noisy = noise.apply(np.asarray(clean, np.float32), seed=seed)
    codes, recon = lab.encode_decode(noisy)
    return latent_map.place(codes), latent_map.place(encode_all(lab, recon))


@dataclasses.dataclass
class Manifold:
    """Decoded images on a ``grid`` × ``grid`` lattice of map positions: ``images[row, col]``,
    row 0 at the top (largest y, as on the map), ``xs`` left to right, ``ys`` top to bottom."""

    images: np.ndarray  # (grid, grid, 28, 28)
    xs: np.ndarray
    ys: np.ndarray
    extent: tuple  # (x0, x1, y0, y1)
    exact: bool  # True when the map is the code itself (a 2-D bottleneck)
    spacing: str = LINEAR  # QUANTILE: the columns (rows) at equal fractions of the digits, not equal distances

    def mosaic(self) -> np.ndarray:
        """The grid as one (grid*28, grid*28) image."""
        g = self.images.shape[0]
        return self.images.transpose(0, 2, 1, 3).reshape(g * 28, g * 28)


def manifold(lab, grid: int = 15, extent: Optional[tuple] = None, latent_map: Optional[LatentMap] = None,
             codes=None, spacing: str = QUANTILE) -> Manifold:
    """Decode a grid over the map. The map is ``latent_map``'s, else the 2-D code itself (then
    ``codes`` or ``extent`` are needed). ``extent`` (x0, x1, y0, y1) defaults to the 1st-99th
    percentiles of the map's points.

    ``spacing``: QUANTILE (when the map has points and no ``extent`` is given) puts the columns
    at the 1st..99th percentiles of the points' x (the rows likewise), so that as many digits lie
    between any two neighbours: an autoencoder's codes are not spread evenly (a plain
    autoencoder has no prior pulling them into a disc, as a VAE's has), and an even grid spends
    most of its cells on the few classes with a long tail. LINEAR spaces them evenly."""
    lab.require_code("a manifold")
    if not 2 <= grid <= 100:
        raise ConfigError(f"The manifold grid must be 2 to 100 images wide, got {grid}.")
    if latent_map is None:
        if lab.code_size != 2:
            raise ConfigError(f"{lab.name} has a code of {lab.code_size}; give a map (PCA) to decode a plane of it.")
        if extent is None and codes is None:
            raise ConfigError("Give the codes of some digits or the extent of the grid.")
        latent_map = LatentMap(np.zeros((0, 2), np.float32) if codes is None else np.asarray(codes, np.float32),
                               np.zeros(0), np.zeros((0, 2), np.float32) if codes is None else np.asarray(codes),
                               CodePlane(2), lab.name)
    if not latent_map.projector.exact_inverse:
        raise ConfigError("A t-SNE map has no inverse: the manifold needs a PCA map or a 2-D code.")
    x0, x1, y0, y1 = extent if extent is not None else latent_map.extent()
    if spacing == QUANTILE and extent is None and len(latent_map.points):
        fractions = np.linspace(GRID_LOW, GRID_HIGH, grid)
        xs = np.percentile(latent_map.points[:, 0], fractions).astype(np.float32)
        ys = np.percentile(latent_map.points[:, 1], fractions[::-1]).astype(np.float32)
    else:
        spacing = LINEAR
        xs = np.linspace(x0, x1, grid, dtype=np.float32)
        ys = np.linspace(y1, y0, grid, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    points = np.stack([gx.ravel(), gy.ravel()], axis=1)
    images = lab.decode(latent_map.projector.inverse(points)).reshape(grid, grid, 28, 28)
    return Manifold(images, xs, ys, (x0, x1, y0, y1), isinstance(latent_map.projector, CodePlane), spacing)
