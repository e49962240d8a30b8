"""Run modes: single (edit, score, restore), batch (N edits at once), sequential (no restore).

Every mode writes one ``CaseResult`` per (editor, case) through ``sink``. Errors are of two kinds:

* an error of one case (its prompt lacks the subject, its target is empty, the optimisation
  diverges, any exception while it is edited or scored) is recorded in that case's result
  (``CaseResult.error``), the model is restored, and the run goes on; the summary counts these
  cases as ``n_failed``. After every such failure the weights are checked against a checksum
  taken before the editor started: an editor that leaves them modified stops the run
  (``RunError``), since every later figure would be wrong.
* an error of the run (``RunError``: a missing dependency, hyper-parameters that do not fit the
  model) stops it at once, the model restored.

Post-edit scores are compared with the cached unedited-model answers (``Baseline``); nothing about
the unedited model is recomputed.

With a closure (``Context.closure``, ``kedit.closure``) each case's edit is written together with
the facts it entails, in the same edit call; a probe whose prompt a closure wrote is scored but
flagged ``written`` and kept out of its split's figure (it would be a leak, not portability). So is,
in batch and sequential modes, a probe (other than the case's own reliability probes) whose prompt
is the edit prompt of another case in the model at the time: a benchmark's locality probe "The
capital of France is" measures nothing once another case of the run has edited exactly that fact.

A case's ``one_hop_unedited`` probes (MQuAKE-Remastered's unedited accuracy: its multi-hop questions
with their original answers) are asked while *other* cases' edits are in the model and its own are not.
Each case is the guest of exactly one edit state, so the figure costs no extra edit: in single mode the
case after it in the run (the last one's guest is the first), in batch mode the case one batch later
(cyclic; with one batch there is none), in sequential mode the case itself just before its own turn,
under every edit so far. The guest's results are kept in its host's record (``ProbeResult.of_case``).
A multi-hop probe whose ``chain`` (provenance) an edit in the model rewrites (same subject and
relation, another object) is not executed, ``skipped`` saying which edit: MQuAKE-Remastered's
contamination mask, for a model whose edits cannot be masked per question.
"""

from __future__ import annotations

import logging
import time
import traceback
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Mapping, Sequence

import torch
from tqdm.auto import tqdm

from ..closure import ClosureFact, normalize_prompt, written_prompts
from ..editors.base import EditRequest, EditResult, Editor, ParamSnapshot, PromptFailure, timed_edit
from ..errors import KeditError, RunError
from ..records import EditCase
from .asking import ask
from .baseline import Baseline
from .checkpoint import SequenceCheckpoint, SequenceState, load_tensors
from .metrics import MetricValue, natural_stop, primary_metric, probe_values
from .results import CaseResult, DecayPoint, ProbeResult

log = logging.getLogger(__name__)
Sink = Callable[[CaseResult], None]
DecaySink = Callable[[DecayPoint], None]


@dataclass
class Context:
    model: torch.nn.Module
    tok: object
    baseline: Baseline
    generate: bool = True
    progress: bool = True
    closure: Callable[[EditCase], Sequence[ClosureFact]] | None = None  # the facts an edit entails
    closure_batch: int = 0  # most requests in one edit call when a closure makes them many (0: no limit)
    judge: Any = None  # an LLMJudge (kedit.eval.judge): every generation also gets its verdict


def request_of(case: EditCase) -> EditRequest:
    return EditRequest(case.prompt, case.subject, case.target_new, case.target_true, case.case_id)


@dataclass
class Written:
    """What the edit calls of some cases write: the requests (each edit, then its closure), the
    prompts the closures write (normalised) and each case's closure size (None without closure)."""

    requests: list[EditRequest]
    prompts: set[str]
    sizes: dict[str, int | None]
    edited: dict[str, set[str]] = field(default_factory=dict)  # normalised edit prompt -> the cases that edit it


def edit_requests(ctx: Context, cases: Sequence[EditCase]) -> Written:
    """The requests that write ``cases``; a contradictory closure raises (an error of its case)."""
    out = Written([], set(), {})
    for c in cases:
        out.requests.append(request_of(c))
        out.edited.setdefault(normalize_prompt(c.prompt), set()).add(c.case_id)
        for k, e in enumerate(c.more_edits, 1):  # written with the case's own edit, in the same call
            out.requests.append(EditRequest(e.prompt, e.subject, e.target_new, e.target_true, f"{c.case_id}#edit-{k}"))
            out.edited.setdefault(normalize_prompt(e.prompt), set()).add(c.case_id)
        if ctx.closure is None:
            out.sizes[c.case_id] = None
            continue
        facts = ctx.closure(c)
        out.requests += [f.request(c.case_id) for f in facts]
        out.prompts |= written_prompts(facts)
        out.sizes[c.case_id] = len(facts)
    return out


