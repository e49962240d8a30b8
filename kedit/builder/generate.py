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
import logging
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path
from dataclasses import dataclass, field
from typing import Any, Sequence

from ..errors import KeditError, UnknownNameError
from ..records import EditCase, Probe, read_cases, write_jsonl
from ..records.jsonl import JsonlAppender, case_from_dict, cases_digest, drop_partial_line, iter_json_lines
from ..records.manifest import write_manifest
from ..settings import data_root
from ..atomic import atomic_write
from .backends import BACKENDS, Backend, generation_failed, make_probe, with_probes
from .outputs import check_output, lock_for, mark_finished, mark_started, normalized

log = logging.getLogger(__name__)

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


@dataclass(frozen=True)
class GenerateResult:
    """What ``generate`` made: the cases in seed order, the manifest figures, the ids of cases the
    backend failed on (kept, marked), and the files written (none for an in-memory run). A dry run
    has no cases and a ``plan`` (calls, estimated cost)."""

    cases: list[EditCase]
    figures: dict[str, Any]
    failed: list[str] = field(default_factory=list)
    out: Path | None = None
    manifest: Path | None = None
    plan: dict[str, Any] | None = None


def backend_options(name: str) -> dict[str, Any]:
    """The options of a registered backend, with their defaults: its CLI options' destinations."""
    import argparse

    parser = argparse.ArgumentParser(prog=f"backend {name}", add_help=False)
    BACKENDS.get(name).add_arguments(parser)
    return vars(parser.parse_args([]))


def make_backend(name: str, **options: Any) -> Backend:
    """A registered backend built from keyword options named as its CLI options' destinations
    (``kedit.generate(seeds, backend="kg", kg="my_kg/", max_per_split=2)``), through the same
    ``from_args`` the CLI uses. ``dry_run`` and ``concurrency`` are the driver's, passed along."""
    import argparse

    known = backend_options(name)
    for k in options:
        if k not in known and k not in ("dry_run", "concurrency"):
            raise UnknownNameError(f"option of the {name} backend", k, known)
    return BACKENDS.get(name).from_args(argparse.Namespace(**{**known, **options}))


def generate(seeds: Sequence[EditCase] | str | Path, backend: str | Backend = "kg", *, out: str | Path | None = None,
             fmt: str | None = None, concurrency: int = 4, limit: int | None = None, commonsense: str | None = None,
             neighbors: int = 1, dry_run: bool = False, overwrite: bool = False, **backend_options: Any) -> GenerateResult:
    """Expand edit records into cases with candidate probes for every split.

    ``seeds``: EditCases or a file any registered format reads; ``backend``: a registered name
    (options as keywords) or a backend object. With ``out`` the cases are appended as they finish
    and a rerun with the same input and options continues an interrupted run; then they are
    rewritten in seed order with a manifest beside them. An existing ``out`` that this stage did
    not write from the same input and options is refused unless ``overwrite``.
    """
    if concurrency < 1:
        raise KeditError("--concurrency must be at least 1")
    if limit is not None and limit < 1:
        raise KeditError(f"--limit must be at least 1, got {limit}")
    if neighbors < 0:
        raise KeditError(f"--neighbors must be 0 or more, got {neighbors}")
    inp: Path | None = None
    if isinstance(seeds, (str, Path)):
        inp = Path(seeds)
        if not inp.is_file():
            raise KeditError(f"seed file not found: {inp}")
        seeds = read_cases(inp, fmt)
    seeds = list(seeds)[:limit] if limit is not None else list(seeds)
    if not seeds:
        raise KeditError(f"{inp or 'the seeds'} hold no edit records")
    items = load_commonsense(commonsense)
    out = Path(out) if out is not None else None
    if out is None:
        return _generate(seeds, backend, inp, None, items, concurrency, neighbors, dry_run, backend_options, False)
    with lock_for(out):
        return _generate(seeds, backend, inp, out, items, concurrency, neighbors, dry_run, backend_options, overwrite,
                         commonsense=commonsense)


