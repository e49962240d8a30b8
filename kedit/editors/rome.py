"""ROME: Rank-One Model Editing (Meng et al., 2022, "Locating and Editing Factual Associations in GPT").

ROME treats the MLP output projection ``W`` (role ``mlp_out``) of one layer ``l`` as a linear
associative memory: its input at the subject's last token is a key ``k`` and its output a value ``v``.
To write the fact (s, r, o*) it

1. computes the key ``k*``: the mean of the ``mlp_out`` input at the last subject token over the
   edit prompt placed after a few short context prefixes (``"{}"``, ``"<generated text>. {}"``);
2. optimizes a residual ``δ`` added to the ``mlp_out`` output at that token (in every context prompt)
   so that the model predicts ``o*``:

       L(δ) = 1/N Σⱼ −log P(o* | prefixⱼ + p)                       (mean over target tokens)
            + kl_factor · KL(P_δ[· | "s is a"] ‖ P[· | "s is a"])      (keep what s is)
            + v_weight_decay · ‖δ‖ / ‖v₀‖²                             (as the reference code)

   with Adam, the model's parameters frozen, ``‖δ‖ ≤ clamp_norm_factor · ‖v₀‖`` after each step
   (``v₀ = W k*``, the value before the edit) and an early stop once the mean per-token
   −log P(o*) falls below ``v_stop_nll``; ``v* = W k* + δ``;
3. inserts the association with the rank-one update that solves the constrained least squares
   problem ``min ‖Ŵ K − V‖`` s.t. ``Ŵ k* = v*`` (the paper's eq. 2):

       Ŵ = W + Λ (C⁻¹ k*)ᵀ,      Λ = (v* − W k*) / ((C⁻¹ k*)ᵀ k*)

   where ``C = E[k kᵀ]`` is the second moment of keys over text (``kedit.editors.stats``), and
   ``C⁻¹k*`` is ``torch.linalg.solve`` in float64 (never an inverse), with ``λI`` added to a singular
   or near-singular ``C`` (a ``CovarianceWarning``). With ``mom2_adjustment: false`` ``C = I`` (what
   EasyEdit's Llama configs do). The scale of ``C`` cancels in the update, so MEMIT's
   ``mom2_update_weight`` has no meaning here and is not a parameter.

Batches: ROME writes one fact at a time (``supports_batch = False``). A batch of requests is
applied one after another, each a rank-one update computed on the model as already edited by the
ones before it; ``restore()`` undoes them all (one snapshot of the edited matrix). For many facts
at once use MEMIT.

The math is the locate-then-edit family's shared core (``kedit.editors.locate``: keys, values,
solves, templates); this module holds ROME's hyper-parameters and the order of the steps.

Choices that differ from the reference code (kmeng01/rome: rome/compute_u.py, compute_v.py,
rome_main.py, repr_tools.py; EasyEdit easyeditor/models/rome), each on purpose:

* ``k*`` is used for both ends of the update (as the paper's equation), where the reference code
  uses the averaged key in ``C⁻¹k*`` but the single unprefixed prompt's key and output for ``Λ``;
  here ``v* − W k* = δ`` exactly, so the edited layer maps ``k*`` to ``v*``
  (``key_mode: reference`` gives the reference code's form, to reproduce EasyEdit's and the paper's
  numbers: the plain prompt's key is written, ``Λ = δ / ((C⁻¹k*)ᵀ k_plain)``). This is the fix r-ROME
  describes (Gupta et al. 2024, "Rebuilding ROME: Resolving Model Collapse during Sequential Model
  Editing": the asymmetric keys are what makes some edits disable the model).
* The KL term compares the next-token distribution after the whole prompt "s is a" (the paper's
  "essence" prompt); the reference code reads it at the subject's last token instead, where the
  words " is a" can play no part.
* Targets are appended as token ids (prompt ids + ids of " " + target, as kedit scores them), not
  re-tokenized from decoded text; the subject's last token is found with the tokenizer's offset
  mapping, so prefixes and subjects need no leading-space conventions.
* Context prefixes are generated once per model in ``prepare`` with a fixed seed (top-k 5
  sampling from "The", "Therefore", "Because", "I", "You", as EasyEdit), or given as data.
* The optimization runs the blocks below ``l`` once per edit and replays their outputs
  (``replay_lower_layers``): ``δ`` enters at layer ``l``, so every step runs (and back-propagates
  through) only block ``l`` and those above, and the LM head only at the target and KL positions.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import KeditError
from ..models.roles import path_of
from .base import EditRequest, EditResult, ParamSnapshot, register_editor
from .hparams import HyperParams
from .locate import keys, templates
from .locate.editor import LocateEditor
from .locate.solves import add_to_weight, rank_one_update
from .locate.values import ValueSearch, optimize_residual

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class ROMEHyperParams(HyperParams):
    """Defaults: the paper's gpt2-xl values (Meng et al. 2022; kmeng01/rome hparams/ROME/gpt2-xl.json,
    EasyEdit hparams/ROME). Per-family files (``hparams/rome/llama.yaml``, ``gpt2.yaml``) override them."""

    editor: ClassVar[str] = "rome"
    layer_fields: ClassVar[tuple[str, ...]] = ("layer",)

    layer: int = 17
    fact_token: str = "subject_last"  # the mlp_out input at the subject's last token is the key k; "last": the prompt's last token
    key_mode: str = "consistent"  # k* at both ends of the update (the paper, r-ROME); "reference": kmeng01/rome and EasyEdit's form
    # v* optimization (compute_v)
    v_num_grad_steps: int = 20
    v_lr: float = 0.5
    v_weight_decay: float = 0.5  # weight of ‖δ‖/‖v₀‖² in the v* objective
    clamp_norm_factor: float = 4.0  # ‖δ‖ ≤ clamp_norm_factor · ‖v₀‖
    kl_factor: float = 0.0625  # KL on "{subject} is a" keeps the subject's essence
    v_stop_nll: float = 0.05  # early stop: mean per-token -log P(target) over the context prompts
    replay_lower_layers: bool = True  # run the blocks below the layer once per edit, not once per step
    # context prefixes: fixed ones (each with "{}"); empty: generate them once per model
    context_templates: tuple[str, ...] = ()
    context_template_length_params: tuple[tuple[int, int], ...] = ((5, 10), (10, 10))  # (tokens, count) of generated prefixes
    context_template_seed: int = 0
    # key statistics C = E[k kᵀ] (compute_u)
    mom2_adjustment: bool = True  # weight the update by C = E[k kᵀ]; false: C = I
    mom2_corpus: str = "wiki-offline"  # or wikitext / wikipedia (needs `datasets` and a network)
    mom2_n_samples: int = 1000
    mom2_max_tokens: int = 256
    mom2_dtype: str = "float64"
    mom2_batch_tokens: int = 0  # 0: the runtime's --batch-tokens
    mom2_rcond: float = 1e-10  # C counts as near-singular when its Cholesky pivots spread by more than 1/rcond
    mom2_ridge: float = 1e-4  # then λ = ridge · mean eigenvalue of C

    def check(self) -> None:
        if self.fact_token not in ("subject_last", "last"):
            raise KeditError(f"rome: fact_token must be 'subject_last' or 'last', not {self.fact_token!r}")
        for t in self.context_templates:
            if t.count("{}") != 1:
                raise KeditError(f"rome: context template {t!r} must contain '{{}}' exactly once")
        if self.mom2_dtype not in ("float32", "float64"):
            raise KeditError(f"rome: mom2_dtype must be float32 or float64, not {self.mom2_dtype!r}")
        if self.key_mode not in ("consistent", "reference"):
            raise KeditError(f"rome: key_mode must be 'consistent' or 'reference', not {self.key_mode!r}")


@register_editor("rome")
class ROME(LocateEditor):
    hparams_cls = ROMEHyperParams
    supports_batch = False  # requests are applied one after another, each a rank-one update

    def edited_layers(self, hp: ROMEHyperParams) -> tuple[int, ...]:
        return (hp.layer,)

    def edit(self, model: nn.Module, tok, requests: Sequence[EditRequest], hp: ROMEHyperParams) -> EditResult:
        state = self._state(model, tok, hp)
        w_name = path_of(model, "mlp_out", hp.layer) + ".weight"
        snapshot = ParamSnapshot(model, [w_name])
        per_request = []
        try:
            for req in requests:
                t0 = time.perf_counter()
                self.check_solvable(state)
                info = apply_rome(model, tok, req, hp, state.templates, state.C)
                info["seconds"] = round(time.perf_counter() - t0, 3)
                per_request.append(info)
                log.info("rome: %r -> %r: %d steps, -log P %.3f -> %.3f, %.2f s", req.prompt, req.target_new,
                         info["steps"], info["nll_start"], info["nll_end"], info["seconds"])
        except BaseException:
            snapshot.restore()  # a failed batch leaves no half-edited model behind
            raise
        return EditResult(self.name, list(requests), snapshot=snapshot, info={"layer": hp.layer, "requests": per_request})


# ----------------------------------------------------------------------------------------------
# the update, on the family's shared core (kedit.editors.locate)


def value_search(hp: ROMEHyperParams) -> ValueSearch:
    return ValueSearch(steps=hp.v_num_grad_steps, lr=hp.v_lr, weight_decay=hp.v_weight_decay,
                       clamp_norm_factor=hp.clamp_norm_factor, kl_factor=hp.kl_factor, stop_nll=hp.v_stop_nll,
                       replay_lower_layers=hp.replay_lower_layers)


@torch.no_grad()
def apply_rome(model: nn.Module, tok, req: EditRequest, hp: ROMEHyperParams, templates: Sequence[str],
               C: torch.Tensor | None) -> dict[str, Any]:
    """Compute k*, v* for one request and add the rank-one update to the layer's mlp_out weight."""
    prompts = [t.format(req.template) for t in templates]  # each with "{}" for the subject
    k_star, v0 = key_and_value(model, tok, prompts, req.subject, hp)  # (d_in,), (d_out,)
    delta, info = optimize_delta(model, tok, req, hp, prompts, v0)  # (d_out,) = v* − W k*
    k_written = None
    if hp.key_mode == "reference":  # the reference code: the plain prompt's key gets v*, along C⁻¹k*
        k_written, _ = key_and_value(model, tok, [req.template], req.subject, hp)
    upd, denom = rank_one_update(k_star, delta, C, k_written)  # Λ (C⁻¹k*)ᵀ   (d_out, d_in)
    norm = add_to_weight(model, hp.layer, upd)
    info |= {"u_dot_k": denom, "update_norm": norm, "k_norm": float(k_star.norm())}
    return info