UNEDITED = "one_hop_unedited"  # asked under other cases' edits, never under the case's own (see the module docs)
Triple = tuple[str, str, str, str]  # (subject, relation id, new object, the case whose edit it is)


def edit_triples(cases: Sequence[EditCase]) -> list[Triple]:
    """The (subject, relation, new object, case) of each edit ``cases`` write (their ``more_edits`` where
    the source names the relation): what a multi-hop question's chain is checked against."""
    out = []
    for c in cases:
        out.append((c.subject, c.relation.id, c.target_new, c.case_id))
        out += [(e.subject, e.relation, e.target_new, c.case_id) for e in c.more_edits if e.relation]
    return out


def edit_index(triples: Sequence[Triple]) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(subject, relation) -> the (new object, case) of each edit of it: what ``contamination`` looks up."""
    out: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for s, r, o, cid in triples:
        out.setdefault((s, r), []).append((o, cid))
    return out


def contamination(probe, triples: Sequence[Triple] | Mapping[tuple[str, str], list[tuple[str, str]]]) -> str | None:
    """Why ``probe``'s chain is not the model's any more (an edit rewrites one of its hops to another
    object), or None: MQuAKE-Remastered's mask. ``triples``: the edits, or their ``edit_index``."""
    index = triples if isinstance(triples, Mapping) else edit_index(triples)
    for hs, hr, ho in probe.provenance.get("chain") or ():
        for o, cid in index.get((hs, hr), ()):
            if normalize_prompt(o) != normalize_prompt(ho):
                return (f"contaminated: the edit of case {cid} rewrites ({hs}, {hr}) of this question's chain to {o!r} "
                        f"(the chain has {ho!r}); not counted, as MQuAKE-Remastered masks it")
    return None


def score_cases(ctx: Context, cases: Sequence[EditCase], wrap=None, splits: set[str] | None = None,
                written: set[str] = frozenset(), edited: Mapping[str, set[str]] | None = None,
                triples: Sequence[Triple] = ()) -> dict[str, list[ProbeResult]]:
    """Post-edit probe results per case: executed probes scored, the others marked not executed;
    a probe whose (normalised) prompt is in ``written`` (a closure wrote it) or, outside its case's
    reliability split, is another case's edit prompt (``edited``) is flagged ``written``; a multi-hop
    probe whose chain one of ``triples`` (the edits in the model) rewrites is not executed.
    ``splits``: the splits to score (default: all but ``one_hop_unedited``)."""
    todo, keys = [], []
    out: dict[str, list[ProbeResult]] = {c.case_id: [] for c in cases}
    index = edit_index(triples)  # looked up per probe
    for c in cases:
        for i, p in enumerate(c.probes):
            if (p.split not in splits) if splits else p.split == UNEDITED:
                continue
            why = contamination(p, index) if index else None
            if ctx.baseline.executed[(c.case_id, i)] and why is None:
                todo.append(p)
                keys.append((c.case_id, i))
            else:
                out[c.case_id].append(ProbeResult(i, p.split, p.expect, executed=False, prompt=p.prompt, answers=p.answers,
                                                  skipped=why))
    prompts = [p.prompt for p in todo]
    if wrap is not None:
        prompts = wrap(prompts)
        for (cid, i), probe, q in zip(keys, todo, prompts):  # a probe the editor could not rewrite fails alone
            if isinstance(q, PromptFailure):
                out[cid].append(ProbeResult(i, probe.split, probe.expect, executed=False, prompt=probe.prompt,
                                            answers=probe.answers, error=str(q)))
        ok = [j for j, q in enumerate(prompts) if not isinstance(q, PromptFailure)]
        keys, todo, prompts = [keys[j] for j in ok], [todo[j] for j in ok], [prompts[j] for j in ok]
    answers = ask(ctx.model, ctx.tok, todo, prompts, generate=ctx.generate) if todo else []
    judged = _judged(ctx, todo, answers)
    for (cid, i), probe, post, (verdict, reason) in zip(keys, todo, answers, judged):
        metrics = probe_values(probe, post, ctx.baseline.answers[(cid, i)])
        if verdict is not None:
            metrics["judge"] = MetricValue(1.0 if verdict else 0.0)
        key = normalize_prompt(probe.prompt)
        by_other = probe.split != "reliability" and bool((edited or {}).get(key, set()) - {cid})
        out[cid].append(ProbeResult(i, probe.split, probe.expect, True, metrics, post.generated, probe.prompt, probe.answers,
                                    written=key in written or by_other, judge_reason=reason))
    for cid in out:
        out[cid].sort(key=lambda r: r.index)
    return out


