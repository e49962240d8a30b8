"""The few kinds of question kedit asks a model, batched across every probe and case.

* ``teacher_forced(pairs)``: for each (prompt, target), the log-probability and the argmax token at
  every target position, from one padded forward pass per batch. Logits are computed only at the
  positions that predict a target token (the final hidden states elsewhere never meet the LM head).
* ``greedy(prompts, n)``: greedy continuations, left-padded batches with a KV cache.

Batches are formed by sorting requests by length and filling a token budget (the active runtime's
``--batch-tokens`` and ``--max-batch`` unless a call names its own), so padding is small; identical
requests are computed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .. import runtime
from ..models.text import encode_prompts, encode_targets, head_logprobs, length_batches, pad_batch, pad_id, target_positions



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


def _batches(lengths: Sequence[int], batch_tokens: int | None) -> list[list[int]]:
    return length_batches(lengths, runtime.batch_tokens(batch_tokens), runtime.active().max_batch)


def _bar(batches: list[list[int]], desc: str | None, kind: str):
    """``batches`` with a progress bar (ETA) named ``desc: kind`` when ``desc`` is given."""
    if desc is None or len(batches) < 2:
        return batches
    from tqdm.auto import tqdm

    return tqdm(batches, desc=f"{desc}: {kind}", unit="batch", leave=False)


@torch.no_grad()
def teacher_forced(
    model: nn.Module,
    tok,
    pairs: Sequence[tuple[str, str]],
    batch_tokens: int | None = None,
    prompt_ids: dict[str, list[int]] | None = None,
    progress: str | None = None,
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
    targets = dict(zip(unique, encode_targets(tok, [t for _, t in unique])))
    # One sequence per prompt carries its longest target; a one-token target of the same prompt is
    # read off that sequence's first target position (same prefix), so it costs no forward pass.
    host: dict[str, tuple[str, str]] = {}
    for pair in unique:
        if pair[0] not in host or len(targets[pair]) > len(targets[host[pair[0]]]):
            host[pair[0]] = pair
    riders: dict[tuple[str, str], list[tuple[str, str]]] = {h: [] for h in host.values()}
    computed = []
    for pair in unique:
        if pair == host[pair[0]]:
            computed.append(pair)
        elif len(targets[pair]) == 1:
            riders[host[pair[0]]].append(pair)
        else:
            computed.append(pair)
            riders[pair] = []
    seqs = [ids_of[p] + targets[(p, t)] for p, t in computed]
    body = model.base_model  # the transformer up to its final norm; the LM head is applied by hand
    device = next(model.parameters()).device
    out: dict[tuple[str, str], TargetScore] = {}
    for batch in _bar(_batches([len(s) for s in seqs], batch_tokens), progress, "teacher-forced"):
        ids, mask = pad_batch([seqs[i] for i in batch], pad_id(tok))
        hidden = body(input_ids=ids.to(device), attention_mask=mask.to(device)).last_hidden_state  # (B, T, d)
        rows, cols = target_positions([len(ids_of[computed[i][0]]) for i in batch], [len(targets[computed[i]]) for i in batch])
        logp = head_logprobs(model, hidden, rows, cols)  # (n_tgt, vocab)
        am = logp.argmax(-1).tolist()
        k = 0
        for i in batch:
            pair = computed[i]
            n = len(targets[pair])
            lp = logp[torch.arange(k, k + n, device=device), torch.tensor(targets[pair], device=device)].tolist()
            out[pair] = TargetScore(tuple(targets[pair]), tuple(am[k:k + n]), tuple(lp))
            for rider in riders[pair]:
                t = targets[rider][0]
                out[rider] = TargetScore((t,), (am[k],), (float(logp[k, t]),))
            k += n
    return [out[p] for p in pairs]


def greedy_prefix(score: TargetScore) -> tuple[int, ...]:
    """The greedy continuation that teacher forcing already reveals: greedy and teacher-forced inputs
    agree while the argmax equals the gold token, so greedy output is the argmax up to and including
    the first mismatch."""
    out = []
    for a, t in zip(score.argmax_ids, score.target_ids):
        out.append(a)
        if a != t:
            break
    return tuple(out)


@torch.no_grad()
def greedy(
    model: nn.Module,
    tok,
    prompts: Sequence[str],
    max_new_tokens: Sequence[int] | int,
    batch_tokens: int | None = None,
    forced: Sequence[Sequence[int]] | None = None,
    progress: str | None = None,
) -> list[tuple[int, ...]]:
    """Greedy continuations (token ids, without the prompt); batched by length with a KV cache.

    ``forced[i]`` are continuation tokens already known to be greedy (see ``greedy_prefix``): they
    are fed with the prompt and only the rest is generated.
    """
    if not prompts:
        return []
    if isinstance(max_new_tokens, int):
        max_new_tokens = [max_new_tokens] * len(prompts)
    forced = [tuple(f) for f in forced] if forced is not None else [()] * len(prompts)
    keys = list(zip(prompts, max_new_tokens, forced))
    unique = list(dict.fromkeys(keys))
    distinct = list(dict.fromkeys(p for p, _, _ in unique))
    enc = dict(zip(distinct, encode_prompts(tok, distinct)))
    out: dict[tuple, tuple[int, ...]] = {}
    todo = []
    for k in unique:
        _, n, f = k
        if len(f) >= n:
            out[k] = f[:n]
        else:
            todo.append(k)
    device = next(model.parameters()).device
    seqs = [enc[p] + list(f) for p, _, f in todo]
    lengths = [len(s) + n - len(f) for s, (_, n, f) in zip(seqs, todo)]
    for batch in _bar(_batches(lengths, batch_tokens), progress, "greedy"):
        n_new = max(todo[i][1] - len(todo[i][2]) for i in batch)
        ids, mask = pad_batch([seqs[i] for i in batch], pad_id(tok), left=True)
        gen = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            max_new_tokens=n_new,
            min_new_tokens=n_new,  # equal lengths: no early stop on EOS, outputs compare token by token
            do_sample=False,
            pad_token_id=pad_id(tok),
            eos_token_id=tok.eos_token_id,
        )[:, ids.shape[1]:]
        for r, i in enumerate(batch):
            _, n, f = todo[i]
            out[todo[i]] = (f + tuple(gen[r].tolist()))[:n]
    return [out[k] for k in keys]
