"""``kbuild filter``: parse, call ``kedit.builder.filtering.filter_cases``, print."""

from __future__ import annotations

from ...runtime import add_runtime_arguments, runtime_from_args
from ..filtering import METRIC, filter_cases


def add_arguments(p) -> None:
    p.add_argument("--model", required=True, help="the base model: built-in name (smollm2-135m), local folder or Hub id")
    p.add_argument("--in", dest="inp", required=True, metavar="FILE", help="generated cases (kedit JSONL)")
    p.add_argument("--format", default=None, help="input format (default: detected)")
    p.add_argument("--out", required=True, metavar="FILE", help="kept cases (kedit JSONL); dropped ones go beside it")
    p.add_argument("--mark", action="store_true", help="keep dropped probes of kept cases in --out, marked, instead of moving them out")
    p.add_argument("--check-keep", action="store_true", help="also drop keep probes whose gold answer the model does not give")
    p.add_argument("--no-original-check", action="store_true", help="keep cases whose original fact the model does not know")
    add_runtime_arguments(p)
    p.add_argument("--overwrite", action="store_true", help="replace --out even if kbuild filter did not write it")
    p.add_argument("-v", "--verbose", action="store_true", help="log what each step does")


def run(args) -> int:
    """``kbuild filter``: parse, call ``filter_cases``, print."""
    res = filter_cases(args.inp, args.model, out=args.out, fmt=args.format, mark=args.mark, check_keep=args.check_keep,
                       check_original=not args.no_original_check, overwrite=args.overwrite, progress=True,
                       runtime=runtime_from_args(args))
    f = res.figures["filter"]
    cc = f["cases"]
    print(f"kbuild filter: {cc['kept']} of {cc['in']} cases kept -> {res.out} (manifest {res.manifest.name}); "
          f"{f['questions_asked']} questions asked of {f['model']} in {f['seconds']['scoring']:.1f} s ({METRIC})")
    print(f"  {'split':18s} {'generated':>9s} {'kept':>6s}  dropped by reason")
    for split, v in f["probes_per_split"].items():
        reasons = ", ".join(f"{k} {n}" for k, n in v["dropped"].items()) or "-"
        print(f"  {split:18s} {v['generated']:9d} {v['kept']:6d}  {reasons}")
    if cc["dropped"]:
        print("  cases dropped: " + ", ".join(f"{k} {n}" for k, n in cc["dropped"].items()))
    return 0
