"""Keys: where the fact is looked up, and a module's mean input (``k*``) and output (``v₀``) there.

``lookup_indices`` finds the token of ``prompt.format(subject)`` where the subject's fact is read:
``subject_last`` (the last token overlapping the subject, by the tokenizer's offset mapping: no
leading-space conventions needed) or ``last`` (the prompt's last token).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ... import runtime
from ...errors import KeditError
from ...models.text import encode_prompts, length_batches, pad_batch, pad_id
from ..nethook import Trace

FACT_TOKENS = ("subject_last", "last")


def subject_end(prompt: str, subject: str) -> int:
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
        raise KeditError(f"no token of {text!r} covers its subject (ending at character {end})")
    return idx[-1]


def lookup_indices(tok, prompts: Sequence[str], subject: str, fact_token: str) -> list[int]:
    """The token where the fact is looked up in each ``prompt.format(subject)``."""
    out = []
    for p in prompts:
        text = p.format(subject)
        if fact_token == "last":
            out.append(len(tok(text)["input_ids"]) - 1)
        else:
            out.append(last_subject_token(tok, text, subject_end(p, subject)))
    return out


def body(model: nn.Module) -> nn.Module:
    """The transformer up to its final norm (the LM head is applied by hand where needed)."""
    return getattr(model, "base_model", model)


@torch.no_grad()
def mean_key_value(model: nn.Module, tok, site: str, prompts: Sequence[str], subject: str,
                   fact_token: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``(k*, v₀)``: the mean input and output of module ``site`` at the lookup token over the
    prompts ``p.format(subject)``; the forward pass stops at ``site``.   (d_in,), (d_out,)"""
    device = next(model.parameters()).device
    idxs = lookup_indices(tok, prompts, subject, fact_token)
    ids, mask = pad_batch(encode_prompts(tok, [p.format(subject) for p in prompts]), pad_id(tok))  # (P, T)
    with Trace(model, site, stop=True) as tr:
        body(model)(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
    rows = torch.arange(len(prompts), device=device)
    cols = torch.tensor(idxs, device=device)
    k = tr.input[rows, cols].float()  # (P, d_in)
    v = tr.output[rows, cols].float()  # (P, d_out)
    return k.mean(0), v.mean(0)


@torch.no_grad()
def mean_at_sites(model: nn.Module, tok, key_site: str, out_site: str, prompts: Sequence[Sequence[str]],
                  subjects: Sequence[str], fact_token: str, batch_tokens: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Per request (MEMIT's batch), the mean over its prompts ``p.format(subject)`` of ``key_site``'s
    input (keys, (N, d_in)) and of ``out_site``'s output ((N, d_out)) at the lookup token, every
    request in length-sorted batches; the forward pass stops at ``out_site``, which must not come
    before ``key_site``."""
    device = next(model.parameters()).device
    texts, owner, idxs = [], [], []
    for n, (ps, s) in enumerate(zip(prompts, subjects)):
        texts += [p.format(s) for p in ps]
        idxs += lookup_indices(tok, ps, s, fact_token)
        owner += [n] * len(ps)
    enc = encode_prompts(tok, texts)
    k_sum = v_sum = None
    counts = torch.zeros(len(prompts), device=device)
    owner_t = torch.tensor(owner, device=device)
    for batch in length_batches([len(e) for e in enc], runtime.batch_tokens(batch_tokens)):
        ids, mask = pad_batch([enc[i] for i in batch], pad_id(tok))
        with Trace(model, key_site, retain_output=False) as tk, Trace(model, out_site, stop=True, retain_input=False) as tv:
            body(model)(input_ids=ids.to(device), attention_mask=mask.to(device), use_cache=False)
        rows = torch.arange(len(batch), device=device)
        cols = torch.tensor([idxs[i] for i in batch], device=device)
        k = tk.input[rows, cols].double()  # (b, d_in)
        v = tv.output[rows, cols].double()  # (b, d_out)
        who = owner_t[torch.tensor(batch, device=device)]
        if k_sum is None:
            k_sum = torch.zeros(len(prompts), k.shape[1], dtype=torch.float64, device=device)
            v_sum = torch.zeros(len(prompts), v.shape[1], dtype=torch.float64, device=device)
        k_sum.index_add_(0, who, k)
        v_sum.index_add_(0, who, v)
        counts.index_add_(0, who, torch.ones(len(batch), device=device))
    return (k_sum / counts[:, None]).float(), (v_sum / counts[:, None]).float()
