"""``kbuild filter``: keep only what the base model's prior knowledge makes fair to test.

A one-hop probe whose prerequisite fact the unedited model does not know would measure ignorance,
not the editor. So the base model is asked, through keval's batched scorer, every probe's
conditions and each edit's original fact (prompt -> target_true or one of its aliases). The metric
is teacher-forced exact match of any alias, the same ``conditions_pass`` keval uses.

Reasons a probe or case is dropped (each recorded per probe):
- ``generation_failed``: the backend could not produce the case's probes (the raw output is kept);
- ``original_fact_unknown``: the model does not know the fact being edited (the whole case);
- ``condition_unknown``: the model fails one of the probe's conditions (which one is recorded);
- ``answer_unknown``: with ``--check-keep``, a keep probe whose gold answer the model does not give.

Dropped probes leave the output and go to ``<out stem>.dropped.jsonl`` with their reasons (a case
dropped whole goes there with all its probes). ``--mark`` keeps a dropped probe of a kept case in
the output instead, marked in ``provenance.filter``; keval then counts those whose conditions fail
as not executed. Counts per split (kept, dropped by reason) go to the manifest.
"""

from __future__ import annotations

import logging
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import KeditError
from ..records import Condition, EditCase, read_cases, write_jsonl
from ..records.manifest import write_manifest
from ..runtime import Runtime, read_device_map, resolve_device, using
from .backends import generation_failed
from .outputs import check_output, lock_for

log = logging.getLogger(__name__)
METRIC = "teacher_forced_exact_match_any_alias"


def original_fact(case: EditCase) -> Condition:
    aliases = case.provenance.get("target_true_aliases") or []
    return Condition(case.prompt, (case.target_true, *[a for a in aliases if a != case.target_true]),
                     (case.subject, case.relation.id, case.target_true))


def keep_condition(probe) -> Condition:
    return Condition(probe.prompt, probe.answers)


def collect(cases: Sequence[EditCase], check_original: bool, check_keep: bool) -> list[Condition]:
    """Every distinct condition the model is asked, in a stable order."""
    seen: dict[tuple, Condition] = {}
    for c in cases:
        if generation_failed(c):
            continue
        conds = [original_fact(c)] if check_original else []
        for p in c.probes:
            conds += list(p.conditions)
            if check_keep and p.expect == "keep" and not p.choices:
                conds.append(keep_condition(p))
        for cond in conds:
            seen.setdefault((cond.prompt, cond.answers), cond)
    return list(seen.values())


def decide(cases: Sequence[EditCase], known: dict[tuple, bool], check_original: bool, check_keep: bool, stamp: dict[str, Any],
           mark: bool = False):
    """Split every case's probes into kept and dropped; returns (kept cases, dropped cases, counts)."""
    ok = lambda cond: known[(cond.prompt, cond.answers)]  # noqa: E731
    kept_cases, dropped_cases = [], []
    counts: dict[str, Any] = defaultdict(lambda: {"generated": 0, "kept": 0, "dropped": Counter()})
    case_counts = {"in": len(cases), "kept": 0, "dropped": Counter()}
    for c in cases:
        case_reason = None
        if generation_failed(c):
            case_reason = "generation_failed"
        elif check_original and not ok(original_fact(c)):
            case_reason = "original_fact_unknown"
        kept, dropped = [], []
        for p in c.probes:
            counts[p.split]["generated"] += 1
            reason, detail = case_reason, None
            if reason is None:
                bad = [cond for cond in p.conditions if not ok(cond)]
                if bad:
                    reason, detail = "condition_unknown", {"prompt": bad[0].prompt, "answers": list(bad[0].answers),
                                                           "triple": list(bad[0].triple) if bad[0].triple else None}
                elif check_keep and p.expect == "keep" and not p.choices and not ok(keep_condition(p)):
                    reason = "answer_unknown"
            verdict = {**stamp, "passed": reason is None}
            if reason:
                verdict["reason"] = reason
                if detail:
                    verdict["failed_condition"] = detail
                counts[p.split]["dropped"][reason] += 1
                dropped.append(replace(p, provenance={**p.provenance, "filter": verdict}))
            else:
                counts[p.split]["kept"] += 1
                kept.append(replace(p, provenance={**p.provenance, "filter": verdict}))
        if case_reason:
            case_counts["dropped"][case_reason] += 1
        else:
            case_counts["kept"] += 1
        case_prov = {**c.provenance, "filter": {**stamp, "passed": case_reason is None, **({"reason": case_reason} if case_reason else {})}}
        if case_reason is None:
            # --mark: the probe-level drops stay, marked; keval counts those as not executed
            kept_cases.append(replace(c, probes=tuple(kept + (dropped if mark else [])), provenance=case_prov))
            if dropped and not mark:
                dropped_cases.append(replace(c, probes=tuple(dropped), provenance=case_prov))
        else:
            dropped_cases.append(replace(c, probes=tuple(kept + dropped), provenance=case_prov))
    tidy = {s: {"generated": v["generated"], "kept": v["kept"], "dropped": dict(sorted(v["dropped"].items()))}
            for s, v in sorted(counts.items())}
    case_counts["dropped"] = dict(case_counts["dropped"])
    return kept_cases, dropped_cases, tidy, case_counts