def _generate(seeds: list[EditCase], backend: str | Backend, inp: Path | None, out: Path | None, items, concurrency: int,
              neighbors: int, dry_run: bool, options: dict[str, Any], overwrite: bool, commonsense: str | None = None
              ) -> GenerateResult:
    if isinstance(backend, str):
        name = backend
        options = {**backend_options(name), **options}
        backend = make_backend(name, dry_run=dry_run, concurrency=concurrency, **options)
    else:
        name = getattr(backend, "name", type(backend).__name__)
        if options:
            raise KeditError("backend options are given to a backend built already; pass its name instead, or build it with them")
        options = {"object": type(backend).__qualname__}
    # what a resumed run must share with the run it continues
    identity = {"input_sha256": cases_digest(seeds), "backend": name, "options": options, "neighbors": neighbors,
                "commonsense": commonsense}
    resume = out is not None and check_output(out, "generate", inputs=[inp] if inp else [], overwrite=overwrite,
                                              identity=identity)
    done = _done_cases(out) if resume else {}
    todo = [(i, c) for i, c in enumerate(seeds) if c.case_id not in done]
    if dry_run:
        plan = {"backend": name, "seeds": len(seeds), "already_done": len(done), "to_do": len(todo),
                **backend.plan([c for _, c in todo])}
        return GenerateResult([], {}, out=out, plan=plan)
    backend.prepare(seeds)
    if out is not None:
        if not resume:  # new, or replaced with --overwrite: start from an empty file
            atomic_write(out, "")
        mark_started(out, "generate", identity)
    t0 = time.perf_counter()
    finished: dict[str, EditCase] = dict(done)
    if todo:
        log.info("generating %d of %d cases with backend %s", len(todo), len(seeds), name)
        _expand_all(backend, seeds, todo, out, items, neighbors, concurrency, len(done), finished)
    if out is not None:
        finished = _done_cases(out)
    cases = [finished[c.case_id] for c in seeds]
    failed = [c.case_id for c in cases if generation_failed(c)]
    figures = {
        "generate": {
            "backend": name,
            **backend.figures(),
            "seeds": len(seeds),
            "cases": len(cases),
            "failed_cases": len(failed),
            "probes_per_split": split_counts(cases),
            "seconds": round(time.perf_counter() - t0, 3),
            "resumed_cases": len(done),
            "identity": normalized(identity),
        }
    }
    mp = None
    if out is not None:
        write_jsonl(cases, out)  # seed order, whatever the completion order was
        mp = write_manifest(out, "generate", input_path=inp, figures=figures)
        mark_finished(out)
    log.info("generate: %d cases, %d probes%s", len(cases), sum(len(c.probes) for c in cases), f" -> {out}" if out else "")
    return GenerateResult(cases, figures, failed, out, mp)


def _expand_all(backend, seeds, todo, out: Path | None, items, neighbors: int, concurrency: int, already: int,
                finished: dict[str, EditCase]) -> None:
    """Expand ``todo`` in a thread pool, keeping each case as it completes (appended to ``out`` when
    there is one). On a whole-run error (e.g. the endpoint is down) no new case is started, the ones
    already running are still kept, and the error says how far the run got."""
    written = 0
    error: KeditError | None = None
    appender = JsonlAppender(out) if out is not None else None
    try:
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
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
                case = finish(case, i, seeds, items, neighbors)
                finished[case.case_id] = case
                if appender is not None:
                    appender.write(case.to_dict())
                written += 1

            try:
                while (queue or pending) and error is None:
                    while queue and len(pending) < concurrency * 2:
                        i, c = queue.pop(0)
                        pending[pool.submit(backend.expand, c)] = i
                    done, _ = wait(pending, return_when=FIRST_COMPLETED)
                    for fut in done:
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
    finally:
        if appender is not None:
            appender.close()
    if error is not None:
        where = f"are written to {out}; rerun the same command to continue" if out is not None else "were finished"
        raise KeditError(f"{error} ({already + written} of {len(seeds)} cases {where})")
