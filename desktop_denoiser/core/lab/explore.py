"""The ``explore`` command's work: one lab view of one model, drawn and written as a PNG.

Inputs are image files through the app's preprocessing, or MNIST test digits (test digit 0,
and 1 for a second input). The figure is written atomically and an existing file is never
replaced unless ``overwrite``.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Optional, Sequence

import numpy as np

from .. import atomic
from ..errors import ConfigError, SaveError
from . import compare as compare_mod
from . import drawing, figures, inside, latent_map, split
from .interpolate import DEFAULT_STEPS, MAX_STEPS, interpolate
from .iterate import iterate

VIEWS = ("map", "manifold", "interpolate", "iterate", "inside", "compare")
FIELD_ARROWS = 80  # digits whose noisy → reconstruction arrows make the map's vector field
NEEDS_CODE = {"map": "a latent map", "manifold": "a manifold"}
NEEDS_DENOISER = {"interpolate": "an interpolation", "iterate": "iterated denoising", "compare": "a comparison"}


@dataclasses.dataclass
class Inputs:
    """The clean inputs (1 or 2 of (28, 28)), their noisy versions and a name for each."""

    clean: list
    noisy: list
    names: list
    labels: list  # the MNIST label of a test digit, None for a file


@dataclasses.dataclass
class Options:
    count: int = latent_map.DEFAULT_COUNT  # test digits on the map / for the manifold's extent
    method: str = "auto"
    steps: int = DEFAULT_STEPS
    grid: int = 15
    zero_skips: bool = False
    mnist: Optional[str] = None


def check_target(figure, overwrite: bool) -> Path:
    path = Path(figure)
    if path.suffix.lower() != ".png":
        raise ConfigError(f"The figure is written as a PNG; give a name ending in .png, not '{path.name}'.")
    if not overwrite and (path.exists() or path.is_symlink()):
        raise SaveError(f"{path} exists; add --overwrite to replace it.")
    if path.is_dir():
        raise SaveError(f"{path} is a folder.")
    return path


def load_inputs(paths: Sequence[str], wanted: int, noise, seed: int, mnist: Optional[str] = None) -> Inputs:
    """Files through the app's preprocessing, else the first ``wanted`` MNIST test digits."""
    from .. import data as data_mod

    if len(paths) > 2:
        raise ConfigError("Give at most two input images.")
    if paths:
        from .. import imageio, preprocess

        clean = [preprocess.to_mnist(imageio.load_image(p)) for p in paths]
        names, labels = [Path(p).name for p in paths], [None] * len(paths)
    else:
        m = data_mod.load_mnist(mnist)
        clean = list(data_mod.to_float(m.x_test[:wanted]))
        names, labels = [f"test digit {i}" for i in range(wanted)], [int(m.y_test[i]) for i in range(wanted)]
    if len(clean) < wanted:
        m = data_mod.load_mnist(mnist)
        clean.append(data_mod.to_float(m.x_test[1]))
        names.append("test digit 1")
        labels.append(int(m.y_test[1]))
    clean = [np.asarray(c, np.float32).reshape(28, 28) for c in clean]
    noisy = [c if noise is None or noise.kind == "none" else noise.apply(c, seed=seed + i) for i, c in enumerate(clean)]
    return Inputs(clean, noisy, names, labels)


def _model_noise(lab):
    from ..noise import NoiseSpec

    meta = lab.entry.meta if lab.entry is not None else {}
    try:
        return NoiseSpec.from_dict(meta.get("noise") or {"kind": "none"})
    except ConfigError:
        return NoiseSpec("none")


