"""GRACE: a codebook of edits beside one layer (Hartvigsen et al. 2023, "Aging with GRACE: Lifelong
Model Editing with Discrete Key-Value Adaptors", NeurIPS 2023), as EasyEdit implements it
(easyeditor/models/grace/GRACE.py).

The adaptor wraps module ``role`` of block ``layer`` (f: h → f(h)); the base weights never change.
It holds a codebook of entries (kᵢ, vᵢ, εᵢ, yᵢ): a key (the module's input at the edited prompt's
last token), a value (a replacement for the module's output there), a deferral radius and the
entry's label (its new target). At inference, for every position t with input hₜ:

    i* = argminᵢ ‖hₜ − kᵢ‖₂ ;   f'(hₜ) = v_{i*}  if ‖hₜ − k_{i*}‖₂ ≤ ε_{i*},   else f(hₜ)

(EasyEdit reads the query at one position, the last input token; kedit matches every position, so
a teacher-forced "prompt + target" sequence, a generation's prefill and its cached steps all see
the codebook the same way: the edited prompt's last token matches its key and is replaced, later
tokens are not keys.)

An edit (x, y) with key k = h(x)'s last token and d = ‖k − k_{i*}‖ (the nearest entry):

* no entry, or d > ε₀ + ε_{i*}: add (k, v, ε₀, y);
* d ≤ ε₀ + ε_{i*} and y = y_{i*}: expand ε_{i*} ← max(ε_{i*}, d) (coverage) and train v_{i*} on (x, y);
* d ≤ ε₀ + ε_{i*} and y ≠ y_{i*} (a conflict): add (k, v, d/2, y) and shrink ε_{i*} ← d/2 − 1e-5, so
  the two balls no longer overlap.

The trained value v minimises −log P(y | x) with v replacing f's output at x's last token, Adam at
``lr`` for at most ``steps`` steps, stopped once the loss is below ``stop_loss``; it starts random
(``value_init="cold"``, U[0, 1) as the reference) or from f's output there (``"warm"``).

GRACE edits one fact at a time (a batch is written in turn); ``restore()`` undoes each edit's
codebook changes, and the hook is removed with the last entry. Defaults: EasyEdit's Llama-2-7B values
(mlp_out of layer 27 of 32, ε₀ 1.0, lr 1.0, 50 steps); per-family files set kedit's values.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import KeditError
from ..models.roles import module_at, path_of, weight_as_out_in
from .base import EditRequest, register_editor
from .lifelong.core import Hooks, LifelongHyperParams, Training, encode_edits, nbytes, target_nll, train
from .lifelong.editor import SideEditor
from .locate.values import forward_from_layer, frozen
from .nethook import Trace


@dataclass(frozen=True)
class GraceHyperParams(LifelongHyperParams):
    editor: ClassVar[str] = "grace"
    layer_fields: ClassVar[tuple[str, ...]] = ("layer",)
    negative_layers: ClassVar[bool] = True

    layer: int = -5  # the adaptor's block (negative counts from the top: Llama-2-7B's 27 of 32)
    role: str = "mlp_out"  # the wrapped module: mlp_out (down_proj, c_proj) or mlp_in
    eps: float = 1.0  # ε₀, the initial deferral radius (in the module input's units)
    lr: float = 1.0
    steps: int = 50
    stop_loss: float = 1e-2  # early stop on the mean per-token −log P(target)
    value_init: str = "cold"  # cold (random) | warm (the module's output)
    seed: int = 0  # of the cold values

    def check(self) -> None:
        super().check()
        if self.role not in ("mlp_out", "mlp_in"):
            raise KeditError(f"grace: role must be mlp_out or mlp_in, not {self.role!r}")
        if not self.eps > 0:
            raise KeditError(f"grace: the deferral radius eps must be > 0, got {self.eps}")
        if not self.lr > 0 or self.steps < 1:
            raise KeditError("grace: lr must be > 0 and steps >= 1")
        if self.value_init not in ("cold", "warm"):
            raise KeditError(f"grace: value_init must be cold or warm, not {self.value_init!r}")


class Codebook:
    """The entries of one adaptor and the hook that applies them."""

    def __init__(self, module: nn.Module, d_in: int, d_out: int, device: torch.device):
        self.keys = torch.zeros(0, d_in, device=device)
        self.values = torch.zeros(0, d_out, device=device)
        self.eps = torch.zeros(0, device=device)
        self.labels: list[str] = []
        self.hooks = Hooks()
        self.hooks.forward(module, self._apply)

    def __len__(self) -> int:
        return len(self.labels)

    def nearest(self, q: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(distance, index) of the nearest key to each row of ``q`` (n, d_in)."""
        return torch.cdist(q.float(), self.keys).min(1)

    def _apply(self, _m, inputs, output):
        if not len(self):
            return output
        out = output[0] if isinstance(output, tuple) else output
        h = inputs[0]
        d, i = self.nearest(h.reshape(-1, h.shape[-1]))
        hit = (d <= self.eps[i]).view(*out.shape[:-1], 1)
        new = torch.where(hit, self.values[i].view(*out.shape[:-1], -1).to(out.dtype), out)
        return (new, *output[1:]) if isinstance(output, tuple) else new

    def add(self, key: torch.Tensor, value: torch.Tensor, eps: float, label: str) -> int:
        self.keys = torch.cat([self.keys, key[None].float()])
        self.values = torch.cat([self.values, value[None].float()])
        self.eps = torch.cat([self.eps, torch.tensor([eps], device=self.eps.device)])
        self.labels.append(label)
        return len(self) - 1

    def row(self, i: int) -> tuple:
        return self.keys[i].clone(), self.values[i].clone(), float(self.eps[i]), self.labels[i]

    def set_row(self, i: int, row: tuple) -> None:
        self.keys[i], self.values[i], self.eps[i], self.labels[i] = row[0], row[1], row[2], row[3]

    def truncate(self, n: int) -> None:
        self.keys, self.values, self.eps, self.labels = self.keys[:n], self.values[:n], self.eps[:n], self.labels[:n]


