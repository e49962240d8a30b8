"""KN: Knowledge Neurons (Dai et al., ACL 2022, "Knowledge Neurons in Pretrained Transformers"), as
EasyEdit's KN edits with it (easyeditor/models/kn, after EleutherAI's knowledge-neurons package).

1. Attribution (integrated gradients over the MLP's intermediate activations). For the prompt x and
   each token t_j of the true answer (teacher-forced: x + t_<j), at the last position, for every
   layer l and neuron i with activation a = w_i^(l):

       Attr(w_i^(l)) = a · 1/m Σ_{k=1..m} ∂P(t_j | x + t_<j; α_k a) / ∂w_i^(l),   α_k = linspace(0, 1, m)

   (the Riemann sum of the paper's eq. 3 with m = ``steps``; only neuron (l, i)'s layer is scaled,
   the others run as they are), averaged over the answer's tokens.
2. Knowledge neurons: those with Attr > ``adaptive_threshold`` · max Attr over every layer and neuron
   (the paper's t = 0.2 of the maximum; EasyEdit's default, one prompt, no refining).
3. Edit (the paper's §5.1, "updating facts"): each neuron's value slot -- its column of the MLP's
   output projection -- moves from the model's current answer towards the new one,

       W_out[:, i] += scale · (Σ_j E[o*_j] − Σ_j E[ô_j])

   with E the word embeddings, o* the new target's tokens and ô the model's greedy continuation of x
   of the same length. ``scale`` = 2 is EasyEdit's value for a one-token target (it adds each token
   once for longer ones; kedit keeps one scale); the paper used λ₁ = 1, λ₂ = 8 for the old and new
   embeddings on BERT.

Slow by nature: a forward and backward pass of ``steps`` rows per layer and answer token (batched
over layers up to ``batch_rows`` rows; each row runs only the last token over the cached prefix,
since a scaled activation at the last position changes nothing before it), hence a progress bar
(on a terminal) and a small default ``steps``. It edits one fact at a time (``supports_batch = False``: a batch is applied in
turn) and needs each case's true answer.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import KeditError
from ..models.roles import module_at, n_layers, path_of, weight_as_out_in
from ..models.text import encode_prompts, encode_targets
from .base import Editor, EditRequest, EditResult, ParamSnapshot, register_editor
from .hparams import HyperParams
from .locate.keys import body
from .locate.values import frozen
from .nethook import Trace


@dataclass(frozen=True)
class KNHyperParams(HyperParams):
    """Defaults: EasyEdit's KN values for gpt2-xl (hparams/KN/gpt2-xl.yaml: steps 20, threshold 0.2)."""

    editor: ClassVar[str] = "kn"
    layer_fields: ClassVar[tuple[str, ...]] = ("layers",)

    steps: int = 20  # m: points of the integrated-gradient path
    adaptive_threshold: float = 0.2  # keep neurons with Attr > threshold · max Attr
    scale: float = 2.0  # of the embedding difference written into each neuron's value slot
    layers: tuple[int, ...] = ()  # the layers searched (empty: all)
    max_neurons: int = 0  # keep at most the top-N neurons (0: no cap, as the reference)
    batch_rows: int = 320  # sequences per attribution pass (steps copies per layer)

    def check(self) -> None:
        if self.steps < 2:
            raise KeditError("kn: steps must be >= 2 (points of the integrated-gradient path)")
        if not 0 < self.adaptive_threshold < 1:
            raise KeditError("kn: adaptive_threshold must be in (0, 1)")
        if self.max_neurons < 0 or self.batch_rows < 1:
            raise KeditError("kn: max_neurons must be >= 0 and batch_rows >= 1")


