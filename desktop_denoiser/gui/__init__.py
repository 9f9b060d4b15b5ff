"""The Qt layer: widgets that show core objects and workers that run core jobs in threads."""
