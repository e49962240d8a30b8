"""``kbuild generate``: turn edit records into cases with candidate probes for every split.

The driver reads the seeds (any format ``read_cases`` knows; all are validated before anything is
written), asks the backend to expand each case in a pool of ``--concurrency`` threads, and appends
each finished case to ``--out`` at once, so a killed run keeps its work and a rerun continues with
the cases not yet written. When every case is done the file is rewritten in seed order and the
manifest is written beside it.

What needs no backend is added here, the same for every backend:
- ``reliability``: the edit prompt with the new target (foil: the old one), if the seed has none;
- ``distract_neighbor``: the edit sentence followed by another case's prompt, whose answer must stay
  the other case's own (``expect: keep``);
- ``commonsense``: one two-choice item per case from ``data/commonsense/items.jsonl``.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import logging
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from typing import Any, Sequence

from ..errors import KeditError
from ..records import EditCase, Probe, read_cases, write_jsonl
from ..records.jsonl import JsonlAppender, case_from_dict, drop_partial_line, iter_json_lines
from ..records.manifest import write_manifest
from ..settings import data_root
from .backends import BACKENDS, generation_failed, make_probe, with_probes

log = logging.getLogger(__name__)

# modules that register a backend in BACKENDS
BACKEND_MODULES = ("kedit.builder.kg", "kedit.builder.llm")


def load_backends() -> None:
    for m in BACKEND_MODULES:
        importlib.import_module(m)


def add_arguments(p) -> None:
    load_backends()
    p.add_argument("--backend", required=True, help="one of: " + ", ".join(BACKENDS.names()))
    p.add_argument("--in", dest="inp", required=True, metavar="SEEDS", help="edit records: kedit JSONL, EasyEdit ZsRE/CounterFact JSON, ROME CounterFact")
    p.add_argument("--format", default=None, help="input format (default: detected)")
    p.add_argument("--out", required=True, metavar="FILE", help="kedit JSONL of the expanded cases (its manifest is written beside it)")
    p.add_argument("--concurrency", type=int, default=4, help="cases expanded at once (default 4)")
    p.add_argument("--dry-run", action="store_true", help="print the number of calls and the estimated cost, spend nothing")
    p.add_argument("--limit", type=int, default=None, help="only the first N seeds")
    p.add_argument("--commonsense", default=None, metavar="FILE|none", help="two-choice items, one attached per case (default: data/commonsense/items.jsonl)")
    p.add_argument("--neighbors", type=int, default=1, help="distract_neighbor probes per case (default 1)")
    p.add_argument("-v", "--verbose", action="store_true")
    for name in BACKENDS.names():
        BACKENDS.get(name).add_arguments(p)


def reliability_probe(case: EditCase):
    return make_probe("reliability", case.prompt, [case.target_new], foil=case.target_true,
                      provenance={"generator": "kedit", "from": "edit prompt"})


def neighbor_probes(case: EditCase, index: int, cases: Sequence[EditCase], n: int) -> list:
    """The edit sentence, then another case's prompt; deterministic: the next cases in seed order
    whose subject and targets differ from this case's."""
    out = []
    taken = {case.subject, case.target_true, case.target_new}
    for step in range(1, len(cases)):
        if len(out) >= n:
            break
        other = cases[(index + step) % len(cases)]
        if other.subject in taken or other.target_true in taken or other.target_true == case.target_new:
            continue
        sentence = f"{case.prompt} {case.target_new}."
        out.append(make_probe("distract_neighbor", f"{sentence} {other.prompt}", [other.target_true], expect="keep",
                              provenance={"generator": "kedit", "neighbor_case": other.case_id}))
        taken.add(other.subject)
    return out


def load_commonsense(spec: str | None) -> list[dict[str, Any]]:
    if spec is not None and spec.lower() == "none":
        return []
    path = Path(spec) if spec else data_root() / "commonsense" / "items.jsonl"
    if not path.is_file():
        raise KeditError(f"commonsense items not found: {path}; pass --commonsense FILE or --commonsense none")
    items = []
    for n, d in iter_json_lines(path):
        if not (isinstance(d, dict) and isinstance(d.get("prompt"), str) and isinstance(d.get("choices"), list)
                and d.get("answer") in d["choices"]):
            raise KeditError(f"{path}:{n}: a commonsense item needs prompt, choices (a list) and answer (one of the choices)")
        items.append(d)
    return items


def commonsense_probe(case: EditCase, items: Sequence[dict[str, Any]]) -> Probe:
    """One item per case, chosen by a hash of the case id (stable whatever the seed order)."""
    item = items[int(hashlib.sha256(case.case_id.encode()).hexdigest(), 16) % len(items)]
    return Probe(split="commonsense", prompt=item["prompt"], answers=(item["answer"],), expect="keep",
                 choices=tuple(item["choices"]), provenance={"generator": "kedit", "source": item.get("source", "")})