def guests(cases: Sequence[EditCase], step: int) -> dict[str, EditCase]:
    """Each case's guest: the case ``step`` places later in the run (cyclic), whose ``one_hop_unedited``
    probes are asked while the host's edits are in the model (single mode: step 1; batch mode: the batch
    size). Only cases with such probes are guests; each is the guest of one host."""
    n = len(cases)
    return {c.case_id: cases[(k + step) % n] for k, c in enumerate(cases)
            if any(p.split == UNEDITED for p in cases[(k + step) % n].probes)}


def score_guests(ctx: Context, hosts: Sequence[EditCase], guest_of: Mapping[str, EditCase], wrap,
                 triples: Sequence[Triple]) -> dict[str, list[ProbeResult]]:
    """The ``one_hop_unedited`` results of the hosts' guests in the model as the hosts' edits left it,
    per host (``of_case`` names the guest); a guest whose own edits are in the model (it is one of
    the hosts) has its questions recorded as not executed."""
    host_ids = {c.case_id for c in hosts}
    pairs = [(h.case_id, guest_of[h.case_id]) for h in hosts if h.case_id in guest_of]
    away = [g for _, g in pairs if g.case_id not in host_ids]
    scored = score_cases(ctx, away, wrap, {UNEDITED}, triples=triples) if away else {}
    out: dict[str, list[ProbeResult]] = {h.case_id: [] for h in hosts}
    for hid, g in pairs:
        if g.case_id in scored:
            recs = scored[g.case_id]
        else:
            why = ("not asked: the run has no other case or batch to ask it under (its own edits are in the model "
                   "with every other edit of the run); unedited accuracy needs a state without them")
            recs = [ProbeResult(i, p.split, p.expect, executed=False, prompt=p.prompt, answers=p.answers, skipped=why)
                    for i, p in enumerate(g.probes) if p.split == UNEDITED]
        out[hid] += [replace(r, of_case=g.case_id) for r in recs]
    return out


def _judged(ctx: Context, probes, answers) -> list[tuple[bool | None, str | None]]:
    """The judge's (verdict, reason) of each probe's generation (None, None: no judge or no generation)."""
    out: list[tuple[bool | None, str | None]] = [(None, None)] * len(answers)
    if ctx.judge is None:
        return out
    todo = [j for j, post in enumerate(answers) if post.generated is not None]
    got = ctx.judge.verdicts([(probes[j].prompt, probes[j].answers, natural_stop(answers[j].generated)) for j in todo])
    for j, v in zip(todo, got):
        out[j] = v
    return out


def checksum(model: torch.nn.Module) -> list[float]:
    with torch.no_grad():
        return [float(p.sum(dtype=torch.float64)) for p in model.parameters()]


