"""Records -> Label Studio tasks: one task per probe, with a stable id kept in the task's data.

Pushed splits (``PUSH_SPLITS``) are the ones a generator writes: generalization, locality and the
portability and fine-grained locality splits. ``reliability`` is the edit prompt itself and
``commonsense`` is an existing multiple-choice benchmark; neither needs a human check, so neither is
pushed (``--splits`` changes that).

The task id (``kedit_id``) is a hash of (case_id, split, prompt, answers): the same probe always
gets the same id, a corrected or regenerated probe gets a new one. Label Studio does not
deduplicate imports, so ``push`` lists the ids already in the project and imports only new ones.
"""

from __future__ import annotations

import hashlib
import json
from typing import Iterable, Sequence

from ..records.schema import EditCase, Probe

PUSH_SPLITS = ("generalization", "locality", "subject_replace", "reverse_relation", "one_hop", "other_relation",
               "distract_neighbor")
ID_FIELD = "kedit_id"

_EXPECT_TEXT = {"new": "must show the edit", "keep": "must keep the unedited answer"}


def probe_key(case_id: str, split: str, prompt: str, answers: Sequence[str]) -> str:
    payload = json.dumps([case_id, split, prompt, list(answers)], ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:24]


def key_of(case: EditCase, probe: Probe) -> str:
    return probe_key(case.case_id, probe.split, probe.prompt, probe.answers)


def probe_triple(case: EditCase, probe: Probe) -> tuple[str, str, str] | None:
    """The fact the annotator checks: one_hop -> its (first) condition triple; otherwise the edit's triple."""
    if probe.split == "one_hop":
        return next((c.triple for c in probe.conditions if c.triple), None)
    return (case.subject, case.relation.id, case.target_new)


def edit_text(case: EditCase) -> str:
    return f"{case.prompt} {case.target_new}   (was: {case.target_true})"


def make_task(case: EditCase, index: int, probe: Probe) -> dict:
    triple = probe_triple(case, probe)
    data = {
        ID_FIELD: key_of(case, probe),
        "case_id": case.case_id,
        "probe_index": index,
        "split": probe.split,
        "expect": probe.expect,
        "edit": edit_text(case),
        "subject": triple[0] if triple else "",
        "relation": triple[1] if triple else "",
        "object": triple[2] if triple else "",
        "triple": f"({triple[0]}, {triple[1]}, {triple[2]})" if triple else "(no triple recorded: judge the question and answer)",
        "probe": f"split: {probe.split}; {_EXPECT_TEXT.get(probe.expect, probe.expect)}",
        "question": probe.prompt,
        "answer": " | ".join(probe.answers),
        "answers": list(probe.answers),
    }
    return {"data": data}


def iter_targets(cases: Iterable[EditCase], splits: Sequence[str] = PUSH_SPLITS):
    """(case index, probe index, case, probe) of every probe to verify."""
    wanted = set(splits)
    for ci, case in enumerate(cases):
        for pi, probe in enumerate(case.probes):
            if probe.split in wanted:
                yield ci, pi, case, probe


def make_tasks(cases: Sequence[EditCase], splits: Sequence[str] = PUSH_SPLITS) -> list[dict]:
    """One task per probe of ``splits``; a probe repeated verbatim in a case gives one task."""
    tasks, seen = [], set()
    for _ci, pi, case, probe in iter_targets(cases, splits):
        task = make_task(case, pi, probe)
        if task["data"][ID_FIELD] not in seen:
            seen.add(task["data"][ID_FIELD])
            tasks.append(task)
    return tasks