@register_editor("grace")
class Grace(SideEditor):
    hparams_cls = GraceHyperParams

    def attach(self, model: nn.Module, tok, layer: int, hp: GraceHyperParams) -> Codebook:
        module = module_at(model, hp.role, layer)
        d_out, d_in = weight_as_out_in(model, module).shape
        return Codebook(module, d_in, d_out, module.weight.device)

    def checkpoint(self, book: Codebook) -> list[tuple]:
        return []  # the edit's codebook operations: ("truncate", n) or ("row", i, saved row)

    def rollback(self, book: Codebook, ops: list[tuple]) -> None:
        for op in reversed(ops):
            if op[0] == "truncate":
                book.truncate(op[1])
            else:
                book.set_row(op[1], op[2])

    def empty(self, book: Codebook) -> bool:
        return not len(book)

    def summary(self, book: Codebook, info: dict[str, Any]) -> dict[str, Any]:
        return {"entries": len(book), "added_bytes": info.get("n_added", 0) * (book.keys.shape[1] + book.values.shape[1] + 1) * 4,
                "codebook_bytes": nbytes([book.keys, book.values, book.eps])}

    def edit_one(self, model, tok, book: Codebook, r: EditRequest, hp: GraceHyperParams, layer: int,
                 undo: list) -> dict[str, Any]:
        device = book.keys.device
        rows = encode_edits(tok, [r.prompt], [r.target_new], device, f"grace: case {r.case_id}")
        site = path_of(model, hp.role, layer)
        at = rows.prompt_last[0]
        with torch.no_grad(), Trace(model, site) as tr:
            model(input_ids=rows.ids, attention_mask=rows.mask)
        key = tr.input[0, at].float()
        out0 = tr.output[0, at].float()
        label = r.target_new.strip()
        info = {"n_added": 0, "n_expanded": 0, "n_conflicts": 0}
        j = None
        if len(book):
            d, i = (x.item() for x in book.nearest(key[None]))
            if d <= hp.eps + float(book.eps[i]):
                undo.append(("row", i, book.row(i)))
                if book.labels[i] == label:  # the same answer nearby: widen that entry and train its value
                    book.eps[i] = max(float(book.eps[i]), d)
                    j = i
                    info["n_expanded"] = 1
                else:  # a conflict: a new entry, and the two radii split the distance
                    book.eps[i] = d / 2 - 1e-5
                    undo.append(("truncate", len(book)))
                    j = book.add(key, out0, d / 2, label)
                    info["n_added"] = info["n_conflicts"] = 1
        if j is None:
            undo.append(("truncate", len(book)))
            j = book.add(key, out0, hp.eps, label)
            info["n_added"] = 1
        if undo[-1] == ("truncate", j) and hp.value_init == "cold":  # a new entry starts random
            g = torch.Generator(device="cpu").manual_seed(hp.seed + len(book))
            start = torch.rand(out0.shape, generator=g).to(device)
        else:
            start = book.values[j].clone()
        value = start.clone().requires_grad_(True)
        pos = torch.zeros(rows.ids.shape, dtype=torch.bool, device=device)
        pos[0, at] = True

        def replace(out: torch.Tensor) -> torch.Tensor:
            return torch.where(pos[..., None], value.to(out.dtype), out)

        with frozen(model), forward_from_layer(model, layer, {site: replace}, rows.ids, rows.mask) as forward:
            def loss_fn():
                nll = target_nll(model, forward(), rows)
                return nll, nll
            got = train([value], loss_fn, Training(hp.steps, hp.lr, hp.stop_loss), f"grace: case {r.case_id}")
        book.values[j] = value.detach()
        return {**info, **got}
