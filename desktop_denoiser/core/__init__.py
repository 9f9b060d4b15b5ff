"""The Qt-free core: data, noise, preprocessing, models, training, model store, metrics.

Nothing under this package imports Qt; the GUI layer (``desktop_denoiser.gui``) only shows
core objects and runs core jobs in threads.
"""
