"""Reader throughput: records per second of each registered format's reader on N generated records.

Each format's fixture records (tests/records/fuzz_inputs.FIXTURES: the same files the fuzzer and the
registry test use) are repeated up to N with unique case ids and subjects left as they are, written as
one JSON array (JSON Lines for kedit's own format), and read back with ``read_cases(path, fmt=...)``;
the load average is recorded beside the figures, since other jobs on the machine slow the readers.

    python benchmarks/reader_throughput.py --n 100000
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.common import write_result  # noqa: E402
from kedit.records import FORMATS, read_cases  # noqa: E402
from tests.records.fuzz_inputs import FIXTURES  # noqa: E402


def _records(fmt: str) -> tuple[list, bool]:
    """The fixture's source records and whether the file is JSON Lines."""
    text = FIXTURES[fmt].read_text(encoding="utf-8")
    if text.lstrip().startswith("["):
        return json.loads(text), False
    return [json.loads(line) for line in text.splitlines() if line.strip()], True


def run(n: int) -> dict:
    figures = {"records": n, "loadavg_1min_before": round(os.getloadavg()[0], 2), "readers": {}}
    with tempfile.TemporaryDirectory() as d:
        for fmt in FORMATS.names():
            recs, lines = _records(fmt)
            out = []
            for i in range(n):
                r = dict(recs[i % len(recs)])
                if "case_id" in r or fmt == "kedit":
                    r["case_id"] = f"bench-{i}"
                out.append(r)
            path = Path(d) / f"{fmt}.{'jsonl' if lines else 'json'}"
            with path.open("w", encoding="utf-8") as fh:
                if lines:
                    fh.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in out)
                else:
                    json.dump(out, fh, ensure_ascii=False)
            t0 = time.perf_counter()
            cases = read_cases(path, fmt=fmt)
            secs = time.perf_counter() - t0
            figures["readers"][fmt] = {"cases": len(cases), "seconds": round(secs, 2), "records_per_s": round(n / secs),
                                       "mb": round(path.stat().st_size / 2**20, 1)}
            print(fmt, figures["readers"][fmt], flush=True)
    figures["loadavg_1min_after"] = round(os.getloadavg()[0], 2)
    return figures


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    args = ap.parse_args()
    write_result("reader_throughput", run(args.n))
