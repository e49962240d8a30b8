"""What every lifelong editor shares: the edit rows, the target loss, the training loop, the
out-of-scope texts and the hooks that live only while an editor holds edits.

* ``encode_edits``: each request as one right-padded "prompt + target" row, with the position of
  its prompt's last token (where GRACE reads its key, where T-Patcher's neuron must fire) and the
  positions and ids of its target tokens.
* ``target_nll``: the mean over rows of each row's mean per-token −log P(target) (the edit loss of
  every method here), read at the target positions only.
* ``train``: the one optimisation loop (Adam or SGD over the method's own parameters, the model
  frozen), with an early stop on the edit loss and a clear error on a NaN or Inf loss.
* ``Hooks``: forward hooks on modules that an editor installs with its first edit and removes when
  its last edit is undone, so a model with no edits carries no hook.
* ``out_of_scope_texts``: short texts of the offline Wikipedia sample (the statistics corpus),
  the "unrelated inputs" that WISE's and T-Patcher's losses keep the added memory silent on.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...errors import KeditError
from ...models.text import encode_prompts, encode_targets, head_logprobs, pad_batch, pad_id, target_positions
from ..hparams import HyperParams


@dataclass
class EditRows:
    """Requests as right-padded "prompt + target" rows (B, T) on the model's device."""

    ids: torch.Tensor
    mask: torch.Tensor
    prompt_last: torch.Tensor  # (B,) index of each row's last prompt token
    rows: torch.Tensor  # (n,) row of each target token's predicting position
    cols: torch.Tensor  # (n,) its column
    gold: torch.Tensor  # (n,) the target token ids

    @property
    def size(self) -> int:
        return int(self.ids.shape[0])


def encode_edits(tok, prompts: Sequence[str], targets: Sequence[str], device: torch.device, who: str) -> EditRows:
    p_ids = encode_prompts(tok, prompts)
    t_ids = encode_targets(tok, targets)
    for p, t, ids in zip(prompts, targets, t_ids):
        if not ids:
            raise KeditError(f"{who}: the target {t!r} of {p!r} is empty after tokenization; give a non-empty target")
    ids, mask = pad_batch([p + t for p, t in zip(p_ids, t_ids)], pad_id(tok))
    rows, cols = target_positions([len(p) for p in p_ids], [len(t) for t in t_ids])
    gold = [g for t in t_ids for g in t]
    as_t = lambda x: torch.tensor(x, device=device)
    return EditRows(ids.to(device), mask.to(device), as_t([len(p) - 1 for p in p_ids]), as_t(rows), as_t(cols), as_t(gold))


def target_nll(model: nn.Module, hidden: torch.Tensor, rows: EditRows) -> torch.Tensor:
    """Mean over rows of the mean per-token −log P(target | prompt) (``hidden``: final hidden states)."""
    return target_nll_and_hit(model, hidden, rows)[0]


def target_nll_and_hit(model: nn.Module, hidden: torch.Tensor, rows: EditRows) -> tuple[torch.Tensor, bool]:
    """``target_nll`` and whether every target token is the argmax, from one pass of the LM head."""
    logp = head_logprobs(model, hidden, rows.rows, rows.cols)  # (n, vocab)
    hit = bool((logp.detach().argmax(-1) == rows.gold).all())
    nll = -logp.gather(1, rows.gold[:, None])[:, 0]  # (n,)
    per_row = torch.zeros(rows.size, dtype=nll.dtype, device=nll.device).index_add(0, rows.rows, nll)
    counts = torch.bincount(rows.rows, minlength=rows.size).to(nll.dtype)
    return (per_row / counts).mean(), hit


UNCONVERGED = ("score", "fail")


