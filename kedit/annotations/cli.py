"""``kbuild annotate serve | push | pull``: stage 3, human verification in Label Studio.

    kbuild annotate serve [--port 8080] [--data-dir DIR]
    kbuild annotate push --in bench.jsonl --project TITLE [--url URL] [--min-annotators N] [--splits a,b]
    kbuild annotate pull --in bench.jsonl --project TITLE --out verified.jsonl [--url URL] [--drop-unsure]

The API token comes from ``$LABEL_STUDIO_API_KEY`` (or ``$LABEL_STUDIO_USER_TOKEN``) and is never written;
the URL from ``--url``, else ``$LABEL_STUDIO_URL``, else http://127.0.0.1:8080. ``pull`` writes the verified
records to ``--out``, the rejected probes to ``<out stem>.rejected.jsonl``, the agreement report to
``<out stem>.agreement.json`` and the stage manifest to ``<out stem>.manifest.json``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..cliargs import int_at_least, positive_int
from ..atomic import atomic_write
from ..errors import KeditError
from ..records.jsonl import read_jsonl, write_jsonl
from ..records.manifest import write_manifest
from ..records.schema import SPLITS
from .tasks import PUSH_SPLITS

AGREEMENT_FORMAT = "kedit.agreement/1"


def _splits(text: str) -> tuple[str, ...]:
    out = tuple(s.strip() for s in text.split(",") if s.strip())
    for s in out:
        if s not in SPLITS:
            from ..errors import did_you_mean

            raise argparse.ArgumentTypeError(str(did_you_mean("split", s, SPLITS)))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True

    s = sub.add_parser("serve", help="start a local Label Studio (prints its URL and API token) and keep it running")
    s.add_argument("--port", type=int_at_least(1), default=8080, help="port of the local Label Studio")
    s.add_argument("--data-dir", help="its data folder (default: <kedit cache>/label-studio/data)")
    s.add_argument("--username", default="admin@kedit.local", help="the admin created on a fresh data dir")
    s.add_argument("--cold", action="store_true", help="migrate the data dir from scratch instead of copying the template")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--in", dest="input", required=True, help="kedit records (JSON Lines)")
    common.add_argument("--project", required=True, help="Label Studio project title")
    common.add_argument("--url", help="Label Studio URL (default: $LABEL_STUDIO_URL or http://127.0.0.1:8080)")
    common.add_argument("--splits", type=_splits, default=PUSH_SPLITS,
                        help=f"comma-separated splits to verify (default: {','.join(PUSH_SPLITS)})")
    common.add_argument("-v", "--verbose", action="store_true", help="log what each step does")

    p = sub.add_parser("push", parents=[common], help="create/reuse the project and import the probes it lacks")
    p.add_argument("--min-annotators", type=positive_int, default=None,
                   help="annotators per task (the project's overlap; default 1 for a new project, unchanged otherwise)")

    q = sub.add_parser("pull", parents=[common], help="export annotations; write verified records and the agreement report")
    q.add_argument("--out", required=True, help="verified records (JSON Lines)")
    q.add_argument("--drop-unsure", action="store_true", help="reject probes adjudicated 'unsure' (default: keep, marked)")
    q.add_argument("--drop-unannotated", action="store_true", help="leave probes nobody annotated out of --out")


def run(args: argparse.Namespace) -> int:
    if args.action == "serve":
        from .server import main_serve

        return main_serve(args.port, args.data_dir, args.username, use_template=not args.cold)
    if args.action == "push":
        return _push(args)
    return _pull(args)


def _push(args: argparse.Namespace) -> int:
    from .client import LabelStudio
    from .push import push

    cases = read_jsonl(args.input)  # schema errors surface before anything is sent
    ls = LabelStudio(args.url)
    r = push(cases, ls, args.project, min_annotators=args.min_annotators, splits=args.splits)
    what = "created" if r.created else "reused"
    print(f"project '{args.project}' (id {r.project_id}, {what}) at {ls.url}: {r.tasks} tasks from {args.input}; "
          f"imported {r.imported} new, {r.existing} already there")
    for problem in r.problems:  # e.g. a project made with an older labeling config keeps its old view
        print(f"kbuild annotate push: warning: {problem}", file=sys.stderr)
    return 0


def sibling(out: Path, suffix: str) -> Path:
    return out.with_name(out.stem + suffix)


def _pull(args: argparse.Namespace) -> int:
    from .client import LabelStudio
    from .pull import apply_annotations

    inp, out = Path(args.input), Path(args.out)
    if out.resolve() == inp.resolve():
        raise KeditError("--out must differ from --in (the input is the provenance of the verified records)")
    cases = read_jsonl(inp)  # schema errors surface before anything is written
    ls = LabelStudio(args.url)
    project = ls.find_project(args.project)
    if project is None:
        raise KeditError(f"no Label Studio project titled '{args.project}' at {ls.url}; run `kbuild annotate push` first")
    exported = ls.export(project.id)
    ref = {"url": ls.url, "id": project.id, "title": project.title}
    r = apply_annotations(cases, exported, splits=args.splits, drop_unsure=args.drop_unsure,
                          drop_unannotated=args.drop_unannotated, project=ref)

    write_jsonl(r.cases, out)
    rejected_path = write_jsonl(r.rejected, sibling(out, ".rejected.jsonl"))
    report = {"format": AGREEMENT_FORMAT, "project": ref, "input": str(inp), "splits": list(args.splits),
              "agreement": r.agreement, "counts": r.counts, "problems": r.problems}
    agreement_path = sibling(out, ".agreement.json")
    atomic_write(agreement_path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    write_manifest(out, "annotate", input_path=inp, figures={
        "agreement": r.agreement, "counts": r.counts, "label_studio": ref,
        "files": {"rejected": str(rejected_path), "agreement": str(agreement_path)}})

    for p in r.problems[:20]:
        print(f"kbuild annotate: task {p.get('task')} (case {p.get('case_id')}, {p.get('split')}): {p['problem']}",
              file=sys.stderr)
    if len(r.problems) > 20:
        print(f"kbuild annotate: ... {len(r.problems) - 20} more problems in {agreement_path}", file=sys.stderr)
    v = r.agreement["verdict"]
    c = r.counts
    kappa = "undefined" if v["kappa"] is None else f"{v['kappa']:.3f}"
    agree = "" if v["percent_agreement"] is None else f"; agreement {v['percent_agreement']:.1f}%"
    print(f"{c['tasks_annotated']} tasks annotated by {v['n_annotators']} annotators; {v['method']} kappa {kappa} "
          f"over {v['n_tasks']} tasks with 2+ annotations{agree}")
    print(f"verdicts: {c['correct']} correct, {c['incorrect']} incorrect, {c['unsure']} unsure, "
          f"{c['unannotated']} unannotated; corrected {c['corrected_questions']} questions, {c['corrected_answers']} answers")
    print(f"wrote {out} ({c['probes_out']} probes), {rejected_path} ({c['rejected']} probes), {agreement_path}")
    return 0
