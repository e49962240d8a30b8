"""WISE: a side memory with a router and knowledge shards (Wang et al. 2024, "WISE: Rethinking the
Knowledge Memory for Lifelong Model Editing of Large Language Models", NeurIPS 2024), in its
WISE-Retrieve form, as EasyEdit implements it (easyeditor/models/wise/WISE.py).

The FFN value matrix W of block ``layer`` (``mlp_out``: y = W a, a the MLP's hidden activation) is
the main memory and never changes. Edits go into a side memory W′, initialised as a copy of W.

Routing. For a sequence x with activations aₜ at the layer, the activation score of a memory W′ is

    Δ(x; W′) = meanₜ ‖(W′ − W) aₜ‖₂                     (over x's real tokens)

Each memory keeps ε = the smallest mean Δ of its own edits' prompts at the end of their training.
At inference the sequence uses the memory with the largest Δ among those with Δ ≥ ``act_ratio`` · ε,
and the main memory when there is none (so unrelated inputs, where W′ − W is silent, keep W).

Editing. An edit (x_e, y) trains W′ by SGD (``lr``, at most ``steps`` steps, stopped once the loss is
below ``stop_loss``) with the model frozen and W′ in the forward pass, on

    L = −log P(y | c ⊕ x_e)  (mean over the context prefixes c and the target tokens)
      + max(0, Δ(x_o) − α) + max(0, β − Δ(x_e)) + max(0, γ − (Δ(x_e) − Δ(x_o)))

(the margins: an unrelated text x_o stays below α, the edit's inputs rise above β, and above x_o by γ);
the gradient is masked to the current shard's random subset of W′'s entries (``mask_ratio``), weight
decay applies on that subset too, and each entry stays within W ± ``norm_constraint``.

Knowledge shards. After ``save_freq`` edits the side memory is kept as a memory of its own (with its
ε) and a fresh copy of W, with a fresh random mask, takes the next edits. Every ``merge_freq`` edits
the last ``merge_freq / save_freq`` kept memories are merged by TIES (``lifelong.merge``, density
``densities``) into one, whose ε is the smallest of theirs.

kedit's choices where the reference differs: Δ is the paper's ‖(W′ − W) a‖ (EasyEdit compares the
hidden activation function of the two outputs); its mean runs over real tokens only (the attention
mask, so padding in a batch changes nothing); a generation's cached steps keep the memory chosen at
its prefill; the unrelated texts x_o are short texts of the offline Wikipedia sample (EasyEdit uses
each request's locality prompt, which kedit's edit requests do not carry). WISE edits one fact at a
time (a batch is written in turn); ``restore()`` undoes each edit, shard saves and merges included.
Defaults: EasyEdit's Llama-2-7B values (mlp_out of layer 27 of 32, margins 5 / 20 / 10, 70 steps,
shards of 500, merges every 1,000); per-family files set kedit's values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import KeditError
from ..models.roles import module_at, weight_as_out_in
from .base import EditRequest, register_editor
from .lifelong.core import Hooks, LifelongHyperParams, Training, encode_edits, out_of_scope_texts, target_nll, target_nll_and_hit, train
from .lifelong.editor import SideEditor
from .lifelong.merge import ties_merge
from .locate.keys import body
from .locate.templates import context_templates
from .locate.values import forward_from_layer, frozen


@dataclass(frozen=True)
class WiseHyperParams(LifelongHyperParams):
    editor: ClassVar[str] = "wise"
    layer_fields: ClassVar[tuple[str, ...]] = ("layer",)
    negative_layers: ClassVar[bool] = True

    layer: int = -5  # the block whose FFN value matrix (mlp_out) gets a side memory (Llama-2-7B: 27 of 32)
    lr: float = 1.0  # SGD
    steps: int = 70
    stop_loss: float = 0.02
    weight_decay: float = 1e-5
    mask_ratio: float = 0.2  # fraction of W′'s entries one shard trains
    norm_constraint: float = 1.0  # |W′ − W| per entry
    alpha: float = 5.0  # margins of the routing loss (EasyEdit's act_margin)
    beta: float = 20.0
    gamma: float = 10.0
    act_ratio: float = 0.88  # a memory answers when Δ ≥ act_ratio · ε
    save_freq: int = 500  # edits per knowledge shard
    merge_freq: int = 1000  # edits between TIES merges of the last shards
    densities: float = 0.53  # TIES trim density
    context_template_length_params: tuple[tuple[int, int], ...] = ((5, 5), (10, 5))
    seed: int = 0  # of the shard masks

    def check(self) -> None:
        super().check()
        if not 0 < self.mask_ratio <= 1:
            raise KeditError(f"wise: mask_ratio must be in (0, 1], got {self.mask_ratio}")
        if not self.lr > 0 or self.steps < 1:
            raise KeditError("wise: lr must be > 0 and steps >= 1")
        if self.save_freq < 1 or self.merge_freq < self.save_freq or self.merge_freq % self.save_freq:
            raise KeditError(f"wise: merge_freq ({self.merge_freq}) must be a multiple of save_freq ({self.save_freq}) >= 1")
        if not 0 < self.densities <= 1 or not self.act_ratio > 0:
            raise KeditError("wise: densities must be in (0, 1] and act_ratio > 0")


@dataclass
class Shard:
    """One side memory: its weight (d_out, d_in, float32), the entries it trains and its ε."""

    weight: torch.Tensor
    mask: torch.Tensor
    eps: float = float("inf")
    n: int = 0  # edits written into it


@dataclass
class SideMemory:
    module: nn.Module
    base: torch.Tensor  # W (d_out, d_in) float32, the main memory (never changed)
    bias: torch.Tensor | None
    templates: list[str]
    current: Shard
    kept: list[Shard] = field(default_factory=list)
    total: int = 0  # edits so far
    hooks: Hooks = field(default_factory=Hooks)
    editing: bool = False
    mask: torch.Tensor | None = None  # the attention mask of the forward pass in progress
    route: torch.Tensor | None = None  # per row: which memory the last prefill chose (-1: main, i: kept[i], k: current)
    outputs: dict[str, torch.Tensor] = field(default_factory=dict)  # while editing: main and side outputs

    def side(self, a: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        out = F.linear(a, w.to(a.dtype))
        return out if self.bias is None else out + self.bias

    def scores(self, a: torch.Tensor, main: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """Δ per row of ``a`` (B, T, d_in): the mean over real tokens of ‖(W′ − W) aₜ‖."""
        per_tok = (self.side(a, w) - main).float().norm(dim=-1)  # (B, T)
        m = self.mask[:, -a.shape[1]:].to(per_tok.dtype) if self.mask is not None and self.mask.shape[0] == a.shape[0] \
            else torch.ones_like(per_tok)
        return (per_tok * m).sum(1) / m.sum(1).clamp_min(1)


@register_editor("wise")
class Wise(SideEditor):
    hparams_cls = WiseHyperParams

    def empty(self, mem: SideMemory) -> bool:
        return mem.total == 0

    def summary(self, mem: SideMemory, info: dict[str, Any]) -> dict[str, Any]:
        return {"shards_kept": len(mem.kept), "edits_in_shard": mem.current.n,
                "added_bytes": 4 * mem.base.numel() * (len(mem.kept) + 1) // max(mem.total, 1)}

    # -- attaching and routing ------------------------------------------------------------------

    def attach(self, model: nn.Module, tok, layer: int, hp: WiseHyperParams) -> SideMemory:
        module = module_at(model, "mlp_out", layer)
        base = weight_as_out_in(model, module).detach().float().clone()
        templates = context_templates(model, tok, length_params=hp.context_template_length_params)
        mem = SideMemory(module, base, getattr(module, "bias", None), templates, self._new_shard(base, hp, 0))
        mem.hooks.pre(body(model), self._capture_mask(mem), with_kwargs=True)
        mem.hooks.forward(module, self._route(mem, hp))
        return mem

    @staticmethod
    def _new_shard(base: torch.Tensor, hp: WiseHyperParams, index: int) -> Shard:
        g = torch.Generator(device="cpu").manual_seed(hp.seed + index)
        mask = (torch.rand(base.shape, generator=g) < hp.mask_ratio).to(base.device)
        return Shard(base.clone(), mask)

    @staticmethod
    def _capture_mask(mem: SideMemory):
        def hook(_m, args, kwargs):
            mask = kwargs.get("attention_mask")
            mem.mask = mask if isinstance(mask, torch.Tensor) and mask.dim() == 2 else None
        return hook

    @staticmethod
    def _route(mem: SideMemory, hp: WiseHyperParams):
        def hook(_m, inputs, output):
            a = inputs[0]
            if mem.editing:  # training: every row through the side memory; both outputs kept for the loss
                side = mem.side(a, mem.current.weight)
                mem.outputs = {"main": output, "side": side, "a": a}
                return side.to(output.dtype)
            shards = mem.kept + ([mem.current] if mem.current.n else [])
            if not shards:
                return output
            if a.shape[1] == 1 and mem.route is not None and mem.route.shape[0] == a.shape[0]:
                route = mem.route  # a cached generation step: the memory its prefill chose
            else:
                best = torch.zeros(a.shape[0], device=a.device)
                route = torch.full((a.shape[0],), -1, device=a.device)
                for i, s in enumerate(shards):
                    d = mem.scores(a, output, s.weight)
                    take = (d >= hp.act_ratio * s.eps) & (d > best)
                    route = torch.where(take, i, route)
                    best = torch.where(take, d, best)
                mem.route = route
            out = output
            for i, s in enumerate(shards):
                rows = route == i
                if bool(rows.any()):
                    out = torch.where(rows.view(-1, 1, 1), mem.side(a, s.weight).to(out.dtype), out)
            return out
        return hook

    # -- one edit -------------------------------------------------------------------------------

    def edit_one(self, model, tok, mem: SideMemory, r: EditRequest, hp: WiseHyperParams, layer: int, _cp) -> dict[str, Any]:
        device = mem.base.device
        who = f"wise: case {r.case_id}"
        in_scope = [t.format(r.prompt) for t in mem.templates]
        unrelated = out_of_scope_texts(1, seed=hp.seed + mem.total)[0]
        rows = encode_edits(tok, in_scope + [unrelated], [r.target_new] * len(in_scope) + ["."], device, who)
        n_in = len(in_scope)
        loss_rows = encode_edits(tok, in_scope, [r.target_new] * n_in, device, who)  # the target loss skips x_o
        shard = mem.current
        w = shard.weight.requires_grad_(True)

        def act_loss() -> tuple[torch.Tensor, torch.Tensor]:
            o = mem.outputs
            mem.mask = rows.mask
            d = mem.scores(o["a"], o["main"], w)  # (n_in + 1,)
            d_in, d_out = d[:n_in], d[n_in]
            return (F.relu(d_out - hp.alpha) + F.relu(hp.beta - d_in).mean()
                    + F.relu(hp.gamma - (d_in - d_out)).mean()), d_in.detach()

        def loss_fn():
            hidden = forward()
            nll = target_nll(model, hidden[:n_in, :loss_rows.ids.shape[1]], loss_rows)
            la, _ = act_loss()
            total = nll + la
            return total, total

        def mask_grad():
            w.grad.mul_(shard.mask).add_(hp.weight_decay * w.detach() * shard.mask)

        def clamp():
            w.copy_(torch.maximum(torch.minimum(w, mem.base + hp.norm_constraint), mem.base - hp.norm_constraint))

        mem.editing = True
        try:
            with frozen(model), forward_from_layer(model, layer, {}, rows.ids, rows.mask) as forward:
                got = train([w], loss_fn, Training(hp.steps, hp.lr, hp.stop_loss, "sgd"), who, after_step=clamp,
                            grad_hook=mask_grad)
                with torch.no_grad():
                    _, held = target_nll_and_hit(model, forward()[:n_in, :loss_rows.ids.shape[1]], loss_rows)
                    _, d_in = act_loss()
        finally:
            mem.editing = False
            mem.outputs = {}
            w.requires_grad_(False)
            w.grad = None
        shard.eps = min(shard.eps, float(d_in.mean()))
        shard.n += 1
        mem.total += 1
        if shard.n == hp.save_freq:  # the shard is full: keep it, start a fresh one
            mem.kept.append(shard)
            mem.current = self._new_shard(mem.base, hp, len(mem.kept))
            if mem.total % hp.merge_freq == 0:
                k = hp.merge_freq // hp.save_freq
                group = mem.kept[-k:]
                merged = ties_merge(mem.base, [s.weight for s in group], [1.0 / k] * k, hp.densities)
                mem.kept = mem.kept[:-k] + [Shard(merged, torch.zeros_like(group[0].mask), min(s.eps for s in group), sum(s.n for s in group))]
        return {**got, "converged": held, "delta_edit": float(d_in.mean())}  # converged: every target token is the argmax

    # -- undo -----------------------------------------------------------------------------------

    def checkpoint(self, mem: SideMemory) -> tuple:
        s = mem.current
        return (list(mem.kept), s, s.weight[s.mask].clone(), s.eps, s.n, mem.total)

    def rollback(self, mem: SideMemory, cp: tuple) -> None:
        kept, shard, values, eps, n, total = cp
        mem.kept, mem.current, mem.total = kept, shard, total
        shard.weight[shard.mask] = values
        shard.eps, shard.n = eps, n
        mem.route = None
