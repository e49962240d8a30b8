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
Positions before each row's lookup token do not depend on ``δ`` (causal attention): they run once,
into a key/value cache, and each step runs only the lookup token and the ones after it
(``forward_from_lookup``; the same hidden states up to float rounding, a third to a half of the
tokens of a context prompt; a model whose forward takes no cache or position ids runs whole rows).
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...errors import KeditError
from ...models.roles import get_module, path_of, roles_for
from ...models.text import encode_prompts, encode_targets, head_logprobs, pad_batch, pad_id, target_positions
from ..nethook import Trace, edit_output
from .keys import body, lookup_indices

log = logging.getLogger(__name__)

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
    (out,) = optimize_residuals_batch(model, tok, layer=layer, jobs=[ValueJob(prompts, subject, target, sites)],
                                      fact_token=fact_token, search=search, who=who)
    return out


@dataclass(frozen=True)
class ValueJob:
    """One request's value search: its prompts (each with "{}" for the subject), subject, target and
    sites (site -> ``v₀``)."""

    prompts: Sequence[str]
    subject: str
    target: str
    sites: Mapping[str, torch.Tensor]


def optimize_residuals_batch(model: nn.Module, tok, *, layer: int, jobs: Sequence[ValueJob], fact_token: str,
                             search: ValueSearch, who: str = "edit", from_lookup: bool = True
                             ) -> list[tuple[dict[str, torch.Tensor], dict[str, Any]]]:
    """``optimize_residuals`` for several requests in one batch of rows (all jobs share the sites).

    Each job's rows carry its own ``δ``; the loss is the sum of the jobs' losses, so each ``δ_j``
    gets exactly its own gradient, and Adam, the clamp and the weight decay act per entry or per job:
    each job follows the path it would alone (up to the float rounding of a padded batch). A job that
    reaches ``stop_nll`` keeps the ``δ`` it has then while the others go on. With ``from_lookup`` each
    step runs only the positions from each row's lookup token on (``forward_from_lookup``)."""
    device = next(model.parameters()).device
    site_names = list(jobs[0].sites)
    seqs, lookups, row_job = [], [], []
    rows, cols, gold, tok_row = [], [], [], []
    kl_rows, kl_cols, n_rw = [], [], []
    for j, job in enumerate(jobs):
        rewrite = [p.format(job.subject) for p in job.prompts]
        prompt_ids = encode_prompts(tok, rewrite + [KL_PROMPT.format(job.subject)])
        target_ids = encode_targets(tok, [job.target])[0]
        if not target_ids:
            raise KeditError(f"{who}: target {job.target!r} is empty after tokenization")
        base = len(seqs)
        seqs += [ids + target_ids for ids in prompt_ids[:-1]] + [prompt_ids[-1]]
        lookups += lookup_indices(tok, list(job.prompts) + [KL_PROMPT], job.subject, fact_token)
        row_job += [j] * (len(rewrite) + 1)
        r_, c_ = target_positions([len(p) for p in prompt_ids[:-1]], [len(target_ids)] * len(rewrite))
        rows += [base + r for r in r_]
        cols += c_
        gold += list(target_ids) * len(rewrite)
        tok_row += [base + r for r in r_]
        kl_rows.append(base + len(rewrite))
        kl_cols.append(len(prompt_ids[-1]) - 1)
        n_rw.append(len(rewrite))
    ids, mask = pad_batch(seqs, pad_id(tok))
    ids, mask = ids.to(device), mask.to(device)
    as_t = lambda x: torch.tensor(x, device=device)  # noqa: E731
    row_job_t, tok_row_t, gold_t = as_t(row_job), as_t(tok_row), as_t(gold)
    n_tgt, n_jobs = len(gold), len(jobs)
    tok_per_row = torch.bincount(tok_row_t, minlength=len(seqs)).clamp_min(1).float()
    rows_per_job = as_t(n_rw).float()
    all_rows, all_cols = as_t(rows + kl_rows), as_t(cols + kl_cols)

    v0 = {s: torch.stack([job.sites[s] for job in jobs]) for s in site_names}  # (J, d_s)
    v0_norm = {s: v.norm(dim=1) for s, v in v0.items()}  # (J,)
    deltas = {s: torch.zeros_like(v, requires_grad=True) for s, v in v0.items()}
    opt = torch.optim.Adam(list(deltas.values()), lr=search.lr)
    max_norms = {s: search.clamp_norm_factor * n for s, n in v0_norm.items()}
    active = torch.ones(n_jobs, dtype=torch.bool, device=device)
    steps = torch.zeros(n_jobs, dtype=torch.long)
    nll_start = nll_end = kl_end = None
    kl_init = None

    all_seqs, at_cols = torch.arange(len(seqs), device=device), as_t(lookups)  # where δ enters: each row's lookup token

    def adder(delta: torch.Tensor):
        def add_delta(out: torch.Tensor) -> torch.Tensor:  # (B, T, d_out): T the columns that run
            at = torch.zeros(out.shape[:2], dtype=out.dtype, device=out.device)
            at[all_seqs, at_cols] = 1
            return out + at.unsqueeze(-1) * delta[row_job_t].unsqueeze(1).to(out.dtype)
        return add_delta

    edits = {s: adder(d) for s, d in deltas.items()}
    first = lookups if from_lookup else None
    with frozen(model), forward_from_lookup(model, layer, edits, ids, mask, first, search.replay_lower_layers) as (forward, shift):
        at_cols = at_cols - shift  # the lookup tokens, the targets and the KL positions among the columns that run
        run_cols = all_cols - shift[all_rows]
        for it in range(search.steps):
            opt.zero_grad(set_to_none=True)
            with torch.enable_grad():
                logp = head_logprobs(model, forward(), all_rows, run_cols)  # (n_tgt + J, vocab)
                tok_nll = -logp[:n_tgt].gather(1, gold_t[:, None])[:, 0]  # (n_tgt,)
                row_nll = torch.zeros(len(seqs), device=device).index_add(0, tok_row_t, tok_nll) / tok_per_row
                job_nll = torch.zeros(n_jobs, device=device).index_add(0, row_job_t, row_nll * _is_rewrite(row_job_t, kl_rows)) / rows_per_job
                kl_lp = logp[n_tgt:]  # (J, vocab)
                if kl_init is None:
                    kl_init = kl_lp.detach().clone()
                job_kl = (kl_lp.exp() * (kl_lp - kl_init)).sum(-1)  # KL(P_δ ‖ P) per job
                job_wd = sum(search.weight_decay * d.norm(dim=1) / v0_norm[s] ** 2 for s, d in deltas.items())
                loss = (job_nll + search.kl_factor * job_kl + job_wd)[active].sum()
            nll = job_nll.detach()
            if nll_start is None:
                nll_start = nll.clone()
            stopping = active & ((nll < search.stop_nll) | (it == search.steps - 1))
            nll_end = torch.where(active, nll, nll_end) if nll_end is not None else nll.clone()
            kl_end = torch.where(active, job_kl.detach(), kl_end) if kl_end is not None else job_kl.detach().clone()
            steps[active.cpu()] = it + 1
            active = active & ~stopping
            if not bool(active.any()):
                break
            keep = {s: d.detach().clone() for s, d in deltas.items()}
            loss.backward()
            opt.step()
            with torch.no_grad():
                for s, d in deltas.items():
                    d[~active] = keep[s][~active]  # a stopped job keeps its δ
                    norm = d.norm(dim=1)
                    scale = torch.where(norm > max_norms[s], max_norms[s] / norm.clamp_min(1e-30), torch.ones_like(norm))
                    d.mul_(scale[:, None])  # project back into each ball ‖δ_s‖ ≤ clamp · ‖v₀_s‖
    first = site_names[0]
    out = []
    for j in range(n_jobs):
        info = {"steps": int(steps[j]), "nll_start": float(nll_start[j]), "nll_end": float(nll_end[j]),
                "kl": float(kl_end[j]), "delta_norm": float(deltas[first][j].detach().norm()), "v0_norm": float(v0_norm[first][j])}
        out.append(({s: d[j].detach() for s, d in deltas.items()}, info))
    return out


