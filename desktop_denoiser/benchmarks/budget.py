"""Table ``budget``: each denoiser architecture trained from scratch for the same CPU time."""

from __future__ import annotations

import time

from .common import Table, denoise, fmt, load_note, log, measure, pct, size, test_set


def budget(ctx) -> list[Table]:
    from desktop_denoiser.core import device
    from desktop_denoiser.core.evaluation import TEST_SEED
    from desktop_denoiser.core.noise import NoiseSpec
    from desktop_denoiser.core.training import TrainConfig, Trainer

    seconds = size("budget_seconds", ctx.full)
    subset = size("budget_subset", ctx.full) or None
    n = size("test_images", ctx.full)
    p1, p2 = NoiseSpec("uniform", {"level": 0.9}), NoiseSpec.parse("blur+uniform:sigma_max=2,r_max=1.5")
    clean, labels = test_set(n)
    noisy = {"p1": p1.apply(clean, TEST_SEED), "p2": p2.apply(clean, TEST_SEED)}
    models = ctx.models
    unit = "wall" if device.gpus() else "CPU"
    data = f"{subset:,} training digits" if subset else "all training digits"
    t = Table("budget", f"equal budget — {seconds} {unit}-s of training each on the second article's noise, {data}; "
              f"measured on {n:,} test digits",
              ["architecture", "parameters", "batches", "epochs", "img/s", "P1 PSNR", "P1 SSIM", "P1 acc", "P2 PSNR", "P2 SSIM", "P2 acc"])
    for arch in ("dense", "conv", "unet"):
        cfg = TrainConfig(arch=arch, noise=p2, epochs=100000, patience=None, time_budget=seconds, subset=subset, seed=0)
        log(f"budget: training {arch} for {seconds} {unit}-s")
        t0 = time.perf_counter()
        result = Trainer(cfg).run()
        log(f"budget: {arch} done in {time.perf_counter() - t0:.0f} s wall, {result.steps} batches")
        cells = []
        for key in ("p1", "p2"):
            f = measure(models, clean, denoise(result.model, noisy[key]), labels)
            cells += [fmt(f.psnr), fmt(f.ssim, 3), pct(f.accuracy_denoised)]
        epochs = result.steps * cfg.batch_size / (subset or 54000)  # the split keeps `subset` (or 90%) for training
        t.add(arch, int(result.model.count_params()), result.steps, fmt(epochs, 1), fmt(result.images_per_s, 0), *cells)
    n1, n2 = measure(models, clean, noisy["p1"], labels), measure(models, clean, noisy["p2"], labels)
    t.note(f"noisy input: P1 ({p1}) PSNR {n1.psnr:.2f} dB, SSIM {n1.ssim:.3f}, acc {pct(n1.accuracy_denoised)}; "
           f"P2 ({p2}) PSNR {n2.psnr:.2f} dB, SSIM {n2.ssim:.3f}, acc {pct(n2.accuracy_denoised)}")
    t.note("Trainer with patience=None, time_budget, cosine learning rate over the budget, batch 128, best epoch's weights "
           "(the last weights when no epoch finished); img/s: mean over the fit, wall clock; acc: the bundled classifier")
    t.note("the budget counts CPU seconds of the whole process (2 threads ≈ half as many wall seconds on an idle 2-core machine)")
    busy = load_note()
    if busy:
        t.note(busy)
    return [t]
