"""RippleEdits (Cohen et al., TACL 2024, "Evaluating the Ripple Effects of Knowledge Editing in Language
Models"; edenbiran/RippleEdits ``data/benchmark/{popular,random,recent}.json``), read as kedit cases.

The format, as the authors' code writes it (``src/benchmark.py``, ``testcase.py``, ``query.py``, ``fact.py``):
a JSON array of examples ``{example_type, edit, Relation_Specificity, Logical_Generalization,
Subject_Aliasing, Compositionality_I, Compositionality_II, Forgetfulness}``. ``edit`` is a fact
``{prompt: "<relation phrase about the subject> <new target>.", subject_id, relation, target_id}`` with,
for counterfactual examples (popular, random), ``original_fact`` of the same shape. Each axis is a list
of tests ``{test_queries, test_condition: "OR"|"AND", condition_queries}``; a query is ``{prompt,
answers: [{value, aliases}], query_type: "regular"|"two_hop", subject_id, relation, target_ids, phrase}``.

Mapping (the axis, the test's index and its OR/AND rule stay in each probe's provenance):

* the edit: the subject and the new target are read off ``edit.prompt`` with the relation's phrase
  (``PHRASES``, the authors' ``relation.py``); the prompt is the phrase; target_true is the original
  fact's target; a ``reliability`` probe asks the prompt. ``recent`` examples (facts added to Wikidata
  lately) have no original fact: they are skipped and counted (a kedit case needs its target_true);
* ``Subject_Aliasing`` -> ``subject_replace``; ``Compositionality_I`` and ``Compositionality_II`` ->
  ``one_hop`` (two-hop queries through the edited fact, from the subject and towards it) -- all ``new``;
* ``Relation_Specificity`` and ``Forgetfulness`` -> ``other_relation`` (``keep``: the subject's other
  facts, and the other objects of a one-to-many relation, must not move);
* ``Logical_Generalization`` (facts implied by the relation's logic, e.g. a symmetric or inverse relation)
  has no kedit split of the same meaning: its tests are not read as probes; they are kept in the case's
  provenance (``source_unread``) and counted in a warning;
* every query of a test is one probe; answers are each target's value and aliases (the first value first);
  ``condition_queries`` become the probe's conditions (the unedited model must know them, or the probe is
  not executed: the paper's "executed tests").
"""

from __future__ import annotations

import logging
import re

from .readers import _reader, _Source

log = logging.getLogger(__name__)

# the authors' relation phrases (src/relation.py), "{}" for the subject
PHRASES: dict[str, str] = {
    "MOTHER": "The name of the mother of {} is",
    "FATHER": "The name of the father of {} is",
    "BROTHER": "The name of the brother of {} is",
    "SISTER": "The name of the sister of {} is",
    "SIBLING": "The names of the siblings of {} are",
    "SPOUSE": "The name of the spouse of {} is",
    "UNCLE": "The name of the uncle of {} is",
    "AUNT": "The name of the aunt of {} is",
    "CHILD": "The name of the child of {} is",
    "NUMBER_OF_CHILDREN": "The number of children {} has is",
    "SEX_OR_GENDER": "The gender of {} is",
    "PLACE_OF_BIRTH": "The place of birth of {} is",
    "PLACE_OF_DEATH": "The place of death of {} is",
    "PLACE_OF_BURIAL": "The place of burial of {} is",
    "COUNTRY": "The name of the country which {} is associated with is",
    "COUNTRY_OF_CITIZENSHIP": "The name of the country of citizenship of {} is",
    "POSITION_HELD": "The name of the position held by {} is",
    "STEPFATHER": "The name of the stepfather of {} is",
    "STEPMOTHER": "The name of the stepmother of {} is",
    "MEMBER_OF_SPORTS_TEAM": "The name of the sports team which {} is a member of is",
    "ALMA_MATER": "The name of the alma mater of {} is",
    "SEXUAL_ORIENTATION": "The sexual orientation of {} is",
    "OCCUPATION": "The occupation of {} is",
    "EMPLOYER": "The name of the employer of {} is",
    "LEAGUE": "The name of the league which {} plays in is",
    "FIELD_OF_WORK": "The name of the field of work of {} is",
    "NATIVE_LANGUAGE": "The mother tongue of {} is",
    "AWARD_RECEIVED": "The name of the award {} won is",
    "FOLLOWS": "{} follows",
    "FOLLOWED_BY": "{} is followed by",
    "ETHNIC_GROUP": "The name of the ethnic group which {} is associated with is",
    "RELIGION": "The name of the religion which {} is associated with is",
    "EYE_COLOR": "The eye color of {} is",
    "DATE_OF_BIRTH": "The date of birth of {} is",
    "DATE_OF_DEATH": "The date of death of {} is",
    "IS_ALIVE": "Is {} still alive?",
    "HEAD_OF_GOVERNMENT": "The name of the head of government of {} is",
    "HEAD_OF_STATE": "The name of the head of state of {} is",
    "CONTINENT": "The name of the continent which {} is part of is",
    "CAPITAL": "The name of the capital city of {} is",
    "CURRENCY": "The name of the currency in {} is",
    "OFFICIAL_LANGUAGE": "The official language of {} is",
    "ANTHEM": "The name of the anthem of {} is",
    "LIKELY_ANTHEM": "The name of the anthem that is most likely to be performed in {} is",
    "CAPITAL_OF": "The name of the country which {} is the capital of is",
    "AUTHOR": "The name of the author of {} is",
    "EDITOR": "The name of the editor of {} is",
    "DIRECTOR": "The name of the director of {} is",
    "SCREENWRITER": "The name of the screenwriter of {} is",
    "CAST_MEMBER": "The names of the cast members of {} are",
    "ARCHITECT": "The name of the architect of {} is",
    "COMPOSER": "The name of the composer of {} is",
    "FOUNDER": "The name of the founder of {} is",
}
AXES = {"Subject_Aliasing": ("subject_replace", "new"), "Compositionality_I": ("one_hop", "new"),
        "Compositionality_II": ("one_hop", "new"), "Relation_Specificity": ("other_relation", "keep"),
        "Forgetfulness": ("other_relation", "keep")}