def _is_rewrite(row_job: torch.Tensor, kl_rows: Sequence[int]) -> torch.Tensor:
    """1.0 for the rows that carry a target (the rewrite prompts), 0.0 for the KL rows."""
    m = torch.ones(row_job.shape[0], device=row_job.device)
    m[torch.tensor(list(kl_rows), device=row_job.device)] = 0.0
    return m


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
    with forward_from_lookup(model, layer, edits, ids, mask, None, replay) as (run, _):
        yield run


@contextlib.contextmanager
def forward_from_lookup(model: nn.Module, layer: int, edits: Mapping[str, Callable[[torch.Tensor], torch.Tensor]],
                        ids: torch.Tensor, mask: torch.Tensor, first: Sequence[int] | None,
                        replay: bool = True) -> Iterator[tuple[Callable[[], torch.Tensor], torch.Tensor]]:
    """``forward_from_layer`` that runs each row ``r`` from position ``first[r]`` on: the positions
    before it (which an edit at or after ``first[r]`` cannot change, attention being causal) run once
    here into a key/value cache that every call reads (a fresh copy each time). Yields ``(run, shift)``:
    ``run()`` gives the final hidden states (B, S, d_model) of the positions that run, position ``t``
    of row ``r`` in column ``t − shift[r]`` (right-padded); ``shift`` is (B,) long. With ``first``
    None, all zero, or a model whose forward takes no cache or position ids, every position runs
    (``shift`` = 0). ``edits`` see only the positions that run.
    """
    net = body(model)
    prefix = _prefix_cache(net, ids, mask, first) if first is not None and max(first) > 0 else None
    if prefix is None:
        shift = torch.zeros(ids.shape[0], dtype=torch.long, device=ids.device)

        def run() -> torch.Tensor:  # (B, T, d_model), final norm applied
            return net(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    else:
        shift = torch.as_tensor(list(first), dtype=torch.long, device=ids.device)

        def run() -> torch.Tensor:  # (B, S, d_model)
            return net(input_ids=prefix.ids, attention_mask=prefix.mask, position_ids=prefix.positions,
                       use_cache=True, **{prefix.kwarg: copy.deepcopy(prefix.cache)}).last_hidden_state

    blocks = block_list(model) if replay and layer > 0 else None
    with contextlib.ExitStack() as edited:
        for site, fn in edits.items():
            edited.enter_context(edit_output(model, site, fn))
        if blocks is None:
            yield run, shift
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
            yield run, shift
        finally:
            for i, m in enumerate(originals):
                blocks[i] = m


@dataclass
class _Prefix:
    cache: Any  # the transformers cache of every row's positions before first[r] (right-padded to P)
    ids: torch.Tensor  # (B, S) the positions from first[r] on, right-padded
    mask: torch.Tensor  # (B, P + S) what those positions attend to: the real prefix tokens and themselves
    positions: torch.Tensor  # (B, S) their position ids: first[r] + column
    kwarg: str  # the forward's name for the cache: "cache" (transformers 5) or "past_key_values"


@torch.no_grad()
def _prefix_cache(net: nn.Module, ids: torch.Tensor, mask: torch.Tensor, first: Sequence[int]) -> _Prefix | None:
    """Run every row's positions before ``first[r]`` into a key/value cache (``None`` when the model's
    forward does not take one: then whole rows run). Prefixes are right-padded to the longest; a row
    with an empty prefix attends to its first (padding) column during this pass only, so no row of
    the pass is fully masked (its keys and values stay finite; the later mask hides them)."""
    from transformers import DynamicCache

    takes = inspect.signature(net.forward).parameters
    kwarg = next((k for k in ("cache", "past_key_values") if k in takes), None)
    if kwarg is None or "position_ids" not in takes:
        log.info("%s takes no key/value cache or position ids: every position runs", type(net).__name__)
        return None
    lens = mask.sum(1).tolist()
    B, P = ids.shape[0], max(first)
    S = max(n - f for n, f in zip(lens, first))
    pre = torch.zeros((B, P), dtype=ids.dtype, device=ids.device)
    pre_mask = torch.zeros((B, P), dtype=mask.dtype, device=ids.device)
    suf = torch.zeros((B, S), dtype=ids.dtype, device=ids.device)
    suf_mask = torch.zeros((B, S), dtype=mask.dtype, device=ids.device)
    for r, (f, n) in enumerate(zip(first, lens)):
        pre[r, :f], pre_mask[r, :f] = ids[r, :f], 1
        suf[r, :n - f], suf_mask[r, :n - f] = ids[r, f:n], 1
    run_mask = pre_mask.clone()
    run_mask[:, 0] = 1
    cache = DynamicCache()
    try:
        net(input_ids=pre, attention_mask=run_mask, use_cache=True, **{kwarg: cache})
    except (TypeError, ValueError) as e:  # a forward without a cache: run whole rows
        log.info("no key/value cache for %s (%s): every position runs", type(net).__name__, e)
        return None
    positions = torch.as_tensor(list(first), device=ids.device)[:, None] + torch.arange(S, device=ids.device)
    return _Prefix(cache, suf, torch.cat([pre_mask, suf_mask], dim=1), positions, kwarg)


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
