"""FT-L: constrained fine-tuning of one MLP output projection (Zhu et al. 2020, "Modifying Memories
in Transformer Models"), as EasyEdit's ``FT`` editor with ``norm_constraint``.

For the edit requests {(x_i, y_i)} the weight W of ``mlp_out`` at each layer in ``hp.layers`` is
tuned with Adam to minimise

    L(W) = 1/N sum_i  1/|y_i| sum_j  -log p_W(y_i,j | x_i, y_i,<j)          (objective "target_new")

with the loss on the target tokens only (the prompt is context), all requests in one padded batch
(``batch_size`` only bounds memory: its chunks accumulate into the same full-batch gradient). After
every Adam step W is projected back into the L-infinity ball of radius ``norm_constraint`` around the
original weights W0 (Zhu et al.'s constraint ||W - W0||_inf <= delta). Training stops after
``num_steps`` steps or as soon as the loss falls below ``early_stop_loss`` (checked before a step,
as EasyEdit does).

``objective: prompt_last`` reproduces EasyEdit's ``prompt_last`` variant instead (every target token
scored at the prompt's last position, ROME's FT baseline; EasyEdit's survey reports it as FT-L). It
only trains the first target token in its proper position, so a multi-token target's teacher-forced
accuracy stays low; kedit's default is ``target_new``.

Only the tuned weights get ``requires_grad``; every parameter's flag is put back afterwards, no
gradient is left on the model, and the model stays in eval mode (no dropout), as in EasyEdit.
``restore()`` copies the tuned weights back bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Sequence

import torch
from torch import nn

from ..errors import KeditError
from ..models.roles import module_at, n_layers, path_of
from ..models.text import encode_prompts, encode_targets, head_logprobs, pad_batch, pad_id
from .base import EditRequest, EditResult, Editor, ParamSnapshot, device_of, register_editor
from .hparams import HyperParams

OBJECTIVES = ("target_new", "prompt_last")


@dataclass(frozen=True)
class FTLHyperParams(HyperParams):
    """Model-independent defaults: EasyEdit's FT values (hparams/FT/gpt2-xl.yaml): 25 Adam steps,
    lr 5e-4, L-inf norm constraint 5e-4, stop once the loss is below 1e-2, layer 0. Per-family files
    (``hparams/ft-l/llama.yaml``, ...) override them."""

    editor: ClassVar[str] = "ft-l"
    layer_fields: ClassVar[tuple[str, ...]] = ("layers",)
    negative_layers: ClassVar[bool] = True

    layers: tuple[int, ...] = (0,)  # layers whose mlp_out weight is tuned; negative counts from the top
    num_steps: int = 25  # Adam steps (EasyEdit: 25)
    lr: float = 5e-4
    weight_decay: float = 0.0
    norm_constraint: float | None = 5e-4  # ||W - W0||_inf <= this after every step; null (or false): unconstrained
    early_stop_loss: float = 1e-2  # stop once the mean target NLL is below this (EasyEdit: 1e-2)
    objective: str = "target_new"  # loss on the target tokens after the prompt; "prompt_last": EasyEdit's ROME-style variant
    batch_size: int | None = None  # requests per forward pass (gradient accumulation); null: all in one padded batch

    def check(self) -> None:
        if self.norm_constraint is not None and not self.norm_constraint > 0:
            raise KeditError(f"ft-l: norm_constraint must be > 0 or null (unconstrained), got {self.norm_constraint}")
        if not self.layers:
            raise KeditError("ft-l: 'layers' is empty; name at least one layer, e.g. layers: [0]")
        if self.objective not in OBJECTIVES:
            raise KeditError(f"ft-l: objective must be one of {', '.join(OBJECTIVES)}, got {self.objective!r}")
        if self.batch_size is not None and self.batch_size < 1:
            raise KeditError("ft-l: batch_size must be >= 1, or null for one batch")
        if self.num_steps < 0:
            raise KeditError("ft-l: num_steps must be >= 0")


def tuned_weights(model: nn.Module, layers: Sequence[int]) -> dict[str, nn.Parameter]:
    """Parameter name -> the ``mlp_out`` weight of each listed layer (negative: from the top)."""
    n = n_layers(model)
    params = dict(model.named_parameters())
    out: dict[str, nn.Parameter] = {}
    for layer in layers:
        idx = layer + n if layer < 0 else layer
        if not 0 <= idx < n:
            raise KeditError(f"ft-l: layer {layer} is out of range for a model with {n} layers")
        name = path_of(model, "mlp_out", idx) + ".weight"
        if name not in params:  # tied or renamed storage: find the parameter object itself
            w = module_at(model, "mlp_out", idx).weight
            name = next(k for k, v in params.items() if v is w)
        out[name] = params[name]
    return out


class _Batch:
    """Prompt+target sequences of some requests, padded on the right, with the positions to score.

    Target token ``gold[t]`` is predicted by the hidden state at ``(rows[t], cols[t])``;
    ``weight[t] = 1/|y_i|`` for the request i it belongs to, so each request counts once.
    """

    def __init__(self, prompt_ids: list[list[int]], target_ids: list[list[int]], objective: str, pad: int, device):
        if objective == "target_new":
            seqs = [p + t for p, t in zip(prompt_ids, target_ids)]
        else:  # prompt_last: the prompt alone; every target token read at its last position
            seqs = prompt_ids
        ids, mask = pad_batch(seqs, pad)
        rows, cols, gold, weight = [], [], [], []
        for r, (p, t) in enumerate(zip(prompt_ids, target_ids)):
            for j, tok in enumerate(t):
                rows.append(r)
                cols.append(len(p) - 1 + j if objective == "target_new" else len(p) - 1)
                gold.append(tok)
                weight.append(1.0 / len(t))
        self.ids, self.mask = ids.to(device), mask.to(device)
        self.rows = torch.tensor(rows, device=device)
        self.cols = torch.tensor(cols, device=device)
        self.gold = torch.tensor(gold, device=device)
        self.weight = torch.tensor(weight, device=device)

    def nll_sum(self, model: nn.Module) -> torch.Tensor:
        """Sum over requests of each request's mean target NLL (a scalar with a graph)."""
        hidden = model.base_model(input_ids=self.ids, attention_mask=self.mask).last_hidden_state  # (B, T, d)
        logp = head_logprobs(model, hidden, self.rows, self.cols)  # (n_tgt, vocab): only these positions meet the LM head
        nll = -logp.gather(1, self.gold[:, None])[:, 0]  # (n_tgt,)
        return (nll * self.weight).sum()


