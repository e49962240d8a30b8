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

Choices that differ from the reference code (kmeng01/rome: rome/compute_u.py, compute_v.py,
rome_main.py, repr_tools.py; EasyEdit easyeditor/models/rome), each on purpose:

* ``k*`` is used for both ends of the update (as the paper's equation), where the reference code
  uses the averaged key in ``C⁻¹k*`` but the single unprefixed prompt's key and output for ``Λ``;
  here ``v* − W k* = δ`` exactly, so the edited layer maps ``k*`` to ``v*``.
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

import contextlib
import logging
import re
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import KeditError
from ..models.roles import get_module, module_at, n_layers, path_of, roles_for
from ..models.text import encode_prompts, encode_targets, head_logprobs, pad_batch, pad_id, target_positions
from .base import (
    Editor,
    EditRequest,
    EditResult,
    ParamSnapshot,
    device_of,
    register_editor,
)
from .hparams import HyperParams
from .nethook import Trace, edit_output
from ..models.loading import weights_fingerprint
from .stats import layer_second_moment, singularity, well_conditioned

log = logging.getLogger(__name__)

STARTERS = ("The", "Therefore", "Because", "I", "You")
KL_PROMPT = "{} is a"


@dataclass(frozen=True)
class ROMEHyperParams(HyperParams):
    """Defaults: the paper's gpt2-xl values (Meng et al. 2022; kmeng01/rome hparams/ROME/gpt2-xl.json,
    EasyEdit hparams/ROME). Per-family files (``hparams/rome/llama.yaml``, ``gpt2.yaml``) override them."""

    editor: ClassVar[str] = "rome"
    layer_fields: ClassVar[tuple[str, ...]] = ("layer",)

    layer: int = 17
    fact_token: str = "subject_last"  # the mlp_out input at the subject's last token is the key k; "last": the prompt's last token
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
    mom2_batch_tokens: int = 4096
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


@dataclass
class _Prepared:
    key: tuple
    templates: list[str]
    C: torch.Tensor | None  # (d_in, d_in) float64, regularised; None without mom2 adjustment
    info: dict[str, Any]
    kwargs: dict[str, Any]  # prepare()'s texts / fingerprint, reused if edit() must prepare again


def _prepare_key(hp: ROMEHyperParams) -> tuple:
    fields = ("layer", "context_templates", "context_template_length_params", "context_template_seed", "mom2_adjustment",
              "mom2_corpus", "mom2_n_samples", "mom2_max_tokens", "mom2_dtype", "mom2_rcond", "mom2_ridge")
    return tuple(getattr(hp, f) for f in fields)


@register_editor("rome")
class ROME(Editor):
    hparams_cls = ROMEHyperParams
    supports_batch = False  # requests are applied one after another, each a rank-one update

    def __init__(self) -> None:
        self._prepared: weakref.WeakKeyDictionary[nn.Module, _Prepared] = weakref.WeakKeyDictionary()

    # ------------------------------------------------------------------------------------------
    def prepare(self, model: nn.Module, tok, hp: ROMEHyperParams, *, texts: Sequence[str] | None = None,
                fingerprint: str | None = None) -> dict[str, Any]:
        """Context prefixes (once per model) and the key statistics ``C`` of layer ``hp.layer``.

        ``texts`` replaces the named corpus (e.g. a test model's own sentences); ``fingerprint``
        identifies the weights for the statistics cache (default: ``weights_fingerprint``).
        """
        _check_layer(model, hp.layer)
        templates = context_templates(model, tok, hp)
        info: dict[str, Any] = {"context_templates": len(templates)}
        C = None
        if hp.mom2_adjustment:
            mlp_out = path_of(model, "mlp_out", hp.layer)
            fp = fingerprint or weights_fingerprint(model, exclude=[mlp_out + "."])
            st = layer_second_moment(
                model, tok, hp.layer, fingerprint=fp, corpus=hp.mom2_corpus, n_samples=hp.mom2_n_samples,
                max_tokens=hp.mom2_max_tokens, dtype=hp.mom2_dtype, texts=texts, batch_tokens=hp.mom2_batch_tokens,
            )
            C, lam = well_conditioned(st.mom2, hp.mom2_rcond, hp.mom2_ridge)
            if hp.mom2_ridge <= 0:
                why = singularity(C, hp.mom2_rcond)
                if why:  # every edit will refuse to solve with it (an error per case, the run goes on)
                    info["covariance_singular"] = why
            C = C.to(device_of(model))
            info |= {"stats_cache_hit": st.cache_hit, "stats_tokens": st.n_tokens, "stats_texts": st.n_texts,
                     "stats_seconds": round(st.seconds, 2), "stats_tokens_per_s": round(st.tokens_per_s, 1), "ridge_lambda": lam}
        self._prepared[model] = _Prepared(_prepare_key(hp), templates, C, info, {"texts": texts, "fingerprint": fingerprint})
        return info

    def _state(self, model, tok, hp) -> _Prepared:
        st = self._prepared.get(model)
        if st is None or st.key != _prepare_key(hp):
            log.info("rome: preparing for layer %d (statistics, context prefixes)", hp.layer)
            self.prepare(model, tok, hp, **(st.kwargs if st is not None else {}))
            st = self._prepared[model]
        return st

    # ------------------------------------------------------------------------------------------
    def edit(self, model: nn.Module, tok, requests: Sequence[EditRequest], hp: ROMEHyperParams) -> EditResult:
        state = self._state(model, tok, hp)
        w_name = path_of(model, "mlp_out", hp.layer) + ".weight"
        snapshot = ParamSnapshot(model, [w_name])
        per_request = []
        try:
            for req in requests:
                t0 = time.perf_counter()
                if state.info.get("covariance_singular"):
                    raise KeditError(f"rome: the layer-{hp.layer} key covariance is singular ({state.info['covariance_singular']}) "
                                     "and rome.mom2_ridge is 0, so the rank-one solve has no unique answer; set "
                                     "rome.mom2_ridge > 0 (default 1e-4) or use more statistics samples")
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
# the update


@torch.no_grad()
def apply_rome(model: nn.Module, tok, req: EditRequest, hp: ROMEHyperParams, templates: Sequence[str],
               C: torch.Tensor | None) -> dict[str, Any]:
    """Compute k*, v* for one request and add the rank-one update to the layer's mlp_out weight."""
    prompts = [t.format(req.template) for t in templates]  # each with "{}" for the subject
    k_star, v0 = key_and_value(model, tok, prompts, req.subject, hp)  # (d_in,), (d_out,)
    delta, info = optimize_delta(model, tok, req, hp, prompts, v0)  # (d_out,) = v* − W k*

    k64 = k_star.to(torch.float64)
    if C is not None:
        u = torch.linalg.solve(C, k64)  # C⁻¹ k*   (d_in,)
    else:
        u = k64
    denom = torch.dot(u, k64)  # (C⁻¹k*)ᵀ k*
    lam = delta.to(torch.float64) / denom  # Λ = (v* − W k*) / ((C⁻¹k*)ᵀ k*)   (d_out,)
    upd = torch.outer(lam, u)  # Λ (C⁻¹k*)ᵀ   (d_out, d_in)

    module = module_at(model, "mlp_out", hp.layer)
    w = module.weight
    if roles_for(model).weight_in_out:  # Conv1D stores (d_in, d_out)
        upd = upd.T
    w.copy_((w.to(torch.float64) + upd).to(w.dtype))
    info |= {"u_dot_k": float(denom), "update_norm": float(upd.norm()), "k_norm": float(k_star.norm())}
    return info


def _subject_end(prompt: str, subject: str) -> int:
    """Character offset just past the subject in ``prompt.format(subject)``."""
    return prompt.format("\x00").index("\x00") + len(subject)


def last_subject_token(tok, text: str, end: int) -> int:
    """Index of the last token of ``tok(text)`` that overlaps ``text[:end]``."""
    try:
        enc = tok(text, return_offsets_mapping=True)
        spans = enc["offset_mapping"]
    except (NotImplementedError, ValueError, KeyError):
        return len(tok(text[:end])["input_ids"]) - 1
    idx = [i for i, (a, b) in enumerate(spans) if b > a and a < end]
    if not idx:
        raise KeditError(f"rome: no token of {text!r} covers its subject (ending at character {end})")
    return idx[-1]


def lookup_indices(tok, prompts: Sequence[str], subject: str, fact_token: str) -> list[int]:
    """The token where the fact is looked up in each ``prompt.format(subject)``."""
    out = []
    for p in prompts:
        text = p.format(subject)
        if fact_token == "last":
            out.append(len(tok(text)["input_ids"]) - 1)
        else:
            out.append(last_subject_token(tok, text, _subject_end(p, subject)))
    return out


@torch.no_grad()
def key_and_value(model: nn.Module, tok, prompts: Sequence[str], subject: str, hp: ROMEHyperParams) -> tuple[torch.Tensor, torch.Tensor]:
    """k* (mean mlp_out input at the lookup token over the prompts) and v₀ = W k* (the mean output)."""
    device = device_of(model)
    idxs = lookup_indices(tok, prompts, subject, hp.fact_token)
    ids, mask = pad_batch(encode_prompts(tok, [p.format(subject) for p in prompts]), pad_id(tok))  # (P, T)
    with Trace(model, path_of(model, "mlp_out", hp.layer), stop=True) as tr:
        _body(model)(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
    rows = torch.arange(len(prompts), device=device)
    cols = torch.tensor(idxs, device=device)
    k = tr.input[rows, cols].float()  # (P, d_in)
    v = tr.output[rows, cols].float()  # (P, d_out)
    return k.mean(0), v.mean(0)


def optimize_delta(model: nn.Module, tok, req: EditRequest, hp: ROMEHyperParams, prompts: Sequence[str],
                   v0: torch.Tensor) -> tuple[torch.Tensor, dict[str, Any]]:
    """δ = v* − W k*, added to the mlp_out output at the lookup token, optimized for P(target_new)."""
    device = device_of(model)
    subject = req.subject
    kl_prompt = KL_PROMPT.format(subject)
    rewrite = [p.format(subject) for p in prompts]
    prompt_ids = encode_prompts(tok, rewrite + [kl_prompt])
    target_ids = encode_targets(tok, [req.target_new])[0]
    if not target_ids:
        raise KeditError(f"rome: target {req.target_new!r} is empty after tokenization")
    n_rw = len(rewrite)
    seqs = [ids + target_ids for ids in prompt_ids[:n_rw]] + [prompt_ids[n_rw]]
    ids, mask = pad_batch(seqs, pad_id(tok))  # (P+1, T)
    ids, mask = ids.to(device), mask.to(device)

    # where δ enters: the lookup token of every prompt, the KL prompt included
    lookup = lookup_indices(tok, list(prompts) + [KL_PROMPT], subject, hp.fact_token)
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

    delta = torch.zeros_like(v0, requires_grad=True)  # (d_out,)
    opt = torch.optim.Adam([delta], lr=hp.v_lr)
    max_norm = hp.clamp_norm_factor * v0.norm()
    kl_init = None
    nll_start = nll = float("nan")
    steps = 0

    def add_delta(out: torch.Tensor) -> torch.Tensor:  # (B, T, d_out)
        return out + at.unsqueeze(-1).to(out.dtype) * delta.to(out.dtype)

    with _frozen(model), _forward_from_layer(model, hp, ids, mask, add_delta) as forward:
        for it in range(hp.v_num_grad_steps):
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
                kl_loss = hp.kl_factor * F.kl_div(kl_init, kl_lp, log_target=True, reduction="batchmean")
                wd = hp.v_weight_decay * delta.norm() / v0.norm() ** 2
                loss = nll_loss + kl_loss + wd
            nll = float(nll_loss.detach())
            if it == 0:
                nll_start = nll
            if nll < hp.v_stop_nll or it == hp.v_num_grad_steps - 1:
                break
            loss.backward()
            opt.step()
            with torch.no_grad():  # project back into the ball ‖δ‖ ≤ clamp · ‖v₀‖
                if delta.norm() > max_norm:
                    delta.mul_(max_norm / delta.norm())
    info = {"steps": steps, "nll_start": nll_start, "nll_end": nll, "kl": float(kl_loss.detach()) / max(hp.kl_factor, 1e-12),
            "delta_norm": float(delta.detach().norm()), "v0_norm": float(v0.norm())}
    return delta.detach(), info


# ----------------------------------------------------------------------------------------------
# forward passes


def _body(model: nn.Module) -> nn.Module:
    return getattr(model, "base_model", model)


@contextlib.contextmanager
def _frozen(model: nn.Module) -> Iterator[None]:
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
def _forward_from_layer(model: nn.Module, hp: ROMEHyperParams, ids: torch.Tensor, mask: torch.Tensor, add_delta) -> Iterator:
    """A function running the model on (ids, mask) with ``add_delta`` applied to layer l's mlp_out output.

    With ``replay_lower_layers`` the blocks below l are run once here and, inside the block, replaced
    by modules that return their recorded outputs, so each step computes only block l (with the hook
    that adds δ) and the blocks above. The original blocks are always put back.
    """
    body = _body(model)

    def run() -> torch.Tensor:  # (B, T, d_model), final norm applied
        return body(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state

    blocks = _block_list(model) if hp.replay_lower_layers and hp.layer > 0 else None
    with edit_output(model, path_of(model, "mlp_out", hp.layer), add_delta):
        if blocks is None:
            yield run
            return
        outputs: list[Any] = [None] * hp.layer
        with contextlib.ExitStack() as hooks, torch.no_grad():
            for i in range(hp.layer):
                hooks.enter_context(_hooked(blocks[i], _recorder(outputs, i)))
            with Trace(model, path_of(model, "layer", hp.layer - 1), stop=True, retain_input=False):
                run()
        originals = [blocks[i] for i in range(hp.layer)]
        try:
            for i in range(hp.layer):
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


def _block_list(model: nn.Module) -> nn.ModuleList | None:
    """The ModuleList holding the transformer blocks (role ``layer``), if the layout is that simple."""
    tmpl = roles_for(model).layer
    if not tmpl.endswith(".{}"):
        return None
    parent = get_module(model, tmpl[: -len(".{}")])
    return parent if isinstance(parent, nn.ModuleList) else None


def _check_layer(model: nn.Module, layer: int) -> None:
    n = n_layers(model)
    if not 0 <= layer < n:
        raise KeditError(f"rome: layer {layer} is out of range for a model with {n} layers (0..{n - 1}); set rome.layer")


# ----------------------------------------------------------------------------------------------
# context prefixes


@torch.no_grad()
def context_templates(model: nn.Module, tok, hp: ROMEHyperParams) -> list[str]:
    """``["{}", "<prefix>. {}", ...]``: the given ones, or short texts sampled from the model (top-k 5,
    seeded) from the starters "The", "Therefore", "Because", "I", "You"."""
    if hp.context_templates:
        return ["{}"] + [t for t in hp.context_templates if t != "{}"]
    out = ["{}"]
    device = device_of(model)
    for length, count in hp.context_template_length_params:
        if count <= 0:
            continue
        starters = [STARTERS[i % len(STARTERS)] for i in range(count)]
        enc = encode_prompts(tok, starters)
        ids, mask = pad_batch(enc, pad_id(tok), left=True)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(hp.context_template_seed + length)
            gen = model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=length, min_new_tokens=length,
                do_sample=True, top_k=5, top_p=1.0, temperature=1.0, pad_token_id=pad_id(tok),
            )[:, ids.shape[1]:]
        for row, g in enumerate(gen.tolist()):
            text = tok.decode(enc[row] + g, skip_special_tokens=True)
            text = re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()
            out.append(text + ". {}")
    return out


__all__ = ["ROME", "ROMEHyperParams", "apply_rome", "context_templates", "key_and_value", "optimize_delta"]
