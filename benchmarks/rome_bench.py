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
import contextlib
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import write_result  # noqa: E402


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
    from kedit.editors.nethook import Trace
    from kedit.editors.stats import corpus_texts, layer_stats
    from kedit.eval.baseline import compute_baseline
    from kedit.eval.modes import Context, run_single
    from kedit.models import load_model, path_of
    from kedit.models.text import length_batches, pad_batch, pad_id
    from kedit.records import read_cases

    lm = load_model(args.model)
    model, tok = lm.model, lm.tokenizer
    rome = EDITORS.get("rome")()
    hp = load_hparams(rome.hparams_cls, "rome", model)
    n = args.samples or hp.mom2_n_samples
    figures = {"model": args.model, "layer": hp.layer, "stats_samples": n}

    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("KEDIT_CACHE")
        os.environ["KEDIT_CACHE"] = tmp  # a cold statistics cache
        try:
            kw = dict(fingerprint=lm.fingerprint, corpus=hp.mom2_corpus, n_samples=n, max_tokens=hp.mom2_max_tokens,
                      dtype=hp.mom2_dtype, batch_tokens=hp.mom2_batch_tokens, progress=False)
            st = layer_stats(model, tok, hp.layer, **kw)[hp.layer]
            t0 = time.perf_counter()
            again = layer_stats(model, tok, hp.layer, **kw)[hp.layer]
            figures["stats_second_call_seconds"] = time.perf_counter() - t0
            figures["stats_second_call_cache_hit"] = again.cache_hit
        finally:
            if old is None:
                os.environ.pop("KEDIT_CACHE")
            else:
                os.environ["KEDIT_CACHE"] = old
    figures.update({"stats_tokens": st.n_tokens, "stats_seconds": st.seconds, "stats_tokens_per_s": st.tokens_per_s})

    # the same tokens, the same batches, a forward pass stopped at the layer with nothing accumulated
    seqs = [ids[: hp.mom2_max_tokens] for ids in tok(corpus_texts(hp.mom2_corpus, n))["input_ids"]]
    seqs = [s for s in seqs if s]
    path = path_of(model, "mlp_out", hp.layer)
    t0 = time.perf_counter()
    with torch.no_grad():
        for batch in length_batches([len(s) for s in seqs], hp.mom2_batch_tokens):
            ids, mask = pad_batch([seqs[i] for i in batch], pad_id(tok))
            with contextlib.ExitStack() as stack:
                stack.enter_context(Trace(model, path, stop=True, retain_output=False))
                model.base_model(input_ids=ids, attention_mask=mask, use_cache=False)
    fwd = time.perf_counter() - t0
    figures["stopped_forward_tokens_per_s"] = sum(len(s) for s in seqs) / fwd
    figures["stats_vs_stopped_forward"] = figures["stats_tokens_per_s"] / figures["stopped_forward_tokens_per_s"]

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
