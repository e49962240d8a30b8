"""``kbuild``: the benchmark construction pipeline, one sub-command per stage.

Each stage lives in its own module, which exposes ``add_arguments(parser)`` and ``run(args) -> int``;
modules are imported only when their stage runs, so ``kbuild --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from .. import __version__
from ..cliargs import HelpFormatter
from ..errors import KeditError, UnknownNameError
from ..redact import install_log_redaction, redact

EXAMPLES = {
    "generate": "examples:\n  kbuild generate --backend kg --in data/kg/seeds.jsonl --out runs/gen.jsonl\n"
                "  kbuild generate --backend openai --llm-model gpt-4o --in seeds.json --out gen.jsonl --dry-run\n"
                "  kbuild generate --backend openai --base-url http://127.0.0.1:8080/v1 --in seeds.json --out gen.jsonl",
    "filter": "examples:\n  kbuild filter --model smollm2-135m --in runs/gen.jsonl --out runs/bench.jsonl\n"
              "  kbuild filter --model meta-llama/Llama-2-7b-hf --in gen.jsonl --out bench.jsonl --mark --device cuda",
    "annotate": "examples:\n  kbuild annotate serve\n  kbuild annotate push --in bench.jsonl --project my-bench\n"
                "  kbuild annotate pull --in bench.jsonl --project my-bench --out verified.jsonl",
    "export": "examples:\n  kbuild export --in runs/bench.jsonl --out runs/dataset\n"
              "  kbuild export --in verified.jsonl --out dataset --push-to-hub me/my-bench --private",
}

# stage -> (module, one-line help)
STAGES = {
    "generate": ("kedit.builder.commands.generate", "propose probes for every split from edit records (backends: kg, openai)"),
    "filter": ("kedit.builder.commands.filter", "keep only probes whose prerequisite facts the base model knows"),
    "annotate": ("kedit.annotations.cli", "Label Studio: serve, push tasks, pull verified annotations and agreement"),
    "export": ("kedit.builder.commands.export", "write the Hugging Face dataset layout; push it to the Hub on request"),
}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kbuild", description="Build a portability benchmark: generate -> filter -> annotate -> export.",
                                 epilog="run `kbuild STAGE --help` for a stage's options and examples")
    ap.add_argument("--version", action="version", version=f"kedit {__version__}")
    sub = ap.add_subparsers(dest="stage", metavar="STAGE")
    for name, (module, what) in STAGES.items():
        p = sub.add_parser(name, help=what, description=what, formatter_class=HelpFormatter, epilog=EXAMPLES.get(name))
        p.set_defaults(_module=module)
        # the stage's own arguments are added lazily in main(), once the stage is known
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = _parser()
    stage = next((a for a in argv if not a.startswith("-")), None)
    if stage is None:
        if "--version" in argv:
            print(f"kedit {__version__}")
            return 0
        if any(a in ("-h", "--help") for a in argv):
            ap.print_help()
            return 0
        print("kbuild stages (run `kbuild STAGE --help`):")
        for name, (_m, what) in STAGES.items():
            print(f"  {name:9s} {what}")
        return 0
    if stage not in STAGES:
        print(f"kbuild: error: {UnknownNameError('stage', stage, STAGES)}", file=sys.stderr)
        return 2
    module = importlib.import_module(STAGES[stage][0])
    sp = ap._subparsers._group_actions[0].choices[stage]  # type: ignore[union-attr]
    module.add_arguments(sp)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="kbuild: %(message)s")
    install_log_redaction()
    try:
        return int(module.run(args) or 0)
    except KeditError as e:
        print(f"kbuild {stage}: error: {redact(str(e))}", file=sys.stderr)
        return 2
    except OSError as e:  # a path that cannot be read or written: name it, no traceback
        print(f"kbuild {stage}: error: {e.filename or ''}: {redact(str(e.strerror or e))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kbuild {stage}: interrupted; what was written is kept; rerun the same command to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
