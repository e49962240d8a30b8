"""What MEND and KE share: both turn the fine-tuning gradient of an edit into a weight update.

For an edited linear map y = W u (W: out × in, GPT-2's Conv1D stored transposed), the gradient of
the edit loss L (the target's mean NLL, ``lifelong.core.target_nll``) is a sum of rank-one terms
over the real tokens t of the edit rows,

    ∇_W L = Σ_t δ_t u_tᵀ,    u_t: the map's input,  δ_t = ∂L/∂y_t                    (MEND §3.1)

``gradient_factors`` gets (u_t, δ_t) for every edited map in one forward and one backward pass
(δ through a zero tensor added to each output, so every path from y_t to L counts). A learner maps
the factors (and, for KE, the edit's tokens) to an update ΔW per map; the edited weights are
W̃ = W − ΔW. Training (``UpdateLearner.losses``, MEND's and KE's objective in the MEND paper's form):

    L = c_edit · L_edit(W̃; edit prompt and its paraphrases)  +  c_loc · KL(p_W(·|x_loc) ‖ p_W̃(·|x_loc))

where the KL runs over every real token of the unrelated texts, the edited model evaluated with
``torch.func.functional_call`` (the base weights are never written during training). Editing
(``apply``) writes W̃ into the model under the caller's ``ParamSnapshot``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ...errors import KeditError
from ...models.roles import module_at, n_layers, path_of, roles_for
from ...models.text import encode_prompts, pad_batch, pad_id
from ..base import EditRequest
from ..lifelong.core import EditRows, encode_edits, target_nll
from .data import TrainEdit
from .trainer import Learner

ROLES = ("mlp_in", "mlp_out")


def edited_params(model: nn.Module, layers: Sequence[int], roles: Sequence[str], who: str) -> dict[str, nn.Module]:
    """Parameter name (``...weight``) -> its module, for each role at each layer (negative: from the top)."""
    n = n_layers(model)
    out: dict[str, nn.Module] = {}
    for layer in layers:
        idx = layer + n if layer < 0 else layer
        if not 0 <= idx < n:
            raise KeditError(f"{who}: layer {layer} is out of range for a model with {n} layers")
        for role in roles:
            if role not in ROLES:
                raise KeditError(f"{who}: role {role!r} is not one of {', '.join(ROLES)}")
            out[path_of(model, role, idx) + ".weight"] = module_at(model, role, idx)
    return out


def out_in_shape(model: nn.Module, module: nn.Module) -> tuple[int, int]:
    shape = tuple(module.weight.shape)
    return (shape[1], shape[0]) if roles_for(model).weight_in_out else (shape[0], shape[1])  # type: ignore[return-value]


def gradient_factors(model: nn.Module, modules: dict[str, nn.Module], rows: EditRows
                     ) -> tuple[dict[str, tuple[torch.Tensor, torch.Tensor]], float]:
    """({param name: (u (n, in), δ (n, out))} over the real tokens of ``rows``, the edit loss)."""
    inputs: dict[str, torch.Tensor] = {}
    zeros: dict[str, torch.Tensor] = {}
    handles = []
    for name, mod in modules.items():
        def hook(m, args, out, name=name):
            inputs[name] = args[0].detach()
            zeros[name] = z = torch.zeros_like(out, requires_grad=True)
            return out + z
        handles.append(mod.register_forward_hook(hook))
    try:
        with torch.enable_grad():
            hidden = model.base_model(input_ids=rows.ids, attention_mask=rows.mask).last_hidden_state
            loss = target_nll(model, hidden, rows)
            grads = torch.autograd.grad(loss, [zeros[n] for n in modules])
    finally:
        for h in handles:
            h.remove()
    real = rows.mask.bool()
    return {n: (inputs[n][real].float(), g[real].float()) for n, g in zip(modules, grads)}, float(loss.detach())


def kl_on_texts(model: nn.Module, weights: dict[str, torch.Tensor], ids: torch.Tensor, mask: torch.Tensor,
                base_logp: torch.Tensor) -> torch.Tensor:
    """Mean over real tokens of KL(p_base ‖ p_edited) (``base_logp``: the base model's log-probs there)."""
    logp = torch.log_softmax(torch.func.functional_call(model, weights, (), {"input_ids": ids, "attention_mask": mask})
                             .logits.float(), -1)[mask.bool()]
    return (base_logp.exp() * (base_logp - logp)).sum(-1).mean()


def base_logprobs(model: nn.Module, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), -1)[mask.bool()]


def text_batch(tok, texts: Sequence[str], device) -> tuple[torch.Tensor, torch.Tensor]:
    ids, mask = pad_batch(encode_prompts(tok, texts), pad_id(tok))
    return ids.to(device), mask.to(device)


def token_accuracy(model: nn.Module, weights: dict[str, torch.Tensor] | None, rows: EditRows) -> torch.Tensor:
    """(B,) per row: the fraction of its target tokens that are the argmax (teacher-forced)."""
    kw = {"input_ids": rows.ids, "attention_mask": rows.mask}
    out = model(**kw) if weights is None else torch.func.functional_call(model, weights, (), kw)
    hit = (out.logits[rows.rows, rows.cols].argmax(-1) == rows.gold).float()
    total = torch.zeros(rows.size).index_add(0, rows.rows.cpu(), hit.cpu())
    return total / torch.bincount(rows.rows.cpu(), minlength=rows.size).float()


