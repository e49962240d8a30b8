"""ROME on the built-in SmolLM2-135M: covariance statistics throughput and seconds per edit.

Figures (benchmarks/results/rome_<model>.json):
* ``stats_tokens_per_s`` vs ``stopped_forward_tokens_per_s``: E[k kᵀ] at the edited layer against a
  plain forward pass stopped at that layer's mlp_out over the very same token batches;
* ``stats_second_call_seconds``: the second request is a cache hit;
* ``seconds_per_edit_median`` (statistics excluded) over the first N demo cases, with their
  reliability and locality token accuracy, next to EasyEdit's ~21 s per edit quoted in the issue.

Usage: python benchmarks/rome_bench.py [--cases 10] [--samples 2000] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import stats_vs_stopped_forward, write_result  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--cases", type=int, default=10)
    ap.add_argument("--samples", type=int, default=None, help="statistics sample count (default: the hparams')")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    from kedit.editors import EDITORS, load_hparams
    from kedit.eval.baseline import compute_baseline
    from kedit.eval.modes import Context, run_single
    from kedit.models import load_model
    from kedit.records import read_cases

    lm = load_model(args.model)
    model, tok = lm.model, lm.tokenizer
    rome = EDITORS.get("rome")()
    hp = load_hparams(rome.hparams_cls, "rome", model)
    n = args.samples or hp.mom2_n_samples
    figures = {"model": args.model, "layer": hp.layer, "stats_samples": n}

    figures.update(stats_vs_stopped_forward(lm, [hp.layer], corpus=hp.mom2_corpus, n_samples=n,
                                            max_tokens=hp.mom2_max_tokens, dtype=hp.mom2_dtype,
                                            batch_tokens=hp.mom2_batch_tokens))

    cases = read_cases(ROOT / "data/demo/bench.jsonl")[: args.cases]
    rome.prepare(model, tok, hp)
    base = compute_baseline(model, tok, cases, lm.fingerprint)
    records = []  # CaseResults
    run_single(rome, hp, Context(model, tok, base, generate=False), cases, records.append)
    secs = [r.edit_seconds for r in records if not r.failed]

    def mean_of(split):
        v = [p.metrics["token_acc"].post for r in records for p in r.probes if p.split == split and p.executed]
        return sum(v) / len(v)

    figures.update({
        "edits": len(secs), "seconds_per_edit_median": statistics.median(secs), "seconds_per_edit_max": max(secs),
        "reliability_token_acc": mean_of("reliability"), "generalization_token_acc": mean_of("generalization"),
        "locality_token_acc": mean_of("locality"),
        "easyedit_seconds_per_edit_quoted": 21.0,
        "ratio_vs_easyedit": statistics.median(secs) / 21.0,
    })
    write_result(f"rome_{args.model}", figures)


if __name__ == "__main__":
    main()
