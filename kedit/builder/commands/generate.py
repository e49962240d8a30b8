"""``kbuild generate``: parse, call ``kedit.builder.generate.generate``, print."""

from __future__ import annotations

import json

from ...cliargs import non_negative_int, positive_int
from ..backends import BACKENDS
from ..generate import backend_options, generate


def add_arguments(p) -> None:
    p.add_argument("--backend", required=True, help="one of: " + ", ".join(BACKENDS.names()))
    p.add_argument("--in", dest="inp", required=True, metavar="SEEDS", help="edit records: kedit JSONL, EasyEdit ZsRE/CounterFact JSON, ROME CounterFact")
    p.add_argument("--format", default=None, help="input format (default: detected)")
    p.add_argument("--out", required=True, metavar="FILE", help="kedit JSONL of the expanded cases (its manifest is written beside it)")
    p.add_argument("--concurrency", type=positive_int, default=4, help="cases expanded at once (default 4)")
    p.add_argument("--dry-run", action="store_true", help="print the number of calls and the estimated cost, spend nothing")
    p.add_argument("--limit", type=positive_int, default=None, help="only the first N seeds")
    p.add_argument("--commonsense", default=None, metavar="FILE|none", help="two-choice items, one attached per case (default: data/commonsense/items.jsonl)")
    p.add_argument("--neighbors", type=non_negative_int, default=1, help="distract_neighbor probes per case (default 1)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace --out even if kbuild generate did not write it from this input with these options")
    p.add_argument("-v", "--verbose", action="store_true", help="log what each step does")
    for name in BACKENDS.names():
        BACKENDS.get(name).add_arguments(p)


def run(args) -> int:
    """``kbuild generate``: parse, call ``generate``, print."""
    options = {k: v for k, v in vars(args).items() if k in backend_options(args.backend)}
    res = generate(args.inp, args.backend, out=args.out, fmt=args.format, concurrency=args.concurrency, limit=args.limit,
                   commonsense=args.commonsense, neighbors=args.neighbors, dry_run=args.dry_run, overwrite=args.overwrite,
                   **options)
    if res.plan is not None:
        print(json.dumps(res.plan, indent=2))
        return 0
    print(f"kbuild generate: {len(res.cases)} cases, {sum(len(c.probes) for c in res.cases)} probes -> {res.out} "
          f"(manifest {res.manifest.name})")
    for split, n in res.figures["generate"]["probes_per_split"].items():
        print(f"  {split:18s} {n}")
    if res.failed:
        print(f"  {len(res.failed)} case(s) failed to generate (kept, marked in provenance.generation): "
              f"{', '.join(res.failed[:5])}" + (" ..." if len(res.failed) > 5 else ""))
    return 0
