"""Typed, versioned results of a keval run: one ``CaseResult`` per (editor, mode, case).

Each line of a run's ``cases.jsonl`` is ``CaseResult.to_dict()``, tagged ``"schema":
"kedit.result/1"``: per probe its prompt, gold answers, post-edit generation and every metric
(pre and post), so why a probe failed can be read off the file; ``config.json`` is tagged ``"schema": "kedit.run/1"`` and names the kedit
version that wrote it. ``read_results`` is the one reader, for old and new runs: lines written
before the schema tag (kedit 0.1.0, same shape) read as version 1; a run written by a newer kedit
is refused with the version that wrote it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

from ..errors import KeditError, RecordError
from .metrics import MetricValue

RESULT_SCHEMA = "kedit.result/1"
RUN_SCHEMA = "kedit.run/1"
# schemas this kedit reads: None is a line or config written before results were tagged
READABLE_RESULTS = (None, RESULT_SCHEMA)
READABLE_RUNS = (None, RUN_SCHEMA)


@dataclass(frozen=True)
class ProbeResult:
    """One probe of a case after the edit: its metrics (post and the unedited model's pre), or
    ``executed=False`` when the unedited model fails its conditions."""

    index: int  # position of the probe in its case
    split: str
    expect: str
    executed: bool
    metrics: Mapping[str, MetricValue] = field(default_factory=dict)
    generated: str | None = None  # the post-edit greedy continuation
    prompt: str | None = None  # the probe's question, and its gold answer(s): why a probe failed can be read off
    answers: tuple[str, ...] = ()
    written: bool = False  # its prompt was written by an edit of the run (a closure, another case): scored, not counted
    error: str | None = None  # the editor could not put this probe to the model (the reason); not scored
    judge_reason: str | None = None  # the LLM judge's reason for its ``judge`` verdict (keval run --judge)
    of_case: str | None = None  # the case this probe is of, when not the record's own (a guest's one_hop_unedited)
    skipped: str | None = None  # why it was not asked though the unedited model passes its conditions (not executed)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"index": self.index, "split": self.split, "expect": self.expect, "executed": self.executed}
        if self.prompt is not None:
            d["prompt"], d["answers"] = self.prompt, list(self.answers)
        if self.executed:
            d["metrics"] = {m: {"pre": v.pre, "post": v.post} for m, v in self.metrics.items()}
        if self.generated is not None:
            d["generated"] = self.generated
        if self.written:
            d["written"] = True
        if self.error is not None:
            d["error"] = self.error
        if self.judge_reason is not None:
            d["judge_reason"] = self.judge_reason
        if self.of_case is not None:
            d["of_case"] = self.of_case
        if self.skipped is not None:
            d["skipped"] = self.skipped
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "ProbeResult":
        return cls(index=int(d["index"]), split=d["split"], expect=d["expect"], executed=bool(d["executed"]),
                   metrics={m: MetricValue(v["post"], v.get("pre")) for m, v in (d.get("metrics") or {}).items()},
                   generated=d.get("generated"), prompt=d.get("prompt"), answers=tuple(d.get("answers") or ()),
                   written=bool(d.get("written", False)), error=d.get("error"), judge_reason=d.get("judge_reason"),
                   of_case=d.get("of_case"), skipped=d.get("skipped"))


@dataclass(frozen=True)
class CaseResult:
    """What one editor did to one case in one mode: probe results, efficiency, or the error that
    stopped this case (``failed``) while the run went on."""

    editor: str
    mode: str
    case_id: str
    probes: tuple[ProbeResult, ...] = ()
    edit_seconds: float | None = None  # wall time per edit (a batch's time divided by its edits)
    peak_memory_bytes: int | None = None
    error: str | None = None
    batch: int | None = None  # batch mode: index and size of the batch the case was edited in
    batch_size: int | None = None
    n_edits: int | None = None  # sequential mode: edits applied when the case was scored
    closure_size: int | None = None  # facts written with the edit by a closure (None: no closure)
    edit_info: Mapping[str, Any] = field(default_factory=dict)  # the editor's own scalars (steps, losses)

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.editor, self.mode, self.case_id)

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"schema": RESULT_SCHEMA, "editor": self.editor, "mode": self.mode, "case_id": self.case_id,
                             "edit_seconds": self.edit_seconds, "peak_memory_bytes": self.peak_memory_bytes,
                             "probes": [p.to_dict() for p in self.probes]}
        for k in ("error", "batch", "batch_size", "n_edits", "closure_size"):
            if getattr(self, k) is not None:
                d[k] = getattr(self, k)
        if self.edit_info:
            d["edit_info"] = dict(self.edit_info)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "CaseResult":
        return cls(editor=d["editor"], mode=d["mode"], case_id=str(d["case_id"]),
                   probes=tuple(ProbeResult.from_dict(p) for p in d.get("probes") or ()),
                   edit_seconds=d.get("edit_seconds"), peak_memory_bytes=d.get("peak_memory_bytes"),
                   error=d.get("error"), batch=d.get("batch"), batch_size=d.get("batch_size"), n_edits=d.get("n_edits"),
                   closure_size=d.get("closure_size"),
                   edit_info=d.get("edit_info") or {})


def check_run_schema(conf: Mapping[str, Any], where: Path) -> None:
    """Refuse a run folder written by a kedit whose run schema this one does not know."""
    schema = conf.get("schema")
    if schema not in READABLE_RUNS:
        raise KeditError(f"{where} was written by kedit {conf.get('kedit', '(unknown version)')} (run schema "
                         f"'{schema}'); this kedit reads {RUN_SCHEMA}: upgrade kedit to report on it")


def read_results(path: str | Path, kedit_version: str | None = None) -> list[CaseResult]:
    """Results of a ``cases.jsonl``, the last one per (editor, mode, case) winning (a resumed run redid
    it). A line cut short by a killed run is skipped; a line of an unknown schema is an error that
    names the kedit version that wrote the run (``kedit_version``, from its config.json)."""
    path = Path(path)
    if not path.is_file():
        return []
    last: dict[tuple[str, str, str], CaseResult] = {}
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by an interrupted run
            if not isinstance(d, dict):
                raise RecordError(path, n, "<record>", "expected a JSON object (a keval case result)")
            if d.get("schema") not in READABLE_RESULTS:
                by = f"kedit {kedit_version}" if kedit_version else "another kedit"
                raise RecordError(path, n, "schema", f"'{d.get('schema')}' was written by {by}; this kedit reads "
                                  f"{RESULT_SCHEMA}: upgrade kedit to read this run")
            try:
                r = CaseResult.from_dict(d)
            except (KeyError, TypeError, ValueError, AttributeError) as e:
                raise RecordError(path, n, "<record>", f"not a keval case result ({type(e).__name__}: {e})") from None
            last[r.key] = r
    return list(last.values())


def executed_values(results: Iterable[CaseResult], split: str, metric: str) -> list[float]:
    """Post-edit values of one metric over the executed probes of one split."""
    return [p.metrics[metric].post for r in results for p in r.probes
            if p.split == split and p.executed and metric in p.metrics]


@dataclass(frozen=True)
class DecayPoint:
    """Sequential mode: the mean post-edit value of one split over the edits so far (``decay.csv``)."""

    editor: str
    n_edits: int
    split: str
    metric: str
    value: float
    n: int


DECAY_COLUMNS = ["editor", "n_edits", "split", "metric", "value", "n"]
