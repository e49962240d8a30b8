"""Per-probe metrics. Each states how it is computed and whether higher is better.

A ``new`` probe is scored against its gold answer; a ``keep`` probe against the unedited model's
own outputs on the same prompt (EasyEdit's locality definition), except multiple choice, which is
scored against the right choice before and after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..records import Probe
from ..registry import Registry
from .scoring import TargetScore


@dataclass(frozen=True)
class Metric:
    name: str
    description: str
    higher_is_better: bool = True


METRICS: Registry[Metric] = Registry("metric")
for _m in (
    Metric("token_acc", "teacher-forced token accuracy (EasyEdit): argmax at each target position equals the gold "
           "token, averaged; keep probes: post-edit argmax equals the unedited model's argmax"),
    Metric("prob_cmp", "CounterFact probability comparison: mean per-token log p(answer) > log p(foil) (1/0)"),
    Metric("gen_match", "greedy generation starts with the answer or an alias (case/article-insensitive); "
           "keep probes: post-edit greedy tokens equal the unedited model's"),
    Metric("mc_acc", "multiple-choice accuracy by summed log-likelihood of each choice after the prompt"),
):
    METRICS.register(_m.name)(_m)

PRIMARY = {"commonsense": "mc_acc"}  # every other split: token_acc


def primary_metric(split: str) -> str:
    return PRIMARY.get(split, "token_acc")


@dataclass
class Answers:
    """What a model said to one probe: scores of the answer, foil and choices, and a greedy continuation."""

    answer: TargetScore | None = None
    foil: TargetScore | None = None
    choices: list[TargetScore] | None = None
    generated: str | None = None
    generated_ids: tuple[int, ...] | None = None


_ARTICLE = re.compile(r"^(the|a|an)\s+")


def normalize(text: str) -> str:
    t = text.strip().lower()
    t = _ARTICLE.sub("", t)
    return t.strip(" \t\n\"'`.,;:!?")


def starts_with_answer(generated: str, answers: tuple[str, ...]) -> bool:
    g = normalize(generated)
    for a in answers:
        a = normalize(a)
        if a and g.startswith(a) and (len(g) == len(a) or not g[len(a)].isalnum()):
            return True
    return False


def _mc(scores: list[TargetScore], probe: Probe) -> float:
    best = max(range(len(scores)), key=lambda i: scores[i].logprob)
    return float(probe.choices[best] == probe.answers[0])


def probe_values(probe: Probe, post: Answers, pre: Answers, generate: bool = True) -> dict[str, dict[str, float | None]]:
    """{metric: {"pre": value or None, "post": value}} for one executed probe."""
    out: dict[str, dict[str, float | None]] = {}
    if probe.choices:
        out["mc_acc"] = {"pre": _mc(pre.choices, probe), "post": _mc(post.choices, probe)}
        return out
    keep = probe.expect == "keep"
    if keep:
        same = sum(a == b for a, b in zip(post.answer.argmax_ids, pre.answer.argmax_ids))
        out["token_acc"] = {"pre": None, "post": same / len(pre.answer.argmax_ids)}
        if generate:
            out["gen_match"] = {"pre": None, "post": float(post.generated_ids == pre.generated_ids)}
    else:
        out["token_acc"] = {"pre": pre.answer.token_accuracy, "post": post.answer.token_accuracy}
        if generate:
            out["gen_match"] = {
                "pre": float(starts_with_answer(pre.generated, probe.answers)),
                "post": float(starts_with_answer(post.generated, probe.answers)),
            }
    if probe.foil:
        cmp = lambda a: float(a.answer.mean_logprob > a.foil.mean_logprob)  # noqa: E731
        out["prob_cmp"] = {"pre": cmp(pre), "post": cmp(post)}
    return out
