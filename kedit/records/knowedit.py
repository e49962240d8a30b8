"""KnowEdit (Zhang et al. 2024, "A Comprehensive Study of Knowledge Editing for Large Language Models"; the
JSON of its fact subsets WikiData_recent, WikiData_counterfact and ZsRE, as EasyEdit's
``easyeditor/dataset/knowedit.py`` and ``examples/run_knowedit_llama2.py`` read them), as kedit cases.

A record: ``subject, prompt, target_new, ground_truth`` (missing for WikiData_recent), ``rephrase`` (ZsRE),
``portability {Reasoning, Subject_Aliasing, Logical_Generalization}`` and ``locality
{Relation_Specificity, Forgetfulness}``, each a list of ``{prompt, ground_truth}`` whose ground_truth is a
string, a list of strings or a list of alias lists (flattened, the first answer first). kedit's own split
names are read as keys too (what ``kbuild export --to easyedit|knowedit`` writes).

Mapping (the source field stays in each probe's provenance, as RippleEdits' reader does):
prompt -> ``reliability`` (foil ground_truth); rephrase -> ``generalization``; Subject_Aliasing ->
``subject_replace``; Reasoning -> ``one_hop``; Relation_Specificity and Forgetfulness -> ``other_relation``
(``keep``: the subject's other facts, and its other objects of a one-to-many relation); Logical_Generalization
has no kedit split of its meaning: kept in the case's provenance (``source_unread``) and counted. Records
without ground_truth (WikiData_recent: a fact with no earlier value) are skipped and counted, since a kedit case
needs its target_true; the long-form subsets (WikiBio, ConvSent, Sanitation: ``text``/``labels``) are not
fact edits and are refused with that reason.
"""

from __future__ import annotations

from .readers import _reader, _Source

PORTABILITY = {"Subject_Aliasing": "subject_replace", "Reasoning": "one_hop",
               # kedit's split names, as ``kbuild export --to easyedit|knowedit`` writes them (kedit.records.writers)
               "subject_replace": "subject_replace", "reverse_relation": "reverse_relation", "one_hop": "one_hop"}
LOCALITY = {"Relation_Specificity": "other_relation", "Forgetfulness": "other_relation",
            "locality": "locality", "other_relation": "other_relation", "distract_neighbor": "distract_neighbor"}
UNREAD = ("Logical_Generalization",)


def _is_knowedit(r) -> bool:
    if not isinstance(r, dict):
        return False
    loc, port = r.get("locality"), r.get("portability")
    return ("target_new" in r or "labels" in r) and (
        (isinstance(loc, dict) and bool(set(loc) & set(LOCALITY))) or (isinstance(port, dict) and bool(set(port) & {*PORTABILITY, *UNREAD})))


def _entries(src: _Source, rec: dict, group: str, kinds: dict[str, str], expect: str) -> tuple[list[dict], dict]:
    """Probes of ``rec[group]`` (portability or locality), and the unread kinds."""
    block = rec.get(group)
    if block is None:
        return [], {}
    if not isinstance(block, dict):
        raise src.fail(group, "expected an object keyed by the kind of probe (e.g. Subject_Aliasing)")
    probes, unread = [], {}
    for kind, entries in block.items():
        if kind in UNREAD:
            unread[f"{group}.{kind}"] = entries
            continue
        split = kinds.get(kind)
        if split is None:
            raise src.fail(f"{group}.{kind}", f"unknown kind; KnowEdit's {group} has {', '.join(sorted([*kinds, *UNREAD]))}")
        for where, e in src.objects(block, kind, "{prompt, ground_truth}", f"{group}."):
            answers = src.answers(e, "ground_truth", where)
            for p in src.probes(split, src.texts(e, "prompt", where), answers, where + "prompt"):
                probes.append(p | {"expect": expect} | {"provenance": {**p["provenance"], "axis": kind}})
    return probes, unread


@_reader("knowedit", _is_knowedit, {"subject", "prompt", "target_new", "ground_truth", "rephrase", "portability", "locality"},
         skip_reason="without ground_truth (KnowEdit's WikiData_recent: no earlier fact, and a kedit case needs its target_true)")
def _knowedit(rec: dict, src: _Source) -> dict | None:
    """KnowEdit JSON (WikiData_recent, WikiData_counterfact, ZsRE subsets): the edit, rephrase, portability, locality."""
    if "text" in rec or "labels" in rec:
        raise src.fail("text", "a long-form KnowEdit record (WikiBio, ConvSent, Sanitation) is no fact edit; kedit reads the "
                       "fact subsets (WikiData_recent, WikiData_counterfact, ZsRE)")
    if rec.get("ground_truth") in (None, "", []):
        return None
    prompt, new = src.text(rec, "prompt"), src.answers(rec, "target_new")[0]
    true = src.answers(rec, "ground_truth")[0]
    subject = src.subject(rec, prompt, "prompt")
    probes = src.probes("reliability", [prompt], [new], "prompt", foil=true)
    probes += src.probes("generalization", src.texts(rec, "rephrase", required=False), [new], "rephrase", foil=true)
    port, unread_p = _entries(src, rec, "portability", PORTABILITY, "new")
    loc, unread_l = _entries(src, rec, "locality", LOCALITY, "keep")
    return {"subject": subject, "relation": {"id": "knowedit"}, "target_true": true, "target_new": new, "prompt": prompt,
            "probes": probes + port + loc, "source_unread": unread_p | unread_l}