@register_editor("kn")
class KN(Editor):
    hparams_cls = KNHyperParams
    supports_batch = False

    def edit(self, model: nn.Module, tok, requests: Sequence[EditRequest], hp: KNHyperParams) -> EditResult:
        """Each request in turn, on the model as the ones before it left it; one snapshot for all."""
        snapshot = ParamSnapshot(model, [])
        per_request = []
        try:
            for r in requests:
                per_request.append(self._edit_one(model, tok, r, hp, snapshot))
        except BaseException:
            snapshot.restore()  # a failure half-way leaves no edited neuron behind
            raise
        info = dict(per_request[0]) if len(per_request) == 1 else {
            "neurons": sum(i["neurons"] for i in per_request), "requests": len(per_request),
            "seconds": round(sum(i["seconds"] for i in per_request), 3)}
        return EditResult(self.name, list(requests), snapshot=snapshot, info=info)

    def _edit_one(self, model: nn.Module, tok, r: EditRequest, hp: KNHyperParams, snapshot: ParamSnapshot) -> dict[str, Any]:
        if not r.target_true:
            raise KeditError(f"kn: case {r.case_id or r.prompt!r} has no true answer (target_true); knowledge "
                             "neurons are found by attributing it")
        t0 = time.perf_counter()
        layers = hp.layers or tuple(range(n_layers(model)))
        prompt_ids = encode_prompts(tok, [r.prompt])[0]
        true_ids, new_ids = encode_targets(tok, [r.target_true, r.target_new])
        if not new_ids or not true_ids:
            raise KeditError(f"kn: case {r.case_id}: {'target_new' if not new_ids else 'target_true'} is empty "
                             "after tokenization")
        attr = attributions(model, prompt_ids, true_ids, layers, hp.steps, hp.batch_rows)  # (L, d_ff)
        neurons = knowledge_neurons(attr, layers, hp.adaptive_threshold, hp.max_neurons)
        snapshot.add(sorted({path_of(model, "mlp_out", layer) + ".weight" for layer, _ in neurons}))
        old_ids = greedy(model, prompt_ids, len(new_ids))
        emb = model.get_input_embeddings().weight.detach()  # (vocab, d_model)
        write_value_slots(model, neurons, hp.scale * (emb[new_ids].sum(0) - emb[old_ids].sum(0)))  # (d_model,)
        return {"neurons": len(neurons), "layers": ",".join(str(x) for x in sorted({l for l, _ in neurons})),
                "attr_max": float(attr.max()), "old_prediction": tok.decode(old_ids),
                "seconds": round(time.perf_counter() - t0, 3)}


