"""T-Patcher: one neuron per mistake in the last FFN layer (Huang et al. 2023, "Transformer-Patcher:
One Mistake Worth One Neuron", ICLR 2023), after the authors' code (ZeroYuHuang/Transformer-Patcher,
src/models/patch.py).

A patch is a neuron added beside the FFN of block ``layer`` (the last one by default): with h the
FFN's input (the input of ``mlp_in``), a key k, a bias b and a value v,

    FFN'(h) = FFN(h) + σ(a(h)) · v,    a(h) = h·k + b                    (σ: GELU, as the paper's BART)

For an edit (x, y), one neuron is added per target token the model gets wrong (teacher-forced, at most
``max_neurons``), each initialised as the authors' code does, k = qᵢ / ‖qᵢ‖², b = 0 (so aᵢ(qᵢ) = 1 for
its query qᵢ, h at the position predicting that token) and v = 0 (kedit's choice: the patch starts
silent), and the new neurons alone are trained with Adam (``lr``) on

    L = −log P(y | x)                                                       (edit loss)
      + alc · mean top-5 exp(m_a − aᵢ(qᵢ))                                  (activation loss: fire on x)
      + mlc · [ mean top-1000 exp(aᵢ(q) − aᵢ(qᵢ) + m₁) + mean top-1000 exp(aᵢ(q) − m₂) ]  (memory loss)

over the queries q of a memory of unrelated inputs (every token of ``memory_texts`` short texts of the
offline Wikipedia sample; the paper uses the training set's inputs), until every target token is the
model's argmax or ``steps`` run out. Defaults: the authors' (lr 1e-2, m_a 0, m₁ 3, m₂ −3, alc 1,
mlc 5). Patches of earlier edits stay and are frozen; ``restore()`` removes each edit's neurons, and
the hooks with the last one. One edit at a time (a batch is written in turn).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import KeditError
from ..models.text import head_logprobs
from .base import EditRequest, register_editor
from .lifelong.core import LifelongHyperParams, Training, encode_edits, out_of_scope_texts, target_nll_and_hit
from .lifelong.neurons import NeuronEditor, Neurons, attach_neurons, ffn_inputs
from .locate.values import forward_from_layer, frozen


@dataclass(frozen=True)
class TPatcherHyperParams(LifelongHyperParams):
    editor: ClassVar[str] = "t-patcher"
    layer_fields: ClassVar[tuple[str, ...]] = ("layer",)
    negative_layers: ClassVar[bool] = True

    layer: int = -1  # the patched FFN's block (the last, as the paper)
    lr: float = 1e-2
    steps: int = 100  # at most; stopped once the edit holds
    max_neurons: int = 5  # neurons per edit (one per wrong target token)
    alc: float = 1.0
    mlc: float = 5.0
    act_margin: float = 0.0  # m_a
    margin1: float = 3.0  # m₁: the edit's activation above the memory's
    margin2: float = -3.0  # m₂: the memory's activation below this
    memory_texts: int = 64
    top_memory: int = 1000

    def check(self) -> None:
        super().check()
        if not self.lr > 0 or self.steps < 1 or self.max_neurons < 1:
            raise KeditError("t-patcher: lr must be > 0, steps and max_neurons >= 1")
        if self.memory_texts < 1 or self.top_memory < 1:
            raise KeditError("t-patcher: memory_texts and top_memory must be >= 1")


@register_editor("t-patcher")
class TPatcher(NeuronEditor):
    hparams_cls = TPatcherHyperParams

    def attach(self, model: nn.Module, tok, layer: int, hp: TPatcherHyperParams) -> Neurons:
        memory = ffn_inputs(model, tok, layer, out_of_scope_texts(hp.memory_texts, seed=1))  # before any hook
        p = attach_neurons(model, layer)
        p.memory = memory
        return p

    def edit_one(self, model, tok, p: Neurons, r: EditRequest, hp: TPatcherHyperParams, layer: int, _cp) -> dict[str, Any]:
        device = p.keys.device
        who = f"t-patcher: case {r.case_id}"
        rows = encode_edits(tok, [r.prompt], [r.target_new], device, who)
        with torch.no_grad():
            hidden = model.base_model(input_ids=rows.ids, attention_mask=rows.mask).last_hidden_state
            wrong = (head_logprobs(model, hidden, rows.rows, rows.cols).argmax(-1) != rows.gold).nonzero()[:, 0]
            q = p.h[rows.rows[wrong], rows.cols[wrong]].float()[: hp.max_neurons]  # (n, d) queries of the mistakes
        if not q.shape[0]:
            return {"n_neurons": 0, "steps": 0}
        n = q.shape[0]
        k = q / (q.norm(dim=1, keepdim=True) ** 2)
        b = torch.zeros(n, device=device)
        v = torch.zeros(n, p.values.shape[1], device=device)

        def top_exp(x: torch.Tensor, top: int) -> torch.Tensor:
            x = x.flatten()
            return torch.exp(torch.topk(x, min(top, x.numel())).values).mean()

        with frozen(model), forward_from_layer(model, layer, {}, rows.ids, rows.mask) as forward:
            def loss_fn():
                hid = forward()
                edit, done = target_nll_and_hit(model, hid, rows)
                a_edit = (q * k).sum(1) + b  # (n,) each neuron on its own query
                a_mem = p.memory @ k.T + b  # (M, n)
                act = top_exp(hp.act_margin - a_edit, 5)
                mem = top_exp(a_mem - a_edit + hp.margin1, hp.top_memory) + top_exp(a_mem - hp.margin2, hp.top_memory)
                return torch.tensor(0.0 if done else 1.0), edit + hp.alc * act + hp.mlc * mem
            got = p.train_new(k, b, v, loss_fn, Training(hp.steps, hp.lr, stop_loss=0.5), who)
        return {"n_neurons": n, "steps": got["steps"], "held": got["converged"], "converged": got["converged"]}
