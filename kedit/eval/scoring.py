"""The few kinds of question kedit asks a model, batched across every probe and case.

* ``teacher_forced(pairs)``: for each (prompt, target), the log-probability and the argmax token at
  every target position, from one padded forward pass per batch. Logits are computed only at the
  positions that predict a target token (the final hidden states elsewhere never meet the LM head).
* ``greedy(prompts, n)``: greedy continuations, left-padded batches with a KV cache.

Batches are formed by sorting requests by length and filling a token budget, so padding is small;
identical requests are computed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import torch
from torch import nn

from ..models.text import encode_prompts, encode_targets, pad_batch, pad_id

DEFAULT_BATCH_TOKENS = 4096
MAX_BATCH = 64


@dataclass(frozen=True)
class TargetScore:
    target_ids: tuple[int, ...]
    argmax_ids: tuple[int, ...]
    logprobs: tuple[float, ...]  # log p(target token | prefix), one per target token

    @property
    def token_accuracy(self) -> float:
        """EasyEdit's teacher-forced accuracy: argmax equals the gold token, averaged over positions."""
        return sum(a == t for a, t in zip(self.argmax_ids, self.target_ids)) / len(self.target_ids)

    @property
    def exact(self) -> bool:
        return self.argmax_ids == self.target_ids

    @property
    def logprob(self) -> float:
        return float(sum(self.logprobs))

    @property
    def mean_logprob(self) -> float:
        return self.logprob / len(self.logprobs)


def _batches(lengths: Sequence[int], batch_tokens: int) -> Iterable[list[int]]:
    """Indices grouped into batches of similar length whose padded size stays within the budget."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batch: list[int] = []
    for i in order:
        longest = lengths[i]  # sorted: the newest is the longest
        if batch and (longest * (len(batch) + 1) > batch_tokens or len(batch) >= MAX_BATCH):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def _body_and_head(model: nn.Module) -> tuple[nn.Module, nn.Module]:
    """The transformer up to its final norm, and the LM head applied to its hidden states."""
    return model.base_model, model.get_output_embeddings()


@torch.no_grad()
def teacher_forced(
    model: nn.Module,
    tok,
    pairs: Sequence[tuple[str, str]],
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
    prompt_ids: dict[str, list[int]] | None = None,
) -> list[TargetScore]:
    """Score each target after its prompt. Returns one TargetScore per pair, in order."""
    if not pairs:
        return []
    unique = list(dict.fromkeys(pairs))
    prompts = list(dict.fromkeys(p for p, _ in unique))
    ids_of = dict(prompt_ids or {})
    missing = [p for p in prompts if p not in ids_of]
    if missing:
        ids_of.update(zip(missing, encode_prompts(tok, missing)))
    targets = encode_targets(tok, [t for _, t in unique])
    seqs = [ids_of[p] + t for (p, _), t in zip(unique, targets)]
    body, head = _body_and_head(model)
    device = next(model.parameters()).device
    out: dict[tuple[str, str], TargetScore] = {}
    for batch in _batches([len(s) for s in seqs], batch_tokens):
        ids, mask = pad_batch([seqs[i] for i in batch], pad_id(tok))
        hidden = body(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state  # (B, T, d)
        rows, cols, gold = [], [], []
        for r, i in enumerate(batch):
            n_prompt = len(ids_of[unique[i][0]])
            for j, t in enumerate(targets[i]):
                rows.append(r)
                cols.append(n_prompt - 1 + j)  # the position that predicts target token j
                gold.append(t)
        h = hidden[torch.tensor(rows, device=device), torch.tensor(cols, device=device)]  # (n_tgt, d)
        logp = torch.log_softmax(head(h).float(), dim=-1)  # (n_tgt, vocab)
        gold_t = torch.tensor(gold, device=device)
        lp = logp.gather(1, gold_t[:, None])[:, 0].tolist()
        am = logp.argmax(-1).tolist()
        k = 0
        for i in batch:
            n = len(targets[i])
            out[unique[i]] = TargetScore(tuple(targets[i]), tuple(am[k:k + n]), tuple(lp[k:k + n]))
            k += n
    return [out[p] for p in pairs]


@torch.no_grad()
def greedy(
    model: nn.Module,
    tok,
    prompts: Sequence[str],
    max_new_tokens: Sequence[int] | int,
    batch_tokens: int = DEFAULT_BATCH_TOKENS,
) -> list[tuple[int, ...]]:
    """Greedy continuations (token ids, without the prompt); batched by length with a KV cache."""
    if not prompts:
        return []
    if isinstance(max_new_tokens, int):
        max_new_tokens = [max_new_tokens] * len(prompts)
    unique = list(dict.fromkeys(zip(prompts, max_new_tokens)))
    enc = encode_prompts(tok, [p for p, _ in unique])
    device = next(model.parameters()).device
    eos = tok.eos_token_id
    out: dict[tuple[str, int], tuple[int, ...]] = {}
    lengths = [len(e) + n for e, (_, n) in zip(enc, unique)]
    for batch in _batches(lengths, batch_tokens):
        n_new = max(unique[i][1] for i in batch)
        ids, mask = pad_batch([enc[i] for i in batch], pad_id(tok), left=True)
        gen = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=n_new,
            min_new_tokens=n_new,  # equal lengths: no early stop on EOS, outputs compare token by token
            do_sample=False,
            pad_token_id=pad_id(tok),
            eos_token_id=eos,
        )[:, ids.shape[1]:]
        for r, i in enumerate(batch):
            out[unique[i]] = tuple(gen[r, : unique[i][1]].tolist())
    return [out[k] for k in zip(prompts, max_new_tokens)]
