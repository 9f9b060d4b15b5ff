"""The autoencoder lab in the window (issue 13): a dock with one tab per view.

* :mod:`.dock` — :class:`~.dock.LabDock`, opened from View › Autoencoder lab (Ctrl+Shift+L).
* :mod:`.session` — the LabModel and latent map of the active denoiser, the frame hook that
  places each frame on the map, the t-SNE thread.
* :mod:`.map_plot`, :mod:`.map_view`, :mod:`.manifold_view`, :mod:`.interpolate_view`,
  :mod:`.iterate_view`, :mod:`.inside_view`, :mod:`.compare_view` — the views; :mod:`.widgets`
  — what they share.

Every number comes from :mod:`desktop_denoiser.core.lab`; every TensorFlow call runs in the
window's inference thread.
"""
