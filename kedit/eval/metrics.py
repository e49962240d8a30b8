"""Per-probe metrics. Each states how it is computed and whether higher is better.

A ``new`` probe is scored against its gold answer; a ``keep`` probe against the unedited model's
own outputs on the same prompt (EasyEdit's locality definition), except multiple choice, which is
scored against the right choice before and after.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, Iterable

from ..records import Probe
from ..registry import Registry
from .scoring import TargetScore


@dataclass(frozen=True)
class MetricValue:
    """One metric of one probe: the post-edit value and the unedited model's (None for keep probes,
    which are compared with the unedited model's own outputs)."""

    post: float
    pre: float | None = None


@dataclass(frozen=True)
class Metric:
    """A registered metric: ``compute(probe, post, pre)`` gives its value for one executed probe, or
    None where it does not apply (no foil, multiple choice, no generation asked)."""

    name: str
    description: str
    compute: Callable[[Probe, "Answers", "Answers"], MetricValue | None]
    higher_is_better: bool = True
    external: bool = False  # filled after scoring by something outside the model (the LLM judge); compute gives None


METRICS: Registry[Metric] = Registry("metric", entry_points="kedit.metrics")


def register_metric(name: str, description: str, higher_is_better: bool = True, external: bool = False):
    """Register ``compute(probe, post, pre) -> MetricValue | None`` as metric ``name`` (``external``: its
    values come from outside the scorer, e.g. the LLM judge, and ``compute`` declines every probe)."""

    def deco(compute):
        METRICS.register(name)(Metric(name, description, compute, higher_is_better, external))
        return compute

    return deco


PRIMARY = {"commonsense": "mc_acc"}  # every other split: gen_em where generation ran, else token_acc
HEADLINE = "gen_em"  # the generation metric the figures lead with (teacher-forced token_acc: the comparison column)


def primary_metric(split: str, available: Iterable[str] | None = None) -> str:
    """The headline metric of a split: multiple-choice accuracy for commonsense; otherwise ``gen_em``
    when generation ran (``available``: the metrics scored, None: generation on), else token_acc."""
    if split in PRIMARY:
        return PRIMARY[split]
    return HEADLINE if available is None or HEADLINE in set(available) else "token_acc"


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


_PUNCT = re.compile(r"[^\w\s]")
_ARTICLES = re.compile(r"\b(a|an|the)\b")
_SENTENCE_END = re.compile(r"[.!?](?=\s|$)")


def squad_normalize(text: str) -> str:
    """SQuAD's answer normaliser: lower case, punctuation and the articles a/an/the removed, spaces collapsed."""
    return " ".join(_ARTICLES.sub(" ", _PUNCT.sub("", text.lower())).split())


def natural_stop(generated: str) -> str:
    """A generation cut where a reader would stop: at the first newline after the first words, or at
    the end of the first sentence (., ! or ? followed by a space or the end; "D.C." and "3.14" stay);
    the caller has already cut it at the end-of-sequence token."""
    t = generated.lstrip()
    t = t.split("\n", 1)[0]
    m = _SENTENCE_END.search(t)
    return t[: m.start()] if m else t


def exact_match(generated: str, answers: tuple[str, ...]) -> bool:
    """The naturally stopped generation equals the answer or an alias after SQuAD normalisation."""
    g = squad_normalize(natural_stop(generated))
    return bool(g) and any(g == squad_normalize(a) for a in answers)


def _mc(scores: list[TargetScore], probe: Probe) -> float:
    best = max(range(len(scores)), key=lambda i: scores[i].logprob)
    return float(probe.choices[best] == probe.answers[0])


@register_metric("token_acc", "teacher-forced token accuracy (EasyEdit): argmax at each target position equals the "
                 "gold token, averaged; keep probes: post-edit argmax equals the unedited model's argmax")
def token_acc(probe: Probe, post: Answers, pre: Answers) -> MetricValue | None:
    if probe.choices:
        return None
    if probe.expect == "keep":
        same = sum(a == b for a, b in zip(post.answer.argmax_ids, pre.answer.argmax_ids))
        return MetricValue(same / len(pre.answer.argmax_ids))
    return MetricValue(post.answer.token_accuracy, pre.answer.token_accuracy)


@register_metric("prob_cmp", "CounterFact probability comparison: mean per-token log p(answer) > log p(foil) (1/0)")
def prob_cmp(probe: Probe, post: Answers, pre: Answers) -> MetricValue | None:
    if probe.choices or not probe.foil:
        return None
    cmp = lambda a: float(a.answer.mean_logprob > a.foil.mean_logprob)  # noqa: E731
    return MetricValue(cmp(post), cmp(pre))


@register_metric("gen_match", "greedy generation starts with the answer or an alias (case/article-insensitive); "
                 "keep probes: post-edit greedy tokens equal the unedited model's")
def gen_match(probe: Probe, post: Answers, pre: Answers) -> MetricValue | None:
    if probe.choices or post.generated_ids is None:
        return None
    if probe.expect == "keep":
        return MetricValue(float(post.generated_ids == pre.generated_ids))
    return MetricValue(float(starts_with_answer(post.generated, probe.answers)),
                       float(starts_with_answer(pre.generated, probe.answers)))


@register_metric("gen_em", "greedy generation, stopped at the end of its first sentence, line or at EOS, equals the "
                 "answer or an alias after SQuAD normalisation (lower case; punctuation and articles removed); keep "
                 "probes: equals the unedited model's stopped generation")
def gen_em(probe: Probe, post: Answers, pre: Answers) -> MetricValue | None:
    if probe.choices or post.generated is None:
        return None
    if probe.expect == "keep":
        return MetricValue(float(squad_normalize(natural_stop(post.generated)) == squad_normalize(natural_stop(pre.generated))))
    return MetricValue(float(exact_match(post.generated, probe.answers)), float(exact_match(pre.generated, probe.answers)))


@register_metric("mc_acc", "multiple-choice accuracy by summed log-likelihood of each choice after the prompt")
def mc_acc(probe: Probe, post: Answers, pre: Answers) -> MetricValue | None:
    if not probe.choices:
        return None
    return MetricValue(_mc(post.choices, probe), _mc(pre.choices, probe))


@register_metric("judge", "an LLM judge (keval run --judge) says the generation, cut as gen_em's, gives the answer or an "
                 "alias (keep probes: the true answer); its reason is in each probe's result", external=True)
def judge(probe: Probe, post: Answers, pre: Answers) -> MetricValue | None:
    return None  # filled by kedit.eval.judge after the probes are scored, where a judge is set


def probe_values(probe: Probe, post: Answers, pre: Answers) -> dict[str, MetricValue]:
    """Every registered metric that applies to one executed probe. Greedy-generation metrics apply
    only where the post-edit answers carry a generation (``keval run --no-generate`` asks none)."""
    out = {}
    for name, metric in METRICS.items():
        v = metric.compute(probe, post, pre)
        if v is not None:
            out[name] = v
    return out
