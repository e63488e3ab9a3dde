"""s2s-desktop: train, run and inspect neural sequence-to-sequence translation models."""

__version__ = "0.1.0"
