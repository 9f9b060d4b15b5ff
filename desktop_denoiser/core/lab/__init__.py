"""The autoencoder lab (issue 13): what the networks learned, as computations the window and
the ``explore`` command draw.

* :mod:`.split` — :class:`LabModel`: any stored model split at its bottleneck ("code") into a
  compiled ``encode`` / ``decode``, with ``denoise``, ``classify`` and ``layers``, and a
  :class:`Bottleneck` that says what there is to show.
* :mod:`.projection` — PCA (numpy), the 2-D code itself, t-SNE (scikit-learn, optional).
* :mod:`.latent_map` — the map of N test digits, the live markers, the vector field, the manifold.
* :mod:`.interpolate`, :mod:`.iterate`, :mod:`.inside`, :mod:`.compare` — the other views.
* :mod:`.figures` (with :mod:`.drawing`) — every view as a Pillow image; :mod:`.explore` — the command.

No Qt here, and TensorFlow is imported only when a model is used.
"""

# (the functions named like their modules, interpolate.interpolate, iterate.iterate and
# compare.compare, are imported from their modules: re-exported here they would hide them)
from .compare import Row, installed_denoisers
from .inside import Filters, LayerOutput, first_filters, layer_outputs, skip_free
from .interpolate import Interpolation
from .iterate import Iteration
from .latent_map import LatentMap, Manifold, Markers, build_map, manifold, mnist_digits, vector_field
from .projection import PCA, TSNE, Cancelled, CodePlane, tsne_available
from .split import Bottleneck, LabModel, load

__all__ = [
    "Bottleneck", "Cancelled", "CodePlane", "Filters", "Interpolation", "Iteration", "LabModel", "LatentMap",
    "LayerOutput", "Manifold", "Markers", "PCA", "Row", "TSNE", "build_map", "first_filters",
    "installed_denoisers", "layer_outputs", "load", "manifold", "mnist_digits", "skip_free", "tsne_available",
    "vector_field",
]
