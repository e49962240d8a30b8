"""``kbuild``: the benchmark construction pipeline. The stages are listed; none is built yet."""

from __future__ import annotations

import argparse
import sys

STAGES = [
    ("generate", "propose one-hop triples and questions for every split (backends: openai, kg)"),
    ("filter", "keep only probes whose prerequisite facts the base model knows"),
    ("annotate", "push tasks to Label Studio, pull verified annotations, measure agreement"),
    ("export", "write the Hugging Face dataset layout and push it to the Hub"),
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="kbuild", description="Build a portability benchmark.")
    ap.add_argument("stage", nargs="?", help="one of: " + ", ".join(s for s, _ in STAGES))
    args, _rest = ap.parse_known_args(argv)
    if args.stage is None:
        print("kbuild stages:")
        for name, what in STAGES:
            print(f"  {name:9s} {what}")
        return 0
    names = [s for s, _ in STAGES]
    if args.stage not in names:
        import difflib

        close = difflib.get_close_matches(args.stage, names, n=1)
        print(f"kbuild: error: unknown stage '{args.stage}'" + (f"; did you mean '{close[0]}'?" if close else ""), file=sys.stderr)
        return 2
    print(f"kbuild: error: stage '{args.stage}' is not available in this kedit version yet "
          "(the builder is being written); use keval run on an existing benchmark meanwhile", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
