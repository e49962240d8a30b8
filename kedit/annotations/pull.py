"""``kbuild annotate pull``: annotations -> verdicts, agreement, adjudication and corrected records.

What happens to a probe that was pushed (its split is among the pushed ones):

- its valid annotations (not cancelled, with a verdict; the latest per annotator) are adjudicated by
  majority, a tie -> ``unsure``;
- ``incorrect`` -> removed from the verified records and written to ``<out>.rejected.jsonl`` (the same
  case schema, holding only the rejected probes) with its verdicts as provenance;
- ``unsure`` -> kept and marked (``provenance.annotation.adjudicated == "unsure"``), unless
  ``drop_unsure``: then rejected like ``incorrect``; a downstream user filters on the mark;
- ``correct`` -> kept; corrections are applied: the question / answer typed by the annotators whose
  verdict is ``correct`` (several different ones: the most frequent, a tie -> the earliest annotation;
  an answer correction ``a | b`` gives gold ``a`` and alias ``b``);
- no valid annotation -> kept unchanged, marked ``adjudicated: null`` (``drop_unannotated`` removes
  it from the verified records; it is then not written to the rejected file either, it was never judged).

Probes of splits that were not pushed (reliability, commonsense) pass through unchanged. An
annotation without a verdict, or with a value the interface does not offer, is reported for its
task and ignored; the other annotations are processed.
"""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..records.schema import EditCase, Probe
from .agreement import adjudicate, fluency_figures, kappa_of
from .config import ANSWER_FIX, FLUENCY, FLUENCY_MAX, QUESTION_FIX, VERDICT, VERDICTS
from .tasks import ID_FIELD, PUSH_SPLITS, iter_targets, key_of


@dataclass
class Judgement:
    annotator: str
    annotation_id: int
    verdict: str
    fluency: int | None
    question_fix: str | None
    answer_fix: str | None


@dataclass
class PullResult:
    cases: list[EditCase]
    rejected: list[EditCase]
    agreement: dict
    counts: dict
    problems: list[dict] = field(default_factory=list)


def _annotator(ann: dict) -> str:
    who = ann.get("completed_by")
    if isinstance(who, dict):
        who = who.get("email") or who.get("id")
    return str(who)


def _text(value: dict) -> str | None:
    t = value.get("text")
    if isinstance(t, list):
        t = "\n".join(str(x) for x in t)
    t = (t or "").strip()
    return t or None


def parse_annotation(ann: dict) -> tuple[Judgement | None, str | None]:
    """(judgement, None) or (None, the problem); a cancelled (skipped) annotation -> (None, None)."""
    if ann.get("was_cancelled"):
        return None, None
    fields: dict[str, Any] = {}
    for item in ann.get("result") or []:
        name, value = item.get("from_name"), item.get("value") or {}
        if name == VERDICT:
            choices = value.get("choices") or []
            fields[VERDICT] = choices[0] if len(choices) == 1 else choices
        elif name == FLUENCY:
            fields[FLUENCY] = value.get("rating")
        elif name in (QUESTION_FIX, ANSWER_FIX):
            fields[name] = _text(value)
    verdict = fields.get(VERDICT)
    if verdict is None or verdict == []:
        return None, f"the required field '{VERDICT}' is missing"
    if verdict not in VERDICTS:
        return None, f"'{VERDICT}' is {verdict!r}; expected one of {', '.join(VERDICTS)}"
    fluency = fields.get(FLUENCY)
    if fluency is not None and not (isinstance(fluency, (int, float)) and 1 <= fluency <= FLUENCY_MAX):
        return None, f"'{FLUENCY}' is {fluency!r}; expected 1-{FLUENCY_MAX}"
    return Judgement(_annotator(ann), int(ann.get("id") or 0), verdict, None if fluency is None else int(fluency),
                     fields.get(QUESTION_FIX), fields.get(ANSWER_FIX)), None


def _pick(values: list[tuple[int, str]]) -> str | None:
    """Most frequent correction; tie -> the earliest annotation's."""
    if not values:
        return None
    c = Counter(v for _, v in values)
    top = max(c.values())
    return min((aid, v) for aid, v in values if c[v] == top)[1]


def _split_answers(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(a.strip() for a in text.replace("\n", "|").split("|") if a.strip()))


def judgements_by_task(exported: Sequence[dict], known: set[str]) -> tuple[dict[str, list[Judgement]], list[dict]]:
    """kedit_id -> its valid judgements (latest per annotator), and the problems found on the way."""
    out: dict[str, list[Judgement]] = {}
    problems: list[dict] = []
    for task in exported:
        data = task.get("data") or {}
        kid = data.get(ID_FIELD)
        where = {"task": task.get("id"), ID_FIELD: kid, "case_id": data.get("case_id"), "split": data.get("split")}
        if kid is None:
            problems.append({**where, "problem": "task was not made by kedit (no kedit_id); ignored"})
            continue
        if kid not in known:
            if task.get("annotations"):
                problems.append({**where, "problem": "task matches no probe of the input records (was --in changed "
                                 "since push?); its annotations are ignored"})
            continue
        latest: dict[str, Judgement] = {}
        for ann in sorted(task.get("annotations") or [], key=lambda a: (a.get("updated_at") or "", a.get("id") or 0)):
            j, problem = parse_annotation(ann)
            if problem:
                problems.append({**where, "annotation": ann.get("id"), "annotator": _annotator(ann), "problem": problem})
            if j is not None:
                latest[j.annotator] = j
        out[kid] = sorted(latest.values(), key=lambda j: j.annotation_id)
    return out, problems