def explore(store, view: str, figure, model: Optional[str] = None, inputs: Sequence[str] = (), noise=None,
            seed: int = 0, overwrite: bool = False, options: Optional[Options] = None) -> Path:
    """Compute ``view`` for ``model`` (default: the store's default denoiser), draw it and write
    it to ``figure`` (a .png). ``noise``: corrupt the inputs first (default: the model's own
    noise, except for interpolate and manifold: none). Returns the path written."""
    opts = options or Options()
    if view not in VIEWS:
        raise ConfigError(f"Unknown view '{view}'; choose one of: {', '.join(VIEWS)}.")
    target = check_target(figure, overwrite)  # before any work
    if len(inputs) > 2:
        raise ConfigError("Give at most two input images.")
    if not 2 <= opts.grid <= 100:
        raise ConfigError(f"The manifold grid must be 2 to 100 images wide, got {opts.grid}.")
    if not 2 <= opts.steps <= MAX_STEPS:
        raise ConfigError(f"An interpolation needs 2 to {MAX_STEPS} steps, got {opts.steps}.")
    if len(inputs) > 1 and view != "interpolate":
        raise ConfigError(f"The {view} view takes one input image; only interpolate takes two.")
    lab = split.load(store, model)
    if view in NEEDS_CODE:
        lab.require_code(NEEDS_CODE[view])
    if view in NEEDS_DENOISER:
        lab.require_denoiser(NEEDS_DENOISER[view])
    if noise is None and view not in ("interpolate", "manifold"):
        noise = _model_noise(lab)
    data = load_inputs(inputs, 2 if view == "interpolate" else 1, noise, seed, opts.mnist)
    image = _VIEWS[view](lab, data, noise, seed, opts, store)
    written = atomic.create_bytes(target, drawing.png_bytes(image), replace=overwrite)
    if not written:
        raise SaveError(f"{target} exists; add --overwrite to replace it.")
    return target


def _title(lab, what: str) -> str:
    return f"{what}: {lab.name} (bottleneck: {lab.bottleneck.description if lab.has_code else 'none'})"


def _map(lab, data, noise, seed, opts, store):
    images, labels = latent_map.mnist_digits(opts.count, opts.mnist)
    lmap = latent_map.build_map(lab, images, labels, opts.method, seed)
    clean, noisy = data.clean[0], data.noisy[0]
    recon = lab.denoise(noisy)[0]
    markers = lmap.markers(lab, noisy=noisy, clean=clean, reconstruction=recon)
    field = None
    if noise is not None and noise.kind != "none":
        field = latent_map.vector_field(lab, lmap, images[:FIELD_ARROWS], noise, seed)
    shown = {"clean": clean, "noisy": noisy, "reconstruction": recon}
    return figures.map_figure(lmap, markers, shown, field, _title(lab, "Latent map"))


def _manifold(lab, data, noise, seed, opts, store):
    images, labels = latent_map.mnist_digits(opts.count, opts.mnist)
    lmap = latent_map.build_map(lab, images, labels, "code" if lab.code_size == 2 else "pca", seed)
    grid = latent_map.manifold(lab, grid=opts.grid, latent_map=lmap)
    return figures.manifold_figure(grid, _title(lab, "Manifold"))


def _interpolate(lab, data, noise, seed, opts, store):
    result = interpolate(lab, data.noisy[0], data.noisy[1], opts.steps)
    return figures.interpolation_figure(result, f"Interpolation: {lab.name}, {data.names[0]} → {data.names[1]}")


def _iterate(lab, data, noise, seed, opts, store):
    result = iterate(lab, data.noisy[0])
    return figures.iteration_figure(result, f"Iterated denoising: {lab.name}, {data.names[0]}")


def _inside(lab, data, noise, seed, opts, store):
    layers = inside.layer_outputs(lab, data.noisy[0], zero_skips=opts.zero_skips)
    skips = " with the skips zeroed" if opts.zero_skips else ""
    return figures.inside_figure(layers, inside.first_filters(lab), f"Inside {lab.name}{skips}: {data.names[0]}")


def _compare(lab, data, noise, seed, opts, store):
    denoisers = compare_mod.installed_denoisers(store)
    corrupted = noise is not None and noise.kind != "none"  # else the input is its own reference: no PSNR
    rows = compare_mod.compare(data.noisy[0], denoisers, lab.classifier, clean=data.clean[0] if corrupted else None)
    return figures.compare_figure(rows, f"Compare on {data.names[0]} (noise {noise})")


_VIEWS = {"map": _map, "manifold": _manifold, "interpolate": _interpolate, "iterate": _iterate,
          "inside": _inside, "compare": _compare}
