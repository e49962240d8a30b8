"""Prior-knowledge filter speed: ``kbuild filter``'s scoring against a raw batched forward pass.

The filter asks the base model every distinct condition of a generated benchmark (and each edit's
original fact) through keval's batched scorer. Figures (benchmarks/results/filter_<model>.json):
* ``filter_questions_per_s`` / ``filter_probes_per_s``: conditions asked, and probes decided, per
  second of scoring (model load excluded);
* ``raw_forward_seconds``: plain ``model(input_ids)`` with full log-softmax over the same (prompt,
  answer) pairs in the same padded batches, in the same process;
* ``filter_vs_raw``: raw seconds / filter seconds (target >= 0.8).

Usage: python benchmarks/filter_bench.py [--in GENERATED.jsonl] [--model smollm2-135m] [--threads 2]
Without --in, the bundled seeds are expanded with the kg backend first.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import raw_forward, timed, write_result  # noqa: E402
from kedit.builder.filtering import collect  # noqa: E402
from kedit.eval.asking import conditions_pass  # noqa: E402
from kedit.models import load_model  # noqa: E402
from kedit.records import read_cases  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--in", dest="inp", default=None)
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    inp = args.inp
    if inp is None:
        from kedit.builder.cli import main as kbuild

        inp = str(Path(tempfile.mkdtemp()) / "gen.jsonl")
        assert kbuild(["generate", "--backend", "kg", "--in", str(ROOT / "data/kg/seeds.jsonl"), "--out", inp]) == 0
    cases = read_cases(inp)
    lm = load_model(args.model, device=args.device)
    conds = collect(cases, check_original=True, check_keep=False)
    pairs = [(c.prompt, a) for c in conds for a in c.answers]
    with torch.inference_mode():
        conditions_pass(lm.model, lm.tokenizer, conds[:8])  # warm-up
        filt = timed(lambda: conditions_pass(lm.model, lm.tokenizer, conds), args.device)
        run, tokens = raw_forward(lm.model, lm.tokenizer, pairs, args.device)
        raw = timed(run, args.device)
    n_probes = sum(len(c.probes) for c in cases)
    write_result(f"filter_{args.model}", {
        "input": str(Path(inp).name), "cases": len(cases), "probes": n_probes, "questions": len(conds),
        "pairs": len(pairs), "tokens": tokens,
        "filter_seconds": round(filt, 3), "raw_forward_seconds": round(raw, 3),
        "filter_questions_per_s": round(len(conds) / filt, 1), "filter_probes_per_s": round(n_probes / filt, 1),
        "filter_vs_raw": round(raw / filt, 3), "target_filter_vs_raw": 0.8,
    }, args.device)


if __name__ == "__main__":
    main()