def apply_annotations(cases: Sequence[EditCase], exported: Sequence[dict], *, splits: Sequence[str] = PUSH_SPLITS,
                      drop_unsure: bool = False, drop_unannotated: bool = False, project: dict | None = None) -> PullResult:
    keys = {key_of(c, p) for _ci, _pi, c, p in iter_targets(cases, splits)}
    by_task, problems = judgements_by_task(exported, keys)
    counts: Counter = Counter()
    keep: dict[int, list[Probe]] = defaultdict(list)
    reject: dict[int, list[Probe]] = defaultdict(list)
    wanted = set(splits)
    for ci, case in enumerate(cases):
        for probe in case.probes:
            if probe.split not in wanted:
                keep[ci].append(probe)
                continue
            counts["probes_to_verify"] += 1
            kid = key_of(case, probe)
            js = by_task.get(kid, [])
            verdict = adjudicate(j.verdict for j in js)
            ann: dict[str, Any] = {
                ID_FIELD: kid,
                "annotators": [j.annotator for j in js],
                "verdicts": [j.verdict for j in js],
                "fluency": [j.fluency for j in js],
                "adjudicated": verdict,
                "corrected": None,
            }
            if project:
                ann["project"] = project
            new = probe
            if verdict is None:
                counts["unannotated"] += 1
            else:
                counts[verdict] += 1
            if verdict == "correct":
                fixes = [j for j in js if j.verdict == "correct"]
                q = _pick([(j.annotation_id, j.question_fix) for j in fixes if j.question_fix])
                a = _pick([(j.annotation_id, j.answer_fix) for j in fixes if j.answer_fix])
                corrected: dict[str, Any] = {}
                if q and q != probe.prompt:
                    corrected["prompt"] = {"from": probe.prompt, "to": q}
                    counts["corrected_questions"] += 1
                answers = _split_answers(a) if a else ()
                if answers and answers != probe.answers:
                    corrected["answers"] = {"from": list(probe.answers), "to": list(answers)}
                    counts["corrected_answers"] += 1
                if corrected:
                    ann["corrected"] = corrected
                    new = dataclasses.replace(probe, prompt=corrected.get("prompt", {}).get("to", probe.prompt),
                                              answers=tuple(corrected.get("answers", {}).get("to", probe.answers)))
            offered = [{"annotator": j.annotator, "question": j.question_fix, "answer": j.answer_fix}
                       for j in js if j.question_fix or j.answer_fix]
            if offered:
                ann["corrections_offered"] = offered
            new = dataclasses.replace(new, provenance={**probe.provenance, "annotation": ann})
            if verdict == "incorrect" or (verdict == "unsure" and drop_unsure):
                reject[ci].append(new)
                counts["rejected"] += 1
            elif verdict is None and drop_unannotated:
                counts["dropped_unannotated"] += 1
            else:
                keep[ci].append(new)
    out = [dataclasses.replace(c, probes=tuple(keep[ci])) for ci, c in enumerate(cases)]
    rejected = [dataclasses.replace(c, probes=tuple(reject[ci])) for ci, c in enumerate(cases) if reject[ci]]

    # agreement over tasks (a probe repeated verbatim in a case is one task)
    split_of = {key_of(c, p): p.split for _ci, _pi, c, p in iter_targets(cases, splits)}
    verdicts = {kid: {j.annotator: j.verdict for j in js} for kid, js in by_task.items() if js}
    fluency = [{j.annotator: j.fluency for j in js if j.fluency is not None} for js in by_task.values()]
    agreement = {"verdict": kappa_of(list(verdicts.values()), VERDICTS), "per_split": {}}
    for split in splits:
        items = [v for kid, v in verdicts.items() if split_of.get(kid) == split]
        if items:
            agreement["per_split"][split] = kappa_of(items, VERDICTS)
    agreement["fluency"] = fluency_figures(fluency)
    n_ann = Counter(len(js) for js in by_task.values())
    counts.update({
        "cases": len(cases),
        "probes_in": sum(len(c.probes) for c in cases),
        "probes_out": sum(len(c.probes) for c in out),
        "tasks_annotated": sum(1 for js in by_task.values() if js),
        "problems": len(problems),
    })
    counts["annotations_per_task"] = {str(k): v for k, v in sorted(n_ann.items())}
    for v in (*VERDICTS, "unannotated", "rejected", "corrected_questions", "corrected_answers"):
        counts.setdefault(v, 0)
    return PullResult(cases=out, rejected=rejected, agreement=agreement, counts=dict(counts), problems=problems)
