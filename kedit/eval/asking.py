"""Turn probes into the scorer's few kinds of question, ask them all in one batched call, map back.

A probe asks: teacher-forced scores of its gold answer (and its foil, or each choice), and a greedy
continuation as long as its longest answer. Conditions are teacher-forced exact matches of any
alias, asked of the unedited model only.
"""

from __future__ import annotations

from typing import Sequence

from ..models.text import encode_targets
from ..records import Condition, Probe
from .metrics import Answers, starts_with_answer
from .scoring import greedy, greedy_prefix, teacher_forced

MAX_GEN_TOKENS = 32
GEN_MARGIN = 4


def gen_length(tok, probe: Probe) -> int:
    """Tokens generated for a probe: twice its longest answer's, plus a margin (room for the sentence to
    end, which gen_em's natural stop needs), at most ``MAX_GEN_TOKENS``."""
    return min(MAX_GEN_TOKENS, 2 * max(len(t) for t in encode_targets(tok, probe.answers)) + GEN_MARGIN)


def ask(model, tok, probes: Sequence[Probe], prompts: Sequence[str] | None = None, generate: bool = True,
        progress: str | None = None) -> list[Answers]:
    """Answers of the model to each probe; ``prompts`` overrides the probe prompts (in-context editors);
    ``progress`` names a progress bar over the batches."""
    prompts = list(prompts) if prompts is not None else [p.prompt for p in probes]
    pairs: list[tuple[str, str]] = []
    slots: list[dict] = []
    for probe, prompt in zip(probes, prompts):
        slot: dict = {}
        if probe.choices:
            slot["choices"] = [len(pairs) + i for i in range(len(probe.choices))]
            pairs += [(prompt, c) for c in probe.choices]
        else:
            slot["answer"] = len(pairs)
            pairs.append((prompt, probe.answers[0]))
            if probe.foil:
                slot["foil"] = len(pairs)
                pairs.append((prompt, probe.foil))
        slots.append(slot)
    scores = teacher_forced(model, tok, pairs, progress=progress)
    gen_idx = [i for i, p in enumerate(probes) if not p.choices] if generate else []
    gens = greedy(model, tok, [prompts[i] for i in gen_idx], [gen_length(tok, probes[i]) for i in gen_idx],
                  forced=[greedy_prefix(scores[slots[i]["answer"]]) for i in gen_idx], progress=progress)
    out = []
    for slot in slots:
        out.append(
            Answers(
                answer=scores[slot["answer"]] if "answer" in slot else None,
                foil=scores[slot["foil"]] if "foil" in slot else None,
                choices=[scores[i] for i in slot["choices"]] if "choices" in slot else None,
            )
        )
    eos = tok.eos_token_id
    for i, ids in zip(gen_idx, gens):
        out[i].generated_ids = ids  # all of them (keep probes compare token by token)
        until_eos = ids[: ids.index(eos)] if eos is not None and eos in ids else ids
        out[i].generated = tok.decode(until_eos, skip_special_tokens=True)
    return out


def conditions_pass(model, tok, conditions: Sequence[Condition], progress: str | None = None) -> list[bool]:
    """Does the (unedited) model know each condition: teacher-forced exact match of any alias."""
    pairs = [(c.prompt, a) for c in conditions for a in c.answers]
    scores = iter(teacher_forced(model, tok, pairs, progress=progress))
    return [any([next(scores).exact for _ in c.answers]) for c in conditions]


__all__ = ["ask", "conditions_pass", "gen_length", "starts_with_answer"]
