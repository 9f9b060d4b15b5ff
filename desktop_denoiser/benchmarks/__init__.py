"""Benchmarks of Desktop Denoiser: the two articles' protocols, equal-budget training, speed.

Run ``python -m desktop_denoiser.benchmarks.run [--quick|--full] [--tables a,b] [--figure sweep.png]`` or
``desktop-denoiser evaluate``. See :mod:`benchmarks.run` for the tables.
"""
