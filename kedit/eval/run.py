"""A keval run: load the benchmark and model, compute the unedited baseline once, run each editor in
the chosen mode, write the run folder, and resume an interrupted run from that folder.

Run folder: ``config.json`` (resolved config and hyper-parameters), ``cases.jsonl`` (one record per
editor and case, pre and post values of every probe), ``decay.csv`` (sequential), ``summary.csv``,
``summary.md``, ``ranking.json`` and PNG plots.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import json
import logging
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .. import __version__
from ..editors import EDITORS, load_hparams
from ..errors import KeditError
from ..records import read_cases
from ..records.jsonl import JsonlAppender, drop_partial_line
from . import report
from .baseline import compute_baseline
from .modes import Context, run_batch, run_sequential, run_single

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
    hparams: dict[str, dict[str, str]] = field(default_factory=dict)
    device: str = "cpu"
    generate: bool = True
    seed: int = 0


def _check(cfg: RunConfig) -> None:
    if cfg.mode not in MODES:
        import difflib

        close = difflib.get_close_matches(cfg.mode, MODES, n=1)
        raise KeditError(f"unknown mode '{cfg.mode}'" + (f"; did you mean '{close[0]}'?" if close else "") + f" Modes: {', '.join(MODES)}.")
    for name in cfg.editors:  # unknown editors and hyper-parameters fail before any model is loaded
        load_hparams(EDITORS.get(name).hparams_cls, name, None, cfg.hparams.get(name))
    for name in cfg.hparams:
        if name not in cfg.editors:
            raise KeditError(f"--hparam names editor '{name}', which is not in --editors {','.join(cfg.editors)}")
    report.parse_weights(cfg.weights)


# fields that must match for a folder to be resumed
_RESUME_KEYS = ("model", "bench_sha256", "mode", "limit", "batch_size", "every", "hparams", "generate")


def _file_sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def run(cfg: RunConfig) -> Path:
    _check(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(cfg.seed)
    cases = read_cases(cfg.bench, cfg.fmt)
    if cfg.limit:
        cases = cases[: cfg.limit]
    if not cases:
        raise KeditError(f"{cfg.bench}: no cases to run")
    resolved = {**dataclasses.asdict(cfg), "bench_sha256": _file_sha(cfg.bench), "n_cases": len(cases)}
    cfg_path = out / "config.json"
    if cfg_path.is_file():
        old = json.loads(cfg_path.read_text())
        diff = [k for k in _RESUME_KEYS if old.get(k) != resolved.get(k)]
        if diff:
            raise KeditError(f"{out} holds a run with other settings ({', '.join(diff)} differ); "
                             "pass the same arguments to resume it or choose another --out")
        resolved["editor_hparams"] = old.get("editor_hparams", {})
        resolved["precompute_seconds"] = old.get("precompute_seconds", {})
        log.warning("resuming the run in %s", out)
    lm_t0 = time.perf_counter()
    from ..models import load_model

    lm = load_model(cfg.model, device=cfg.device)
    resolved.update({
        "model_fingerprint": lm.fingerprint, "model_load_seconds": time.perf_counter() - lm_t0,
        "kedit": __version__, "torch": torch.__version__, "python": platform.python_version(),
        "machine": f"{platform.machine()} {platform.system()}, {torch.get_num_threads()} threads, "
                   + (torch.cuda.get_device_name() if cfg.device.startswith("cuda") else "cpu"),
    })
    import transformers

    resolved["transformers"] = transformers.__version__
    base = compute_baseline(lm.model, lm.tokenizer, cases, lm.fingerprint)
    resolved["baseline"] = {"cache_hit": base.cache_hit, "seconds": base.seconds}
    ctx = Context(lm.model, lm.tokenizer, base, cfg.generate)
    records_path = out / "cases.jsonl"
    drop_partial_line(records_path)
    done = {(r["editor"], r["mode"], r["case_id"]) for r in report.read_records(records_path) if not r.get("error")}
    resolved.setdefault("editor_hparams", {})
    resolved.setdefault("precompute_seconds", {})

    def write_config():
        tmp = cfg_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(resolved, indent=2, default=str))
        tmp.replace(cfg_path)

    write_config()
    with JsonlAppender(records_path) as appender, (out / "decay.csv").open("a", newline="") as dfh:
        sink = appender.write

        dw = csv.DictWriter(dfh, ["editor", "n_edits", "split", "metric", "value", "n"])
        if dfh.tell() == 0:
            dw.writeheader()

        def decay_sink(row: dict) -> None:
            dw.writerow(row)
            dfh.flush()

        for name in cfg.editors:
            todo = [c for c in cases if (name, cfg.mode, c.case_id) not in done]
            if not todo:
                log.warning("%s: all %d cases already done in %s", name, len(cases), out)
                continue
            editor = EDITORS.get(name)()
            hp = load_hparams(editor.hparams_cls, name, lm.model, cfg.hparams.get(name))
            resolved["editor_hparams"][name] = dataclasses.asdict(hp)
            t0 = time.perf_counter()
            prep = editor.prepare(lm.model, lm.tokenizer, hp) or {}
            resolved["precompute_seconds"][name] = time.perf_counter() - t0
            resolved.setdefault("precompute", {})[name] = {k: v for k, v in prep.items() if isinstance(v, (int, float, str, bool))}
            write_config()
            if cfg.mode == "single":
                run_single(editor, hp, ctx, todo, sink)
            elif cfg.mode == "batch":
                run_batch(editor, hp, ctx, todo, sink, cfg.batch_size)
            else:  # a sequence cannot resume half-way: it is run whole
                every = cfg.every or max(1, len(cases) // 10)
                run_sequential(editor, hp, ctx, cases, sink, every, decay_sink)
    write_outputs(out, cfg.weights)
    return out


def write_outputs(out: Path, weights: str | None = None) -> str:
    cfg_path = out / "config.json"
    if not cfg_path.is_file():
        raise KeditError(f"{out} is not a keval run folder (no config.json)")
    conf = json.loads(cfg_path.read_text())
    records = report.read_records(out / "cases.jsonl")
    rows = report.summarize(records, conf.get("precompute_seconds"))
    report.write_csv(rows, out / "summary.csv")
    w = report.parse_weights(weights if weights is not None else conf.get("weights"))
    ranked = report.ranking(rows, w)
    (out / "ranking.json").write_text(json.dumps({"weights": w, "ranking": ranked}, indent=2))
    md = f"# keval run: {conf['model']} on {Path(conf['bench']).name} ({conf['n_cases']} cases)\n\n" + report.markdown(rows, ranked, w)
    (out / "summary.md").write_text(md)
    from . import plots  # matplotlib: imported only when plots are drawn

    plots.bars(rows, out)
    plots.decay(out / "decay.csv", out)
    return md