@register_editor("ft-l")
class FTL(Editor):
    """Fine-tune ``mlp_out`` of ``hp.layers`` on the new targets under an L-inf norm constraint."""

    hparams_cls = FTLHyperParams
    supports_batch = True

    def edit(self, model: nn.Module, tok, requests: Sequence[EditRequest], hp: FTLHyperParams) -> EditResult:
        if not requests:
            raise KeditError("ft-l: no edit requests")
        weights = tuned_weights(model, hp.layers)
        snapshot = ParamSnapshot(model, weights)
        device = device_of(model)
        w0 = {n: snapshot.original(n) for n in weights}  # the originals (exact copies)

        prompt_ids = encode_prompts(tok, [r.prompt for r in requests])
        target_ids = encode_targets(tok, [r.target_new for r in requests])
        if any(len(t) == 0 for t in target_ids):
            raise KeditError("ft-l: an edit request has an empty target_new")
        size = hp.batch_size or len(requests)
        batches = [
            _Batch(prompt_ids[i:i + size], target_ids[i:i + size], hp.objective, pad_id(tok), device)
            for i in range(0, len(requests), size)
        ]
        n_req = len(requests)

        flags = {n: p.requires_grad for n, p in model.named_parameters()}
        grads = {n: w.grad for n, w in weights.items()}  # other parameters never get a gradient
        losses: list[float] = []  # the loss before each step, then after the last one
        stopped_early = False
        try:
            for n, p in model.named_parameters():
                p.requires_grad_(n in weights)
            opt = torch.optim.Adam(list(weights.values()), lr=hp.lr, weight_decay=hp.weight_decay)
            for step in range(hp.num_steps + 1):
                train = step < hp.num_steps  # the extra pass only measures the final loss
                opt.zero_grad(set_to_none=True)
                total = self._loss(model, batches, n_req, train, hp.early_stop_loss)
                losses.append(total)
                if not math.isfinite(total):
                    raise KeditError(f"ft-l: the loss became {total}; lower lr or check the model's dtype")
                if not train:
                    break
                if total < hp.early_stop_loss:
                    stopped_early = True
                    break
                opt.step()
                if hp.norm_constraint is not None:
                    _project_linf(weights, w0, hp.norm_constraint)
        except BaseException:
            snapshot.restore()
            raise
        finally:
            for n, p in model.named_parameters():
                p.requires_grad_(flags[n])
            for n, w in weights.items():
                w.grad = grads[n]

        steps = len(losses) - 1
        with torch.no_grad():
            max_delta = max(float((weights[n] - w0[n]).abs().max()) for n in weights)
        return EditResult(
            editor=self.name,
            requests=list(requests),
            snapshot=snapshot,
            info={
                "layers": list(hp.layers),
                "params": list(weights),
                "steps": steps,
                "stopped_early": stopped_early,
                "loss_before": losses[0],
                "loss_after": losses[-1],
                "max_abs_delta": max_delta,
            },
        )


    @staticmethod
    def _loss(model: nn.Module, batches: list[_Batch], n_req: int, train: bool, stop_below: float) -> float:
        """The full-batch loss; with ``train``, its gradient too, unless the loss is already below
        ``stop_below`` (one batch: checked before the backward pass)."""
        if not train:
            with torch.no_grad():
                return sum(float(b.nll_sum(model)) for b in batches) / n_req
        if len(batches) == 1:
            loss = batches[0].nll_sum(model) / n_req
            if loss.detach().item() >= stop_below:
                loss.backward()
            return loss.detach().item()
        total = 0.0
        for b in batches:  # gradient accumulation: the same gradient as one padded batch
            loss = b.nll_sum(model) / n_req
            loss.backward()
            total += loss.detach().item()
        return total


@torch.no_grad()
def _project_linf(weights: dict[str, nn.Parameter], w0: dict[str, torch.Tensor], eps: float) -> None:
    """W <- clamp(W, W0 - eps, W0 + eps): the projection onto the L-inf ball around W0."""
    for n, w in weights.items():
        w.copy_(torch.minimum(torch.maximum(w, w0[n] - eps), w0[n] + eps))
