"""Shared pytest fixtures."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    """The ``tiny`` synthetic data set (seed 0), rendered once per test session; returns its folder.

    Layout and formats: ``docs/synth.md``. Read-only for tests: copy it before changing anything.
    """
    from hyper_sapiens.synth import generate_dataset

    root = tmp_path_factory.mktemp("synth_tiny") / "data"
    generate_dataset(root, preset="tiny", seed=0, workers=1, progress=False)
    return root