def lookup_indices(tok, prompts: Sequence[str], subject: str, fact_token: str) -> list[int]:
    return keys.lookup_indices(tok, prompts, subject, fact_token)


def key_and_value(model: nn.Module, tok, prompts: Sequence[str], subject: str, hp: ROMEHyperParams) -> tuple[torch.Tensor, torch.Tensor]:
    """k* (mean mlp_out input at the lookup token over the prompts) and v₀ = W k* (the mean output)."""
    return keys.mean_key_value(model, tok, path_of(model, "mlp_out", hp.layer), prompts, subject, hp.fact_token)


def optimize_delta(model: nn.Module, tok, req: EditRequest, hp: ROMEHyperParams, prompts: Sequence[str],
                   v0: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
    """δ = v* − W k*, added to layer l's mlp_out output at the lookup token, optimized for P(target_new)."""
    return optimize_residual(model, tok, layer=hp.layer, site=path_of(model, "mlp_out", hp.layer), prompts=prompts,
                             subject=req.subject, target=req.target_new, fact_token=hp.fact_token, v0=v0,
                             search=value_search(hp), who="rome")


def context_templates(model: nn.Module, tok, hp: ROMEHyperParams) -> list[str]:
    return templates.context_templates(model, tok, hp.context_templates, hp.context_template_length_params,
                                       hp.context_template_seed)


__all__ = ["ROME", "ROMEHyperParams", "apply_rome", "context_templates", "key_and_value", "optimize_delta"]
