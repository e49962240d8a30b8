"""``kbuild export``: parse, call ``kedit.builder.export.export_dataset``, push on request, print."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ...errors import KeditError
from ...records import read_cases
from ...records.manifest import read_manifest, write_manifest
from ..export import export_dataset, hub


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--in", dest="input", required=True, metavar="FILE",
                   help="benchmark records (kedit JSONL, or any format `--format` names)")
    p.add_argument("--out", required=True, metavar="PATH", help="folder to write the dataset into (--to hf), or the "
                   "JSON file (--to easyedit|knowedit)")
    p.add_argument("--format", default=None, help="input format (default: detected from the first record)")
    p.add_argument("--to", default="hf", metavar="{hf,easyedit,knowedit}", help="hf: the Hugging Face dataset layout "
                   "(Parquet configs per split, card); easyedit: one JSON array whose portability/locality objects are "
                   "keyed by kedit's splits, as EasyEdit's editor.edit takes them; knowedit: the same with KnowEdit's "
                   "keys (Subject_Aliasing, Reasoning, Relation_Specificity), as EasyEdit's KnowEdit loader reads it")
    p.add_argument("--push-to-hub", metavar="REPO_ID", default=None,
                   help="also create the Hub dataset repo NAMESPACE/NAME and upload the folder (token from HF_TOKEN)")
    p.add_argument("--private", action="store_true", help="with --push-to-hub: create the repository private")
    p.add_argument("--overwrite", action="store_true",
                   help="replace a non-empty --out that is not a previous kedit export")
    p.add_argument("--pretty-name", default=None, help="dataset title in the card (default: from the input file name)")
    p.add_argument("--license", default=None, help="license id for the card's metadata, e.g. cc-by-4.0")
    p.add_argument("-v", "--verbose", action="store_true", help="log what each step does")


def run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    in_path, out = Path(args.input), Path(args.out)
    cases = read_cases(in_path, args.format)  # validates every record before anything is written
    if args.to != "hf":
        return _write_format(args, cases, in_path, out, t0)
    if args.push_to_hub:  # fail on a bad id or a missing token before writing anything
        hub.check_repo_id(args.push_to_hub)
        hub.hub_token()
    elif args.private:
        raise KeditError("--private applies only with --push-to-hub REPO_ID")
    summary = export_dataset(cases, out, manifest=read_manifest(in_path), input_path=in_path,
                             pretty_name=args.pretty_name, license=args.license, overwrite=args.overwrite)
    seconds = time.perf_counter() - t0
    url = hub.push(out, args.push_to_hub, private=args.private) if args.push_to_hub else None
    write_manifest(out, "export", input_path=in_path, figures={
        "configs": summary["configs"], "skipped_configs": summary["skipped_configs"], "probes": summary["probes"],
        "seconds": round(seconds, 3), "hub_repo": args.push_to_hub, "hub_private": bool(args.private) if url else None,
    })
    rows = ", ".join(f"{cfg} {n}" for cfg, n in summary["configs"].items())
    print(f"kbuild export: {len(cases)} cases -> {out} ({rows}) in {seconds:.1f} s")
    if summary["skipped_configs"]:
        print(f"kbuild export: no probes, so no config, for: {', '.join(summary['skipped_configs'])}")
    if url:
        print(f"kbuild export: pushed to {url}")
    return 0


def _write_format(args: argparse.Namespace, cases, in_path: Path, out: Path, t0: float) -> int:
    """``--to easyedit|knowedit``: one JSON file, its manifest beside it."""
    from ...records.writers import write_cases

    if args.push_to_hub or args.private:
        raise KeditError(f"--push-to-hub and --private apply to --to hf; --to {args.to} writes a local JSON file")
    if out.exists() and not args.overwrite and not out.with_name(out.stem + ".manifest.json").is_file():
        raise KeditError(f"{out} exists and kbuild export did not write it; pass --overwrite to replace it")
    summary = write_cases(cases, out, args.to)
    seconds = time.perf_counter() - t0
    write_manifest(out, "export", input_path=in_path, figures={**summary, "seconds": round(seconds, 3)})
    keys = ", ".join(f"{k} {n}" for k, n in summary["probes_by_key"].items())
    print(f"kbuild export: {summary['cases']} cases -> {out} ({args.to}: {keys}) in {seconds:.1f} s")
    if summary["not_carried"]:
        print("kbuild export: not carried by the format: " + ", ".join(f"{k} {n}" for k, n in summary["not_carried"].items()))
    return 0
