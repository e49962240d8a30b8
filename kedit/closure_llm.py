"""Closure editing with the closure an LLM proposes (``keval run --closure llm``), for edits a KG does
not cover.

One call per edit (prompt ``data/prompts/closure.v<N>.md``, any OpenAI-compatible endpoint through the
``openai`` backend's client: structured output, retries, the on-disk reply cache, the price table)
returns facts of three kinds, each a cloze ``prompt`` about a ``subject`` and its ``answer`` once the
edit holds, with a check:

* ``alias``: the edit under another name of the subject; answer the new object; check: the base
  model gives the *old* object under that name (the name does mean the subject);
* ``inverse``: the fact from the new object's side; answer the subject; no check;
* ``one_hop``: a fact about the new object asked through the edited relation; check: the base
  model knows that fact about the new object by name (as the builder's filter checks a one-hop
  probe's prerequisite).

As the filter does, a fact is kept only if the unedited model passes its check (teacher-forced exact
match, ``kedit.eval.asking.conditions_pass``). Items that cannot be a fact are skipped and counted by
reason: the subject is not in the prompt, the prompt gives its answer away or repeats the edit, an
alias's answer is not the new object, an inverse's is not the subject, a one-hop fact without its
check. The kept facts go through ``closure.check_consistent`` like the KG's (two answers for one
prompt is an error of that case, naming both). Figures (calls, cache hits, tokens, cost, facts
proposed / kept / dropped by reason) are ``LLMClosure.figures()``, kept in the run's config.json.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence
from typing import Any

from .builder.llm.backend import OpenAIBackend
from .builder.llm.prompts import case_fields
from .closure import ClosureFact, as_written, check_consistent, normalize_prompt
from .records import Condition, EditCase

log = logging.getLogger(__name__)


def _norm(text: str) -> str:
    return " ".join(text.lower().split())


class LLMClosure(OpenAIBackend):
    """``closure(case) -> [ClosureFact]`` from an LLM, after ``check(model, tok, cases)`` (see the module docs)."""

    name = "closure-llm"
    prompt_name = "closure"
    cache_kind = "kedit.llm.closure/1"
    schema_name = "kedit_closure"

    def __init__(self, **kw: Any):
        kw.setdefault("max_tokens", 768)
        super().__init__(**kw)
        self.facts: dict[str, list[ClosureFact]] = {}
        self.counts: Counter[str] = Counter()

    def propose(self, case: EditCase) -> list[tuple[ClosureFact, Condition | None]]:
        """The LLM's facts for ``case`` that can be facts, each with its check (None: none)."""
        rec, _hit = self._reply(case_fields(case))
        data = self.parsed(dict(rec))
        if data is None:
            with self._lock:
                self.stats["failures"] += 1
                self.counts["reply unusable"] += 1
            log.warning("closure llm: %s: the reply is unusable (%s); no closure for this edit", case.case_id,
                        rec["parse"]["error"])
            return []
        out = []
        for item in data["facts"]:
            why, fact = self._fact(case, item)
            with self._lock:
                self.counts["proposed"] += 1
                if why:
                    self.counts[f"skipped: {why}"] += 1
            if fact is not None:
                out.append(fact)
        return out

    def _fact(self, case: EditCase, item: dict[str, str]) -> tuple[str | None, tuple[ClosureFact, Condition | None] | None]:
        kind, prompt, subject, answer = item["kind"], item["prompt"].strip(), item["subject"].strip(), item["answer"].strip()
        if not prompt or not subject or not answer:
            return "empty field", None
        if _norm(subject) not in _norm(prompt):
            return "subject not in the prompt", None
        if _norm(answer) in _norm(prompt):
            return "prompt gives the answer away", None
        if normalize_prompt(prompt) == normalize_prompt(case.prompt):
            return "repeats the edit", None
        if kind == "alias" and (_norm(answer) != _norm(case.target_new) or _norm(subject) == _norm(case.subject)):
            return "alias: not the subject's other name with the new object", None
        if kind == "inverse" and _norm(answer) != _norm(case.subject):
            return "inverse: the answer is not the subject", None
        check = None
        if item["check_prompt"].strip() and item["check_answer"].strip():
            check = Condition(item["check_prompt"].strip(), (item["check_answer"].strip(),))
        elif kind == "one_hop":
            return "one_hop: no check", None
        target = case.target_new if kind == "alias" else case.subject if kind == "inverse" else answer
        return None, (ClosureFact(kind, prompt, as_written(prompt, subject), target, (kind,), True), check)

    def check(self, model, tok, cases: Sequence[EditCase], progress: str | None = None) -> None:
        """Ask the LLM about every case (``concurrency`` calls at once; cached replies are free), then keep
        the facts whose check the unedited ``model`` passes."""
        from .eval.asking import conditions_pass

        cases = [c for c in cases if c.case_id not in self.facts]
        proposed = dict(zip((c.case_id for c in cases), self.each(self.propose, cases)))
        checks = list(dict.fromkeys(ch for facts in proposed.values() for _, ch in facts if ch is not None))
        known = dict(zip(checks, conditions_pass(model, tok, checks, progress=progress))) if checks else {}
        for cid, facts in proposed.items():
            kept = [f for f, ch in facts if ch is None or known[ch]]
            self.counts["dropped: the base model fails its check"] += len(facts) - len(kept)
            self.counts["kept"] += len(kept)
            self.facts[cid] = kept

    def __call__(self, case: EditCase) -> list[ClosureFact]:
        if case.case_id not in self.facts:
            raise RuntimeError(f"LLMClosure.check was not run for case {case.case_id}")
        facts = self.facts[case.case_id]
        check_consistent(case, facts)
        return facts

    def figures(self) -> dict[str, Any]:
        out = super().figures()
        out["facts"] = dict(sorted(self.counts.items()))
        return out
