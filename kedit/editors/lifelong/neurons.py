"""Neurons added beside an FFN (T-Patcher's patches, CaliNet's calibration slots):

    FFN'(h) = FFN(h) + σ(h Kᵀ + b) V          (h: the FFN's input, the input of ``mlp_in``; σ: GELU)

``Neurons`` holds K (n, d), b (n,) and V (n, d_out) of one block, two hooks (one keeps the input
of ``mlp_in``, one adds the neurons' output to ``mlp_out``'s), and, while an edit trains, the new
neurons as trainable tensors appended to the frozen ones. ``attach_neurons`` installs it;
``train_new`` trains a block of new neurons on a loss and keeps them; ``NeuronEditor`` is the
editors' base (checkpoint, rollback and summary by neuron count).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...models.roles import module_at, path_of
from ...models.text import encode_prompts, pad_batch, pad_id
from ..nethook import Trace
from .core import Hooks, Training, train
from .editor import SideEditor


@dataclass
class Neurons:
    keys: torch.Tensor  # (n, d) float32
    bias: torch.Tensor  # (n,)
    values: torch.Tensor  # (n, d_out)
    hooks: Hooks = field(default_factory=Hooks)
    h: torch.Tensor | None = None  # the FFN input of the forward pass in progress
    trainable: tuple[torch.Tensor, torch.Tensor, torch.Tensor] | None = None  # new (k, b, v) while an edit trains
    memory: torch.Tensor | None = None  # (M, d) FFN inputs of unrelated text (T-Patcher's memory)
    templates: list[str] = field(default_factory=lambda: ["{}"])  # context prefixes of the training prompts (CaliNet)

    def __len__(self) -> int:
        return int(self.keys.shape[0])

    def all(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        if self.trainable is None:
            return self.keys, self.bias, self.values
        k, b, v = self.trainable
        return torch.cat([self.keys, k]), torch.cat([self.bias, b]), torch.cat([self.values, v])

    def truncate(self, n: int) -> None:
        self.keys, self.bias, self.values = self.keys[:n], self.bias[:n], self.values[:n]

    def bytes_per_neuron(self) -> int:
        return 4 * (self.keys.shape[1] + 1 + self.values.shape[1])

    def train_new(self, k: torch.Tensor, b: torch.Tensor, v: torch.Tensor, loss_fn: Callable, how: Training, who: str
                  ) -> dict[str, Any]:
        """Train new neurons (k, b, v: leaf tensors) beside the frozen ones on ``loss_fn``, then keep them."""
        for t in (k, b, v):
            t.requires_grad_(True)
        self.trainable = (k, b, v)
        try:
            got = train([k, b, v], loss_fn, how, who)
        finally:
            self.trainable = None
        self.keys = torch.cat([self.keys, k.detach()])
        self.bias = torch.cat([self.bias, b.detach()])
        self.values = torch.cat([self.values, v.detach()])
        return got


def attach_neurons(model: nn.Module, layer: int) -> Neurons:
    """An empty set of neurons beside block ``layer``'s FFN, its hooks installed."""
    fc_in, fc_out = module_at(model, "mlp_in", layer), module_at(model, "mlp_out", layer)
    device = fc_in.weight.device
    d_out = int(getattr(fc_out, "out_features", None) or getattr(fc_out, "nf"))
    d_in = int(getattr(fc_in, "in_features", None) or fc_in.weight.shape[0])  # Conv1D keeps (in, out)
    n = Neurons(torch.zeros(0, d_in, device=device), torch.zeros(0, device=device), torch.zeros(0, d_out, device=device))

    def keep_input(_m, inputs, _out):
        n.h = inputs[0]

    def add(_m, _inputs, output):
        k, b, v = n.all()
        if not k.shape[0] or n.h is None:
            return output
        return output + (F.gelu(n.h.float() @ k.T + b) @ v).to(output.dtype)

    n.hooks.forward(fc_in, keep_input)
    n.hooks.forward(fc_out, add)
    return n


@torch.no_grad()
def ffn_inputs(model: nn.Module, tok, layer: int, texts: list[str]) -> torch.Tensor:
    """(M, d): block ``layer``'s FFN input at every real token of ``texts``."""
    device = next(model.parameters()).device
    ids, mask = pad_batch(encode_prompts(tok, texts), pad_id(tok))
    with Trace(model, path_of(model, "mlp_in", layer), stop=True) as tr:
        model(input_ids=ids.to(device), attention_mask=mask.to(device))
    return tr.input[mask.to(device).bool()].float()


class NeuronEditor(SideEditor):
    """A ``SideEditor`` whose state is ``Neurons`` beside one FFN: a call's checkpoint is the neuron
    count, its rollback cuts back to it. ``added`` names the info counter of the call's new neurons."""

    added: str = "n_neurons"

    def attach(self, model: nn.Module, tok, layer: int, hp) -> Neurons:
        return attach_neurons(model, layer)

    def checkpoint(self, n: Neurons) -> int:
        return len(n)

    def rollback(self, n: Neurons, size: int) -> None:
        n.truncate(size)

    def empty(self, n: Neurons) -> bool:
        return not len(n)

    def summary(self, n: Neurons, info: dict[str, Any]) -> dict[str, Any]:
        return {"added_bytes": info.get(self.added, 0) * n.bytes_per_neuron(), "neurons_total": len(n)}
