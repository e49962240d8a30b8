"""Tokenizing prompts and targets the same way everywhere (scorer, editors, filter).

A target is scored as the continuation ``prompt + " " + target``: the prompt is tokenized with the
tokenizer's own special tokens, the target without them and with one leading space (the way
ROME/EasyEdit feed targets), so ``prompt_ids + target_ids`` is the scored sequence.
"""

from __future__ import annotations

from typing import Sequence

import torch


def target_text(target: str) -> str:
    return target if target.startswith((" ", "\n")) else " " + target


def encode_prompts(tok, prompts: Sequence[str]) -> list[list[int]]:
    return [list(x) for x in tok(list(prompts))["input_ids"]]


def encode_targets(tok, targets: Sequence[str]) -> list[list[int]]:
    return [list(x) for x in tok([target_text(t) for t in targets], add_special_tokens=False)["input_ids"]]


def pad_batch(seqs: Sequence[Sequence[int]], pad_id: int, left: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """(input_ids, attention_mask), both (batch, max_len)."""
    n = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), n), pad_id, dtype=torch.long)
    mask = torch.zeros((len(seqs), n), dtype=torch.long)
    for i, s in enumerate(seqs):
        if left:
            ids[i, n - len(s):] = torch.tensor(s, dtype=torch.long)
            mask[i, n - len(s):] = 1
        else:
            ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
            mask[i, : len(s)] = 1
    return ids, mask


def pad_id(tok) -> int:
    return tok.pad_token_id if tok.pad_token_id is not None else (tok.eos_token_id or 0)


def length_batches(lengths: Sequence[int], batch_tokens: int, max_batch: int | None = None) -> list[list[int]]:
    """Indices grouped into batches of similar length whose padded size stays within ``batch_tokens``
    (sorted shortest first, so padding is small)."""
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    batches: list[list[int]] = []
    batch: list[int] = []
    for i in order:
        longest = lengths[i]  # sorted: the newest is the longest
        if batch and (longest * (len(batch) + 1) > batch_tokens or (max_batch and len(batch) >= max_batch)):
            batches.append(batch)
            batch = []
        batch.append(i)
    if batch:
        batches.append(batch)
    return batches


def target_positions(prompt_lens: Sequence[int], target_lens: Sequence[int]) -> tuple[list[int], list[int]]:
    """(rows, cols) of the hidden states that predict each target token, flattened in order:
    token j of sequence r (its prompt first, then its target) is predicted at column len(prompt_r) - 1 + j."""
    rows, cols = [], []
    for r, (n_prompt, n_target) in enumerate(zip(prompt_lens, target_lens)):
        rows += [r] * n_target
        cols += range(n_prompt - 1, n_prompt - 1 + n_target)
    return rows, cols


def head_logprobs(model: torch.nn.Module, hidden: torch.Tensor, rows, cols) -> torch.Tensor:
    """log p(· | prefix) at the chosen positions only: the LM head never sees the other hidden states.

    ``hidden`` (B, T, d) final hidden states; returns (n, vocab) in float32 or wider."""
    h = hidden[torch.as_tensor(rows, device=hidden.device), torch.as_tensor(cols, device=hidden.device)]  # (n, d)
    return torch.log_softmax(model.get_output_embeddings()(h).float(), dim=-1)
