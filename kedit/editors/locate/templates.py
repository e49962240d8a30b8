"""Context prefixes: ``["{}", "<prefix>. {}", ...]`` under which keys are averaged and values
optimised, so an edit holds in more than one context (ROME's ``get_context_templates``)."""

from __future__ import annotations

import re
from collections.abc import Sequence

import torch
from torch import nn

from ...models.text import encode_prompts, pad_batch, pad_id

STARTERS = ("The", "Therefore", "Because", "I", "You")


@torch.no_grad()
def context_templates(model: nn.Module, tok, given: Sequence[str] = (),
                      length_params: Sequence[tuple[int, int]] = ((5, 10), (10, 10)), seed: int = 0) -> list[str]:
    """The ``given`` prefixes (each with "{}"), or short texts sampled from the model (top-k 5, seeded
    per length) from the starters "The", "Therefore", "Because", "I", "You", as EasyEdit does."""
    if given:
        return ["{}"] + [t for t in given if t != "{}"]
    out = ["{}"]
    device = next(model.parameters()).device
    for length, count in length_params:
        if count <= 0:
            continue
        starters = [STARTERS[i % len(STARTERS)] for i in range(count)]
        enc = encode_prompts(tok, starters)
        ids, mask = pad_batch(enc, pad_id(tok), left=True)
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed + length)
            gen = model.generate(
                input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=length, min_new_tokens=length,
                do_sample=True, top_k=5, top_p=1.0, temperature=1.0, pad_token_id=pad_id(tok),
            )[:, ids.shape[1]:]
        for row, g in enumerate(gen.tolist()):
            text = tok.decode(enc[row] + g, skip_special_tokens=True)
            text = re.sub(r"\s+", " ", text.replace("{", "").replace("}", "")).strip()
            out.append(text + ". {}")
    return out