def finish(case: EditCase, index: int, cases: Sequence[EditCase], items: Sequence[dict[str, Any]], neighbors: int) -> EditCase:
    """Add the probes that need no backend."""
    extra = []
    if not case.probes_of("reliability"):
        extra.append(reliability_probe(case))
    if neighbors and not case.probes_of("distract_neighbor"):
        extra += neighbor_probes(case, index, cases, neighbors)
    if items and not case.probes_of("commonsense"):
        extra.append(commonsense_probe(case, items))
    return with_probes(case, extra)


def _done_cases(out: Path) -> dict[str, EditCase]:
    """Cases an earlier, interrupted run of the same command already wrote."""
    if not out.is_file():
        return {}
    drop_partial_line(out)
    return {c.case_id: c for c in (case_from_dict(d, out, n) for n, d in iter_json_lines(out))}


def split_counts(cases: Sequence[EditCase]) -> dict[str, int]:
    return dict(sorted(Counter(p.split for c in cases for p in c.probes).items()))


def run(args) -> int:
    load_backends()
    cls = BACKENDS.get(args.backend)
    if args.concurrency < 1:
        raise KeditError("--concurrency must be at least 1")
    inp, out = Path(args.inp), Path(args.out)
    if not inp.is_file():
        raise KeditError(f"seed file not found: {inp}")
    seeds = read_cases(inp, args.format)
    if args.limit is not None:
        seeds = seeds[: args.limit]
    if not seeds:
        raise KeditError(f"{inp} holds no edit records")
    items = load_commonsense(args.commonsense)
    backend = cls.from_args(args)
    backend.prepare(seeds)
    done = _done_cases(out)
    todo = [(i, c) for i, c in enumerate(seeds) if c.case_id not in done]
    if args.dry_run:
        plan = backend.plan([c for _, c in todo])
        print(json.dumps({"backend": args.backend, "seeds": len(seeds), "already_done": len(done), "to_do": len(todo), **plan}, indent=2))
        return 0
    t0 = time.perf_counter()
    if todo:
        log.info("generating %d of %d cases with backend %s", len(todo), len(seeds), args.backend)
        _expand_all(backend, seeds, todo, out, items, args.neighbors, args.concurrency, already=len(done))
    cases_by_id = _done_cases(out)
    cases = [cases_by_id[c.case_id] for c in seeds]
    write_jsonl(cases, out)  # seed order, whatever the completion order was
    failed = [c.case_id for c in cases if generation_failed(c)]
    figures = {
        "generate": {
            "backend": args.backend,
            **backend.figures(),
            "seeds": len(seeds),
            "cases": len(cases),
            "failed_cases": len(failed),
            "probes_per_split": split_counts(cases),
            "seconds": round(time.perf_counter() - t0, 3),
            "resumed_cases": len(done),
        }
    }
    mp = write_manifest(out, "generate", input_path=inp, figures=figures)
    print(f"kbuild generate: {len(cases)} cases, {sum(len(c.probes) for c in cases)} probes -> {out} (manifest {mp.name})")
    for split, n in figures["generate"]["probes_per_split"].items():
        print(f"  {split:18s} {n}")
    if failed:
        print(f"  {len(failed)} case(s) failed to generate (kept, marked in provenance.generation): {', '.join(failed[:5])}"
              + (" ..." if len(failed) > 5 else ""))
    return 0


def _expand_all(backend, seeds, todo, out: Path, items, neighbors: int, concurrency: int, already: int) -> None:
    """Expand ``todo`` in a thread pool, appending each case as it completes. On a whole-run error
    (e.g. the endpoint is down) no new case is started, the ones already running are still
    written, and the error says how far the run got."""
    written = 0
    error: KeditError | None = None
    with JsonlAppender(out) as appender, ThreadPoolExecutor(max_workers=concurrency) as pool:
        pending: dict = {}
        queue = list(todo)

        def collect(fut) -> None:
            nonlocal written, error
            i = pending.pop(fut)
            try:
                case = fut.result()
            except KeditError as e:
                error = error or e
                return
            appender.write(finish(case, i, seeds, items, neighbors).to_dict())
            written += 1

        try:
            while (queue or pending) and error is None:
                while queue and len(pending) < concurrency * 2:
                    i, c = queue.pop(0)
                    pending[pool.submit(backend.expand, c)] = i
                finished, _ = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    collect(fut)
            for fut in list(pending):  # after an error: what was queued is dropped, what runs is kept
                if fut.cancel():
                    pending.pop(fut)
            for fut in list(pending):
                wait([fut])
                collect(fut)
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise
    if error is not None:
        raise KeditError(f"{error} ({already + written} of {len(seeds)} cases are written to {out}; "
                         "rerun the same command to continue)")
