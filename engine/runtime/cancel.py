"""Cancelling a job within a fraction of a second, even when one optimizer iteration takes several.

Inside `cancellable(is_cancelled)`, every convolution of every network (VGG-19, the fast networks, training)
checks `is_cancelled()` when its forward pass finishes and when its gradient arrives in the backward pass, and
raises `Cancelled`: the wait is one convolution, not one iteration. Outside the block nothing is checked.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable

from .errors import Cancelled


@contextmanager
def cancellable(is_cancelled: Callable[[], bool]):
    import torch

    def check(*_) -> None:
        if is_cancelled():
            raise Cancelled()

    def after_forward(module, inputs, output):
        if isinstance(module, torch.nn.Conv2d):
            check()
            if output.requires_grad:
                output.register_hook(check)  # returns None: the gradient passes unchanged

    handle = torch.nn.modules.module.register_module_forward_hook(after_forward)
    try:
        yield
    finally:
        handle.remove()
