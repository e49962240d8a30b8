"""An LLM judge of generated answers, and its calibration against human verdicts.

``keval run --judge openai --judge-model M --judge-base-url U``: every executed probe with a greedy
generation is shown to an OpenAI-compatible model (prompt ``data/prompts/judge.v<N>.md``, through the
``openai`` backend's client: structured output, retries, the reply cache, the price table) with its
gold answer and aliases and the generation cut at its natural stop (``metrics.natural_stop``); the
verdict becomes the probe's ``judge`` metric (1 correct, 0 incorrect; for keep probes the gold answers
are the true ones, so 1 means the fact is still answered) and the reason is kept in the probe's
result (``judge_reason``). A reply that cannot be used leaves the probe without a ``judge`` value,
its reason saying why. The calls, cache hits, tokens and cost are in config.json (``judge_figures``).

``keval judge-agreement VERIFIED.jsonl``: how far to trust the judge. The probes humans adjudicated in
Label Studio (``kbuild annotate pull``: kept probes in the verified file, ``incorrect`` ones in its
``.rejected.jsonl`` beside it) are put to the judge as they were shown to the annotators (question and
gold answer as generated, before corrections): "does this answer answer this question?". Cohen's kappa
between the judge's and the humans' correct / incorrect (``annotations.agreement.cohen_kappa``),
with the confusion counts; ``unsure`` and unannotated probes are left out and counted.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..builder.llm.backend import OpenAIBackend
from ..errors import KeditError

log = logging.getLogger(__name__)
CORRECT, INCORRECT = "correct", "incorrect"


class LLMJudge(OpenAIBackend):
    """``verdicts([(question, answers, response)]) -> [(True | False | None, reason)]`` (see the module docs)."""

    name = "judge"
    prompt_name = "judge"
    cache_kind = "kedit.llm.judge/1"
    schema_name = "kedit_judge"

    def __init__(self, **kw: Any):
        kw.setdefault("max_tokens", 160)
        super().__init__(**kw)
        self.verdict_counts: Counter[str] = Counter()

    def verdict(self, item: tuple[str, Sequence[str], str]) -> tuple[bool | None, str]:
        question, answers, response = item
        rec, _hit = self._reply({"question": question, "answers": " | ".join(answers), "response": response})
        data = self.parsed(dict(rec))
        with self._lock:
            if data is None:
                self.stats["failures"] += 1
                self.verdict_counts["unusable"] += 1
                return None, f"judge reply unusable: {rec['parse']['error']}"
            self.verdict_counts[data["verdict"]] += 1
        return data["verdict"] == CORRECT, data["reason"]

    def verdicts(self, items: Sequence[tuple[str, Sequence[str], str]]) -> list[tuple[bool | None, str]]:
        """Every item's verdict, ``concurrency`` calls at once (cached replies cost nothing)."""
        return self.each(self.verdict, items) if items else []

    def figures(self) -> dict[str, Any]:
        out = super().figures()
        out["verdicts"] = dict(sorted(self.verdict_counts.items()))
        return out


def human_items(verified: str | Path, rejected: str | Path | None = None) -> tuple[list[tuple[tuple, str]], Counter]:
    """((question, answers, answer shown), human verdict) of every adjudicated probe of a ``kbuild annotate
    pull`` output and its rejected file; the counts of what is left out."""
    from ..records import read_jsonl

    verified = Path(verified)
    rejected = Path(rejected) if rejected else verified.with_name(verified.stem + ".rejected.jsonl")
    files = [verified] + ([rejected] if rejected.is_file() else [])
    items, left = [], Counter()
    for f in files:
        for case in read_jsonl(f):
            for p in case.probes:
                ann = p.provenance.get("annotation")
                if not isinstance(ann, dict):
                    continue
                verdict = ann.get("adjudicated")
                if verdict not in (CORRECT, INCORRECT):
                    left[f"adjudicated {verdict or 'nothing'}"] += 1
                    continue
                fixed = ann.get("corrected") or {}
                question = fixed.get("prompt", {}).get("from", p.prompt)
                answers = tuple(fixed.get("answers", {}).get("from", p.answers))
                items.append(((question, answers, answers[0]), verdict))
    if not items:
        raise KeditError(f"{verified}: no probe with a human verdict (correct or incorrect); give the output of "
                         "`kbuild annotate pull` after annotators have judged its tasks")
    return items, left


def judge_agreement(judge: LLMJudge, verified: str | Path, rejected: str | Path | None = None) -> dict[str, Any]:
    """Cohen's kappa of the judge against the human verdicts of a pulled annotation file."""
    from ..annotations.agreement import cohen_kappa

    items, left = human_items(verified, rejected)
    got = judge.verdicts([q for q, _ in items])
    pairs = [(human, CORRECT if v else INCORRECT) for (_, human), (v, _) in zip(items, got) if v is not None]
    confusion = Counter(f"human {h} / judge {j}" for h, j in pairs)
    return {"n_items": len(pairs), "kappa": cohen_kappa([h for h, _ in pairs], [j for _, j in pairs]),
            "agreement": sum(h == j for h, j in pairs) / len(pairs) if pairs else None,
            "confusion": dict(sorted(confusion.items())), "judge_unusable": len(items) - len(pairs),
            "left_out": dict(left), "judge": judge.figures()}
