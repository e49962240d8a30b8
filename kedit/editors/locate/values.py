"""Values: the residual ``δ`` at one site that makes the model say the new target (ROME's
``compute_v``, MEMIT's ``compute_z``, one function).

``δ`` is added to the output of module ``site`` (ROME: layer l's ``mlp_out``; MEMIT: the last
edited layer's block output) at the lookup token of every context prompt and of the KL prompt
"{subject} is a", and optimised with Adam, the model frozen:

    L(δ) = 1/N Σⱼ −log P(o* | prefixⱼ + p)                       (mean over target tokens)
         + kl_factor · KL(P_δ[· | "s is a"] ‖ P[· | "s is a"])      (keep what s is)
         + weight_decay · ‖δ‖ / ‖v₀‖²                               (as the reference code)

with ``‖δ‖ ≤ clamp_norm_factor · ‖v₀‖`` after each step and an early stop once the mean per-token
−log P(o*) falls below ``stop_nll``. The KL term reads the next-token distribution after the whole
prompt "s is a" (the paper's "essence" prompt). With ``replay_lower_layers`` the blocks below the
site's layer run once per edit and are replayed, so each step runs (and back-propagates through)
only the site's block and those above, and the LM head only at the target and KL positions.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import KeditError
from ...models.roles import get_module, path_of, roles_for
from ...models.text import encode_prompts, encode_targets, head_logprobs, pad_batch, pad_id, target_positions
from ..nethook import Trace, edit_output
from .keys import body, lookup_indices

KL_PROMPT = "{} is a"


@dataclass(frozen=True)
class ValueSearch:
    """The numbers of the ``δ`` optimisation (see the module docs)."""

    steps: int = 20
    lr: float = 0.5
    weight_decay: float = 0.5
    clamp_norm_factor: float = 4.0
    kl_factor: float = 0.0625
    stop_nll: float = 0.05
    replay_lower_layers: bool = True


def optimize_residual(model: nn.Module, tok, *, layer: int, site: str, prompts: Sequence[str], subject: str,
                      target: str, fact_token: str, v0: torch.Tensor, search: ValueSearch,
                      who: str = "edit") -> tuple[torch.Tensor, dict[str, Any]]:
    """``δ`` (d_out,) added to ``site``'s output (a module of block ``layer``) at the lookup token,
    optimised for P(target); ``prompts`` hold "{}" for the subject; ``v₀`` is the site's output
    there before the edit (its norm scales the clamp and the weight decay)."""
    deltas, info = optimize_residuals(model, tok, layer=layer, sites={site: v0}, prompts=prompts, subject=subject,
                                      target=target, fact_token=fact_token, search=search, who=who)
    return deltas[site], info


def optimize_residuals(model: nn.Module, tok, *, layer: int, sites: Mapping[str, torch.Tensor], prompts: Sequence[str],
                       subject: str, target: str, fact_token: str, search: ValueSearch,
                       who: str = "edit") -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """One ``δ_s`` per site ``s`` (modules of block ``layer``, mapped to their output ``v₀_s`` at
    the lookup token before the edit), optimised together (PMET: attention and MLP outputs): the
    weight decay is the sum of each site's term and each ``δ_s`` is clamped to its own ball
    ``‖δ_s‖ ≤ clamp_norm_factor · ‖v₀_s‖``. ``info`` reports the first site's norms."""
    device = next(model.parameters()).device
    kl_prompt = KL_PROMPT.format(subject)
    rewrite = [p.format(subject) for p in prompts]
    prompt_ids = encode_prompts(tok, rewrite + [kl_prompt])
    target_ids = encode_targets(tok, [target])[0]
    if not target_ids:
        raise KeditError(f"{who}: target {target!r} is empty after tokenization")
    n_rw = len(rewrite)
    seqs = [ids + target_ids for ids in prompt_ids[:n_rw]] + [prompt_ids[n_rw]]
    ids, mask = pad_batch(seqs, pad_id(tok))  # (P+1, T)
    ids, mask = ids.to(device), mask.to(device)

    # where δ enters: the lookup token of every prompt, the KL prompt included
    lookup = lookup_indices(tok, list(prompts) + [KL_PROMPT], subject, fact_token)
    at = torch.zeros(ids.shape, dtype=torch.bool, device=device)  # (P+1, T)
    at[torch.arange(n_rw + 1, device=device), torch.tensor(lookup, device=device)] = True
    # where the loss reads the logits: each target token of each rewrite prompt, then the KL position
    rows, cols = target_positions([len(p) for p in prompt_ids[:n_rw]], [len(target_ids)] * n_rw)
    gold = list(target_ids) * n_rw
    rows.append(n_rw)
    cols.append(len(prompt_ids[n_rw]) - 1)
    rows_t, cols_t = torch.tensor(rows, device=device), torch.tensor(cols, device=device)
    gold_t = torch.tensor(gold, device=device)  # (P·m,)
    n_tgt = len(gold)

    deltas = {s: torch.zeros_like(v0, requires_grad=True) for s, v0 in sites.items()}  # (d_out_s,)
    opt = torch.optim.Adam(list(deltas.values()), lr=search.lr)
    max_norms = {s: search.clamp_norm_factor * v0.norm() for s, v0 in sites.items()}
    kl_init = None
    nll_start = nll = float("nan")
    steps = 0

    def adder(delta: torch.Tensor):
        def add_delta(out: torch.Tensor) -> torch.Tensor:  # (B, T, d_out)
            return out + at.unsqueeze(-1).to(out.dtype) * delta.to(out.dtype)
        return add_delta

    edits = {s: adder(d) for s, d in deltas.items()}
    with frozen(model), forward_from_layer(model, layer, edits, ids, mask, search.replay_lower_layers) as forward:
        for it in range(search.steps):
            steps = it + 1
            opt.zero_grad(set_to_none=True)
            with torch.enable_grad():
                hidden = forward()  # (P+1, T, d_model), final norm applied
                logp = head_logprobs(model, hidden, rows_t, cols_t)  # (P·m + 1, vocab)
                tgt_lp = logp[:n_tgt].gather(1, gold_t[:, None])[:, 0].view(n_rw, len(target_ids))  # (P, m)
                nll_each = -tgt_lp.mean(1)  # (P,)  per-token -log P(target), each prompt
                nll_loss = nll_each.mean()
                kl_lp = logp[n_tgt:]  # (1, vocab)
                if kl_init is None:
                    kl_init = kl_lp.detach().clone()
                kl_loss = search.kl_factor * F.kl_div(kl_init, kl_lp, log_target=True, reduction="batchmean")
                wd = sum(search.weight_decay * d.norm() / sites[s].norm() ** 2 for s, d in deltas.items())
                loss = nll_loss + kl_loss + wd
            nll = float(nll_loss.detach())
            if it == 0:
                nll_start = nll
            if nll < search.stop_nll or it == search.steps - 1:
                break
            loss.backward()
            opt.step()
            with torch.no_grad():  # project back into each ball ‖δ_s‖ ≤ clamp · ‖v₀_s‖
                for s, d in deltas.items():
                    if d.norm() > max_norms[s]:
                        d.mul_(max_norms[s] / d.norm())
    first = next(iter(sites))
    info = {"steps": steps, "nll_start": nll_start, "nll_end": nll,
            "kl": float(kl_loss.detach()) / max(search.kl_factor, 1e-12),
            "delta_norm": float(deltas[first].detach().norm()), "v0_norm": float(sites[first].norm())}
    return {s: d.detach() for s, d in deltas.items()}, info


