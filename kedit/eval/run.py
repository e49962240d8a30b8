"""A keval run: ``evaluate`` runs editors on cases with a model already loaded (the Python API);
``run`` is ``keval run``: it checks the settings, reads the benchmark, loads the model and calls
``evaluate`` with a run folder.

Run folder: ``config.json`` (resolved config and hyper-parameters, schema ``kedit.run/1``),
``cases.jsonl`` (one ``CaseResult`` per editor and case), ``decay.csv`` (sequential),
``summary.csv``, ``summary.md``, ``ranking.json`` and PNG plots. An interrupted run resumes from
its folder; a second run on a folder in use fails at once (``.lock`` holds the owner's PID).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from .. import __version__
from ..atomic import FolderLock, atomic_open, atomic_write, atomic_write_json
from ..editors import EDITORS, load_hparams
from ..errors import KeditError, UnknownNameError
from ..records import EditCase, read_cases
from ..records.jsonl import JsonlAppender, cases_digest, drop_partial_line
from ..runtime import Runtime, using
from . import report
from .baseline import compute_baseline
from .checkpoint import SequenceCheckpoint, sequence_key
from .modes import Context, run_batch, run_sequential, run_single
from .results import DECAY_COLUMNS, RUN_SCHEMA, CaseResult, DecayPoint, check_run_schema, read_results

log = logging.getLogger(__name__)
MODES = ("single", "batch", "sequential")


@dataclass
class RunConfig:
    model: str
    bench: str
    editors: list[str]
    mode: str = "single"
    out: str = "runs/latest"
    fmt: str | None = None
    limit: int | None = None
    weights: str | None = None
    batch_size: int = 10
    every: int = 0  # sequential: score every k edits (0: about ten points)
    turn_size: int = 1  # sequential: edits applied in one edit call (a turn)
    hparams: dict[str, dict[str, str]] = field(default_factory=dict)
    device: str | None = "cpu"  # cpu, cuda, cuda:N, mps, auto (None: auto, silently)
    dtype: str = "float32"  # the model's precision (kedit.runtime)
    device_map: str | dict | None = None  # accelerate's placement over several devices
    batch_tokens: int = 0  # padded tokens per forward batch (0: automatic)
    max_batch: int = 64
    generate: bool = True
    seed: int = 0
    progress: bool = True  # progress bars (keval -q turns them off)
    closure: str = "none"  # "kg" / "llm": each editor also runs as "<editor>+closure" (see ``evaluate``)
    closure_depth: int = 1
    kg: str | None = None
    closure_batch: int = 0
    closure_phrasing: str = "paraphrase"
    closure_llm: dict[str, Any] | None = None  # --closure llm: llm_model, base_url, prompt_version
    judge: dict[str, Any] | None = None  # --judge openai: llm_model, base_url, prompt_version

    def runtime(self) -> Runtime:
        return Runtime(self.device, self.dtype, self.batch_tokens, self.max_batch, self.device_map)


@dataclass
class Report:
    """What ``evaluate`` returns: every case result, the summary rows, the ranking, the config."""

    results: list[CaseResult]
    rows: list[report.SummaryRow]
    ranking: list[report.Ranked]
    weights: dict[str, float]
    config: dict[str, Any]
    out: Path | None = None

    @property
    def failed(self) -> list[CaseResult]:
        return [r for r in self.results if r.failed]

    def markdown(self) -> str:
        return report.markdown(self.rows, self.ranking, self.weights)

    def to_pandas(self):
        """The long-form summary (``summary.csv``'s columns) as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame([dataclasses.asdict(r) for r in self.rows], columns=report.COLUMNS)

    def probes_to_pandas(self):
        """One row per (editor, mode, case, probe, metric): post and pre values, executed, error."""
        import pandas as pd

        rows = []
        for r in self.results:
            if r.failed:
                rows.append({"editor": r.editor, "mode": r.mode, "case_id": r.case_id, "error": r.error})
            for p in r.probes:
                base = {"editor": r.editor, "mode": r.mode, "case_id": r.case_id, "probe": p.index, "split": p.split,
                        "expect": p.expect, "executed": p.executed}
                if not p.executed:
                    rows.append(base)
                for m, v in p.metrics.items():
                    rows.append({**base, "metric": m, "post": v.post, "pre": v.pre})
        return pd.DataFrame(rows)


CLOSURES = ("none", "kg", "llm")


def check_settings(editors: Sequence[str], mode: str, hparams: Mapping[str, Mapping[str, Any]] | None,
                   weights: str | None, batch_size: int = 10, every: int = 0, closure: str | None = None,
                   closure_depth: int = 1, closure_batch: int = 0, closure_phrasing: str = "paraphrase",
                   turn_size: int = 1) -> None:
    """Everything that can be checked before a model is loaded or a file is written."""
    if mode not in MODES:
        raise UnknownNameError("mode", mode, MODES)
    if (closure or "none") not in CLOSURES:
        raise UnknownNameError("closure", closure, CLOSURES)
    if closure_phrasing not in ("paraphrase", "template"):
        raise UnknownNameError("closure phrasing", closure_phrasing, ("paraphrase", "template"))
    if closure_depth < 0 or closure_batch < 0:
        raise KeditError(f"--closure-depth and --closure-batch must be 0 or more, got {closure_depth} and {closure_batch}")
    if not editors:
        raise KeditError("no editors given; name at least one, e.g. --editors rome")
    if batch_size < 1:
        raise KeditError(f"--batch-size must be at least 1, got {batch_size}")
    if every < 0:
        raise KeditError(f"--every must be 0 (about ten points) or more, got {every}")
    if turn_size < 1:
        raise KeditError(f"--turn-size must be at least 1, got {turn_size}")
    if turn_size > 1 and mode != "sequential":
        raise KeditError(f"--turn-size is for --mode sequential (turns of edits without rollback); in {mode} mode "
                         "use --batch-size for edits written together")
    for name in editors:  # unknown editors and hyper-parameters fail before any model is loaded
        load_hparams(EDITORS.get(name).hparams_cls, name, None, (hparams or {}).get(name))
    for name in hparams or {}:
        if name not in editors:
            raise KeditError(f"--hparam names editor '{name}', which is not in --editors {','.join(editors)}")
    report.parse_weights(weights)


# fields that must match for a folder to be resumed (with their value in folders written before the field)
_RESUME_KEYS = ("model", "bench_sha256", "mode", "limit", "batch_size", "every", "turn_size", "hparams", "generate",
                "closure", "dtype", "judge")
_RESUME_DEFAULTS = {"dtype": "float32", "judge": None}


def evaluate(model: torch.nn.Module, tok, cases: Sequence[EditCase], editors: Sequence[str], mode: str = "single", *,
             hparams: Mapping[str, Mapping[str, Any]] | None = None, batch_size: int = 10, every: int = 0,
             generate: bool = True, weights: str | None = None, out: str | Path | None = None,
             fingerprint: str | None = None, progress: bool = True, config: Mapping[str, Any] | None = None,
             closure: str | None = None, closure_depth: int = 1, kg: str | Path | None = None,
             closure_batch: int = 0, closure_phrasing: str = "paraphrase", turn_size: int = 1,
             runtime: Runtime | None = None, closure_llm: Mapping[str, Any] | None = None,
             judge: Mapping[str, Any] | None = None) -> Report:
    """Run each editor on ``cases`` in ``mode`` and score every probe against the unedited model.

    ``hparams``: per-editor overrides ({"rome": {"layer": 5}}); ``out``: a run folder to write (and
    to resume from); ``fingerprint``: identifies the weights for the unedited-answers cache
    (default: the one ``load_model`` recorded, else a digest of the weights). A case that fails is
    recorded failed and the run goes on (``Report.failed``); a ``RunError`` stops the run.

    ``closure="kg"``: each editor runs twice, as itself and as ``"<editor>+closure"``, which writes
    every edit together with the facts it entails in the knowledge graph ``kg`` (default: the
    bundled one) up to ``closure_depth`` hops, each in its relation's first paraphrase or its template
    (``closure_phrasing``; ``kedit.closure``), at most ``closure_batch`` requests per edit call (0: all
    at once); probes a closure wrote are counted apart (``n_written``). ``closure="llm"``: the closure an
    OpenAI-compatible LLM proposes (``closure_llm``: ``llm_model``, ``base_url``, ``prompt_version``;
    ``kedit.closure_llm``), its facts checked against this (unedited) model first; its calls, cache
    hits and cost are in the config's ``closure_figures``.

    ``judge`` (``llm_model``, ``base_url``, ``prompt_version``): an LLM judge of every generation
    (``kedit.eval.judge``): a ``judge`` metric per probe, its reason kept; calls and cost in
    ``judge_figures``.

    ``turn_size`` (sequential mode): edits written together in one edit call per turn (a lifelong
    editor's turn, UltraEdit's batch of a turn); an editor that cannot batch writes a turn one by one.

    ``runtime`` (``kedit.runtime.Runtime``): the scorer's and the statistics' token budget and batch
    rows (default: the model's device and dtype, the budget chosen from free memory); it is active
    while the run lasts, and recorded in config.json.
    """
    check_settings(editors, mode, hparams, weights, batch_size, every, closure, closure_depth, closure_batch,
                   closure_phrasing, turn_size)
    if not cases:
        raise KeditError("no cases to run")
    if fingerprint is None:
        from ..models.loading import fingerprint_of

        fingerprint = fingerprint_of(model)
    resolved: dict[str, Any] = {
        "schema": RUN_SCHEMA, "kedit": __version__, "editors": list(editors), "mode": mode, "batch_size": batch_size,
        "every": every, **({"turn_size": turn_size} if turn_size != 1 else {}),
        "hparams": {k: dict(v) for k, v in (hparams or {}).items()}, "generate": generate,
        "weights": weights, "n_cases": len(cases), "bench_sha256": cases_digest(cases), **(config or {}),
        "closure": None if (closure or "none") == "none" else {"kind": closure, "depth": closure_depth,
                                                                "kg": str(kg) if kg else None, "batch": closure_batch,
                                                                "phrasing": closure_phrasing},
        **({"closure_figures": {}} if closure == "llm" else {}),
        "model_fingerprint": fingerprint, "torch": torch.__version__, "python": platform.python_version(),
    }
    import transformers

    first = next(model.parameters())
    device = first.device
    if runtime is None:
        runtime = Runtime(str(device), str(first.dtype).removeprefix("torch."))
    runtime = runtime.resolved(model)
    resolved["runtime"], resolved["dtype"] = runtime.to_config(), runtime.dtype
    resolved["transformers"] = transformers.__version__
    resolved["machine"] = (f"{platform.machine()} {platform.system()}, {torch.get_num_threads()} threads, "
                           + (torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"))
    # every editor's hyper-parameters are resolved against the model (layers in range...) before any work
    hps = {name: load_hparams(EDITORS.get(name).hparams_cls, name, model, (hparams or {}).get(name)) for name in editors}
    run_dir = Path(out) if out is not None else None
    lock = FolderLock(run_dir).acquire() if run_dir is not None else None
    try:
        with using(runtime):
            closure_fn = _closure_of(resolved["closure"], closure_llm)
            if hasattr(closure_fn, "check"):  # the LLM's closure: asked now, and checked on the unedited model
                from ..builder.llm.client import endpoint_host

                resolved["closure"].update({"depth": None, "kg": None, "phrasing": None, "llm_model": closure_fn.llm_model,
                                            "endpoint": endpoint_host(closure_fn.base_url),
                                            "prompt_version": closure_fn.prompt.version})
                closure_fn.check(model, tok, cases, progress="closure checks" if progress else None)
                resolved["closure_figures"] = closure_fn.figures()
            judge_fn = _judge_of(judge, resolved)
            return _evaluate(model, tok, list(cases), hps, resolved, run_dir, progress, closure_fn, judge_fn)
    finally:
        if lock:
            lock.release()


def _judge_of(conf: Mapping[str, Any] | None, resolved: dict[str, Any]):
    """The run's LLM judge (None: none), recorded in ``resolved["judge"]``."""
    if not conf:
        resolved["judge"] = None
        return None
    from ..builder.llm.client import endpoint_host
    from .judge import LLMJudge

    j = LLMJudge(llm_model=conf.get("llm_model") or "gpt-4o", base_url=conf.get("base_url"),
                 prompt_version=conf.get("prompt_version"))
    resolved["judge"] = {"llm_model": j.llm_model, "endpoint": endpoint_host(j.base_url), "prompt_version": j.prompt.version}
    return j


def _closure_of(conf: Mapping[str, Any] | None, llm: Mapping[str, Any] | None = None):
    """The function giving a case's closure facts, from the run config's ``closure`` entry (None: no
    closure); for ``llm``, an ``LLMClosure`` on the endpoint ``llm`` names."""
    if not conf:
        return None
    if conf.get("kind") == "llm":
        from ..closure_llm import LLMClosure

        llm = dict(llm or {})
        return LLMClosure(llm_model=llm.get("llm_model") or "gpt-4o", base_url=llm.get("base_url"),
                          prompt_version=llm.get("prompt_version"))
    from ..builder.kg import KnowledgeGraph
    from ..closure import kg_closure
    from ..settings import data_root

    graph = KnowledgeGraph.load(Path(conf["kg"]) if conf.get("kg") else data_root() / "kg")
    return lambda case: kg_closure(graph, case, conf["depth"], conf.get("phrasing", "paraphrase"))


def _evaluate(model, tok, cases: list[EditCase], hps: dict[str, Any], resolved: dict[str, Any], out: Path | None,
              progress: bool, closure=None, judge=None) -> Report:
    mode, editors = resolved["mode"], resolved["editors"]
    results: list[CaseResult] = []
    decay: list[DecayPoint] = []
    done: set[tuple[str, str, str]] = set()
    cfg_path = out / "config.json" if out else None
    if cfg_path is not None and cfg_path.is_file():
        old = json.loads(cfg_path.read_text())
        check_run_schema(old, out)
        diff = [k for k in _RESUME_KEYS if old.get(k, _RESUME_DEFAULTS.get(k)) != resolved.get(k, _RESUME_DEFAULTS.get(k))]
        if diff:
            raise KeditError(f"{out} holds a run with other settings ({', '.join(diff)} differ); "
                             "pass the same arguments to resume it or choose another --out")
        for k in ("editor_hparams", "precompute_seconds", "precompute"):
            resolved[k] = old.get(k, {})
        prior = read_results(out / "cases.jsonl", old.get("kedit"))
        done = {r.key for r in prior if not r.failed}
        log.warning("resuming the run in %s (%d case results already done)", out, len(done))
    base = compute_baseline(model, tok, cases, resolved["model_fingerprint"], progress=progress)
    resolved["baseline"] = {"cache_hit": base.cache_hit, "seconds": base.seconds}
    ctx = Context(model, tok, base, resolved["generate"], progress, judge=judge)
    runs = [(name, name, ctx) for name in editors]  # (editor, the label its results carry, context)
    if closure is not None:
        with_closure = dataclasses.replace(ctx, closure=closure, closure_batch=resolved["closure"]["batch"])
        runs = [r for name in editors for r in ((name, name, ctx), (name, f"{name}+closure", with_closure))]
    for k in ("editor_hparams", "precompute_seconds", "precompute"):
        resolved.setdefault(k, {})

    def write_config() -> None:
        if cfg_path is not None:
            atomic_write_json(cfg_path, resolved, default=str)

    write_config()
    with _Sinks(out, results, decay) as sinks:
        for name, label, run_ctx in runs:
            todo = [c for c in cases if (label, mode, c.case_id) not in done]
            if not todo:
                log.warning("%s: all %d cases already done in %s", label, len(cases), out)
                continue
            editor, hp = EDITORS.get(name)(), hps[name]
            if label != name:  # results, decay points and progress carry the label
                editor.name = label
            resolved["editor_hparams"][name] = dataclasses.asdict(hp)
            t0 = time.perf_counter()
            prep = editor.prepare(model, tok, hp) or {}
            resolved["precompute_seconds"][name] = time.perf_counter() - t0
            resolved["precompute"][name] = {k: v for k, v in prep.items() if isinstance(v, (int, float, str, bool))}
            write_config()
            if mode == "single":
                run_single(editor, hp, run_ctx, todo, sinks.case, cases)
            elif mode == "batch":
                run_batch(editor, hp, run_ctx, todo, sinks.case, resolved["batch_size"], cases)
            else:  # a sequence resumes from its checkpoint (kedit.eval.checkpoint) or runs whole again
                every = resolved["every"] or max(1, len(cases) // 10)
                turn = resolved.get("turn_size", 1)
                ckpt = None if out is None else SequenceCheckpoint(
                    out, label, sequence_key(label, hp, [c.case_id for c in cases], turn, every))
                sinks.restart_decay(label, ckpt.applied() if ckpt is not None else None)
                run_sequential(editor, hp, run_ctx, cases, sinks.case, every, sinks.decay, turn, ckpt)
            if judge is not None:
                resolved["judge_figures"] = judge.figures()
                write_config()
    if out is not None:
        write_outputs(out, resolved.get("weights"))
        return load_report(out, resolved.get("weights"))
    return _report(results, resolved, resolved.get("weights"), None)


class _Sinks:
    """Where case results and decay points go: memory, and the run folder's files when there is one
    (each record appended and flushed as it is made, so a killed run keeps what it finished)."""

    def __init__(self, out: Path | None, results: list[CaseResult], decay: list[DecayPoint]):
        self.out, self.results, self.decay_points = out, results, decay
        self._cases: JsonlAppender | None = None
        self._decay_fh = None

    def __enter__(self) -> "_Sinks":
        if self.out is not None:
            drop_partial_line(self.out / "cases.jsonl")
            drop_partial_line(self.out / "decay.csv")  # a row cut short by a killed run
            self._cases = JsonlAppender(self.out / "cases.jsonl")
            self._decay_fh = (self.out / "decay.csv").open("a", newline="")
            self._dw = csv.DictWriter(self._decay_fh, DECAY_COLUMNS)
            if self._decay_fh.tell() == 0:
                self._dw.writeheader()
        return self

    def case(self, r: CaseResult) -> None:
        self.results.append(r)
        if self._cases is not None:
            self._cases.write(r.to_dict())

    def restart_decay(self, editor: str, keep_upto: int | None = None) -> None:
        """A sequence run again replaces its decay points: drop the editor's rows (those after
        ``keep_upto`` edits when it resumes from a checkpoint taken there)."""
        def kept(e: str, n: str | int) -> bool:
            return e != editor or (keep_upto is not None and int(n) <= keep_upto)

        self.decay_points[:] = [p for p in self.decay_points if kept(p.editor, p.n_edits)]
        if self._decay_fh is None:
            return
        self._decay_fh.close()
        path = self.out / "decay.csv"
        with path.open(newline="") as fh:
            keep = [row for row in csv.DictReader(fh) if kept(row.get("editor"), row.get("n_edits") or 0)]
        with atomic_open(path, newline="") as fh:
            w = csv.DictWriter(fh, DECAY_COLUMNS)
            w.writeheader()
            w.writerows(keep)
        self._decay_fh = path.open("a", newline="")
        self._dw = csv.DictWriter(self._decay_fh, DECAY_COLUMNS)

    def decay(self, p: DecayPoint) -> None:
        self.decay_points.append(p)
        if self._decay_fh is not None:
            self._dw.writerow(dataclasses.asdict(p))
            self._decay_fh.flush()

    def __exit__(self, *exc) -> None:
        if self._cases is not None:
            self._cases.close()
            self._decay_fh.close()


def _report(results: list[CaseResult], conf: dict[str, Any], weights: str | None, out: Path | None) -> Report:
    rows = report.summarize(results, conf.get("precompute_seconds"))
    w = report.parse_weights(weights)
    return Report(results, rows, report.ranking(rows, w), w, conf, out)


def load_report(out: str | Path, weights: str | None = None) -> Report:
    """The report of a run folder (finished or interrupted), with other ranking weights if given."""
    out = Path(out)
    cfg_path = out / "config.json"
    if not cfg_path.is_file():
        raise KeditError(f"{out} is not a keval run folder (no config.json)")
    conf = json.loads(cfg_path.read_text())
    check_run_schema(conf, out)
    results = read_results(out / "cases.jsonl", conf.get("kedit"))
    return _report(results, conf, weights if weights is not None else conf.get("weights"), out)


def merge_reports(dirs: Sequence[str | Path], weights: str | None = None) -> Report:
    """One report of several run folders of the same model and benchmark (editors or modes run as
    separate jobs); a result present in two folders, or folders of other models or benchmarks, is an
    error naming them. The merged config is the first folder's, with every folder's editors."""
    reps = [load_report(d, weights) for d in dirs]
    first = reps[0]
    for k in ("model_fingerprint", "bench_sha256"):
        for r in reps[1:]:
            if r.config.get(k) != first.config.get(k):
                raise KeditError(f"{r.out} and {first.out} are runs of different {k.split('_')[0]}s ({k} differs); "
                                 "only runs of one model on one benchmark can be merged")
    seen: dict[tuple, Path | None] = {}
    results: list[CaseResult] = []
    for r in reps:
        for res in r.results:
            if res.key in seen:
                raise KeditError(f"{'/'.join(res.key)} is in both {seen[res.key]} and {r.out}: merge folders that hold "
                                 "other editors or modes")
            seen[res.key] = r.out
            results.append(res)
    conf = dict(first.config)
    conf["editors"] = list(dict.fromkeys(e for r in reps for e in r.config.get("editors", [])))
    conf["precompute_seconds"] = {k: v for r in reps for k, v in (r.config.get("precompute_seconds") or {}).items()}
    conf["merged_from"] = [str(r.out) for r in reps]
    return _report(results, conf, weights if weights is not None else conf.get("weights"), None)


def write_merged(dirs: Sequence[str | Path], out: str | Path, weights: str | None = None) -> Report:
    """``merge_reports`` written to ``out`` (a new or empty folder, or one this function wrote):
    summary.csv / .md, ranking.json, the decay curves of every folder and the plots."""
    rep = merge_reports(dirs, weights)
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / "merged.json").is_file():
        raise KeditError(f"{out} exists and holds other files; write the merged report to a new folder")
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "merged.json", rep.config, default=str)
    decay_rows = []
    for d in dirs:
        path = Path(d) / "decay.csv"
        if path.is_file():
            with path.open() as fh:
                decay_rows += list(csv.DictReader(fh))
    with atomic_open(out / "decay.csv", newline="") as fh:
        w = csv.DictWriter(fh, DECAY_COLUMNS)
        w.writeheader()
        w.writerows(decay_rows)
    _write_report_files(rep, out, f"# keval runs merged: {_title(rep.config)} ({', '.join(rep.config['merged_from'])})\n\n")
    return rep


def _title(conf: Mapping[str, Any]) -> str:
    return f"{conf.get('model', '')} on {Path(conf['bench']).name}" if "bench" in conf else ""


def _write_report_files(rep: Report, out: Path, heading: str) -> str:
    """summary.csv, ranking.json, summary.md (``heading`` first) and the plots of ``out``; returns the Markdown."""
    report.write_csv(rep.rows, out / "summary.csv")
    atomic_write_json(out / "ranking.json", {"weights": rep.weights, "ranking": [dataclasses.asdict(r) for r in rep.ranking]})
    md = heading + rep.markdown()
    atomic_write(out / "summary.md", md)
    from ..optional import MissingExtra

    try:
        from . import plots  # matplotlib: imported only when plots are drawn
    except MissingExtra as e:
        log.warning("%s; the PNG plots are skipped (the summary and ranking are written)", e)
        return md
    plots.bars(rep.rows, out, _title(rep.config))
    plots.decay(out / "decay.csv", out, _title(rep.config))
    return md


def write_outputs(out: Path, weights: str | None = None) -> str:
    """Write ``summary.csv``, ``ranking.json``, ``summary.md`` and the plots of a run folder; returns the Markdown."""
    rep = load_report(out, weights)
    conf = rep.config
    heading = f"# keval run: {_title(conf)} ({conf['n_cases']} cases)\n\n" if "bench" in conf else \
        f"# keval run ({conf['n_cases']} cases)\n\n"
    return _write_report_files(rep, out, heading)


def write_ranking(rep: Report) -> Path:
    """``ranking-<weights>.json`` beside a run's own ``ranking.json``, which stays as the run wrote it."""
    if rep.out is None:
        raise KeditError("this report has no run folder to write into")
    slug = "-".join(f"{k}{v:g}" for k, v in rep.weights.items())
    path = rep.out / f"ranking-{slug}.json"
    atomic_write_json(path, {"weights": rep.weights, "ranking": [dataclasses.asdict(r) for r in rep.ranking]})
    return path


def run(cfg: RunConfig) -> Report:
    """``keval run``: everything is checked before the model loads, and the run folder is created
    only once the settings and the benchmark are valid."""
    check_settings(cfg.editors, cfg.mode, cfg.hparams, cfg.weights, cfg.batch_size, cfg.every, cfg.closure,
                   cfg.closure_depth, cfg.closure_batch, cfg.closure_phrasing, cfg.turn_size)
    if cfg.kg is not None and not Path(cfg.kg).is_dir():
        raise KeditError(f"--kg {cfg.kg}: no such folder (a KG folder holds relations.jsonl, entities.jsonl, triples.jsonl)")
    if cfg.closure == "kg":  # a broken KG fails before the model loads
        _closure_of({"kg": cfg.kg, "depth": cfg.closure_depth, "phrasing": cfg.closure_phrasing})
    if cfg.judge:  # likewise for the judge
        from ..builder.llm.backend import resolve_api_key

        resolve_api_key(cfg.judge.get("base_url"))
        _judge_of(cfg.judge, {})
        if not cfg.generate:
            raise KeditError("--judge grades generations: drop --no-generate")
    if cfg.closure == "llm":  # an unknown prompt version or a missing key fails before the model loads
        from ..builder.llm.backend import resolve_api_key

        resolve_api_key((cfg.closure_llm or {}).get("base_url"))
        _closure_of({"kind": "llm"}, cfg.closure_llm)
    if cfg.limit is not None and cfg.limit < 1:
        raise KeditError(f"--limit must be at least 1, got {cfg.limit}")
    from ..runtime import read_device_map, resolve_device

    rt = cfg.runtime()  # a bad dtype or budget, a GPU asked for where none is, a missing map file: fail now
    rt = dataclasses.replace(rt, device=resolve_device(rt.device), device_map=read_device_map(rt.device_map))
    torch.manual_seed(cfg.seed)
    cases = read_cases(cfg.bench, cfg.fmt)
    if cfg.limit:
        cases = cases[: cfg.limit]
    if not cases:
        raise KeditError(f"{cfg.bench}: no cases to run")
    t0 = time.perf_counter()
    from ..models import load_model

    lm = load_model(cfg.model, dtype=rt.torch_dtype, device=rt.device, device_map=rt.device_map)
    config = {"model": cfg.model, "bench": cfg.bench, "fmt": cfg.fmt, "limit": cfg.limit, "out": cfg.out,
              "device": rt.device, "seed": cfg.seed, "model_load_seconds": time.perf_counter() - t0}
    return evaluate(lm.model, lm.tokenizer, cases, cfg.editors, cfg.mode, hparams=cfg.hparams, batch_size=cfg.batch_size,
                    every=cfg.every, generate=cfg.generate, weights=cfg.weights, out=cfg.out, fingerprint=lm.fingerprint,
                    progress=cfg.progress, config=config, closure=cfg.closure, closure_depth=cfg.closure_depth, kg=cfg.kg,
                    closure_batch=cfg.closure_batch, closure_phrasing=cfg.closure_phrasing, turn_size=cfg.turn_size,
                    runtime=rt, closure_llm=cfg.closure_llm, judge=cfg.judge)
