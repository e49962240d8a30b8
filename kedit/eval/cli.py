"""``keval run | report | ls``: parse, call the Python API, print. Typed errors print one line, no
traceback; an interrupted run says how to resume."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from .. import __version__
from ..cliargs import HelpFormatter, non_negative_int, positive_int
from ..errors import KeditError
from ..redact import install_log_redaction, redact
from ..runtime import add_runtime_arguments, runtime_from_args, using

MODES = ("single", "batch", "sequential")  # kedit.eval.run.MODES, without importing torch for --help
LS_KINDS = ("editors", "formats", "metrics", "models", "backends")

RUN_EXAMPLES = """examples:
  keval run --model smollm2-135m --bench data/demo/bench.jsonl --editors rome,ft-l,ike --out runs/demo
  keval run --model gpt2-xl --bench zsre_mend_eval.json --editors rome --mode batch --batch-size 100 --out runs/zsre
  keval run --config run.yaml --limit 20          # flags override the YAML file's keys
  keval run ... --hparam rome.layer=5 --weights portability=2,locality=1
"""


def _parser() -> argparse.ArgumentParser:
    fmt = HelpFormatter
    ap = argparse.ArgumentParser(prog="keval", description="Evaluate knowledge editors on a benchmark.", formatter_class=fmt,
                                 epilog="run `keval COMMAND --help` for a command's options and examples")
    ap.add_argument("--version", action="version", version=f"kedit {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True, metavar="COMMAND")
    r = sub.add_parser("run", help="edit, score and report", formatter_class=fmt, epilog=RUN_EXAMPLES,
                       description="Run each editor on every case of a benchmark and score every probe.")
    r.add_argument("--config", metavar="FILE", help="YAML with the same keys as these options (model, bench, editors, "
                   "mode, out, hparams: {rome: {layer: 5}}, ...); options given here override it")
    r.add_argument("--model", help="built-in name (smollm2-135m), local folder or Hub id (gpt2-xl, meta-llama/Llama-2-7b-hf)")
    r.add_argument("--bench", help="kedit JSONL, an exported dataset folder, or any registered format (keval ls formats)")
    r.add_argument("--format", dest="fmt", help="benchmark format (default: detected from the first record)")
    r.add_argument("--editors", help="comma-separated registered names, e.g. ft-l,rome,ike (keval ls editors)")
    r.add_argument("--mode", default="single", metavar="{" + ",".join(MODES) + "}", help="single: edit, score, restore; batch: --batch-size "
                   "edits at once; sequential: edits accumulate")
    r.add_argument("--out", help="run folder (an interrupted run resumes from it)")
    r.add_argument("--limit", type=positive_int, help="run the first N cases")
    r.add_argument("--weights", help="ranking weights, e.g. portability=2,locality=1 (keys left out keep weight 1)")
    r.add_argument("--batch-size", type=positive_int, default=10, help="edits per batch in batch mode")
    r.add_argument("--every", type=non_negative_int, default=0, help="sequential: score every K edits (0: about ten points)")
    r.add_argument("--turn-size", type=positive_int, default=1, help="sequential: edits written together in each turn (default 1)")
    r.add_argument("--hparam", action="append", default=[], metavar="EDITOR.KEY=VALUE", help="override a hyper-parameter (repeatable)")
    add_runtime_arguments(r)
    r.add_argument("--no-generate", action="store_true", help="skip greedy-generation metrics (faster)")
    j = r.add_argument_group("LLM judge of the generations (a judge metric per probe)")
    j.add_argument("--judge", choices=("openai",), help="grade every generation with an OpenAI-compatible model (cached, "
                   "costed); calibrate it first with keval judge-agreement")
    j.add_argument("--judge-model", default="gpt-4o", help="the judge's model name at the endpoint")
    j.add_argument("--judge-base-url", metavar="URL", help="the judge's endpoint (default: OpenAI's; key from OPENAI_API_KEY)")
    j.add_argument("--judge-prompt-version", help="the judge prompt in data/prompts/, e.g. judge.v1 (default: the latest)")
    c = r.add_argument_group("closure editing (each editor also runs as EDITOR+closure)")
    c.add_argument("--closure", default="none", metavar="{none,kg,llm}", help="kg: write each edit with the facts it "
                   "entails in the knowledge graph (aliases, inverse, one-hop chains); llm: with the facts an "
                   "OpenAI-compatible LLM proposes, kept where the unedited model passes their check (cached, costed); "
                   "none (default): the edit alone")
    c.add_argument("--closure-depth", type=non_negative_int, default=1, help="hops of the one-hop chains (0: no closure facts)")
    c.add_argument("--closure-phrasing", default="paraphrase", metavar="{paraphrase,template}",
                   help="write each closure fact in its relation's first paraphrase (default: the kg backend's "
                   "template-based probes stay held out) or its template")
    c.add_argument("--kg", metavar="DIR", help="knowledge-graph folder for --closure kg (default: the bundled data/kg)")
    c.add_argument("--closure-base-url", metavar="URL", help="--closure llm: the endpoint, e.g. http://127.0.0.1:8080/v1 "
                   "(default: OpenAI's; the key is read from OPENAI_API_KEY)")
    c.add_argument("--closure-llm-model", default="gpt-4o", help="--closure llm: the model name at the endpoint")
    c.add_argument("--closure-prompt-version", help="--closure llm: the prompt in data/prompts/, e.g. closure.v1 "
                   "(default: the latest)")
    c.add_argument("--closure-batch", type=non_negative_int, default=0,
                   help="at most N requests per edit call; larger closures are written in several calls (0: no limit)")
    _verbosity(r)
    p = sub.add_parser("report", help="reprint a run's summary, with other ranking weights if asked", formatter_class=fmt,
                       epilog="examples:\n  keval report runs/demo\n  keval report runs/demo --weights portability=2,locality=1"
                       "\n  keval report runs/memit runs/alphaedit --out runs/merged",
                       description="Print the summary of a run folder (finished or interrupted). With --weights the "
                       "ranking is recomputed and written to ranking-<weights>.json beside the run's own files, which "
                       "stay as the run wrote them. Several folders (other editors or modes of one model on one "
                       "benchmark, run as separate jobs) are merged into one summary; --out writes it with its plots.")
    p.add_argument("dir", nargs="+", help="a keval run folder, or several to merge")
    p.add_argument("--out", help="with several folders: write the merged summary, decay curves and plots here")
    p.add_argument("--weights", help="ranking weights, e.g. portability=2,locality=1 (keys left out keep weight 1)")
    p.add_argument("--by", choices=("split", "axis"), default="split", help="axis: group by the benchmark's own test axes "
                   "(RippleEdits', KnowEdit's, MQuAKE's), read from the run's benchmark")
    p.add_argument("--names", choices=("kedit", "easyedit"), default="kedit",
                   help="easyedit: the figures under EasyEdit's names (rewrite_acc, rephrase_acc, locality, portability)")
    _verbosity(p)
    t = sub.add_parser("train", help="train a learned editor (mend, ke, serac) for a model", formatter_class=fmt,
                       epilog=TRAIN_EXAMPLES, description="Meta-train an editor that learns to edit, on training edits "
                       "(any edit file; their paraphrases and locality probes are used), with a validation split of "
                       "held-out subjects, checkpoints, resume and early stopping. The artifact (safetensors + "
                       "manifest.json) goes to --out; edit with it through --hparam EDITOR.artifact=OUT.")
    t.add_argument("--editor", required=True, help="mend, ke or serac")
    t.add_argument("--model", required=True, help="built-in name, local folder or Hub id (as keval run)")
    t.add_argument("--train", required=True, metavar="FILE", help="training edits: kedit JSONL or any registered format")
    t.add_argument("--out", required=True, help="artifact folder (an interrupted training resumes from it)")
    t.add_argument("--bench", help="the benchmark the artifact will be evaluated on: a subject shared with the "
                   "training edits is refused (or left out with --drop-overlap)")
    t.add_argument("--drop-overlap", action="store_true", help="leave out the training edits whose subject is in --bench")
    t.add_argument("--hparam", action="append", default=[], metavar="EDITOR.KEY=VALUE",
                   help="override a hyper-parameter, e.g. mend.train_steps=300 (repeatable)")
    add_runtime_arguments(t)
    _verbosity(t)
    ja = sub.add_parser("judge-agreement", help="Cohen's kappa of an LLM judge against human verdicts (Label Studio)",
                        formatter_class=fmt, epilog="examples:\n  kbuild annotate pull ... --out verified.jsonl\n"
                        "  keval judge-agreement verified.jsonl --judge-model gpt-4o\n"
                        "  keval judge-agreement verified.jsonl --judge-base-url http://127.0.0.1:8080/v1 --judge-model local",
                        description="Put every probe that annotators adjudicated correct or incorrect (the output of "
                        "kbuild annotate pull and its .rejected.jsonl) to the judge, as the annotators saw it, and "
                        "report Cohen's kappa between the judge and the humans, with the confusion counts.")
    ja.add_argument("verified", metavar="VERIFIED.jsonl", help="kbuild annotate pull's output")
    ja.add_argument("--rejected", metavar="FILE", help="its rejected probes (default: VERIFIED.rejected.jsonl beside it)")
    ja.add_argument("--judge-model", default="gpt-4o", help="the judge's model name at the endpoint")
    ja.add_argument("--judge-base-url", metavar="URL", help="the endpoint (default: OpenAI's; key from OPENAI_API_KEY)")
    ja.add_argument("--judge-prompt-version", help="the judge prompt, e.g. judge.v1 (default: the latest)")
    ja.add_argument("--out", metavar="FILE.json", help="also write the figures here")
    _verbosity(ja)
    s = sub.add_parser("sweep", help="a grid of runs (models x benches x editors x modes x hparams x seeds) on Ray",
                       formatter_class=fmt, epilog=SWEEP_EXAMPLES,
                       description="Run every cell of a sweep file as a keval run of one editor, on a local Ray cluster, "
                       "a cluster at --address, or one after another here (--local). A rerun skips the cells done and "
                       "resumes the others; a cell that fails is recorded and the rest go on. The merged figures go to "
                       "OUT/sweep_summary.csv (long form), sweep_summary.md, sweep_ranking.json and sweep_heatmap.png.")
    s.add_argument("file", metavar="SWEEP.yaml", help="keys: models, benches, editors, modes (lists); optional hparams "
                   "(a list of override maps), seeds, limit, batch_size, every, generate")
    s.add_argument("--out", required=True, help="the sweep folder (a rerun resumes it)")
    s.add_argument("--address", help="ray://HOST:PORT, HOST:PORT or auto (default: start a local Ray cluster)")
    s.add_argument("--local", action="store_true", help="no Ray: run the cells one after another in this process")
    s.add_argument("--retries", type=non_negative_int, default=2, help="Ray retries of a cell whose worker dies")
    s.add_argument("--cpus-per-cell", type=positive_int, default=1, help="CPUs (and torch threads) per cell where the "
                   "cluster has no GPU; with GPUs each cell takes one")
    s.add_argument("--weights", help="ranking weights, e.g. portability=2,locality=1")
    s.add_argument("--cache", metavar="DIR", help="shared artefacts (converted models, statistics, projectors, unedited "
                   "answers) every worker sees (default: kedit's cache)")
    add_runtime_arguments(s)
    _verbosity(s)
    ls = sub.add_parser("ls", help="list editors, formats, metrics, models or backends", formatter_class=fmt,
                        epilog="examples:\n  keval ls editors\n  keval ls formats")
    ls.add_argument("kind", choices=LS_KINDS)
    return ap


TRAIN_EXAMPLES = """examples:
  kbuild generate --backend kg --in data/kg/seeds.jsonl --out train.jsonl
  keval train --editor mend --model smollm2-135m --train train.jsonl --bench data/demo/bench.jsonl --drop-overlap \\
      --out artifacts/mend-smollm2
  keval run --model smollm2-135m --bench data/demo/bench.jsonl --editors mend --hparam mend.artifact=artifacts/mend-smollm2 \\
      --out runs/mend
