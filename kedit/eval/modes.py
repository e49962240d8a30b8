"""Run modes: single (edit, score, restore), batch (N edits at once), sequential (no restore).

Every mode writes one record per (editor, case) through ``sink``; a case whose edit or scoring
fails is recorded with its error and the run goes on. Post-edit scores are compared with the
cached unedited-model answers (``Baseline``); nothing about the unedited model is recomputed.
"""

from __future__ import annotations

import logging
import traceback
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
from tqdm.auto import tqdm

from ..editors.base import EditRequest, EditResult, Editor, timed_edit
from ..errors import KeditError
from ..records import EditCase
from .asking import ask
from .baseline import Baseline
from .metrics import probe_values

log = logging.getLogger(__name__)
Sink = Callable[[dict], None]


@dataclass
class Context:
    model: torch.nn.Module
    tok: object
    baseline: Baseline
    generate: bool = True


def request_of(case: EditCase) -> EditRequest:
    return EditRequest(case.prompt, case.subject, case.target_new, case.target_true, case.case_id)


def score_cases(ctx: Context, cases: Sequence[EditCase], wrap=None, splits: set[str] | None = None) -> dict[str, list[dict]]:
    """Post-edit probe records per case: executed probes scored, the others marked not executed."""
    todo, keys = [], []
    records: dict[str, list[dict]] = {c.case_id: [] for c in cases}
    for c in cases:
        for i, p in enumerate(c.probes):
            if splits and p.split not in splits:
                continue
            rec = {"index": i, "split": p.split, "expect": p.expect, "executed": ctx.baseline.executed[(c.case_id, i)]}
            records[c.case_id].append(rec)
            if rec["executed"]:
                todo.append(p)
                keys.append((c.case_id, i, rec))
    prompts = [p.prompt for p in todo]
    if wrap is not None:
        prompts = wrap(prompts)
    answers = ask(ctx.model, ctx.tok, todo, prompts, generate=ctx.generate)
    for (cid, i, rec), probe, post in zip(keys, todo, answers):
        rec["metrics"] = probe_values(probe, post, ctx.baseline.answers[(cid, i)], ctx.generate)
        if post.generated is not None:
            rec["generated"] = post.generated
    return records


def checksum(model: torch.nn.Module) -> list[float]:
    with torch.no_grad():
        return [float(p.double().sum()) for p in model.parameters()]


def apply_edits(editor: Editor, ctx: Context, requests: Sequence[EditRequest], hp) -> list[EditResult]:
    """One call for editors that batch; one call per request for the others (undone in reverse)."""
    if editor.supports_batch or len(requests) == 1:
        return [timed_edit(editor, ctx.model, ctx.tok, list(requests), hp)]
    results: list[EditResult] = []
    try:
        for r in requests:
            results.append(timed_edit(editor, ctx.model, ctx.tok, [r], hp))
    except Exception:
        restore_all(results)
        raise
    return results


def restore_all(results: Sequence[EditResult]) -> None:
    for r in reversed(results):
        r.restore()


def combined_wrap(results: Sequence[EditResult]):
    wraps = [r.wrap for r in results if r.wrap is not None]
    if not wraps:
        return None
    if len(wraps) > 1:
        raise KeditError("several prompt-rewriting edit results cannot be combined; edit all requests in one call")
    return wraps[0]


def _record(editor: str, mode: str, case: EditCase, results: Sequence[EditResult], n_edits: int, probes=None, error=None, extra=None) -> dict:
    seconds = sum(r.seconds for r in results)
    peaks = [r.peak_memory_bytes for r in results if r.peak_memory_bytes is not None]
    rec = {
        "editor": editor, "mode": mode, "case_id": case.case_id,
        "edit_seconds": seconds / max(n_edits, 1) if results else None,
        "peak_memory_bytes": max(peaks) if peaks else None,
        "probes": probes or [],
    }
    if error:
        rec["error"] = error
    rec.update(extra or {})
    return rec


class _Guard:
    """Checks after a failure that the editor left the model as it found it."""

    def __init__(self, ctx: Context, editor: str):
        self.ctx, self.editor = ctx, editor
        self.sums = checksum(ctx.model)

    def after_failure(self) -> None:
        if checksum(self.ctx.model) != self.sums:
            raise KeditError(f"editor '{self.editor}' failed and left the model modified; its remaining cases are skipped")


