"""Training edits for the editors that learn to edit (MEND, KE, SERAC), made from any edit file.

A ``TrainEdit`` is one edit request with the prompts it must reach (its generalization probes, the
paraphrases: MEND's "equivalence neighbourhood") and the prompts it must leave alone (its locality
probes; the offline Wikipedia sample's texts where a case has none). ``split_by_subject`` holds out
a validation set with no subject in common with the training set, and ``bench_overlap`` names the
subjects a training file shares with a benchmark (training on them would leak the evaluation).
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ...errors import KeditError
from ..base import EditRequest

MIN_EDITS = 8  # fewer training edits cannot hold out a validation set worth the name


@dataclass(frozen=True)
class TrainEdit:
    request: EditRequest
    equivalent: tuple[str, ...]  # prompts that must answer target_new too (paraphrases)
    unrelated: tuple[str, ...]  # prompts whose predictions must not move (locality)

    @property
    def subject(self) -> str:
        return self.request.subject


def train_edits(cases: Sequence, fallback_unrelated: Sequence[str] = ()) -> list[TrainEdit]:
    """One ``TrainEdit`` per ``EditCase``; a case without locality probes gets two of
    ``fallback_unrelated`` (chosen by its index, so the choice is reproducible)."""
    out = []
    for i, c in enumerate(cases):
        eq = tuple(dict.fromkeys(p.prompt for p in c.probes if p.split == "generalization" and p.prompt != c.prompt))
        loc = tuple(dict.fromkeys(f"{p.prompt} {p.answers[0]}" for p in c.probes if p.split == "locality" and p.answers))
        if not loc and fallback_unrelated:
            loc = tuple(fallback_unrelated[(2 * i + j) % len(fallback_unrelated)] for j in range(2))
        out.append(TrainEdit(EditRequest(c.prompt, c.subject, c.target_new, c.target_true, c.case_id), eq, loc))
    return out


def read_train_file(path: str | Path, fmt: str | None = None, fallback_unrelated: Sequence[str] = ()) -> list[TrainEdit]:
    from ...records import read_cases

    edits = train_edits(read_cases(path, fmt), fallback_unrelated)
    if len(edits) < MIN_EDITS:
        raise KeditError(f"{path}: {len(edits)} edit(s) is too few to train on (at least {MIN_EDITS}); make more with "
                         "`kbuild generate --backend kg --in data/kg/seeds.jsonl --out train.jsonl`")
    return edits


def split_by_subject(edits: Sequence[TrainEdit], val_fraction: float, seed: int) -> tuple[list[TrainEdit], list[TrainEdit]]:
    """(train, validation): whole subjects go to one side, about ``val_fraction`` of the edits to validation."""
    if not 0 < val_fraction < 1:
        raise KeditError(f"the validation fraction must be in (0, 1), got {val_fraction}")
    subjects = sorted({e.subject for e in edits})
    if len(subjects) < 2:
        raise KeditError("the training edits name one subject only; a validation split needs at least two")
    random.Random(seed).shuffle(subjects)
    n_val = min(len(subjects) - 1, max(1, round(val_fraction * len(subjects))))
    held = set(subjects[:n_val])
    return [e for e in edits if e.subject not in held], [e for e in edits if e.subject in held]


def bench_overlap(edits: Sequence[TrainEdit], bench_cases: Sequence) -> list[str]:
    """Subjects (case-folded) that the training edits share with a benchmark's cases."""
    bench = {c.subject.casefold() for c in bench_cases}
    return sorted({e.subject.casefold() for e in edits} & bench)


def drop_subjects(edits: Sequence[TrainEdit], subjects: Sequence[str]) -> list[TrainEdit]:
    gone = {s.casefold() for s in subjects}
    return [e for e in edits if e.subject.casefold() not in gone]


def edits_digest(edits: Sequence[TrainEdit]) -> str:
    """A hash of exactly what is trained on (the manifest's data hash; resume refuses other data)."""
    h = hashlib.sha256()
    for e in edits:
        r = e.request
        h.update("\x1f".join([r.prompt, r.subject, r.target_new, *e.equivalent, "\x1e", *e.unrelated]).encode())
        h.update(b"\n")
    return h.hexdigest()