UNMAPPED = ("Logical_Generalization",)


def _split_fact(src: _Source, fact: dict, where: str) -> tuple[str, str, str, str]:
    """(relation, prompt without the target, subject, target) of an ``edit``-shaped fact."""
    rel = src.text(fact, "relation", where)
    phrase = PHRASES.get(rel)
    if phrase is None:
        raise src.fail(where + "relation", f"unknown RippleEdits relation {rel!r}; known: {', '.join(sorted(PHRASES))}")
    text = src.text(fact, "prompt", where).strip()
    head, _, tail = phrase.partition("{}")
    m = re.fullmatch(re.escape(head) + r"(.+?)" + re.escape(tail) + r" (.+?)\.?", text)
    if not m:
        raise src.fail(where + "prompt", f"{text!r} is not the phrase of {rel} ({phrase!r}) followed by a target")
    subject, target = m.group(1), m.group(2)
    return rel, phrase.replace("{}", subject), subject, target


def _answers(src: _Source, query: dict, where: str) -> list[str]:
    raw = query.get("answers")
    if not isinstance(raw, list) or not raw:
        raise src.fail(where + "answers", "expected a non-empty list of {value, aliases}")
    out: list[str] = []
    for i, a in enumerate(raw):
        w = f"{where}answers[{i}]."
        if not isinstance(a, dict):
            raise src.fail(w[:-1], "expected an object {value, aliases}")
        out.append(src.text(a, "value", w))
        aliases = a.get("aliases", [])
        if not isinstance(aliases, list):
            raise src.fail(w + "aliases", f"expected a list of strings, got {type(aliases).__name__}")
        out += list(src.texts(a, "aliases", w, required=False) or ())
    return list(dict.fromkeys(x for x in out if x.strip()))


def _tests(src: _Source, rec: dict, axis: str) -> list[dict]:
    split, expect = AXES[axis]
    probes = []
    for t, (where, test) in enumerate(src.objects(rec, axis, "{test_queries, test_condition, condition_queries}")):
        query = "{prompt, answers, query_type, subject_id, relation, target_ids, phrase}"
        if not isinstance(test.get("test_queries"), list):
            raise src.fail(where + "test_queries", f"expected a list of queries {query}")
        conditions = [{"prompt": src.text(q, "prompt", w), "answers": _answers(src, q, w)}
                      for w, q in src.objects(test, "condition_queries", query, where)]
        for w, q in src.objects(test, "test_queries", query, where):
            probes.append({"split": split, "expect": expect, "prompt": src.text(q, "prompt", w),
                           "answers": _answers(src, q, w), "conditions": conditions,
                           "provenance": {"source_format": "rippleedits", "source_field": w + "prompt", "axis": axis,
                                          "test": t, "test_condition": test.get("test_condition", "OR"),
                                          "query_type": q.get("query_type"), "relation": q.get("relation")}})
    return probes


def _is_ripple(r) -> bool:
    return isinstance(r, dict) and isinstance(r.get("edit"), dict) and "Subject_Aliasing" in r


@_reader("rippleedits", _is_ripple, {"example_type", "edit", *AXES, *UNMAPPED},
         skip_reason="of recently added facts (recent.json): they have no original fact, and a kedit case needs its "
                     "target_true")
def _rippleedits(rec: dict, src: _Source) -> dict:
    """RippleEdits JSON (data/benchmark/{popular,random,recent}.json): the edit and its test axes."""
    edit = rec.get("edit")
    if not isinstance(edit, dict):
        raise src.fail("edit", "expected an object {prompt, subject_id, relation, target_id}")
    rel, prompt, subject, new = _split_fact(src, edit, "edit.")
    if edit.get("original_fact") is None:
        return None  # a recently added fact: nothing was true before (counted and logged by the reader)
    if not isinstance(edit["original_fact"], dict):
        raise src.fail("edit.original_fact", "expected an object {prompt, subject_id, relation, target_id}")
    true = _split_fact(src, edit["original_fact"], "edit.original_fact.")[3]
    probes = [{"split": "reliability", "prompt": prompt, "answers": [new], "foil": true,
               "provenance": {"source_format": "rippleedits", "source_field": "edit.prompt"}}]
    for axis in AXES:
        probes += _tests(src, rec, axis)
    return {"subject": subject, "relation": {"id": rel, "template": PHRASES[rel]}, "target_true": true,
            "target_new": new, "prompt": prompt, "probes": probes, "source_unread": {k: rec.get(k) for k in UNMAPPED}}
