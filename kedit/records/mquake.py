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
  edit call (a batch for editors that batch; one after another, undone in reverse, for the others); each
  keeps its ``relation_id``;
* each rewrite's cloze -> ``reliability`` (foil its target_true) and its ``question`` -> ``generalization``;
* the three ``questions`` -> ``one_hop`` probes (answers new_answer and its aliases, foil the old answer;
  MQuAKE counts a case right when any of the three is: each probe's provenance says ``any_of``); their
  conditions are the new chain's hops that no rewrite writes (``new_single_hops``: the unedited model must
  know them, or the question is not executed);
* the same ``questions`` -> ``one_hop_unedited`` probes (answers ``answer`` and its aliases, foil new_answer;
  conditions: every hop of the old chain, ``single_hops``): MQuAKE-Remastered's unedited accuracy, asked while
  other cases' edits are in the model and this case's are not (``kedit.eval.modes`` says when);
* each multi-hop probe's provenance carries its ``chain``, ``[subject, relation id, object]`` per hop (the new
  chain for ``one_hop``, the old one for ``one_hop_unedited``, from the triples' labels and ids), so that a
  question whose chain another case's edit rewrites (same subject and relation, another object) is not
  counted: MQuAKE-Remastered's contamination mask;
* ``single_hops`` that neither a rewrite nor the new chain touches (the old chain's later facts, still true)
  -> ``locality`` (``keep``); every other field stays in the case's provenance (``source_extra``).

``mquake-remastered`` (MQuAKE with its errors corrected: Zhong et al., ICLR 2025, "MQuAKE-Remastered: Multi-Hop
Knowledge Editing Can Only Be Advanced with Reliable Evaluations"; henryzhongsc/MQuAKE-Remastered, the records its loader ``eval/mquake_remastered/mquake_dataset.py`` and its
``data_utils.py`` read): the same mapping, where the format differs: each rewrite's ``target_new_str`` /
``target_true_str`` (flat strings), the triples at the top level (``orig_triples``, ``orig_triples_labeled``,
``new_triples``, ``new_triples_labeled``) and ``split`` (per number of edited cases, whether this case is
edited), which stays in the provenance: a kedit run edits every case it evaluates and asks each case's
unedited questions under the other cases' edits.
"""

from __future__ import annotations

from .readers import _reader, _Source


def _is_remastered(r) -> bool:
    rw = r.get("requested_rewrite") if isinstance(r, dict) else None
    return (isinstance(rw, list) and "new_single_hops" in r
            and ("orig_triples" in r or any(isinstance(e, dict) and "target_new_str" in e for e in rw)))


def _is_mquake(r) -> bool:
    return isinstance(r, dict) and isinstance(r.get("requested_rewrite"), list) and "new_single_hops" in r \
        and not _is_remastered(r)


def _str(src: _Source, d: dict, key: str, where: str) -> str:
    """MQuAKE's ``{str, id}`` object, or MQuAKE-Remastered's flat ``<key>_str``."""
    if f"{key}_str" in d and key not in d:
        return src.text(d, f"{key}_str", where)
    v = d.get(key)
    return src.text(v, "str", f"{where}{key}.") if isinstance(v, dict) else src.text(d, key, where)


def _hops(src: _Source, rec: dict, key: str) -> list[tuple[str, list[str]]]:
    return [(src.text(h, "cloze", w), [src.text(h, "answer", w), *(src.texts(h, "answer_alias", w, required=False) or ())])
            for w, h in src.objects(rec, key, "{question, cloze, answer, answer_alias}")]


def _chain(src: _Source, rec: dict, name: str) -> list[list[str]] | None:
    """``[subject, relation id, object]`` per hop of the ``triples`` (old chain) or ``new_triples``, from
    ``orig.<name>`` (MQuAKE) or ``orig_<name>`` / ``<name>`` (Remastered); None where the record has none."""
    orig = rec.get("orig")
    if isinstance(orig, dict) and name in orig:
        box, ids_key, where = orig, name, "orig."
    else:
        box, ids_key, where = rec, "orig_triples" if name == "triples" else name, ""
    ids, labels = box.get(ids_key), box.get(ids_key + "_labeled")
    if ids is None or labels is None:
        return None
    if not isinstance(ids, list) or not isinstance(labels, list) or len(ids) != len(labels):
        raise src.fail(where + ids_key, f"expected a list of triples, one per entry of {ids_key}_labeled")
    out = []
    for k, (t, lab) in enumerate(zip(ids, labels)):
        for key, v in ((ids_key, t), (ids_key + "_labeled", lab)):
            if not isinstance(v, list) or len(v) != 3 or not all(isinstance(x, str) for x in v):
                raise src.fail(f"{where}{key}[{k}]", "expected [subject, relation, object] (three strings)")
        out.append([lab[0], t[1], lab[2]])
    return out


def _multi_hop(src: _Source, split: str, questions, answers, foil, conditions, chain) -> list[dict]:
    extra = {"any_of": "questions"} | ({"chain": chain} if chain else {})
    return [p | {"conditions": conditions, "provenance": {**p["provenance"], **extra}}
            for p in src.probes(split, questions, answers, "questions", foil=foil)]


_KNOWN = {"case_id", "requested_rewrite", "questions", "answer", "answer_alias", "new_answer", "new_answer_alias",
          "single_hops", "new_single_hops"}


def _convert(rec: dict, src: _Source) -> dict:
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
    new_hops, old_hops = _hops(src, rec, "new_single_hops"), _hops(src, rec, "single_hops")
    questions = src.texts(rec, "questions")
    new_answers = [src.text(rec, "new_answer"), *(src.texts(rec, "new_answer_alias", required=False) or ())]
    old = src.text(rec, "answer", required=False)
    probes += _multi_hop(src, "one_hop", questions, new_answers, old, [{"prompt": c, "answers": a} for c, a in new_hops
                                                                       if c not in written], _chain(src, rec, "new_triples"))
    if old is not None:
        old_answers = [old, *(src.texts(rec, "answer_alias", required=False) or ())]
        probes += _multi_hop(src, "one_hop_unedited", questions, old_answers, new_answers[0],
                             [{"prompt": c, "answers": a} for c, a in old_hops], _chain(src, rec, "triples"))
    new_clozes = {c for c, _ in new_hops}
    for c, a in old_hops:
        if c not in written and c not in new_clozes:
            probes += src.probes("locality", [c], a, "single_hops")
    first = edits[0]
    return {"subject": first["subject"], "relation": {"id": first["relation"] or "mquake", "template": first["template"]},
            "target_true": first["target_true"], "target_new": first["target_new"], "prompt": first["prompt"], "probes": probes,
            "more_edits": [{"prompt": e["prompt"], "subject": e["subject"], "target_new": e["target_new"],
                            "target_true": e["target_true"]} | ({"relation": e["relation"]} if e["relation"] else {})
                           for e in edits[1:]]}


@_reader("mquake", _is_mquake, _KNOWN)
def _mquake(rec: dict, src: _Source) -> dict:
    """MQuAKE JSON (MQuAKE-CF-3k(-v2), MQuAKE-CF, MQuAKE-T): several edits and multi-hop questions per case."""
    return _convert(rec, src)


@_reader("mquake-remastered", _is_remastered, _KNOWN)
def _mquake_remastered(rec: dict, src: _Source) -> dict:
    """MQuAKE-Remastered JSON (CF-3k, CF-9k, CF-6334, T corrected): MQuAKE with flat target strings and top-level triples."""
    return _convert(rec, src)
