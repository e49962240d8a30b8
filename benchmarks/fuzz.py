"""Fuzzing the benchmark readers: bad input must end in kedit's own error, never a foreign exception.

For every registered format, ``--n`` inputs from the generators of tests/records/fuzz_inputs.py
(random bytes; fixture records with fields deleted or replaced by values of other types, huge
integers, NaN, lone surrogates, nesting too deep to parse; truncated, BOM, CRLF, a flipped byte) are
read with ``read_cases(path, fmt=name)`` and ``read_cases(path)``; the cases that come back go through
write_jsonl and back, the export tables and the Label Studio tasks (tests/records/test_fuzz.py checks
the same property on 300 inputs per format). Figures (benchmarks/results/fuzz.json), per reader:
* ``inputs`` (``distinct_inputs``), and for ``read`` (as the format) and ``detect`` (format detected):
  ``cases`` (inputs read without error; ``of_them_empty``: into no case; ``cases_total``: cases
  returned), ``kedit_errors``, ``foreign``;
* ``downstream``: runs of write-back / export / tasks on the cases returned, and ``downstream_failures``;
* ``foreign_exceptions``: by stage and type, the count and one example (target: none at all);
* ``seconds``.

Usage: python benchmarks/fuzz.py [--n 10000] [--seed 0] [--formats kedit,rome-counterfact]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, Phase, given, seed, settings

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import write_result  # noqa: E402
from kedit.records import FORMATS  # noqa: E402
from tests.records.fuzz_inputs import bad_files, exercise  # noqa: E402


def fuzz_reader(fmt: str, n: int, seed_: int) -> dict:
    counts: Counter = Counter()
    examples: dict[str, dict] = {}
    distinct: set[int] = set()

    @settings(max_examples=n, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @seed(seed_)
    @given(data=bad_files(fmt))
    def run(data: bytes) -> None:
        counts["inputs"] += 1
        distinct.add(hash(data))
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "bench.json"
            path.write_bytes(data)
            for o in exercise(path, fmt, Path(d)):
                counts[f"{o.stage}:{o.result}"] += 1
                counts[f"{o.stage}:n_cases"] += o.cases
                counts[f"{o.stage}:empty"] += o.result == "cases" and not o.cases
                if o.bad:
                    key = f"{o.stage}: {o.error.split(':')[0]}"
                    ex = examples.setdefault(key, {"count": 0, "example": o.error, "input": repr(data[:300])})
                    ex["count"] += 1

    t0 = time.perf_counter()
    run()
    seconds = time.perf_counter() - t0
    downstream = {s: counts[f"{s}:ok"] + counts[f"{s}:foreign"] for s in ("write", "export", "tasks")}
    return {
        "inputs": counts["inputs"], "distinct_inputs": len(distinct),
        **{stage: {"cases": counts[f"{stage}:cases"], "of_them_empty": counts[f"{stage}:empty"],
                   "cases_total": counts[f"{stage}:n_cases"], "kedit_errors": counts[f"{stage}:kedit_error"],
                   "foreign": counts[f"{stage}:foreign"]} for stage in ("read", "detect")},
        "downstream": downstream,
        "downstream_failures": sum(counts[f"{s}:foreign"] for s in downstream),
        "foreign_exceptions": dict(sorted(examples.items())),
        "seconds": round(seconds, 1),
    }


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=10_000, help="inputs per reader")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--formats", default=None, help="comma-separated; default: every registered format")
    args = ap.parse_args()
    logging.getLogger("kedit").setLevel(logging.ERROR)  # "skipped N records with an empty target", thousands of times
    names = args.formats.split(",") if args.formats else FORMATS.names()
    readers = {}
    for name in names:
        readers[name] = fuzz_reader(name, args.n, args.seed)
        r = readers[name]
        print(f"{name}: {r['inputs']} inputs, {r['read']['cases'] - r['read']['of_them_empty']} read into cases, "
              f"{r['read']['kedit_errors']} kedit errors, {r['read']['foreign'] + r['detect']['foreign']} foreign "
              f"+ {r['downstream_failures']} downstream failures, {r['seconds']} s", flush=True)
    total = sum(r["read"]["foreign"] + r["detect"]["foreign"] + r["downstream_failures"] for r in readers.values())
    write_result("fuzz", {
        "n_per_reader": args.n, "seed": args.seed,
        "inputs": sum(r["inputs"] for r in readers.values()),
        "foreign_total": total, "target_foreign_total": 0,
        "seconds": round(sum(r["seconds"] for r in readers.values()), 1),
        "readers": readers,
    })


if __name__ == "__main__":
    main()
