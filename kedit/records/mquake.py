"""MQuAKE (Zhong et al., EMNLP 2023, "MQuAKE: Assessing Knowledge Editing in Language Models via Multi-Hop
Questions"; princeton-nlp/MQuAKE ``datasets/MQuAKE-CF-3k-v2.json``, ``MQuAKE-CF.json``, ``MQuAKE-T.json``, the
format of its README), read as kedit cases.

A record: ``case_id``, ``requested_rewrite`` (one or several CounterFact-style edits ``{prompt with {},
subject, relation_id, target_new {str, id}, target_true {str, id}, question}``), ``questions`` (three
multi-hop questions), ``answer``/``answer_alias`` (before the edits), ``new_answer``/``new_answer_alias``
(after), ``single_hops`` and ``new_single_hops`` (``{question, cloze, answer, answer_alias}`` of the chain
before and after) and ``orig`` (the triples).

Mapping:

* the first requested rewrite is the case's edit; the others are its ``more_edits``, written in the same
  edit call (a batch for editors that batch; one after another, undone in reverse, for the others);
* each rewrite's cloze -> ``reliability`` (foil its target_true) and its ``question`` -> ``generalization``;
* the three ``questions`` -> ``one_hop`` probes (answers new_answer and its aliases, foil the old answer;
  MQuAKE counts a case right when any of the three is: each probe's provenance says ``any_of``); their
  conditions are the new chain's hops that no rewrite writes (``new_single_hops``: the unedited model must
  know them, or the question is not executed);
* ``single_hops`` that neither a rewrite nor the new chain touches (the old chain's later facts, still true)
  -> ``locality`` (``keep``); every other field stays in the case's provenance (``source_extra``).
"""

from __future__ import annotations

from .readers import _reader, _Source


def _is_mquake(r) -> bool:
    return isinstance(r, dict) and isinstance(r.get("requested_rewrite"), list) and "new_single_hops" in r


def _str(src: _Source, d: dict, key: str, where: str) -> str:
    v = d.get(key)
    return src.text(v, "str", f"{where}{key}.") if isinstance(v, dict) else src.text(d, key, where)


def _hops(src: _Source, rec: dict, key: str) -> list[tuple[str, list[str]]]:
    return [(src.text(h, "cloze", w), [src.text(h, "answer", w), *(src.texts(h, "answer_alias", w, required=False) or ())])
            for w, h in src.objects(rec, key, "{question, cloze, answer, answer_alias}")]


@_reader("mquake", _is_mquake, {"case_id", "requested_rewrite", "questions", "answer", "answer_alias", "new_answer",
                                "new_answer_alias", "single_hops", "new_single_hops"})
def _mquake(rec: dict, src: _Source) -> dict:
    """MQuAKE JSON (MQuAKE-CF-3k(-v2), MQuAKE-CF, MQuAKE-T): several edits and multi-hop questions per case."""
    rewrites = rec.get("requested_rewrite")
    if not isinstance(rewrites, list) or not rewrites:
        raise src.fail("requested_rewrite", "expected a non-empty list of edits {prompt, subject, target_new, target_true}")
    edits = []
    for w, rw in src.objects(rec, "requested_rewrite", "{prompt, subject, target_new, target_true}"):
        template, subject = src.text(rw, "prompt", w), src.text(rw, "subject", w)
        if "{}" not in template:
            raise src.fail(w + "prompt", f"must contain '{{}}' where the subject goes, got {template!r}")
        edits.append({"template": template, "subject": subject, "prompt": template.replace("{}", subject),
                      "target_new": _str(src, rw, "target_new", w), "target_true": _str(src, rw, "target_true", w),
                      "question": src.text(rw, "question", w, required=False), "relation": src.text(rw, "relation_id", w, required=False)})
    written = {e["prompt"] for e in edits}
    probes = []
    for k, e in enumerate(edits):
        w = f"requested_rewrite[{k}]."
        probes += src.probes("reliability", [e["prompt"]], [e["target_new"]], w + "prompt", foil=e["target_true"])
        if e["question"]:
            probes += src.probes("generalization", [e["question"]], [e["target_new"]], w + "question", foil=e["target_true"])
    new_hops = _hops(src, rec, "new_single_hops")
    conditions = [{"prompt": c, "answers": a} for c, a in new_hops if c not in written]
    answers = [src.text(rec, "new_answer"), *(src.texts(rec, "new_answer_alias", required=False) or ())]
    old = src.text(rec, "answer", required=False)
    questions = src.texts(rec, "questions")
    for p in src.probes("one_hop", questions, answers, "questions", foil=old):
        probes.append(p | {"conditions": conditions, "provenance": {**p["provenance"], "any_of": "questions"}})
    new_clozes = {c for c, _ in new_hops}
    kept = [(c, a) for c, a in _hops(src, rec, "single_hops") if c not in written and c not in new_clozes]
    for c, a in kept:
        probes += src.probes("locality", [c], a, "single_hops")
    first = edits[0]
    return {"subject": first["subject"], "relation": {"id": first["relation"] or "mquake", "template": first["template"]},
            "target_true": first["target_true"], "target_new": first["target_new"], "prompt": first["prompt"], "probes": probes,
            "more_edits": [{"prompt": e["prompt"], "subject": e["subject"], "target_new": e["target_new"],
                            "target_true": e["target_true"]} for e in edits[1:]]}