@dataclass(frozen=True)
class LifelongHyperParams(HyperParams):
    """What every lifelong editor's hyper-parameters have: what to do with an edit whose training ends
    without the edit holding (its loss above the method's stop threshold): ``score`` it as it is (the
    default: reliability shows it, as EasyEdit scores every edit) or ``fail`` it (undone, and recorded as
    that case's error with the loss; the run goes on). Either way the summary counts them
    (``n_unconverged``)."""

    unconverged: str = "score"

    def check(self) -> None:
        """Subclasses' ``check`` calls this first."""
        if self.unconverged not in UNCONVERGED:
            raise KeditError(f"{self.editor}: unconverged must be one of {', '.join(UNCONVERGED)}, got {self.unconverged!r}")


@dataclass(frozen=True)
class Training:
    """The numbers of one edit's optimisation."""

    steps: int
    lr: float
    stop_loss: float = 0.0  # stop once the edit loss (the first term ``loss_fn`` returns) is below this
    optimizer: str = "adam"  # adam | sgd
    weight_decay: float = 0.0


def train(params: Sequence[torch.Tensor], loss_fn: Callable[[], tuple[torch.Tensor, torch.Tensor]], how: Training,
          who: str, after_step: Callable[[], None] | None = None, grad_hook: Callable[[], None] | None = None
          ) -> dict[str, Any]:
    """Optimise ``params`` (leaf tensors with ``requires_grad``) on ``loss_fn() -> (edit loss, total loss)``.
    ``grad_hook`` runs between backward and the step (WISE's gradient mask), ``after_step`` after it
    (a projection or a clamp). A NaN or Inf loss raises (the caller undoes the edit)."""
    cls = torch.optim.Adam if how.optimizer == "adam" else torch.optim.SGD
    opt = cls(list(params), lr=how.lr, weight_decay=how.weight_decay)
    first = last = float("nan")
    steps = 0
    for it in range(how.steps):
        steps = it + 1
        opt.zero_grad(set_to_none=True)
        with torch.enable_grad():
            edit_loss, loss = loss_fn()
        last = float(edit_loss.detach())
        if it == 0:
            first = last
        if not torch.isfinite(loss.detach()):
            raise KeditError(f"{who}: the loss became {float(loss):.3g} at step {steps}; the edit is undone "
                             "(a smaller learning rate usually fixes this)")
        if last < how.stop_loss:
            break
        loss.backward()
        if grad_hook is not None:
            grad_hook()
        opt.step()
        if after_step is not None:
            with torch.no_grad():
                after_step()
    return {"steps": steps, "loss_start": first, "loss_end": last, "converged": last < how.stop_loss}


class Hooks:
    """Forward hooks an editor keeps on modules while it holds edits; ``remove()`` takes them all off."""

    def __init__(self) -> None:
        self._handles: list[Any] = []

    def forward(self, module: nn.Module, hook: Callable, **kwargs) -> None:
        self._handles.append(module.register_forward_hook(hook, **kwargs))

    def pre(self, module: nn.Module, hook: Callable, **kwargs) -> None:
        self._handles.append(module.register_forward_pre_hook(hook, **kwargs))

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles = []

    def __len__(self) -> int:
        return len(self._handles)


def hook_count(model: nn.Module) -> int:
    """Forward and pre-forward hooks on all modules (the contract test: none left after restore)."""
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def out_of_scope_texts(n: int, seed: int = 0, max_chars: int = 160) -> list[str]:
    """``n`` short texts of the offline Wikipedia sample (first sentence, at most ``max_chars``)."""
    from ..stats import corpus_texts

    texts = corpus_texts("wiki-offline", max(4 * n, 64))
    picked = random.Random(seed).sample(texts, min(n, len(texts)))
    out = []
    for t in picked:
        t = " ".join(t.split())
        cut = t.find(". ")
        t = t[: cut + 1] if 20 < cut < max_chars else t[:max_chars]
        out.append(t)
    return out


def nbytes(tensors: Iterable[torch.Tensor]) -> int:
    return sum(t.numel() * t.element_size() for t in tensors)