def dropped_path(out: Path) -> Path:
    return out.with_name(out.stem + ".dropped.jsonl")


@dataclass(frozen=True)
class FilterResult:
    """What ``filter_cases`` kept and dropped (each probe's verdict in ``provenance.filter``), the
    counts per split and per case, and the files written (none for an in-memory run)."""

    kept: list[EditCase]
    dropped: list[EditCase]
    figures: dict[str, Any]
    out: Path | None = None
    manifest: Path | None = None

    @property
    def probes_per_split(self) -> dict[str, Any]:
        return self.figures["filter"]["probes_per_split"]


def filter_cases(cases: Sequence[EditCase] | str | Path, model: str | torch.nn.Module = "smollm2-135m", tok=None, *,
                 out: str | Path | None = None, fmt: str | None = None, mark: bool = False, check_keep: bool = False,
                 check_original: bool = True, device: str = "cpu", overwrite: bool = False,
                 progress: bool = False, runtime: Runtime | None = None) -> FilterResult:
    """Keep the probes whose prerequisite facts the base model knows (see the module docs).

    ``cases``: EditCases or a file; ``model``: a name ``load_model`` knows, or a loaded model with
    its ``tok``. With ``out`` the kept cases go there, the dropped ones beside it
    (``<stem>.dropped.jsonl``), with a manifest; an existing ``out`` that this stage did not write
    is refused unless ``overwrite``. ``runtime`` (``kedit.runtime.Runtime``: device, dtype, device map,
    batch budget) replaces ``device`` when given.
    """
    rt = runtime or Runtime(device)
    if isinstance(model, str):  # a GPU asked for where none is, or a missing map file, fails before any work
        rt = replace(rt, device=resolve_device(rt.device), device_map=read_device_map(rt.device_map))
    elif runtime is None:  # a loaded model: its own device
        rt = Runtime(str(next(model.parameters()).device))
    inp = None
    if isinstance(cases, (str, Path)):
        inp = Path(cases)
        if not inp.is_file():
            raise KeditError(f"input file not found: {inp}")
        cases = read_cases(inp, fmt)  # validated before anything is written
    cases = list(cases)
    if out is not None:
        out = Path(out)
        with lock_for(out):
            check_output(out, "filter", inputs=[inp] if inp else [], overwrite=overwrite)
            return _filter(cases, model, tok, inp, out, mark, check_keep, check_original, rt, progress)
    return _filter(cases, model, tok, inp, None, mark, check_keep, check_original, rt, progress)


def _filter(cases: list[EditCase], model, tok, inp: Path | None, out: Path | None, mark: bool, check_keep: bool,
            check_original: bool, rt: Runtime, progress: bool) -> FilterResult:
    from ..eval.asking import conditions_pass
    from ..models.loading import fingerprint_of, load_model

    t0 = time.perf_counter()
    if isinstance(model, str):
        lm = load_model(model, dtype=rt.torch_dtype, device=rt.device, device_map=rt.device_map)
        model, tok, name, fingerprint = lm.model, lm.tokenizer, lm.name, lm.fingerprint
    else:
        if tok is None:
            raise KeditError("filter_cases: pass the tokenizer with a loaded model (tok=...)")
        name = getattr(getattr(model, "config", None), "name_or_path", "") or type(model).__name__
        fingerprint = fingerprint_of(model)
    load_s = time.perf_counter() - t0
    conds = collect(cases, check_original, check_keep)
    t1 = time.perf_counter()
    with torch.inference_mode(), using(rt.resolved(model)):
        passed = conditions_pass(model, tok, conds, progress="filter" if progress else None) if conds else []
    ask_s = time.perf_counter() - t1
    known = {(c.prompt, c.answers): bool(v) for c, v in zip(conds, passed)}
    stamp = {"model": name, "metric": METRIC}
    kept, dropped, counts, case_counts = decide(cases, known, check_original, check_keep, stamp, mark)
    figures = {"filter": {
        "model": name, "model_fingerprint": fingerprint, "metric": METRIC, "mode": "mark" if mark else "drop",
        "checks": {"original_fact": check_original, "conditions": True, "keep_answers": check_keep},
        "questions_asked": len(conds), "questions_known": int(sum(passed)),
        "cases": case_counts, "probes_per_split": counts,
        "seconds": {"model_load": round(load_s, 3), "scoring": round(ask_s, 3)},
        "questions_per_second": round(len(conds) / ask_s, 2) if ask_s > 0 else None,
        "dropped_file": str(dropped_path(out)) if out is not None else None,
    }}
    mp = None
    if out is not None:
        write_jsonl(kept, out)
        write_jsonl(dropped, dropped_path(out))
        mp = write_manifest(out, "filter", input_path=inp, figures=figures)
    log.info("filter: %d of %d cases kept; %d questions asked of %s in %.1f s", case_counts["kept"], case_counts["in"],
             len(conds), name, ask_s)
    return FilterResult(kept, dropped, figures, out, mp)