def attributions(model: nn.Module, prompt_ids: list[int], answer_ids: list[int], layers: Sequence[int], steps: int,
                 batch_rows: int) -> torch.Tensor:
    """Integrated-gradient attribution of P(answer) to every intermediate MLP neuron of ``layers``
    at the prompt's last position, averaged over the answer's tokens (teacher-forced). (L, d_ff)"""
    from tqdm.auto import tqdm

    per_pass = max(1, batch_rows // steps)
    groups = [list(layers[i:i + per_pass]) for i in range(0, len(layers), per_pass)]
    total = None
    with frozen(model), tqdm(total=len(answer_ids) * len(groups), desc="kn attribution", unit="pass", leave=False,
                             disable=None) as bar:
        for j, gold in enumerate(answer_ids):
            ids = prompt_ids + answer_ids[:j]
            prefix = prefix_cache(model, ids)
            acts = activations(model, ids, layers, prefix)
            parts = []
            for group in groups:
                parts.append(_integrated_gradients(model, ids, gold, {l: acts[l] for l in group}, steps, prefix))
                bar.update()
            attr = torch.cat(parts)  # (L, d_ff)
            total = attr if total is None else total + attr
    return total / len(answer_ids)


@torch.no_grad()
def activations(model: nn.Module, ids: list[int], layers: Sequence[int], prefix=None) -> dict[int, torch.Tensor]:
    """The MLP's intermediate activations (the output projection's input) at the last position
    (the last token alone over ``prefix``, the cache of the others, when given). {l: (d_ff,)}"""
    x, kw = _last_position_inputs(model, ids, 1, prefix)
    with contextlib.ExitStack() as stack:
        traces = {l: stack.enter_context(Trace(model, path_of(model, "mlp_out", l), stop=(l == max(layers)),
                                               retain_output=False)) for l in layers}
        body(model)(input_ids=x, **kw)
    return {l: t.input[0, -1].detach().float() for l, t in traces.items()}


@torch.no_grad()
def prefix_cache(model: nn.Module, ids: list[int]):
    """The key/value cache of every token but the last: scaling an activation at the last position
    changes nothing before it (causal attention), so each attribution pass runs the last token alone."""
    if len(ids) < 2:
        return None
    device = next(model.parameters()).device
    net = body(model)
    out = net(input_ids=torch.tensor([ids[:-1]], device=device), use_cache=True)
    return out.cache if _cache_kw(net) == "cache" else out.past_key_values


def _last_position_inputs(model: nn.Module, ids: list[int], rows: int, prefix) -> tuple[torch.Tensor, dict[str, Any]]:
    """``rows`` copies of the input that ends at the last position: the whole of ``ids``, or its last
    token with a fresh copy of ``prefix`` repeated ``rows`` times; and the forward's cache arguments."""
    device = next(model.parameters()).device
    if prefix is None:
        return torch.tensor([ids], device=device).expand(rows, -1), {"use_cache": False}
    cache = copy.deepcopy(prefix)
    cache.batch_repeat_interleave(rows)
    return torch.tensor([ids[-1:]], device=device).expand(rows, -1), {"use_cache": True, _cache_kw(body(model)): cache}


def _cache_kw(net: nn.Module) -> str:
    """The forward argument that takes a key/value cache (``cache`` from transformers 5.x, before it ``past_key_values``)."""
    return "cache" if "cache" in inspect.signature(net.forward).parameters else "past_key_values"


def _integrated_gradients(model: nn.Module, ids: list[int], gold: int, acts: dict[int, torch.Tensor],
                          steps: int, prefix=None) -> torch.Tensor:
    """One pass of ``steps`` rows per layer: the rows of layer l get α_k · a_l at its last position
    (the last token alone over ``prefix``, the cache of the others, when given)."""
    device = next(model.parameters()).device
    alphas = torch.linspace(0, 1, steps, device=device)[:, None]  # (m, 1)
    layers = list(acts)
    scaled = {l: (alphas * acts[l][None]).requires_grad_(True) for l in layers}  # (m, d_ff) each
    x, kw = _last_position_inputs(model, ids, len(layers) * steps, prefix)  # (rows, T or 1)

    def patch(l: int, k: int):
        def hook(_m, inputs):
            h = inputs[0].clone()
            h[k * steps:(k + 1) * steps, -1] = scaled[l].to(h.dtype)
            return (h, *inputs[1:])
        return hook

    with contextlib.ExitStack() as stack, torch.enable_grad():
        for k, l in enumerate(layers):
            handle = module_at(model, "mlp_out", l).register_forward_pre_hook(patch(l, k))
            stack.callback(handle.remove)
        hidden = body(model)(input_ids=x, **kw).last_hidden_state[:, -1]  # (rows, d_model)
        prob = torch.softmax(model.get_output_embeddings()(hidden).float(), dim=-1)[:, gold]  # (rows,)
        grads = torch.autograd.grad(prob.sum(), [scaled[l] for l in layers])
    return torch.stack([acts[l] * g.sum(0) / steps for l, g in zip(layers, grads)])  # (len(layers), d_ff)


def knowledge_neurons(attr: torch.Tensor, layers: Sequence[int], threshold: float, max_neurons: int = 0) -> list[tuple[int, int]]:
    """(layer, neuron) pairs with attribution above ``threshold`` · the maximum, strongest first."""
    top = float(attr.max())
    if not top > 0:
        return []
    idx = torch.nonzero(attr > threshold * top)
    order = attr[idx[:, 0], idx[:, 1]].argsort(descending=True)
    picked = [(int(layers[int(a)]), int(b)) for a, b in idx[order].tolist()]
    return picked[:max_neurons] if max_neurons else picked


@torch.no_grad()
def greedy(model: nn.Module, ids: list[int], n: int) -> list[int]:
    """The model's ``n`` greedy next tokens after ``ids``."""
    device = next(model.parameters()).device
    out = list(ids)
    for _ in range(n):
        logits = model(input_ids=torch.tensor([out], device=device), use_cache=False).logits[0, -1]
        out.append(int(logits.argmax()))
    return out[len(ids):]


@torch.no_grad()
def write_value_slots(model: nn.Module, neurons: Sequence[tuple[int, int]], change: torch.Tensor) -> None:
    """Add ``change`` (d_model,) to each neuron's column of its layer's MLP output projection."""
    for layer, i in neurons:
        w = weight_as_out_in(model, module_at(model, "mlp_out", layer))  # (d_model, d_ff) view
        w[:, i] += change.to(w.dtype)
