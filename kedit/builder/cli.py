"""``kbuild``: the benchmark construction pipeline, one sub-command per stage.

Each stage lives in its own module, which exposes ``add_arguments(parser)`` and ``run(args) -> int``;
modules are imported only when their stage runs, so ``kbuild --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from ..errors import KeditError, UnknownNameError

# stage -> (module, one-line help)
STAGES = {
    "generate": ("kedit.builder.commands.generate", "propose probes for every split from edit records (backends: kg, openai)"),
    "filter": ("kedit.builder.commands.filter", "keep only probes whose prerequisite facts the base model knows"),
    "annotate": ("kedit.annotations.cli", "Label Studio: serve, push tasks, pull verified annotations and agreement"),
    "export": ("kedit.builder.commands.export", "write the Hugging Face dataset layout; push it to the Hub on request"),
}


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="kbuild", description="Build a portability benchmark: generate -> filter -> annotate -> export.")
    sub = ap.add_subparsers(dest="stage", metavar="STAGE")
    for name, (module, what) in STAGES.items():
        p = sub.add_parser(name, help=what, description=what)
        p.set_defaults(_module=module)
        # the stage's own arguments are added lazily in main(), once the stage is known
    return ap


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    ap = _parser()
    stage = next((a for a in argv if not a.startswith("-")), None)
    if stage is None:
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
    try:
        return int(module.run(args) or 0)
    except KeditError as e:
        print(f"kbuild {stage}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"kbuild {stage}: interrupted; what was written is kept; rerun the same command to continue", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
