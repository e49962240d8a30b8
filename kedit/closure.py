"""Closure editing: write an edit together with the facts it entails, so that what follows from it
follows in the model too (the seed's conclusion: editors fail at portability because they write one
fact and leave its consequences untouched).

For an edit (s, r, o → o*) and a knowledge graph (the ``kg`` backend's folder format), the closure
at depth d ≥ 1 is:

* ``alias``: the edit under each alias of s that names s alone: (s', r, o*), r's template;
* ``inverse``: (o*, r⁻¹, s) where r's inverse relation is functional (o*'s r⁻¹ is now s);
* ``one_hop``: for each path o* →r₂→ a₁ →r₃→ … of at most d hops, the composed fact
  "r_k's template about r_{k-1}'s phrase of … r's phrase of s" → a_k, e.g. "The currency of the
  country of citizenship of X is" → the currency of o*'s country (each relation on the way but the
  last needs a ``phrase``; a hop straight back along an inverse is skipped).

Depth 0 is the identity (no closure). Each fact is written in one phrasing: its relation's first
paraphrase (``phrasing="paraphrase"``, the default; the template where a relation has none), so the
probes the ``kg`` backend builds from the templates stay held out, or its template
(``phrasing="template"``). A probe whose prompt is a written one is reported as ``written`` by the
evaluator, not as portability: the portability figures count only phrasings the closure did not write.

A closure may not contradict itself or the edit: the same prompt with two targets where a
functional relation is concerned, or the same subject and functional relation path with two
objects, is a ``ClosureError`` naming both facts. Along a path with a non-functional relation
("One of the cities of the country of X is") one of the true answers is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .builder.kg import KnowledgeGraph, fill
from .editors.base import EditRequest
from .errors import KeditError
from .records import EditCase

KINDS = ("alias", "inverse", "one_hop")


class ClosureError(KeditError):
    """Two closure facts (or a closure fact and the edit) that cannot both be true."""


@dataclass(frozen=True)
class ClosureFact:
    kind: str  # one of KINDS
    prompt: str  # the cloze written, the subject in it
    subject: str  # the subject as the prompt spells it (the lookup token of locate-then-edit editors)
    target: str  # the object the prompt must now continue with
    path: tuple[str, ...]  # relation ids from the subject to the target ("lives_in", "located_in")
    functional: bool  # every relation of the path is functional: one target only

    def request(self, case_id: str) -> EditRequest:
        return EditRequest(self.prompt, self.subject, self.target, None, f"{case_id}#closure-{self.kind}")


PHRASINGS = ("paraphrase", "template")


def kg_closure(kg: KnowledgeGraph, case: EditCase, depth: int = 1, phrasing: str = "paraphrase") -> list[ClosureFact]:
    """The closure of ``case``'s edit in ``kg`` (see the module docs); empty when the KG does not
    know the edit's relation or new object."""
    if depth < 0:
        raise KeditError(f"the closure depth must be 0 or more, got {depth}")
    if phrasing not in PHRASINGS:
        raise KeditError(f"the closure phrasing must be one of {', '.join(PHRASINGS)}, not {phrasing!r}")

    def cloze(rel) -> str:
        return rel.paraphrases[0] if phrasing == "paraphrase" and rel.paraphrases else rel.template

    if depth == 0:
        return []
    s, r, _o, o_new = kg.resolve_edit(case)
    if r is None:
        return []
    rel = kg.relations[r]
    name = lambda e: kg.entities[e].name  # noqa: E731
    facts: list[ClosureFact] = []
    if s:
        for alias in kg.unique_aliases(s, case.subject):
            p = fill(cloze(rel), alias)
            facts.append(ClosureFact("alias", p, as_written(p, alias), case.target_new, (r,), rel.functional))
    inv = kg.relations.get(rel.inverse) if rel.inverse else None
    if inv and inv.functional and o_new:
        p = fill(cloze(inv), name(o_new))
        facts.append(ClosureFact("inverse", p, as_written(p, name(o_new)), case.subject, (inv.id,), True))
    if o_new and rel.phrase:
        frontier = [(o_new, rel.phrase.format(case.subject), (r,), s)]  # (entity reached, its phrase, path, previous)
        seen: set[str] = set()
        for _ in range(depth):
            nxt = []
            for ent, phrase, path, prev in frontier:
                back = kg.relations[path[-1]].inverse
                for r2, a, _src in kg.out_edges.get(ent, ()):
                    if r2 == back and a == prev:
                        continue
                    rel2 = kg.relations[r2]
                    hops = path + (r2,)
                    functional = all(kg.relations[x].functional for x in hops)
                    prompt = fill(cloze(rel2), phrase)
                    if not functional and prompt in seen:  # "One of the cities of ... is": one true answer is written
                        continue
                    seen.add(prompt)
                    facts.append(ClosureFact("one_hop", prompt, case.subject, name(a), hops, functional))
                    if rel2.phrase:
                        nxt.append((a, rel2.phrase.format(phrase), hops, ent))
            frontier = nxt
    check_consistent(case, facts)
    return facts


def as_written(prompt: str, name: str) -> str:
    """``name`` as ``prompt`` spells it (``fill`` capitalises a noun phrase opening a sentence)."""
    i = prompt.lower().find(name.lower())
    return prompt[i:i + len(name)] if i >= 0 else name


def check_consistent(case: EditCase, facts: Sequence[ClosureFact]) -> None:
    """No prompt with two targets, no (subject, functional path) with two objects, the edit included."""
    # prompt -> (target, functional, description) of the first fact that writes it, the edit first
    by_prompt = {case.prompt.strip(): (case.target_new, True, f"the edit {case.prompt!r} → {case.target_new!r}")}
    by_key: dict[tuple[str, tuple[str, ...]], tuple[str, str]] = {}
    for f in facts:
        desc = f"{f.kind} fact {f.prompt!r} → {f.target!r}"
        target, functional, first = by_prompt.setdefault(f.prompt.strip(), (f.target, f.functional, desc))
        if target != f.target and (f.functional or functional):
            raise ClosureError(f"case {case.case_id}: the closure contradicts itself: {first} and {desc}")
        if f.functional:
            key = (f.subject, f.path)
            if key in by_key and by_key[key][0] != f.target:
                raise ClosureError(f"case {case.case_id}: the closure gives {f.subject!r} two objects along the functional "
                                   f"relation(s) {'∘'.join(f.path)}: {by_key[key][1]} and {desc}")
            by_key.setdefault(key, (f.target, desc))


def written_prompts(facts: Sequence[ClosureFact]) -> set[str]:
    """The prompts a closure writes, normalised as the evaluator compares them."""
    return {normalize_prompt(f.prompt) for f in facts}


def normalize_prompt(prompt: str) -> str:
    return " ".join(prompt.split()).lower()
