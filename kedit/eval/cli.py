"""``keval run`` and ``keval report``: typed errors print one line, no traceback."""

from __future__ import annotations

import argparse
import logging
import sys

from ..errors import KeditError


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="keval", description="Evaluate knowledge editors on a benchmark.")
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run", help="edit, score and report")
    r.add_argument("--model", required=True, help="built-in name (smollm2-135m), local folder or Hub id")
    r.add_argument("--bench", required=True, help="kedit JSONL, or EasyEdit / ROME CounterFact JSON")
    r.add_argument("--format", dest="fmt", default=None, help="benchmark format (detected if omitted)")
    r.add_argument("--editors", required=True, help="comma-separated, e.g. ft-l,rome,ike")
    r.add_argument("--mode", default="single", help="single | batch | sequential")
    r.add_argument("--out", required=True, help="run folder (an interrupted run resumes from it)")
    r.add_argument("--limit", type=int, default=None, help="run the first N cases")
    r.add_argument("--weights", default=None, help="ranking weights, e.g. portability=2,locality=1")
    r.add_argument("--batch-size", type=int, default=10, help="edits per batch in batch mode")
    r.add_argument("--every", type=int, default=0, help="sequential: score every K edits (default: ~10 points)")
    r.add_argument("--hparam", action="append", default=[], metavar="EDITOR.KEY=VALUE", help="override a hyper-parameter")
    r.add_argument("--device", default="cpu")
    r.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    r.add_argument("--no-generate", action="store_true", help="skip greedy-generation metrics (faster)")
    p = sub.add_parser("report", help="reprint a finished run")
    p.add_argument("dir")
    p.add_argument("--weights", default=None)
    return ap


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="keval: %(message)s")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
        from pathlib import Path

        from .run import RunConfig, run, write_outputs

        if args.cmd == "run":
            import torch

            from ..editors.hparams import parse_overrides

            if args.threads:
                torch.set_num_threads(args.threads)
            cfg = RunConfig(
                model=args.model, bench=args.bench, fmt=args.fmt,
                editors=[e.strip() for e in args.editors.split(",") if e.strip()],
                mode=args.mode, out=args.out, limit=args.limit, weights=args.weights,
                batch_size=args.batch_size, every=args.every, hparams=parse_overrides(args.hparam),
                device=args.device, generate=not args.no_generate,
            )
            rep = run(cfg)
            print((rep.out / "summary.md").read_text())
            if rep.failed:
                print(f"{len(rep.failed)} case result(s) failed (errors in {rep.out / 'cases.jsonl'})")
            print(f"run folder: {rep.out}")
        else:
            print(write_outputs(Path(args.dir), args.weights))
        return 0
    except KeditError as e:
        print(f"keval: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("keval: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
