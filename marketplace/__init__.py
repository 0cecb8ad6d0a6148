"""Open-licensing patent marketplace."""

__version__ = "0.1.0"
