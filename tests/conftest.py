"""Shared test fixtures: a synthetic content picture, the shipped example styles, one engine per session."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from support import STYLES, draw_content


@pytest.fixture(scope="session")
def content() -> np.ndarray:
    return draw_content()


@pytest.fixture(scope="session")
def starry() -> np.ndarray:
    from engine.imageio.images import read_rgb

    return read_rgb(STYLES / "starry_night.jpg")


@pytest.fixture(scope="session")
def shipwreck() -> np.ndarray:
    from engine.imageio.images import read_rgb

    return read_rgb(STYLES / "shipwreck.jpg")


@pytest.fixture(scope="session")
def engine():
    """One CPU engine for the session, without a disk cache (tests that need one make their own)."""
    from engine.stylize import StyleTransfer

    return StyleTransfer(device="cpu", cache_dir=None, precision="fp32")  # the same arithmetic on every CPU


@pytest.fixture
def content_png(tmp_path, content) -> Path:
    path = tmp_path / "content.png"
    Image.fromarray((content * 255).round().astype(np.uint8)).save(path)
    return path


@pytest.fixture
def one_torch_thread():
    """Small convolutions on a shared 2-core machine run far faster on one thread than fighting for two."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_configure(config) -> None:
    """Under pytest-xdist (`make test` runs two workers on two cores), each worker runs torch on one thread:
    two workers with two threads each would fight for the cores and run slower than either alone."""
    import os

    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"  # subprocesses (the engine CLI, the worker) inherit it
        import torch

        torch.set_num_threads(1)
