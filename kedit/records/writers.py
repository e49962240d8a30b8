"""Writers: a kedit benchmark in the field's formats, so it runs unchanged where users already are
(``kbuild export --to easyedit|knowedit``; ``--to hf`` is the Hub layout of ``kedit.builder.export``).

One JSON array, one record per case, in the shape EasyEdit's KnowEdit loader
(``easyeditor/dataset/knowedit.py``) and ``editor.edit(..., portability_inputs=..., locality_inputs=...)``
take: ``case_id, subject, prompt, target_new, ground_truth`` (the edit), ``rephrase`` (the
generalization prompts), and ``portability`` / ``locality`` objects keyed by the kind of probe, each a
list of ``{prompt, ground_truth}`` whose ground_truth lists the answer and its aliases.

* ``easyedit``: the keys are kedit's split names (``portability``: subject_replace, reverse_relation,
  one_hop; ``locality``: locality, other_relation, distract_neighbor).
* ``knowedit``: KnowEdit's names where KnowEdit has the kind (Subject_Aliasing, Reasoning,
  Relation_Specificity), kedit's split names for the rest (EasyEdit's loader reads KnowEdit's keys and
  ignores the others, so nothing is lost on the way back to kedit).

Both read back with the ``knowedit`` reader. What the formats cannot hold is counted, never dropped
silently: probe conditions and foils of portability and locality probes, multiple-choice
(commonsense) probes, the further edits of a multi-edit case (MQuAKE: the case is left out).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..atomic import atomic_open
from ..errors import KeditError
from .schema import EditCase

PORTABILITY = ("subject_replace", "reverse_relation", "one_hop")
LOCALITY = ("locality", "other_relation", "distract_neighbor")
KNOWEDIT_KEYS = {"subject_replace": "Subject_Aliasing", "one_hop": "Reasoning", "other_relation": "Relation_Specificity"}
TARGETS = ("easyedit", "knowedit")


def to_record(case: EditCase, to: str, lost: Counter) -> dict[str, Any] | None:
    """``case`` as one record of format ``to``; what it cannot carry is counted in ``lost``."""
    if case.more_edits:
        lost["cases with several edits (left out)"] += 1
        return None
    keys = KNOWEDIT_KEYS if to == "knowedit" else {}
    rec: dict[str, Any] = {"case_id": case.case_id, "subject": case.subject, "prompt": case.prompt,
                           "target_new": case.target_new, "ground_truth": case.target_true,
                           "rephrase": [p.prompt for p in case.probes_of("generalization")],
                           "portability": {}, "locality": {}}
    for p in case.probes:
        if p.split in ("reliability", "generalization"):
            if p.split == "reliability" and p.prompt != case.prompt:
                lost["reliability probes other than the edit prompt"] += 1
            continue
        group = "portability" if p.split in PORTABILITY else "locality" if p.split in LOCALITY else None
        if group is None:
            lost[f"{p.split} probes"] += 1
            continue
        if p.conditions:
            lost["probe conditions"] += len(p.conditions)
        rec[group].setdefault(keys.get(p.split, p.split), []).append({"prompt": p.prompt, "ground_truth": list(p.answers)})
    return rec


def write_cases(cases: Sequence[EditCase], path: str | Path, to: str) -> dict[str, Any]:
    """Write ``cases`` to ``path`` in format ``to`` (a JSON array); returns what was written and lost."""
    if to not in TARGETS:
        from ..errors import UnknownNameError

        raise UnknownNameError("export format", to, (*TARGETS, "hf"))
    path = Path(path)
    if path.is_dir():
        raise KeditError(f"--out {path} is a folder; --to {to} writes one JSON file (e.g. {path / 'bench.json'})")
    lost: Counter[str] = Counter()
    records = [r for r in (to_record(c, to, lost) for c in cases) if r is not None]
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(path) as fh:
        json.dump(records, fh, ensure_ascii=False, indent=1)
    kinds = Counter(k for r in records for g in ("portability", "locality") for k, v in r[g].items() for _ in v)
    return {"format": to, "cases": len(records), "probes_by_key": dict(sorted(kinds.items())), "not_carried": dict(lost)}
