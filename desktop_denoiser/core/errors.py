"""User-facing errors.

Every problem a person can cause (a bad file, a missing dataset, a bad option) is raised as a
:class:`DenoiserError` whose message is one clear sentence. The CLI prints it as one line on
stderr and the GUI shows it in a dialog; neither shows a traceback for these.
"""


class DenoiserError(Exception):
    """Base class: the message is meant for the person using the app."""


class ImageError(DenoiserError):
    """An image file could not be read or is not acceptable."""


class DatasetError(DenoiserError):
    """MNIST could not be found or read."""


class ModelFileError(DenoiserError):
    """A model file or its metadata is missing, corrupt or of the wrong kind."""


class ConfigError(DenoiserError):
    """A bad option or parameter (noise level, architecture name, ...)."""


class SaveError(DenoiserError):
    """A file could not be written; the previous file, if any, is intact."""
