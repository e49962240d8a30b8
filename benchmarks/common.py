"""Shared bits of the benchmark scripts: machine description and writing results JSON."""

from __future__ import annotations

import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch

from kedit import runtime
from kedit.eval.scoring import _batches
from kedit.models.text import encode_prompts, encode_targets, pad_batch, pad_id

RESULTS = Path(__file__).resolve().parent / "results"


def machine(device: str = "cpu") -> dict:
    info = {
        "platform": platform.platform(), "python": platform.python_version(), "torch": torch.__version__,
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(), "device": device,
    }
    try:
        import psutil

        info["memory_gib"] = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:
        pass
    if device.startswith("cuda"):
        info["gpu"] = torch.cuda.get_device_name()
    return info


def write_result(name: str, figures: dict, device: str = "cpu") -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"benchmark": name, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "machine": machine(device), "figures": figures}
    path.write_text(json.dumps(payload, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
    print(f"written: {path}")
    return path


def sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def timed(fn, device, repeat=3):
    best = float("inf")
    for _ in range(repeat):
        sync(device)
        t0 = time.perf_counter()
        fn()
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return best


@torch.no_grad()
def raw_forward(model, tok, pairs, device, batch_tokens=runtime.CPU_BATCH_TOKENS):
    seqs = [p + t for p, t in zip(encode_prompts(tok, [p for p, _ in pairs]), encode_targets(tok, [t for _, t in pairs]))]
    batches = [pad_batch([seqs[i] for i in b], pad_id(tok)) for b in _batches([len(s) for s in seqs], batch_tokens)]

    def run():
        for ids, mask in batches:
            model(input_ids=ids.to(device), attention_mask=mask.to(device)).logits.log_softmax(-1)

    return run, sum(len(s) for s in seqs)


def stats_vs_stopped_forward(lm, layers, *, corpus: str, n_samples: int, max_tokens: int, dtype, batch_tokens: int,
                             repeats: int = 1) -> dict:
    """E[k kᵀ] of every layer in ``layers`` in one pass (cold cache) against a plain forward pass stopped
    at the highest layer's mlp_out over the very same token batches; and the second call (a cache hit).
    With ``repeats`` > 1 the two passes alternate that many times and the figures are the medians (the
    ratio: the median of each round's), so a machine's noise moves them less; each round's ratio is kept."""
    from kedit.editors.stats import corpus_texts

    layers = list(layers)
    figures: dict = {"stats_layers": layers, "stats_samples": n_samples}
    seqs = [ids[:max_tokens] for ids in lm.tokenizer(corpus_texts(corpus, n_samples))["input_ids"]]
    seqs = [s for s in seqs if s]
    rounds = []
    for _ in range(repeats):
        st, again_s, again_hit = _cold_stats(lm, layers, corpus=corpus, n_samples=n_samples, max_tokens=max_tokens,
                                             dtype=dtype, batch_tokens=batch_tokens)
        rounds.append((st.n_tokens, st.seconds, st.tokens_per_s, _stopped_forward_tokens_per_s(lm, seqs, max(layers), batch_tokens)))
    n_tokens, _, _, _ = rounds[0]
    figures.update({"stats_tokens": n_tokens, "stats_seconds": statistics.median(r[1] for r in rounds),
                    "stats_tokens_per_s": statistics.median(r[2] for r in rounds),
                    "stats_second_call_seconds": again_s, "stats_second_call_cache_hit": again_hit,
                    "stopped_forward_tokens_per_s": statistics.median(r[3] for r in rounds),
                    "stats_vs_stopped_forward": statistics.median(r[2] / r[3] for r in rounds)})
    if repeats > 1:
        figures["stats_vs_stopped_forward_each"] = [round(r[2] / r[3], 3) for r in rounds]
    # The products alone: what Σ k kᵀ costs on top of the forward pass, whatever the code around it does.
    products_s = _products_seconds(seqs, len(layers), st.dim, batch_tokens, st.mom2.dtype)
    forward_s = n_tokens / figures["stopped_forward_tokens_per_s"]
    figures.update({"stats_products_seconds": products_s, "stopped_forward_seconds": forward_s,
                    "stats_vs_stopped_forward_bound": forward_s / (forward_s + products_s)})
    return figures


@torch.no_grad()
def _products_seconds(seqs, n_layers: int, d: int, batch_tokens: int, dtype: torch.dtype) -> float:
    """Seconds of ``add_gram`` alone for ``n_layers`` keys of width ``d`` per token, over the statistics
    pass's own batches (random float32 keys of the same shapes: a matmul's time does not depend on its
    values). The ratio a statistics pass can reach at best is forward / (forward + this)."""
    from kedit.editors.stats import add_gram, mirror_gram

    acc = torch.zeros(d, d, dtype=dtype)  # summed in the statistics dtype, as the pass does
    total = 0.0
    for batch in _pass_batches(seqs, batch_tokens):
        k = torch.randn(sum(len(seqs[i]) for i in batch), d)  # (N, d): the batch's real tokens
        t0 = time.perf_counter()
        for _ in range(n_layers):
            add_gram(acc, k)
        total += time.perf_counter() - t0
    t0 = time.perf_counter()
    for _ in range(n_layers):
        mirror_gram(acc)
    return total + time.perf_counter() - t0


def _pass_batches(seqs, batch_tokens: int) -> list[list[int]]:
    """The index batches the statistics pass (``accumulate_mom2``) makes of ``seqs``."""
    from kedit.models.text import length_batches

    return length_batches([len(s) for s in seqs], runtime.batch_tokens(batch_tokens), runtime.active().max_batch)


def _cold_stats(lm, layers, **kw):
    """One statistics pass from a cold cache, then the same call again (a cache hit): (stats, seconds, hit)."""
    from kedit.editors.stats import layer_stats

    with tempfile.TemporaryDirectory() as tmp:
        old = os.environ.get("KEDIT_CACHE")
        os.environ["KEDIT_CACHE"] = tmp  # a cold statistics cache
        try:
            kw = dict(kw, fingerprint=lm.fingerprint, progress=False)
            st = layer_stats(lm.model, lm.tokenizer, layers, **kw)[layers[0]]
            t0 = time.perf_counter()
            again = layer_stats(lm.model, lm.tokenizer, layers, **kw)[layers[0]]
            return st, time.perf_counter() - t0, again.cache_hit
        finally:
            if old is None:
                os.environ.pop("KEDIT_CACHE")
            else:
                os.environ["KEDIT_CACHE"] = old


@torch.no_grad()
def _stopped_forward_tokens_per_s(lm, seqs, top: int, batch_tokens: int) -> float:
    """Tokens per second of a plain forward pass over ``seqs`` stopped at layer ``top``'s mlp_out."""
    from kedit.editors.nethook import Trace
    from kedit.models import path_of

    model, tok = lm.model, lm.tokenizer
    path = path_of(model, "mlp_out", top)
    t0 = time.perf_counter()
    for batch in _pass_batches(seqs, batch_tokens):
        ids, mask = pad_batch([seqs[i] for i in batch], pad_id(tok))
        with Trace(model, path, stop=True, retain_output=False):
            model.base_model(input_ids=ids, attention_mask=mask, use_cache=False)
    return sum(len(s) for s in seqs) / (time.perf_counter() - t0)
