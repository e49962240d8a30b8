"""EditCase / Probe: the records every stage of kedit reads and writes.

One case per JSON line, tagged ``"schema": "kedit.case/1"``. A probe is one question asked of the
edited model; its ``expect`` says whether it is scored against its gold answers (``new``: the edit,
or for ``one_hop_unedited`` the original answer) or against the unedited model's behaviour
(``keep``). A probe's ``conditions`` are prerequisite queries that the *unedited* model must answer
correctly; a probe whose conditions fail is not executed and is counted apart
from pass and fail.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA = "kedit.case/1"

# split -> (group, default expectation)
SPLITS: dict[str, tuple[str, str]] = {
    "reliability": ("base", "new"),
    "generalization": ("base", "new"),
    "locality": ("base", "keep"),
    "subject_replace": ("portability", "new"),
    "reverse_relation": ("portability", "new"),
    "one_hop": ("portability", "new"),
    # a case's multi-hop question with its original answer, asked while other cases' edits are in the model and
    # its own are not (MQuAKE-Remastered's unedited accuracy; kedit.eval.modes says when it is asked)
    "one_hop_unedited": ("locality", "new"),
    "other_relation": ("locality", "keep"),
    "distract_neighbor": ("locality", "keep"),
    "commonsense": ("locality", "keep"),
}
EXPECTS = ("new", "keep")
# splits that need a multi-hop question's old chain: the readers of the field's benchmarks and the kg backend
# make them; the LLM backend and the bundled demo benchmark have none
CHAIN_SPLITS = ("one_hop_unedited",)


@dataclass(frozen=True)
class Relation:
    id: str
    template: str = ""  # cloze with "{}" for the subject, e.g. "The capital of {} is"


@dataclass(frozen=True)
class Condition:
    """A prerequisite fact the unedited model must know, e.g. (Japan, capital, Tokyo) for a one-hop probe."""

    prompt: str
    answers: tuple[str, ...]
    triple: tuple[str, str, str] | None = None


@dataclass(frozen=True)
class Probe:
    split: str
    prompt: str
    answers: tuple[str, ...]  # gold answer first, then aliases; for commonsense the right choice
    expect: str = "new"
    foil: str | None = None  # competing answer for the p(answer) > p(foil) comparison
    choices: tuple[str, ...] | None = None  # multiple-choice options (commonsense)
    conditions: tuple[Condition, ...] = ()
    provenance: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def group(self) -> str:
        return SPLITS[self.split][0]


@dataclass(frozen=True)
class Edit:
    """A further fact a case writes together with its own edit (MQuAKE's several requested rewrites)."""

    prompt: str  # contains the subject
    subject: str
    target_new: str
    target_true: str | None = None
    relation: str | None = None  # the relation's id (MQuAKE's relation_id), where the source names it


@dataclass(frozen=True)
class EditCase:
    case_id: str
    subject: str
    relation: Relation
    target_true: str
    target_new: str
    prompt: str  # the edit prompt; contains the subject
    probes: tuple[Probe, ...] = ()
    more_edits: tuple[Edit, ...] = ()  # written in the same edit call as the case's own (a batch for every editor)
    provenance: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def probes_of(self, split: str) -> list[Probe]:
        return [p for p in self.probes if p.split == split]

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d = {"schema": SCHEMA, **d}
        if not d["more_edits"]:
            del d["more_edits"]
        for e in d.get("more_edits", ()):
            for k in ("target_true", "relation"):
                if e[k] is None:
                    del e[k]
        for p in d["probes"]:
            if p["choices"] is None:
                del p["choices"]
            if p["foil"] is None:
                del p["foil"]
            for c in p["conditions"]:
                if c["triple"] is None:
                    del c["triple"]
        return d
