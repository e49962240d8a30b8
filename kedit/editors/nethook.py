"""Hooks that live only inside context managers and always detach (after memit's nethook).

``Trace(model, path, stop=True)`` records a module's input and output during one forward pass and,
with ``stop=True``, ends the forward pass right after that module (the layers above are never run).
``edit_output`` adds a tensor to a module's output at chosen positions.
"""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import torch
from torch import nn

from ..models.roles import get_module


class StopForward(Exception):
    pass


class Trace(contextlib.AbstractContextManager):
    def __init__(self, model: nn.Module, path: str, stop: bool = False, retain_input: bool = True, retain_output: bool = True):
        self.model, self.stop = model, stop
        self.input: torch.Tensor | None = None
        self.output: torch.Tensor | None = None
        module = get_module(model, path)

        def hook(_m, inputs, output):
            if retain_input:
                self.input = inputs[0]
            if retain_output:
                self.output = output[0] if isinstance(output, tuple) else output
            if stop:
                raise StopForward

        self._handle = module.register_forward_hook(hook)

    def __exit__(self, exc_type, exc, tb):
        self._handle.remove()
        return exc_type is StopForward  # swallow the early stop


@contextlib.contextmanager
def edit_output(model: nn.Module, path: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Iterator[None]:
    """Replace a module's output by ``fn(output)`` inside the block."""
    module = get_module(model, path)

    def hook(_m, _inputs, output):
        if isinstance(output, tuple):
            return (fn(output[0]), *output[1:])
        return fn(output)

    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()
