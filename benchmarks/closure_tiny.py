"""Closure editing on the tiny test model (issue 16): MEMIT and AlphaEdit with closure none / kg, single
mode and one batch of 12, greedy generation on (gen_em) beside teacher-forced token accuracy, on the
tinykg cases (whose one-hop probes are phrasings the closure never writes).

Writes benchmarks/results/closure_tiny/<mode>/ (summary.md/.csv, plots) and prints the table.
Usage: python benchmarks/closure_tiny.py [--cases 24] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=24)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    os.environ.setdefault("KEDIT_CACHE", tempfile.mkdtemp(prefix="kedit-closure-tiny-"))
    import kedit
    from tests.fixtures.hparams import TINY_OVERRIDES
    from tests.fixtures.kgfolder import write_kg_folder
    from tests.fixtures.tinykg import load_tiny_kg

    kg = load_tiny_kg()
    kg_dir = write_kg_folder(Path(tempfile.mkdtemp(prefix="tinykg-")) / "kg")
    cases = kg.cases[: args.cases]
    hp = {e: TINY_OVERRIDES[e] for e in ("memit", "alphaedit")}
    for mode, extra in (("single", {}), ("batch", {"batch_size": 12})):
        out = ROOT / "benchmarks" / "results" / "closure_tiny" / mode
        if out.exists():
            import shutil

            shutil.rmtree(out)
        kedit.evaluate(kg.model, kg.tokenizer, cases, ["memit", "alphaedit"], mode, hparams=hp, closure="kg", kg=kg_dir,
                       out=out, progress=False, config={"model": "tinykg", "bench": "tinykg cases"}, **extra)
        (out / "cases.jsonl").unlink()  # per-case records stay out of the repository; the summary is the figure
        (out / ".lock").unlink(missing_ok=True)
        print((out / "summary.md").read_text())


if __name__ == "__main__":
    main()
