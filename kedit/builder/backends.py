"""The generation backend contract and the probe helpers every backend uses.

A backend turns one edit record into the same record with candidate probes added. The driver
(``kedit.builder.generate``) reads the seeds, calls ``expand`` on each case (in a thread pool of
``--concurrency`` workers), writes finished cases as they complete so a killed run can resume,
adds what needs no backend (reliability from the edit prompt, distract_neighbor from other cases,
commonsense items from data/commonsense/) and writes the manifest from ``figures()``.

A backend must never drop a case: when it cannot produce probes (e.g. an LLM reply that does not
parse) it returns the case with ``provenance["generation"] = {"status": "failed", "error": ..., "raw": ...}``
and the driver counts it; ``kbuild filter`` then drops it with that reason.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Iterable, Protocol, Sequence, runtime_checkable

from ..records import SPLITS, Condition, EditCase, Probe
from ..registry import Registry

GENERATED_SPLITS = ("generalization", "locality", "subject_replace", "reverse_relation", "one_hop", "other_relation")


@runtime_checkable
class Backend(Protocol):
    """What ``kbuild generate`` needs of a backend. Register the class with ``@BACKENDS.register(name)``
    (or the ``kedit.backends`` entry-point group); the Python API builds it with keyword options
    (``kedit.generate(seeds, backend="kg", kg="my_kg/")``), the CLI through ``add_arguments`` and
    ``from_args``."""

    name: str

    @classmethod
    def add_arguments(cls, parser) -> None:
        """Its own CLI options, in an argument group named after it (``parser.add_argument_group``)."""

    @classmethod
    def from_args(cls, args) -> "Backend":
        """The backend built from the parsed ``kbuild generate`` arguments."""

    def prepare(self, cases: Sequence[EditCase]) -> None:
        """Called once with all seeds before any ``expand`` (e.g. to index them)."""

    def plan(self, cases: Sequence[EditCase]) -> dict[str, Any]:
        """What a run would do, without doing it (``--dry-run``): {"calls": n, "estimated_cost_usd": x, ...}."""

    def expand(self, case: EditCase) -> EditCase:
        """The case with probes added; thread-safe. Raises KeditError only for a whole-run problem."""

    def figures(self) -> dict[str, Any]:
        """Figures for the manifest: generator, model, prompt versions, calls, tokens, cost, failures."""


BACKENDS: Registry[type] = Registry("generation backend", "Pass one of them with --backend.", entry_points="kedit.backends")


def make_probe(split: str, prompt: str, answers: Iterable[str], *, expect: str | None = None, foil: str | None = None,
               conditions: Iterable[Condition] = (), provenance: dict[str, Any] | None = None) -> Probe:
    """A probe with the split's default expectation; answers deduplicated in order (gold first)."""
    seen: list[str] = []
    for a in answers:
        a = a.strip()
        if a and a not in seen:
            seen.append(a)
    if not seen:
        raise ValueError(f"a {split} probe needs at least one answer")
    return Probe(split=split, prompt=prompt.strip(), answers=tuple(seen), expect=expect or SPLITS[split][1], foil=foil,
                 conditions=tuple(conditions), provenance=dict(provenance or {}))


def with_probes(case: EditCase, probes: Iterable[Probe], provenance: dict[str, Any] | None = None) -> EditCase:
    """The case with ``probes`` appended (exact duplicates of existing prompts in the same split skipped)."""
    have = {(p.split, p.prompt) for p in case.probes}
    added = []
    for p in probes:
        if (p.split, p.prompt) not in have:
            have.add((p.split, p.prompt))
            added.append(p)
    prov = {**case.provenance, **(provenance or {})}
    return replace(case, probes=case.probes + tuple(added), provenance=prov)


def failed(case: EditCase, error: str, raw: str | None = None, **extra: Any) -> EditCase:
    """The case marked as failed by its backend; the raw output and the error are kept."""
    gen = {"status": "failed", "error": error, "raw": raw, **extra}
    return replace(case, provenance={**case.provenance, "generation": gen})


def generation_failed(case: EditCase) -> bool:
    return (case.provenance.get("generation") or {}).get("status") == "failed"
