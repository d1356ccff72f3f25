"""Lightsout: an open observatory for internet shutdowns."""

__version__ = "0.1.0"