"""


SWEEP_EXAMPLES = """examples:
  keval sweep sweep.yaml --out runs/sweep                       # a local Ray cluster on this machine
  keval sweep sweep.yaml --out runs/sweep --address ray://head:10001 --dtype bfloat16
  keval sweep sweep.yaml --out runs/sweep --local              # no Ray: one cell after another
sweep.yaml:
  models: [smollm2-135m]
  benches: [data/demo/bench.jsonl]
  editors: [rome, memit, ft-l]
  modes: [single, batch]
  hparams: [{}, {rome: {v_lr: 0.1}}]
  seeds: [0, 1]
  limit: 20
"""


def _judge_conf(args: argparse.Namespace) -> dict[str, Any]:
    return {"llm_model": args.judge_model, "base_url": args.judge_base_url, "prompt_version": args.judge_prompt_version}


def _judge_agreement(args: argparse.Namespace) -> int:
    import json

    from ..atomic import atomic_write_json
    from ..builder.llm.backend import resolve_api_key
    from .judge import LLMJudge, judge_agreement

    conf = _judge_conf(args)
    judge = LLMJudge(llm_model=conf["llm_model"], base_url=conf["base_url"], api_key=resolve_api_key(conf["base_url"]),
                     prompt_version=conf["prompt_version"])
    res = judge_agreement(judge, args.verified, args.rejected)
    k = res["kappa"]
    print(f"judge {conf['llm_model']} ({judge.prompt.version}) against the human verdicts of {res['n_items']} probes: "
          f"Cohen's kappa {'undefined' if k is None else f'{k:.3f}'}, raw agreement "
          f"{'-' if res['agreement'] is None else format(res['agreement'], '.3f')}")
    print("  " + ", ".join(f"{key} {n}" for key, n in res["confusion"].items()))
    if res["left_out"] or res["judge_unusable"]:
        print(f"  left out: {json.dumps(res['left_out'])}; judge replies unusable: {res['judge_unusable']}")
    fig = res["judge"]
    print(f"  calls {fig['calls']}, cache hits {fig['cache_hits']}, cost ${fig['cost_usd']:.4f}")
    if args.out:
        atomic_write_json(Path(args.out), res)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from ..sweep import sweep

    def line(i: int, n: int, cell, rec: dict) -> None:
        took = f" in {rec['seconds']:.0f} s" if rec.get("seconds") is not None else ""
        again = f", {rec['attempts']} attempts" if rec.get("attempts", 1) > 1 else ""
        err = f": {rec['error']}" if rec.get("error") else ""
        tqdm.write(f"[{i}/{n}] {rec['status']:6s} {cell.cell_id}{took}{again}{err}")

    res = sweep(args.file, args.out, local=args.local, address=args.address, retries=args.retries,
                cpus_per_cell=args.cpus_per_cell, weights=args.weights, runtime=runtime_from_args(args), cache=args.cache,
                progress=not args.quiet, on_cell=line)
    print((res.out / "sweep_summary.md").read_text())
    if res.failed:
        print(f"{len(res.failed)} of {len(res.cells)} cells failed (errors in {res.out / 'cells.jsonl'}); "
              "rerun the same command to retry them")
    print(f"sweep folder: {res.out}")
    return 1 if res.failed else 0


def _verbosity(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("-v", "--verbose", action="store_true", help="log what each step does")
    g.add_argument("-q", "--quiet", action="store_true", help="only errors: no warnings, no progress bars")


def _config_file(parser: argparse.ArgumentParser, run_parser: argparse.ArgumentParser, argv: list[str]) -> argparse.Namespace:
    """Parse ``argv``; a ``--config`` YAML supplies defaults that the command line overrides."""
    args = parser.parse_args(argv)
    if args.cmd != "run":
        return args
    hparams: dict[str, dict[str, Any]] = {}
    if args.config:
        import yaml

        try:
            data = yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) or {}
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise KeditError(f"--config {args.config}: cannot read it as YAML ({e.__class__.__name__}: "
                             f"{' '.join(str(e).split())})") from None
        if not isinstance(data, dict):
            raise KeditError(f"--config {args.config}: expected a mapping of option names to values")
        dests = {a.dest for a in run_parser._actions if a.dest not in ("help", "config")} | {"format", "hparams"}
        defaults = {}
        for key, value in data.items():
            dest = str(key).replace("-", "_")
            if dest not in dests:
                from ..errors import UnknownNameError

                raise UnknownNameError(f"key of --config {args.config}", str(key), sorted(dests))
            if dest == "hparams":
                if not isinstance(value, dict) or not all(isinstance(v, dict) for v in value.values()):
                    raise KeditError(f"--config {args.config}: hparams must map editors to their keys, "
                                     "e.g. hparams: {rome: {layer: 5}}")
                hparams = {str(ed): dict(kv) for ed, kv in value.items()}
                continue
            if dest == "editors" and isinstance(value, list):
                value = ",".join(map(str, value))
            if dest == "hparam" and isinstance(value, list):
                value = [str(v) for v in value]
            defaults["fmt" if dest == "format" else dest] = value
        run_parser.set_defaults(**defaults)
        args = parser.parse_args(argv)  # the command line wins over the file
    for opt in ("model", "bench", "editors", "out"):
        if not getattr(args, opt):
            raise KeditError(f"--{opt} is required (on the command line or as '{opt}:' in --config)")
    if args.mode not in MODES:
        from ..errors import UnknownNameError

        raise UnknownNameError("mode", args.mode, MODES)
    args.hparams_from_config = hparams
    return args


def _summary(doc: str | None, limit: int = 110) -> str:
    """The first paragraph of a docstring on one line, cut on a word boundary."""
    para = " ".join((doc or "").strip().split("\n\n")[0].split())
    return para if len(para) <= limit else para[: para.rfind(" ", 0, limit)] + " ..."


def _ls(kind: str) -> str:
    rows: list[tuple[str, str]] = []
    if kind == "editors":
        from ..editors import EDITORS

        for name, cls in EDITORS.items():
            kinds = "in-context" if cls.in_context else ("batches natively" if cls.supports_batch else "batch: one by one")
            rows.append((name, f"{_summary(sys.modules[cls.__module__].__doc__ or cls.__doc__)} "
                               f"[modes: single, batch, sequential; {kinds}]"))
    elif kind == "formats":
        from ..records import FORMATS

        rows = [(name, getattr(f, "description", "") or _summary(f.read.__doc__)) for name, f in FORMATS.items()]
    elif kind == "metrics":
        from .metrics import METRICS

        rows = [(name, f"{m.description} ({'higher' if m.higher_is_better else 'lower'} is better)") for name, m in METRICS.items()]
    elif kind == "models":
        from ..models import BUILTINS

        rows = [(name, _summary(fn.__doc__)) for name, fn in BUILTINS.items()]
        rows.append(("<folder>", "a local Hugging Face model folder"))
        rows.append(("<hub id>", "a Hugging Face Hub id, e.g. gpt2-xl or meta-llama/Llama-2-7b-hf (needs a network)"))
    else:
        from ..builder import BACKENDS

        rows = [(name, _summary(cls.__doc__ or sys.modules[cls.__module__].__doc__)) for name, cls in BACKENDS.items()]
    width = max(len(n) for n, _ in rows)
    return "\n".join(f"{n:{width}s}  {d}" for n, d in rows)


def _train(args: argparse.Namespace) -> int:

    from ..api import load_model, train
    from ..editors.hparams import parse_overrides

    rt = runtime_from_args(args).resolved()
    overrides = parse_overrides(args.hparam)
    other = sorted(set(overrides) - {args.editor})
    if other:
        raise KeditError(f"--hparam names {', '.join(other)}, but this trains {args.editor}; write {args.editor}.KEY=VALUE")
    loaded = load_model(args.model, dtype=rt.torch_dtype, device=rt.device, device_map=rt.device_map)
    with using(rt.resolved(loaded.model)):
        res = train(loaded.model, loaded.tokenizer, args.editor, args.train, args.out, hparams=overrides.get(args.editor),
                    bench=args.bench, drop_overlap=args.drop_overlap, progress=not args.quiet)
    best = ", ".join(f"{k} {v:.3f}" for k, v in res.best.items() if k != "step")
    print(f"{res.editor}: {res.steps} steps in {res.seconds:.0f} s ({res.stopped}); {res.n_train} training and "
          f"{res.n_val} validation edits" + (f", {res.overlap_dropped} left out (subjects in --bench)" if res.overlap_dropped else ""))
    print(f"best validation (step {res.best.get('step')}): {best}")
    print(f"artifact: {res.artifact}\nuse it: keval run ... --editors {res.editor} --hparam {res.editor}.artifact={res.artifact}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    run_parser = parser._subparsers._group_actions[0].choices["run"]  # type: ignore[union-attr]
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = _config_file(parser, run_parser, argv)
        quiet, verbose = getattr(args, "quiet", False), getattr(args, "verbose", False)
        logging.basicConfig(level=logging.ERROR if quiet else logging.INFO if verbose else logging.WARNING,
                            format="keval: %(message)s")
        install_log_redaction()
        if args.cmd == "ls":
            print(_ls(args.kind))
            return 0
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        from .run import RunConfig, load_report, run, write_ranking

        if args.cmd == "train":
            return _train(args)
        if args.cmd == "sweep":
            return _sweep(args)
        if args.cmd == "judge-agreement":
            return _judge_agreement(args)
        if args.cmd == "run":

            from ..editors.hparams import parse_overrides

            rt = runtime_from_args(args)
            hparams = args.hparams_from_config
            for ed, kv in parse_overrides(args.hparam).items():
                hparams.setdefault(ed, {}).update(kv)
            cfg = RunConfig(
                model=args.model, bench=args.bench, fmt=args.fmt,
                editors=[e.strip() for e in str(args.editors).split(",") if e.strip()],
                mode=args.mode, out=args.out, limit=args.limit, weights=args.weights,
                batch_size=args.batch_size, every=args.every, turn_size=args.turn_size, hparams=hparams,
                device=rt.device, dtype=rt.dtype, device_map=rt.device_map, batch_tokens=rt.batch_tokens,
                max_batch=rt.max_batch, generate=not args.no_generate, progress=not quiet,
                closure=args.closure, closure_depth=args.closure_depth, kg=args.kg, closure_batch=args.closure_batch,
                closure_phrasing=args.closure_phrasing,
                closure_llm={"llm_model": args.closure_llm_model, "base_url": args.closure_base_url,
                             "prompt_version": args.closure_prompt_version} if args.closure == "llm" else None,
                judge=_judge_conf(args) if args.judge else None,
            )
            rep = run(cfg)
            print((rep.out / "summary.md").read_text())
            if rep.failed:
                print(f"{len(rep.failed)} case result(s) failed (errors in {rep.out / 'cases.jsonl'})")
            print(f"run folder: {rep.out}")
        else:
            if len(args.dir) > 1 or args.out:
                from .run import merge_reports, write_merged

                rep = write_merged(args.dir, args.out, args.weights) if args.out else merge_reports(args.dir, args.weights)
            else:
                rep = load_report(Path(args.dir[0]), args.weights)
            if args.by == "axis":
                from ..records import read_cases
                from .axes import axis_markdown, axis_table

                conf = rep.config
                if not conf.get("bench"):
                    raise KeditError("this run folder does not name its benchmark (config.json: bench); --by axis needs it")
                cases = read_cases(conf["bench"], conf.get("fmt"))
                print(axis_markdown(axis_table(rep.results, cases)))
                return 0
            if args.names == "easyedit":
                from .report import easyedit_view

                print(easyedit_view(rep.rows))
                return 0
            print(rep.markdown())
            if args.weights and rep.out is not None:
                print(f"ranking with these weights: {write_ranking(rep)}")
            if args.out:
                print(f"merged report: {args.out}")
        return 0
    except KeditError as e:
        print(f"keval: error: {redact(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # a path that cannot be read or written: name it, no traceback
        print(f"keval: error: {e.filename or ''}: {redact(str(e.strerror or e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("keval: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