def _error_text(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}\n" + "".join(traceback.format_tb(e.__traceback__)[-3:])


def run_single(editor: Editor, hp, ctx: Context, cases: Sequence[EditCase], sink: Sink) -> None:
    guard = _Guard(ctx, editor.name)
    for case in tqdm(cases, desc=f"{editor.name} single", unit="edit"):
        results: list[EditResult] = []
        editor_failed = False
        try:
            results = apply_edits(editor, ctx, [request_of(case)], hp)
            probes = score_cases(ctx, [case], combined_wrap(results))[case.case_id]
            rec = _record(editor.name, "single", case, results, 1, probes, extra=_info(results))
        except KeditError:
            raise
        except Exception as e:  # a failing case is recorded; the run goes on
            rec = _record(editor.name, "single", case, results, 1, error=_error_text(e))
            editor_failed = not results
        finally:
            restore_all(results)
        sink(rec)
        if editor_failed:
            guard.after_failure()


def run_batch(editor: Editor, hp, ctx: Context, cases: Sequence[EditCase], sink: Sink, batch_size: int) -> None:
    guard = _Guard(ctx, editor.name)
    chunks = [cases[i:i + batch_size] for i in range(0, len(cases), batch_size)]
    for b, chunk in enumerate(tqdm(chunks, desc=f"{editor.name} batch of {batch_size}", unit="batch")):
        results: list[EditResult] = []
        extra = {"batch": b, "batch_size": len(chunk)}
        try:
            results = apply_edits(editor, ctx, [request_of(c) for c in chunk], hp)
            per_case = score_cases(ctx, chunk, combined_wrap(results))
            for c in chunk:
                sink(_record(editor.name, "batch", c, results, len(chunk), per_case[c.case_id], extra=extra))
        except KeditError:
            raise
        except Exception as e:
            for c in chunk:
                sink(_record(editor.name, "batch", c, results, len(chunk), error=_error_text(e), extra=extra))
            restore_all(results)
            guard.after_failure()
            continue
        restore_all(results)


DECAY_SPLITS = {"reliability", "generalization", "locality"}


def run_sequential(editor: Editor, hp, ctx: Context, cases: Sequence[EditCase], sink: Sink, every: int, decay_sink: Sink) -> None:
    """Edits accumulate without rollback. After every ``every`` edits the edits so far and their
    locality probes are scored (the decay curve). In-context editors are re-edited with all requests
    so far (their state is the prompt). The final state is scored on every split, then undone."""
    results: list[EditResult] = []
    times: list[float] = []
    try:
        for n, case in enumerate(tqdm(cases, desc=f"{editor.name} sequential", unit="edit"), 1):
            if editor.in_context:
                results = [timed_edit(editor, ctx.model, ctx.tok, [request_of(c) for c in cases[:n]], hp)]
            else:
                results += apply_edits(editor, ctx, [request_of(case)], hp)
            times.append(results[-1].seconds)
            if n % every == 0 or n == len(cases):
                per_case = score_cases(ctx, cases[:n], combined_wrap(results), DECAY_SPLITS)
                for split in sorted(DECAY_SPLITS):
                    vals = [r["metrics"]["token_acc"]["post"] for recs in per_case.values() for r in recs
                            if r["split"] == split and r["executed"]]
                    if vals:
                        decay_sink({"editor": editor.name, "n_edits": n, "split": split, "metric": "token_acc",
                                    "value": sum(vals) / len(vals), "n": len(vals)})
        final = score_cases(ctx, cases, combined_wrap(results))
        for case, t in zip(cases, times):
            rec = _record(editor.name, "sequential", case, [], 1, final[case.case_id], extra={"n_edits": len(cases)})
            rec["edit_seconds"] = t
            rec["peak_memory_bytes"] = max((r.peak_memory_bytes or 0) for r in results) or None
            sink(rec)
    finally:
        restore_all(results)


def _info(results: Sequence[EditResult]) -> dict:
    info = {}
    for r in results:
        for k, v in r.info.items():
            if isinstance(v, (int, float, str, bool)) or v is None:
                info.setdefault("edit_info", {})[k] = v
    return info
