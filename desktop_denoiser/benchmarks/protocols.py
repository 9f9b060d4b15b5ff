"""Tables ``protocol1`` and ``protocol2``: the two articles' measurements with the bundled models."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Optional

import numpy as np

from ..core import classical
from ..core.inference import BATCH
from .common import Table, denoise, fmt, log, measure, pct, size, test_set, validation_set
from ..core.sweep import SWEEP, sweep_noise

# (row label, bundled model name, what it was trained on)
DENOISERS = (
    ("dense (article 1)", "dense-uniform", "uniform:0.9"),
    ("conv (article 2)", "conv-blur+uniform", "blur+uniform"),
    ("unet-mixed (ours)", "unet-mixed", "the mixed noise"),
    ("unet specialist (ours)", "unet-blur+uniform", "blur+uniform"),
)
ARTICLE1 = "article 1 (its own dense classifier): 96.91% clean, 13.44% noisy, 94.59% denoised"


def _noises():
    from desktop_denoiser.core.noise import NoiseSpec

    return NoiseSpec("uniform", {"level": 0.9}), NoiseSpec.parse("blur+uniform:sigma_max=2,r_max=1.5")


def _seed() -> int:
    from desktop_denoiser.core.evaluation import TEST_SEED

    return TEST_SEED


def _missing_row(t: Table, lead: list, label: str, name: str, ctx) -> None:
    t.add(*lead, *(["–"] * (len(t.columns) - len(lead))))
    t.note(f"{label}: skipped, model '{name}' is not available ({ctx.models.why_missing(name)})")


# ------------------------------------------------------------------------------------------


def protocol1(ctx) -> list[Table]:
    p1, _ = _noises()
    n = size("test_images", ctx.full)
    clean, labels = test_set(n)
    noisy = p1.apply(clean, _seed())
    models = ctx.models
    acc_clean, acc_noisy = models.accuracy(clean, labels), models.accuracy(noisy, labels)
    t = Table("protocol1", f"first article's protocol — noise {p1}, {n:,} MNIST test digits, seed {_seed()}",
              ["denoiser", "model", "PSNR dB", "SSIM", "acc clean", "acc noisy", "acc denoised"], align="llrrrrr")
    f = measure(models, clean, noisy)
    t.add("no denoising", "–", fmt(f.psnr), fmt(f.ssim, 3), pct(acc_clean), pct(acc_noisy), pct(acc_noisy))
    for label, name, _trained in DENOISERS:
        model = models.get(name)
        if model is None:
            _missing_row(t, [label, name], label, name, ctx)
            continue
        log(f"protocol1: {name}")
        f = measure(models, clean, denoise(model, noisy), labels)
        t.add(label, name, fmt(f.psnr), fmt(f.ssim, 3), pct(acc_clean), pct(acc_noisy), pct(f.accuracy_denoised))
    if acc_clean is None:
        t.note(f"accuracy: no classifier ({models.why_missing('classifier')})")
    else:
        t.note("accuracy: the bundled `classifier` (a CNN, trained on clean digits) on clean, noisy and denoised digits")
    t.note(ARTICLE1)
    t.note("dense-uniform is trained on this noise; conv-blur+uniform and unet-blur+uniform on the second article's noise; "
           "unet-mixed on the mixture of all noises")
    return [t]


# ------------------------------------------------------------------------------------------


def protocol2(ctx) -> list[Table]:
    _, p2 = _noises()
    n = size("test_images", ctx.full)
    n_slow = min(n, size("nlm_images", ctx.full))
    clean, labels = test_set(n)
    noisy = p2.apply(clean, _seed())
    models = ctx.models
    acc_noisy = models.accuracy(noisy, labels)
    t = Table("protocol2", f"second article's protocol — blur σ~U(0,2) + uniform ±r, r~U(0.01,1.5) ({p2}), seed {_seed()}",
              ["method", "digits", "setting", "PSNR dB", "SSIM", "acc denoised", "ms/digit"], align="lrlrrrr")
    f = measure(models, clean, noisy)
    t.add("no denoising", n, "–", fmt(f.psnr), fmt(f.ssim, 3), pct(acc_noisy), "–")
    for label, name, trained in DENOISERS:
        model = models.get(name)
        if model is None:
            _missing_row(t, [label, fmt(n), name], label, name, ctx)
            continue
        log(f"protocol2: {name}")
        denoise(model, noisy[:8])  # trace once, outside the timing
        t0 = time.perf_counter()
        recon = denoise(model, noisy)
        ms = 1000 * (time.perf_counter() - t0) / n
        f = measure(models, clean, recon, labels)
        t.add(label, n, f"{name} (trained on {trained})", fmt(f.psnr), fmt(f.ssim, 3), pct(f.accuracy_denoised), fmt(ms, 3))

    # classical filters, tuned on validation digits (training set, other noise seed)
    vn = size("val_images", ctx.full)
    val_clean, _ = validation_set(vn)
    val_noisy = p2.apply(val_clean, _seed() + 1)
    slow_val = min(vn, 100)

    def add(label, digits, setting, fn):
        t0 = time.perf_counter()
        out = fn(noisy[:digits])
        ms = 1000 * (time.perf_counter() - t0) / digits
        f = measure(models, clean[:digits], out, labels[:digits])
        t.add(label, digits, setting, fmt(f.psnr), fmt(f.ssim, 3), pct(f.accuracy_denoised), fmt(ms, 3))

    log("protocol2: classical filters (tuning on validation digits)")
    add("median 3×3", n, "–", classical.median3)
    sigma, _ = classical.tune(classical.gaussian, classical.GAUSSIAN_GRID, val_clean, val_noisy)
    add("Gaussian filter", n, f"σ={sigma:g} (best of {len(classical.GAUSSIAN_GRID)})", lambda x: classical.gaussian(x, sigma))
    try:
        import skimage  # noqa: F401
    except ImportError:
        t.note("non-local means and TV skipped: scikit-image is not installed (pip install .[bench])")
    else:
        log(f"protocol2: non-local means and TV on {n_slow:,} digits")
        f, _ = classical.tune(classical.nl_means, classical.NLM_GRID, val_clean[:slow_val], val_noisy[:slow_val])
        add("non-local means", n_slow, f"h={f:g}·σ̂, 5×5 patches, 13×13 search", lambda x: classical.nl_means(x, f))
        w, _ = classical.tune(classical.tv, classical.TV_GRID, val_clean[:slow_val], val_noisy[:slow_val])
        add("TV (Chambolle)", n_slow, f"weight={w:g}", lambda x: classical.tv(x, w))
        if n_slow < n:
            t.note(f"non-local means and TV are per-image in scikit-image (~10 ms/digit): measured on the first {n_slow:,} digits")
    t.note(f"accuracy of the bundled classifier: clean {pct(models.accuracy(clean, labels))}, noisy {pct(acc_noisy)}")
    t.note(f"filter settings tuned for PSNR on {vn:,} training digits ({slow_val} for the per-image filters), noise seed {_seed() + 1}")
    t.note(f"ms/digit: batched, on this machine (the networks through Pipeline.denoise in batches of {BATCH})")
    return [t, sweep(ctx)]


# ------------------------------------------------------------------------------------------


def sweep(ctx) -> Table:
    n = size("sweep_images", ctx.full)
    clean, labels = test_set(n)
    models = ctx.models
    nets = [("conv", "conv-blur+uniform"), ("unet", "unet-mixed"), ("unet-p2", "unet-blur+uniform")]
    loaded = {short: models.get(name) for short, name in nets}
    cols = ["i", "blur σ", "noise ±r", "PSNR noisy"] + [f"PSNR {s}" for s, _ in nets] + ["acc noisy"] + [f"acc {s}" for s, _ in nets]
    t = Table("protocol2 sweep", f"the second article's sweep — fixed blur σ = 0.5·i, noise ±0.4·i, {n:,} test digits", cols)
    figure_rows: dict[str, list] = {"noisy": []}
    for short, _ in nets:
        figure_rows[short] = []
    for i, (sigma, r) in enumerate(SWEEP):
        noisy = sweep_noise(clean, sigma, r, seed=_seed() + i)
        psnr_cells, acc_cells = [], []
        figure_rows["noisy"].append(noisy[0])
        for short, _name in nets:
            model = loaded[short]
            if model is None:
                psnr_cells.append("–")
                acc_cells.append("–")
                continue
            recon = denoise(model, noisy)
            figure_rows[short].append(recon[0])
            f = measure(models, clean, recon, labels)
            psnr_cells.append(fmt(f.psnr))
            acc_cells.append(pct(f.accuracy_denoised))
        f = measure(models, clean, noisy, labels)
        t.add(str(i), fmt(sigma, 1), fmt(r, 1), fmt(f.psnr), *psnr_cells, pct(f.accuracy_denoised), *acc_cells)
    for short, name in nets:
        if loaded[short] is None:
            t.note(f"{short}: model '{name}' is not available ({models.why_missing(name)})")
    t.note("i = 0 is the clean digit (PSNR capped at 100 dB); scipy.ndimage.gaussian_filter with its default border mode "
           "(reflect, as the article), then clip(x + U(-r, r))")
    if ctx.figure:
        path = save_sweep_figure(ctx.figure, figure_rows, nets)
        t.note(f"figure of test digit 0 saved to {path}")
    return t


def save_sweep_figure(path: str, rows: dict, nets) -> Optional[Path]:
    """One digit across the sweep: the noisy row over each network's denoised row."""
    from PIL import Image, ImageDraw

    scale, pad, label_w, head_h = 4, 6, 180, 22
    tile = 28 * scale
    names = {"noisy": "noisy"}
    names.update({short: f"{short} ({name})" for short, name in nets})
    used = [k for k in rows if rows[k]]
    cols = len(SWEEP)
    img = Image.new("L", (label_w + cols * (tile + pad) + pad, head_h + len(used) * (tile + pad) + pad), 255)
    draw = ImageDraw.Draw(img)
    for j, (sigma, r) in enumerate(SWEEP):
        draw.text((label_w + pad + j * (tile + pad), 4), f"i={j}: s={sigma:g}, r={r:g}", fill=0)
    for k, key in enumerate(used):
        y = head_h + pad + k * (tile + pad)
        draw.text((4, y + tile // 2 - 6), names[key], fill=0)
        for j, arr in enumerate(rows[key]):
            pixels = (np.clip(arr, 0, 1) * 255).round().astype(np.uint8)
            img.paste(Image.fromarray(pixels).resize((tile, tile), Image.Resampling.NEAREST), (label_w + pad + j * (tile + pad), y))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    img.save(out)
    return out
