"""CaliNet: a calibration FFN beside a frozen model (Dong et al. 2022, "Calibrating Factual Knowledge
in Pretrained Language Models", Findings of EMNLP 2022).

A calibration memory of ``slots`` key-value slots is added in parallel with the FFN of block
``layer`` (the last by default, as the paper's), the base model frozen:

    FFN'(h) = FFN(h) + GELU(h K_cᵀ + b_c) V_c           (``lifelong.neurons``: the same neurons T-Patcher adds)

and trained on the facts to calibrate, with Adam (``lr``) on the mean −log P(o* | c ⊕ x) over the
edit prompts x under kedit's context prefixes c (the paper trains on several templates of each fact),
until every fact's target is the model's argmax or ``steps`` run out. Keys start N(0, ``init_std``²)
and values at 0, so the memory starts silent. The paper first picks the facts the model gets wrong
by contrastive knowledge assessment; kedit calibrates the facts it is given.

CaliNet calibrates a batch at once (one memory of ``slots`` slots per edit call); in sequential mode
each call adds its own memory and earlier ones stay frozen. ``restore()`` removes the call's slots,
and the hooks with the last ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import KeditError
from .base import EditRequest, register_editor
from .lifelong.core import LifelongHyperParams, Training, encode_edits, target_nll_and_hit
from .lifelong.neurons import NeuronEditor, Neurons, attach_neurons
from .locate.templates import context_templates
from .locate.values import forward_from_layer, frozen


@dataclass(frozen=True)
class CaliNetHyperParams(LifelongHyperParams):
    editor: ClassVar[str] = "calinet"
    layer_fields: ClassVar[tuple[str, ...]] = ("layer",)
    negative_layers: ClassVar[bool] = True

    layer: int = -1  # the FFN the calibration memory sits beside (the last, as the paper)
    slots: int = 64  # calibration slots per edit call
    lr: float = 1e-2
    steps: int = 200  # at most; stopped once every target is the argmax
    init_std: float = 0.02
    context_template_length_params: tuple[tuple[int, int], ...] = ((5, 5),)
    seed: int = 0

    def check(self) -> None:
        super().check()
        if self.slots < 1 or self.steps < 1 or not self.lr > 0 or not self.init_std > 0:
            raise KeditError("calinet: slots and steps must be >= 1, lr and init_std > 0")


@register_editor("calinet")
class CaliNet(NeuronEditor):
    hparams_cls = CaliNetHyperParams
    supports_batch = True  # one calibration memory trained on all the call's facts
    added = "n_slots"

    def attach(self, model: nn.Module, tok, layer: int, hp: CaliNetHyperParams) -> Neurons:
        templates = context_templates(model, tok, length_params=hp.context_template_length_params)  # before any hook
        n = attach_neurons(model, layer)
        n.templates = templates
        return n

    def edit_one(self, model, tok, n: Neurons, requests: list[EditRequest], hp: CaliNetHyperParams, layer: int, _cp
                 ) -> dict[str, Any]:
        device = n.keys.device
        who = "calinet: case " + ", ".join(r.case_id for r in requests[:3])
        prompts = [t.format(r.prompt) for r in requests for t in n.templates]
        targets = [r.target_new for r in requests for _ in n.templates]
        rows = encode_edits(tok, prompts, targets, device, who)
        g = torch.Generator(device="cpu").manual_seed(hp.seed + len(n))
        k = (torch.randn(hp.slots, n.keys.shape[1], generator=g) * hp.init_std).to(device)
        b = torch.zeros(hp.slots, device=device)
        v = torch.zeros(hp.slots, n.values.shape[1], device=device)
        with frozen(model), forward_from_layer(model, layer, {}, rows.ids, rows.mask) as forward:
            def loss_fn():
                nll, done = target_nll_and_hit(model, forward(), rows)
                return torch.tensor(0.0 if done else 1.0), nll
            got = n.train_new(k, b, v, loss_fn, Training(hp.steps, hp.lr, stop_loss=0.5), who)
        return {"n_slots": hp.slots, "steps": got["steps"], "held": got["converged"], "converged": got["converged"]}
