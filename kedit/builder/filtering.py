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

import time
from collections import Counter, defaultdict
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import torch

from ..errors import KeditError
from ..records import Condition, EditCase, read_cases, write_jsonl
from ..records.manifest import write_manifest
from .backends import generation_failed

METRIC = "teacher_forced_exact_match_any_alias"


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="the base model: built-in name (smollm2-135m), local folder or Hub id")
    p.add_argument("--in", dest="inp", required=True, metavar="FILE", help="generated cases (kedit JSONL)")
    p.add_argument("--format", default=None, help="input format (default: detected)")
    p.add_argument("--out", required=True, metavar="FILE", help="kept cases (kedit JSONL); dropped ones go beside it")
    p.add_argument("--mark", action="store_true", help="keep dropped probes of kept cases in --out, marked, instead of moving them out")
    p.add_argument("--check-keep", action="store_true", help="also drop keep probes whose gold answer the model does not give")
    p.add_argument("--no-original-check", action="store_true", help="keep cases whose original fact the model does not know")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("-v", "--verbose", action="store_true")


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


def run(args) -> int:
    from ..eval.asking import conditions_pass
    from ..models.loading import load_model

    inp, out = Path(args.inp), Path(args.out)
    if not inp.is_file():
        raise KeditError(f"input file not found: {inp}")
    if inp.resolve() == out.resolve():
        raise KeditError("--out must differ from --in (the generated file is kept as it is)")
    cases = read_cases(inp, args.format)  # validated before anything is written
    if args.threads:
        torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    lm = load_model(args.model, device=args.device)
    load_s = time.perf_counter() - t0
    check_original = not args.no_original_check
    conds = collect(cases, check_original, args.check_keep)
    t1 = time.perf_counter()
    with torch.inference_mode():
        passed = conditions_pass(lm.model, lm.tokenizer, conds) if conds else []
    ask_s = time.perf_counter() - t1
    known = {(c.prompt, c.answers): bool(v) for c, v in zip(conds, passed)}
    stamp = {"model": lm.name, "metric": METRIC}
    kept, dropped, counts, case_counts = decide(cases, known, check_original, args.check_keep, stamp, args.mark)
    write_jsonl(kept, out)
    write_jsonl(dropped, dropped_path(out))
    figures = {"filter": {
        "model": lm.name, "model_fingerprint": lm.fingerprint, "metric": METRIC, "mode": "mark" if args.mark else "drop",
        "checks": {"original_fact": check_original, "conditions": True, "keep_answers": args.check_keep},
        "questions_asked": len(conds), "questions_known": int(sum(passed)),
        "cases": case_counts, "probes_per_split": counts,
        "seconds": {"model_load": round(load_s, 3), "scoring": round(ask_s, 3)},
        "questions_per_second": round(len(conds) / ask_s, 2) if ask_s > 0 else None,
        "dropped_file": str(dropped_path(out)),
    }}
    mp = write_manifest(out, "filter", input_path=inp, figures=figures)
    print(f"kbuild filter: {case_counts['kept']} of {case_counts['in']} cases kept -> {out} (manifest {mp.name}); "
          f"{len(conds)} questions asked of {lm.name} in {ask_s:.1f} s ({METRIC})")
    print(f"  {'split':18s} {'generated':>9s} {'kept':>6s}  dropped by reason")
    for split, v in counts.items():
        reasons = ", ".join(f"{k} {n}" for k, n in v["dropped"].items()) or "-"
        print(f"  {split:18s} {v['generated']:9d} {v['kept']:6d}  {reasons}")
    if case_counts["dropped"]:
        print("  cases dropped: " + ", ".join(f"{k} {n}" for k, n in case_counts["dropped"].items()))
    return 0
