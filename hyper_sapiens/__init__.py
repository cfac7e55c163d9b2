"""Hyper-Sapiens: infant 2D pose estimation on Sapiens ViTs with a diffusion pose prior."""

__version__ = "0.1.0"