# ----------------------------------------------------------------------------------------------
# forward passes


@contextlib.contextmanager
def frozen(model: nn.Module) -> Iterator[None]:
    """All parameters frozen (no gradients accumulate in the model) and eval mode, restored after."""
    flags = [(p, p.requires_grad) for p in model.parameters()]
    training = model.training
    model.eval()
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in flags:
            p.requires_grad_(f)
        model.train(training)


class _Replay(nn.Module):
    """Stands in for a transformer block below the edited layer: returns the block's recorded output."""

    def __init__(self, output: Any):
        super().__init__()
        self.output = output

    def forward(self, *args, **kwargs):
        return self.output


@contextlib.contextmanager
def forward_from_layer(model: nn.Module, layer: int, edits: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
                       ids: torch.Tensor, mask: torch.Tensor, replay: bool = True) -> Iterator:
    """A function running the model on (ids, mask) with each ``edits[site]`` applied to that
    module's output (modules of block ``layer``).

    With ``replay`` the blocks below ``layer`` are run once here and, inside the block, replaced by
    modules that return their recorded outputs, so each call computes only block ``layer`` (with the
    hook that adds δ) and the blocks above. The original blocks are always put back.
    """
    net = body(model)

    def run() -> torch.Tensor:  # (B, T, d_model), final norm applied
        return net(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state

    blocks = block_list(model) if replay and layer > 0 else None
    with contextlib.ExitStack() as edited:
        for site, fn in edits.items():
            edited.enter_context(edit_output(model, site, fn))
        if blocks is None:
            yield run
            return
        outputs: list[Any] = [None] * layer
        with contextlib.ExitStack() as hooks, torch.no_grad():
            for i in range(layer):
                hooks.enter_context(_hooked(blocks[i], _recorder(outputs, i)))
            with Trace(model, path_of(model, "layer", layer - 1), stop=True, retain_input=False):
                run()
        originals = [blocks[i] for i in range(layer)]
        try:
            for i in range(layer):
                blocks[i] = _Replay(outputs[i])
            yield run
        finally:
            for i, m in enumerate(originals):
                blocks[i] = m


def _recorder(outputs: list, i: int):
    def hook(_m, _inputs, output):
        outputs[i] = output
    return hook


@contextlib.contextmanager
def _hooked(module: nn.Module, hook) -> Iterator[None]:
    handle = module.register_forward_hook(hook)
    try:
        yield
    finally:
        handle.remove()


def block_list(model: nn.Module) -> nn.ModuleList | None:
    """The ModuleList holding the transformer blocks (role ``layer``), if the layout is that simple."""
    tmpl = roles_for(model).layer
    if not tmpl.endswith(".{}"):
        return None
    parent = get_module(model, tmpl[: -len(".{}")])
    return parent if isinstance(parent, nn.ModuleList) else None
