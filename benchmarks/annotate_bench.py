"""kbuild annotate against a real Label Studio: server start, push and pull of N tasks.

Figures (benchmarks/results/annotate_label-studio-<version>.json):
* ``cold_start_s``: ``label-studio start`` on an empty data dir (migrations, admin user) until /health;
* ``template_start_s``: the same on a copy of the migrated template (what tests and ``serve`` do);
* ``push_s`` / ``repush_s``: ``kbuild annotate push`` of N new tasks, then again (all already there:
  listing the project's ids and importing nothing);
* ``annotate_s``: two simulated annotators posting N annotations each through the API (4 threads);
* ``pull_s``: ``kbuild annotate pull`` (export, adjudication, agreement, writing records and report).

Usage: python benchmarks/annotate_bench.py [--tasks 500] [--no-cold]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import write_result  # noqa: E402
from kedit.annotations.server import LABEL_STUDIO_VERSION, start_server  # noqa: E402
from kedit.builder.cli import main as kbuild  # noqa: E402
from kedit.records.jsonl import write_jsonl  # noqa: E402
from kedit.records.schema import Condition, EditCase, Probe, Relation  # noqa: E402
from tests.fixtures.label_studio import annotate, project_tasks  # noqa: E402

SPLITS = ("generalization", "subject_replace", "reverse_relation", "one_hop", "locality")


def synthetic_cases(n_tasks: int) -> list[EditCase]:
    cases = []
    for i in range((n_tasks + len(SPLITS) - 1) // len(SPLITS)):
        subj, new = f"Country {i}", f"City {i}"
        probes = [Probe("reliability", f"The capital of {subj} is", (new,))]
        for s in SPLITS:
            if len(cases) * len(SPLITS) + len(probes) - 1 >= n_tasks:
                break
            cond = (Condition(f"{new} is in", (f"Land {i}",), (new, "country", f"Land {i}")),) if s == "one_hop" else ()
            probes.append(Probe(s, f"[{s}] question {i} about {subj}?", (f"answer {i}",), "keep" if s == "locality" else "new",
                                conditions=cond))
        cases.append(EditCase(f"bench-{i:05d}", subj, Relation("capital", "The capital of {} is"), f"Old {i}", new,
                              f"The capital of {subj} is", tuple(probes)))
    return cases


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tasks", type=int, default=500)
    ap.add_argument("--no-cold", action="store_true", help="skip the cold start (30-60 s)")
    args = ap.parse_args()
    figures: dict = {"label_studio": LABEL_STUDIO_VERSION, "tasks": args.tasks}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if not args.no_cold:
            t0 = time.perf_counter()
            with start_server(tmp / "cold", use_template=False):
                figures["cold_start_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        server = start_server(tmp / "warm")
        figures["template_start_s"] = round(time.perf_counter() - t0, 2)
        with server:
            t0 = time.perf_counter()
            annotators = [server.add_user(f"ann{k}@kedit.bench") for k in (1, 2)]
            figures["add_two_annotators_s"] = round(time.perf_counter() - t0, 2)
            records = tmp / "bench.jsonl"
            write_jsonl(synthetic_cases(args.tasks), records)
            os.environ.update(LABEL_STUDIO_URL=server.url, LABEL_STUDIO_API_KEY=server.token)
            title = "annotate bench"
            t0 = time.perf_counter()
            assert kbuild(["annotate", "push", "--in", str(records), "--project", title, "--min-annotators", "2"]) == 0
            figures["push_s"] = round(time.perf_counter() - t0, 2)
            t0 = time.perf_counter()
            assert kbuild(["annotate", "push", "--in", str(records), "--project", title]) == 0
            figures["repush_s"] = round(time.perf_counter() - t0, 2)

            import httpx

            admin = httpx.Client(base_url=server.url, headers={"Authorization": f"Token {server.token}"}, timeout=60)
            pid = next(p["id"] for p in admin.get("/api/projects/").json()["results"] if p["title"] == title)
            tasks = project_tasks(admin, pid)
            assert len(tasks) == args.tasks, len(tasks)
            clients = [httpx.Client(base_url=server.url, headers={"Authorization": f"Token {tok}"}, timeout=60)
                       for _uid, tok in annotators]
            def verdict(i: int, k: int) -> str:  # annotator 2 disagrees on every 7th task
                v = "incorrect" if i % 10 == 0 else "correct"
                return ({"correct": "incorrect", "incorrect": "correct"}[v]) if k == 1 and i % 7 == 3 else v

            posts = [(clients[k], t["id"], verdict(i, k), 4 + (i + k) % 2) for i, t in enumerate(tasks) for k in (0, 1)]
            t0 = time.perf_counter()
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda a: annotate(*a), posts))
            figures["annotate_s"] = round(time.perf_counter() - t0, 2)
            figures["annotations_per_s"] = round(len(posts) / figures["annotate_s"], 1)
            t0 = time.perf_counter()
            assert kbuild(["annotate", "pull", "--in", str(records), "--project", title, "--out", str(tmp / "verified.jsonl")]) == 0
            figures["pull_s"] = round(time.perf_counter() - t0, 2)
            report = json.loads((tmp / "verified.agreement.json").read_text())
            figures["pull_agreement"] = {k: report["agreement"]["verdict"][k] for k in ("method", "kappa", "percent_agreement", "n_tasks")}
    write_result(f"annotate_label-studio-{LABEL_STUDIO_VERSION}", figures)


if __name__ == "__main__":
    main()
