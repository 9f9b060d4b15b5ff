"""Desktop Denoiser: clean noisy handwritten digits with denoising autoencoders."""

__version__ = "0.1.0"