def apply_edits(editor: Editor, ctx: Context, requests: Sequence[EditRequest], hp) -> list[EditResult]:
    """One call for editors that batch (in calls of ``ctx.closure_batch`` requests at most, when set);
    one call per request for the others (undone in reverse)."""
    if editor.in_context or len(requests) == 1 or (editor.supports_batch and not 0 < ctx.closure_batch < len(requests)):
        return [timed_edit(editor, ctx.model, ctx.tok, list(requests), hp)]
    step = ctx.closure_batch if editor.supports_batch else 1
    if editor.supports_batch:
        log.warning("%s: %d requests (edits and their closures) are more than --closure-batch %d: written in %d "
                    "calls, one after another", editor.name, len(requests), step, -(-len(requests) // step))
    results: list[EditResult] = []
    try:
        for i in range(0, len(requests), step):
            results.append(timed_edit(editor, ctx.model, ctx.tok, list(requests[i:i + step]), hp))
    except BaseException:
        restore_all(results)
        raise
    return results


def restore_all(results: Sequence[EditResult]) -> None:
    for r in reversed(results):
        r.restore()


def combined_wrap(results: Sequence[EditResult]):
    """The one prompt-rewriting function of ``results`` (None if there is none), timed: an in-context
    editor pays at question time, so its result's info counts ``wrap_seconds`` and ``wrapped_prompts``."""
    owners = [r for r in results if r.wrap is not None]
    if not owners:
        return None
    if len(owners) > 1:
        raise KeditError("several prompt-rewriting edit results cannot be combined; edit all requests in one call")
    owner = owners[0]

    def timed_wrap(prompts: Sequence[str]) -> list[str]:
        t0 = time.perf_counter()
        out = owner.wrap(prompts)
        owner.info["wrap_seconds"] = owner.info.get("wrap_seconds", 0.0) + time.perf_counter() - t0
        owner.info["wrapped_prompts"] = owner.info.get("wrapped_prompts", 0) + len(prompts)
        return out

    return timed_wrap


def _scalars(results: Sequence[EditResult]) -> dict:
    """The JSON-able scalars of the results' info (what a case's record keeps of its edit call)."""
    return {k: v for r in results for k, v in r.info.items() if isinstance(v, (int, float, str, bool)) or v is None}


def _result(editor: str, mode: str, case: EditCase, results: Sequence[EditResult], shared_by: int,
            probes: Sequence[ProbeResult] = (), error: str | None = None, **extra) -> CaseResult:
    """The case's result; ``results``' edit time is divided among the ``shared_by`` cases edited with it."""
    peaks = [r.peak_memory_bytes for r in results if r.peak_memory_bytes is not None]
    info = _scalars(results)
    return CaseResult(editor, mode, case.case_id, tuple(probes),
                      edit_seconds=sum(r.seconds for r in results) / max(shared_by, 1) if results else None,
                      peak_memory_bytes=max(peaks) if peaks else None, error=error, edit_info=info, **extra)


class _Guard:
    """Classifies a failure: re-raises run errors; checks after a case error that the editor left
    the model as it found it."""

    def __init__(self, ctx: Context, editor: str):
        self.ctx, self.editor = ctx, editor
        self.sums = checksum(ctx.model)

    def case_failed(self, e: BaseException, case_ids: Sequence[str], expected: list[float] | None = None) -> str:
        """``expected``: the checksum the model must have now (default: the unedited one)."""
        if isinstance(e, RunError) or not isinstance(e, Exception):
            raise e
        log.warning("%s: case %s failed: %s: %s", self.editor, ", ".join(case_ids[:3]), type(e).__name__, e)
        if checksum(self.ctx.model) != (self.sums if expected is None else expected):
            raise RunError(f"editor '{self.editor}' failed on case {case_ids[0]} and left the model modified; "
                           "the run stops (every later figure would be wrong)") from e
        return error_text(e)


def error_text(e: BaseException) -> str:
    """The error as recorded in a failed case: type, message and the last three frames."""
    return f"{type(e).__name__}: {e}\n" + "".join(traceback.format_tb(e.__traceback__)[-3:])


def run_single(editor: Editor, hp, ctx: Context, cases: Sequence[EditCase], sink: Sink,
               run_cases: Sequence[EditCase] | None = None) -> None:
    """``run_cases``: every case of the run in order (``cases`` may be the ones left of a resumed run);
    it decides each case's guest (see the module docs)."""
    guard = _Guard(ctx, editor.name)
    guest_of = guests(run_cases if run_cases is not None else cases, 1)
    for case in tqdm(cases, desc=f"{editor.name} single", unit="edit", disable=not ctx.progress):
        results: list[EditResult] = []
        try:
            w = edit_requests(ctx, [case])
            results = apply_edits(editor, ctx, w.requests, hp)
            wrap, triples = combined_wrap(results), edit_triples([case])
            probes = score_cases(ctx, [case], wrap, written=w.prompts, triples=triples)[case.case_id]
            probes += score_guests(ctx, [case], guest_of, wrap, triples)[case.case_id]
            rec = _result(editor.name, "single", case, results, 1, probes, closure_size=w.sizes[case.case_id])
        except BaseException as e:
            restore_all(results)
            rec = _result(editor.name, "single", case, results, 1, error=guard.case_failed(e, [case.case_id]))
        else:
            restore_all(results)
        sink(rec)


def run_batch(editor: Editor, hp, ctx: Context, cases: Sequence[EditCase], sink: Sink, batch_size: int,
              run_cases: Sequence[EditCase] | None = None) -> None:
    """A batch that fails is recorded failed for each of its cases (its edits cannot be told apart).
    ``run_cases`` as in ``run_single``."""
    guard = _Guard(ctx, editor.name)
    guest_of = guests(run_cases if run_cases is not None else cases, batch_size)
    chunks = [cases[i:i + batch_size] for i in range(0, len(cases), batch_size)]
    for b, chunk in enumerate(tqdm(chunks, desc=f"{editor.name} batch of {batch_size}", unit="batch", disable=not ctx.progress)):
        results: list[EditResult] = []
        extra = {"batch": b, "batch_size": len(chunk)}
        try:
            w = edit_requests(ctx, chunk)
            results = apply_edits(editor, ctx, w.requests, hp)
            wrap, triples = combined_wrap(results), edit_triples(chunk)
            per_case = score_cases(ctx, chunk, wrap, written=w.prompts, edited=w.edited, triples=triples)
            away = score_guests(ctx, chunk, guest_of, wrap, triples)
            recs = [_result(editor.name, "batch", c, results, len(chunk), per_case[c.case_id] + away[c.case_id],
                            closure_size=w.sizes[c.case_id], **extra) for c in chunk]
        except BaseException as e:
            restore_all(results)
            err = guard.case_failed(e, [c.case_id for c in chunk])
            recs = [_result(editor.name, "batch", c, results, len(chunk), error=err, **extra) for c in chunk]
        else:
            restore_all(results)
        for rec in recs:
            sink(rec)


DECAY_SPLITS = {"reliability", "generalization", "locality"}


def unedited_decay(ctx: Context, editor: str, cases: Sequence[EditCase]) -> list[DecayPoint]:
    """The decay curve's point at 0 edits, from the cached unedited answers (no forward pass): each
    split's headline metric of the unedited model over every case's executed probes."""
    points = []
    for split in sorted(DECAY_SPLITS):
        metric = primary_metric(split, None if ctx.generate else ())
        vals = []
        for c in cases:
            for i, p in enumerate(c.probes):
                if p.split == split and ctx.baseline.executed[(c.case_id, i)]:
                    pre = ctx.baseline.answers[(c.case_id, i)]
                    v = probe_values(p, pre, pre).get(metric)
                    if v is not None:
                        vals.append(v.post)
        if vals:
            points.append(DecayPoint(editor, 0, split, metric, sum(vals) / len(vals), len(vals)))
    return points


def run_sequential(editor: Editor, hp, ctx: Context, cases: Sequence[EditCase], sink: Sink, every: int,
                   decay_sink: DecaySink, turn_size: int = 1, checkpoint: SequenceCheckpoint | None = None) -> None:
    """Edits accumulate without rollback, ``turn_size`` cases per turn (one edit call for an editor
    that batches). Each tensor is kept once, by the first edit that changed it (later edits drop
    their copies, since the sequence is only undone whole). After every ``every`` edits the edits so
    far and their locality probes are scored (the decay curve). In-context editors are re-edited with
    all requests so far (their state is the prompt). A turn whose edit fails is recorded failed for
    each of its cases and left out of the sequence. The final state is scored on every split, then
    undone. With a ``checkpoint`` the state at each scoring point is saved, and a saved one is resumed
    from (``kedit.eval.checkpoint``: editors whose state is their weights and what they can save beside)."""
    guard = _Guard(ctx, editor.name)
    state = checkpoint.load() if checkpoint is not None else None
    if state is None:
        for point in unedited_decay(ctx, editor.name, cases):  # the curve starts at 0 edits: the unedited model
            decay_sink(point)
    results: list[EditResult] = []
    applied: list[EditCase] = []
    requests: list[EditRequest] = []  # of the applied cases, closures included
    written: set[str] = set()
    edited: dict[str, set[str]] = {}
    sizes: dict[str, int | None] = {}
    times: dict[str, float] = {}
    infos: dict[str, dict] = {}  # what the edit call of each case's turn reported
    failed: dict[str, str] = {}
    turns = [cases[i:i + turn_size] for i in range(0, len(cases), turn_size)]
    saved: set[str] = set()  # tensors an earlier edit of the sequence already keeps a copy of
    unedited: dict[str, list[ProbeResult]] = {}  # each case's one_hop_unedited, asked just before its turn
    n, start, peak0 = 0, 0, 0
    if state is not None:  # resume: the checkpoint's tensors into the model, whose loaded values the end restores
        by_id = {c.case_id: c for c in cases}
        results = [EditResult(editor.name, [], snapshot=ParamSnapshot(ctx.model, state.tensors))]
        load_tensors(ctx.model, state.tensors)
        if state.side:  # the editor's state beside the weights (AlphaEdit's Σ K Kᵀ), undone at the end
            results[0].undo = editor.load_side_state(ctx.model, state.side)
        saved = set(state.tensors)
        applied = [by_id[i] for i in state.applied]
        failed, sizes, times, infos = dict(state.failed), dict(state.sizes), dict(state.times), dict(state.infos)
        written, edited = set(state.written), {k: set(v) for k, v in state.edited.items()}
        unedited = {k: [ProbeResult.from_dict(d) for d in v] for k, v in state.unedited.items()}
        n, start, peak0 = state.n, state.turns_done, state.peak
        log.warning("%s: resuming the sequence after %d edits (%s)", editor.name, len(applied), checkpoint.path)
    try:
        for t, turn in enumerate(tqdm(turns[start:], desc=f"{editor.name} sequential",
                                      unit="turn" if turn_size > 1 else "edit", disable=not ctx.progress), start):
            before = None if editor.in_context else checksum(ctx.model)  # the state a failed edit must leave
            ids = [c.case_id for c in turn]
            if any(p.split == UNEDITED for c in turn for p in c.probes):
                unedited.update(score_cases(ctx, turn, combined_wrap(results), {UNEDITED}, triples=edit_triples(applied)))
            try:
                w = edit_requests(ctx, turn)
                if editor.in_context:
                    new = [timed_edit(editor, ctx.model, ctx.tok, requests + w.requests, hp)]
                else:
                    new = apply_edits(editor, ctx, w.requests, hp)
            except BaseException as e:
                err = guard.case_failed(e, ids, before)
                failed.update({cid: err for cid in ids})
                new = None
            if new is not None:
                for r in ([] if editor.in_context else new):  # the sequence is undone whole: one copy per tensor
                    if r.snapshot is not None:
                        r.snapshot.drop(saved & set(r.snapshot.names))
                        saved |= set(r.snapshot.names)
                results = new if editor.in_context else results + new
                applied += turn
                requests += w.requests
                written |= w.prompts
                for k, edited_by in w.edited.items():
                    edited.setdefault(k, set()).update(edited_by)
                seconds = sum(r.seconds for r in new) if not editor.in_context else new[-1].seconds
                info = _scalars(new)
                for c in turn:
                    sizes[c.case_id] = w.sizes[c.case_id]
                    times[c.case_id] = seconds / len(turn)
                    infos[c.case_id] = info
            n += len(turn)
            if applied and (n // every > (n - len(turn)) // every or n == len(cases)):
                per_case = score_cases(ctx, applied, combined_wrap(results), DECAY_SPLITS, written, edited,
                                       edit_triples(applied))
                for split in sorted(DECAY_SPLITS):
                    metric = primary_metric(split, None if ctx.generate else ())
                    vals = [p.metrics[metric].post for recs in per_case.values() for p in recs
                            if p.split == split and p.executed and not p.written and metric in p.metrics]
                    if vals:
                        decay_sink(DecayPoint(editor.name, len(applied), split, metric, sum(vals) / len(vals), len(vals)))
                if checkpoint is not None:
                    params = dict(ctx.model.named_parameters())
                    checkpoint.save(SequenceState(
                        t + 1, n, [c.case_id for c in applied], failed, sizes, times, infos, sorted(written),
                        {k: sorted(v) for k, v in edited.items()}, {k: [p.to_dict() for p in v] for k, v in unedited.items()},
                        max([peak0] + [r.peak_memory_bytes or 0 for r in results]), {k: params[k] for k in saved}),
                        editor, ctx.model, results)
        final = score_cases(ctx, applied, combined_wrap(results), written=written, edited=edited,
                            triples=edit_triples(applied)) if applied else {}
        peak = max([peak0] + [r.peak_memory_bytes or 0 for r in results])
        for case in cases:
            if case.case_id in failed:
                sink(_result(editor.name, "sequential", case, [], 1, error=failed[case.case_id], n_edits=len(applied)))
            else:
                rec = _result(editor.name, "sequential", case, [], 1, final[case.case_id] + unedited.get(case.case_id, []),
                              n_edits=len(applied),
                              closure_size=sizes[case.case_id])
                sink(replace(rec, edit_seconds=times[case.case_id], peak_memory_bytes=peak or None, edit_info=infos[case.case_id]))
        if checkpoint is not None:
            checkpoint.remove()  # the sequence's results are written
    finally:
        restore_all(results)