class UpdateLearner(Learner):
    """A learner that maps an edit's gradient factors to weight updates (MEND, KE). Subclasses build
    their networks in ``__init__`` (after ``super().__init__``) and implement ``updates``."""

    def __init__(self, model: nn.Module, hp: Any):
        super().__init__()
        self.modules_by_name = edited_params(model, hp.layers, hp.roles, hp.editor)
        self.names = list(self.modules_by_name)
        self.shapes = {n: out_in_shape(model, m) for n, m in self.modules_by_name.items()}
        self.transposed = roles_for(model).weight_in_out
        self.c_edit, self.c_loc = hp.c_edit, hp.c_loc

    def base_architecture(self) -> dict[str, Any]:
        return {"params": self.names, "shapes": {n: list(s) for n, s in self.shapes.items()}}

    def updates(self, factors: dict[str, tuple[torch.Tensor, torch.Tensor]], rows: EditRows) -> dict[str, torch.Tensor]:
        """ΔW (out × in) for each edited parameter."""
        raise NotImplementedError

    def new_weights(self, model: nn.Module, requests: Sequence[EditRequest], tok) -> tuple[dict[str, torch.Tensor], float]:
        """{param name: W − ΔW in the stored layout} for ``requests`` (differentiable in the learner)."""
        device = next(model.parameters()).device
        rows = encode_edits(tok, [r.prompt for r in requests], [r.target_new for r in requests], device, self.editor)
        factors, loss = gradient_factors(model, self.modules_by_name, rows)
        params = dict(model.named_parameters())
        out = {}
        for name, delta in self.updates(factors, rows).items():
            d = delta.T if self.transposed else delta
            out[name] = params[name] - d.to(params[name].dtype)
        return out, loss

    def losses(self, model: nn.Module, tok, batch: Sequence[TrainEdit]) -> dict[str, torch.Tensor]:
        device = next(model.parameters()).device
        weights, _ = self.new_weights(model, [e.request for e in batch], tok)
        prompts = [e.request.prompt for e in batch] + [p for e in batch for p in e.equivalent[:2]]
        targets = [e.request.target_new for e in batch] + [e.request.target_new for e in batch for _ in e.equivalent[:2]]
        rows = encode_edits(tok, prompts, targets, device, self.editor)
        hidden = torch.func.functional_call(model.base_model, {k[len(_prefix(model)):]: v for k, v in weights.items()}, (),
                                            {"input_ids": rows.ids, "attention_mask": rows.mask}).last_hidden_state
        edit = target_nll(model, hidden, rows)
        texts = [t for e in batch for t in e.unrelated[:2]]
        loc = torch.zeros((), device=device)
        if texts:
            ids, mask = text_batch(tok, texts, device)
            loc = kl_on_texts(model, weights, ids, mask, base_logprobs(model, ids, mask))
        return {"total": self.c_edit * edit + self.c_loc * loc, "edit": edit, "loc": loc}

    @torch.no_grad()
    def validate(self, model: nn.Module, tok, edits: Sequence[TrainEdit]) -> dict[str, float]:
        """One edit at a time (as the editor is used): token accuracy of the target at the edit prompt
        (reliability) and at its paraphrases (generalization), the share of unrelated tokens whose
        top prediction is unchanged (locality); ``edit_success`` is the mean of the first two."""
        device = next(model.parameters()).device
        rel, gen, loc = [], [], []
        for e in edits:
            weights, _ = self.new_weights(model, [e.request], tok)
            prompts = [e.request.prompt, *e.equivalent[:2]]
            rows = encode_edits(tok, prompts, [e.request.target_new] * len(prompts), device, self.editor)
            acc = token_accuracy(model, weights, rows)
            rel.append(float(acc[0]))
            if len(prompts) > 1:
                gen.append(float(acc[1:].mean()))
            if e.unrelated:
                ids, mask = text_batch(tok, list(e.unrelated[:2]), device)
                base = model(input_ids=ids, attention_mask=mask).logits.argmax(-1)
                new = torch.func.functional_call(model, weights, (), {"input_ids": ids, "attention_mask": mask}).logits.argmax(-1)
                loc.append(float((base == new)[mask.bool()].float().mean()))
        mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
        r, g = mean(rel), mean(gen)
        return {"edit_success": (r + g) / 2 if gen else r, "reliability": r, "generalization": g, "locality": mean(loc)}

    @torch.no_grad()
    def apply(self, model: nn.Module, tok, requests: Sequence[EditRequest]) -> dict[str, Any]:
        """Write W̃ into the model (the caller snapshots ``self.names`` first)."""
        weights, loss = self.new_weights(model, requests, tok)
        params = dict(model.named_parameters())
        norms = {}
        for name, w in weights.items():
            norms[name] = float((w.detach() - params[name]).float().norm())
            params[name].copy_(w.detach())
        return {"edit_loss_before": loss, "update_norm": sum(norms.values())}


def _prefix(model: nn.Module) -> str:
    """The attribute path of ``model.base_model`` inside ``model`` plus a dot ("model." for Llama)."""
    base = model.base_model
    for name, mod in model.named_children():
        if mod is base:
            return name + "."
    return ""
