"""MEMIT: Mass-Editing Memory in a Transformer (Meng et al., ICLR 2023, "Mass-Editing Memory in a
Transformer"), a batch of edits spread over a range of MLP layers, on the family's shared core
(``kedit.editors.locate``).

For a batch of facts {(sᵢ, rᵢ, oᵢ*)} and layers ℒ = [l₁ … l_L] (last layer L = l_L):

1. target values (``compute_z``): for each request, the hidden state at block L's output at the
   lookup token, ``zᵢ = h_L(sᵢ) + δᵢ``, with ``δᵢ`` optimised for P(oᵢ*) exactly as ROME's value
   (``locate.values``: target NLL over context prompts, KL on "s is a", weight decay, norm clamp
   ``‖δ‖ ≤ clamp_norm_factor · ‖h_L‖``);
2. for each layer l in ℒ, lowest first, with the updates of the layers below already written:
   keys ``K_l`` (N, d_in) = the mean ``mlp_out`` input at the lookup token over the context prompts,
   the current block-L outputs ``h_L`` at the same places, residuals spread over the layers left

       R_l = (z − h_L) / (L − i),        i = index of l in ℒ

   and the update (the paper's eq. 14, ``λ`` = ``mom2_update_weight``, ``C_l = E[k kᵀ]``)

       Δ_l = R_l K_lᵀ (λ C_l + K_l K_lᵀ)⁻¹          (``locate.solves.batch_update``, float64 solve)

Differences from the reference code (kmeng01/memit memit_main.py, compute_z.py, compute_ks.py;
EasyEdit easyeditor/models/memit), on purpose:

* ``h_L`` at the start (for ``zᵢ``) and at each layer is the mean over the same context prompts as
  the keys (the reference code reads it on the plain prompt alone): both ends of the residual
  see the same inputs, the consistency r-ROME argues for.
* The KL term reads the distribution after the whole "s is a" prompt, targets are appended as
  token ids, and the lower layers are replayed during the optimisation, as kedit's ROME does.

Every request is written in one solve per layer (``supports_batch``); ``restore()`` puts every
edited matrix back bitwise. With ``values_cache`` each request's ``δ`` is kept on disk and read back
when the weights, prompts, target and optimisation numbers are the same (``locate.value_cache``, as
the reference code's ``cache_template``): a batch of 1,000 can then be built up over several runs,
or solved again with another ``mom2_update_weight``, without optimising its values again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Callable, ClassVar

import torch
from torch import nn

from ..errors import KeditError
from ..models.roles import path_of
from .base import EditRequest, EditResult, ParamSnapshot, register_editor
from .hparams import HyperParams
from .locate import keys
from .locate.editor import LocateEditor, Prepared
from .locate.solves import add_to_weight, batch_update
from .locate.value_cache import ValueCache, split_cached
from .locate.values import ValueJob, ValueSearch, optimize_residuals_batch

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MEMITHyperParams(HyperParams):
    """Defaults: the paper's gpt2-xl values (kmeng01/memit hparams/MEMIT/gpt2-xl.json). Per-family
    files (``hparams/memit/llama.yaml``, ``gpt2.yaml``) override them."""

    editor: ClassVar[str] = "memit"
    layer_fields: ClassVar[tuple[str, ...]] = ("layers",)

    layers: tuple[int, ...] = (13, 14, 15, 16, 17)  # the critical MLP band (gpt2-xl: 13-17 of 48)
    fact_token: str = "subject_last"
    # z optimisation (compute_z) at the last layer's block output
    v_num_grad_steps: int = 20
    v_lr: float = 0.5
    v_weight_decay: float = 0.5
    clamp_norm_factor: float = 0.75  # ‖δ‖ ≤ clamp · ‖h_L‖ (the hidden state, larger than an MLP output)
    kl_factor: float = 0.0625
    v_stop_nll: float = 0.05
    replay_lower_layers: bool = True
    values_batch: int = 1  # requests whose z are optimised together in one batch of rows (same result per request)
    values_cache: bool = False  # keep each request's z on disk (locate.value_cache) and read it back when nothing changed
    # the solve
    mom2_update_weight: float = 20000.0  # λ in (λ C + K Kᵀ): how much the preserved keys weigh
    mom2_adjustment: bool = True  # false: C = I
    # context prefixes, as ROME's
    context_templates: tuple[str, ...] = ()
    context_template_length_params: tuple[tuple[int, int], ...] = ((5, 10), (10, 10))
    context_template_seed: int = 0
    # key statistics per layer
    mom2_corpus: str = "wiki-offline"
    mom2_n_samples: int = 10000  # the paper: 100,000 Wikipedia samples; wiki-offline has ~10,000
    mom2_max_tokens: int = 1024
    mom2_dtype: str = "float64"
    mom2_batch_tokens: int = 0  # 0: the runtime's --batch-tokens
    mom2_rcond: float = 1e-10
    mom2_ridge: float = 1e-4
    keys_batch_tokens: int = 0  # token budget of the batched key / hidden-state passes (0: the runtime's)

    def check(self) -> None:
        if not self.layers:
            raise KeditError("memit: 'layers' is empty; name the band of layers to spread the edits over, e.g. [3, 4, 5]")
        if list(self.layers) != sorted(set(self.layers)):
            raise KeditError(f"memit: layers must be increasing and distinct, got {list(self.layers)}")
        if self.fact_token not in keys.FACT_TOKENS:
            raise KeditError(f"memit: fact_token must be one of {', '.join(keys.FACT_TOKENS)}, not {self.fact_token!r}")
        if not self.mom2_update_weight > 0:
            raise KeditError("memit: mom2_update_weight must be > 0")
        if self.values_batch < 1:
            raise KeditError(f"{self.editor}: values_batch must be >= 1, got {self.values_batch}")


@register_editor("memit")
class MEMIT(LocateEditor):
    hparams_cls = MEMITHyperParams
    supports_batch = True

    def edited_layers(self, hp: MEMITHyperParams) -> tuple[int, ...]:
        return tuple(hp.layers)

    def edit(self, model: nn.Module, tok, requests: Sequence[EditRequest], hp: MEMITHyperParams) -> EditResult:
        state = self._state(model, tok, hp)
        self.check_solvable(state)
        names = [path_of(model, "mlp_out", layer) + ".weight" for layer in hp.layers]
        snapshot = ParamSnapshot(model, names)
        try:
            z_site, co_sites = self.value_sites(model, hp)
            info, keys_used = write_batch(model, tok, list(requests), hp, state.templates,
                                          lambda layer, K, R: self.layer_update(model, state, hp, layer, K, R),
                                          z_site=z_site, co_sites=co_sites, share=self.share)
        except BaseException:
            snapshot.restore()  # a failed batch leaves no half-edited model behind
            raise
        return EditResult(self.name, list(requests), snapshot=snapshot, info=info,
                          undo=self.remember(model, keys_used))

    def value_sites(self, model: nn.Module, hp: MEMITHyperParams) -> tuple[str, tuple[str, ...]]:
        """Where the target values ``z`` live (MEMIT: the last layer's block output) and the sites whose
        residuals are optimised together with it and then dropped (MEMIT: none)."""
        return path_of(model, "layer", hp.layers[-1]), ()

    @staticmethod
    def share(left: int) -> float:
        """The divisor of the residual at a layer with ``left`` edited layers from it to the top (MEMIT: ``left``)."""
        return float(left)

    def layer_update(self, model: nn.Module, state: Prepared, hp: MEMITHyperParams, layer: int, K: torch.Tensor,
                     R: torch.Tensor) -> torch.Tensor:
        """MEMIT's solve: ``R Kᵀ (λ C + K Kᵀ)⁻¹``."""
        c = state.cov.get(layer)
        return batch_update(K, R, c.C if c is not None else None, hp.mom2_update_weight)

    def remember(self, model: nn.Module, keys_used: dict[int, torch.Tensor]) -> Callable[[], None] | None:
        """What an editor keeps of a batch beyond the weights, and how ``restore()`` forgets it (MEMIT: nothing)."""
        return None


@torch.no_grad()
def write_batch(model: nn.Module, tok, requests: list[EditRequest], hp: MEMITHyperParams, tmpl: Sequence[str],
                layer_update: Callable[[int, torch.Tensor, torch.Tensor], torch.Tensor], *, z_site: str,
                co_sites: Sequence[str] = (), share: Callable[[int], float] = float
                ) -> tuple[dict[str, Any], dict[int, torch.Tensor]]:
    """Steps 1 and 2 of the module docs with ``layer_update(layer, K, R) -> Δ`` as the solve (MEMIT,
    EMMET and AlphaEdit differ only there), ``z`` at ``z_site`` (a module of the last edited block)
    optimised together with residuals at ``co_sites`` (PMET's attention output; then dropped), and
    ``R_l = (z − h) / share(L − i)``; returns figures of the edit and the keys of each layer."""
    t0 = time.perf_counter()
    last = hp.layers[-1]
    prompts = [[t.format(r.template) for t in tmpl] for r in requests]  # per request, each with "{}"
    subjects = [r.subject for r in requests]
    search = ValueSearch(hp.v_num_grad_steps, hp.v_lr, hp.v_weight_decay, hp.clamp_norm_factor, hp.kl_factor,
                         hp.v_stop_nll, hp.replay_lower_layers)
    # 1. target hidden states z at the last layer's block output
    _, h0 = keys.mean_at_sites(model, tok, path_of(model, "mlp_out", last), z_site, prompts, subjects, hp.fact_token,
                                 hp.keys_batch_tokens)  # (N, d_model)
    co_v0 = {s: keys.mean_at_sites(model, tok, s, s, prompts, subjects, hp.fact_token, hp.keys_batch_tokens)[1]
             for s in co_sites}  # (N, d_model) each
    jobs = [ValueJob(p, r.subject, r.target_new, {z_site: h} | {s: v[n] for s, v in co_v0.items()})
            for n, (r, p, h) in enumerate(zip(requests, prompts, h0))]
    t_start = time.perf_counter() - t0  # the passes for the starting points h and v₀
    cache = ValueCache(model, layer=last, fact_token=hp.fact_token, search=search) if hp.values_cache else None
    found, todo = split_cached(cache, jobs)  # index -> (deltas, info, seconds), indices to optimise
    for g in range(0, len(todo), hp.values_batch):  # groups of requests optimised together
        group = todo[g:g + hp.values_batch]
        t_group = time.perf_counter()
        out = optimize_residuals_batch(model, tok, layer=last, jobs=[jobs[i] for i in group], fact_token=hp.fact_token,
                                       search=search, who=type(hp).editor)
        seconds = (time.perf_counter() - t_group) / len(group)
        for i, (deltas, vinfo) in zip(group, out):
            found[i] = (deltas, vinfo, seconds)
            if cache is not None:
                cache.put(jobs[i], deltas, vinfo, seconds)
    z = torch.stack([job.sites[z_site] + found[i][0][z_site] for i, job in enumerate(jobs)])  # (N, d_model)
    nll_end = [found[i][1]["nll_end"] for i in range(len(jobs))]
    t_values = time.perf_counter() - t0
    # 2. spread the residual over the layers, lowest first
    norms, keys_used = {}, {}
    for i, layer in enumerate(hp.layers):
        K, h = keys.mean_at_sites(model, tok, path_of(model, "mlp_out", layer), z_site, prompts, subjects,
                                  hp.fact_token, hp.keys_batch_tokens)  # (N, d_in), (N, d_model)
        R = (z - h) / share(len(hp.layers) - i)  # (N, d_out)
        norms[f"update_norm_l{layer}"] = add_to_weight(model, layer, layer_update(layer, K, R))  # Δ (d_out, d_in)
        keys_used[layer] = K
    info = {"layers": ",".join(map(str, hp.layers)), "requests": len(requests), "z_nll_end_max": max(nll_end),
            "seconds": round(time.perf_counter() - t0, 3), "values_seconds": round(t_values, 3),
            "keys_and_solve_seconds": round(time.perf_counter() - t0 - t_values, 3), **norms}
    if cache is not None:  # the values read back: how many, and what the phase took with each computed when it was
        info |= {"values_cached": len(jobs) - len(todo),
                 "values_seconds_recorded": round(t_start + sum(found[i][2] for i in range(len(jobs))), 3)}
    return info, keys_used
