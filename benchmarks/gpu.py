"""The GPU figures of issue 17 on a GPT-J-6B-shaped model with random weights (timing only: nothing
is downloaded; the tokenizer is a byte-level BPE trained here on the bundled KG's text).

Figures (benchmarks/results/gpu_<shape>_<dtype>.json):
* ``stats_tokens_per_s``: E[k kᵀ] of two layers in one stopped pass (goal ≥ 100,000 tokens/s in bf16);
* ``rome_seconds_per_edit``: the median over ``--rome-edits`` edits, statistics excluded (goal ≤ 1.0 s;
  an eager 20-step loop measured 1.65 s on an H100);
* ``memit_seconds``: ``--memit-edits`` edits in one MEMIT batch, keys and values included (goal: 10,000
  in < 5 minutes); where ``--budget-s`` runs out first, the edits done and the rate are reported;
* ``scorer_speedup``: teacher-forced scoring of ``--probes`` probes batched against one probe at a time
  (goal ≥ 10×).

``--shape tiny`` runs the same on a 2-layer model in seconds (a check of the script on a CPU).
Usage: python benchmarks/gpu.py [--shape gptj|tiny] [--device cuda] [--dtype bfloat16] [--memit-edits 10000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import sync, write_result  # noqa: E402

SHAPES = {
    "gptj": {"n_embd": 4096, "n_layer": 28, "n_head": 16, "rotary_dim": 64, "n_positions": 2048, "vocab_size": 50400},
    "tiny": {"n_embd": 64, "n_layer": 2, "n_head": 4, "rotary_dim": 8, "n_positions": 256, "vocab_size": 2048},
}


def corpus() -> tuple[list[str], list[str]]:
    """Sentences from the bundled KG's entity and relation names (real words for the BPE and the
    statistics), and the entity names."""
    import json

    from kedit.settings import data_root

    kg = data_root() / "kg"
    names = [json.loads(line)["name"] for line in (kg / "entities.jsonl").read_text().splitlines() if line.strip()]
    rels = [json.loads(line) for line in (kg / "relations.jsonl").read_text().splitlines() if line.strip()]
    out = []
    for i, n in enumerate(names):
        r = rels[i % len(rels)]
        out.append(r["template"].replace("{}", n) + " " + names[(i * 7 + 3) % len(names)] + ".")
    return out, names


def tokenizer(texts: list[str], vocab: int):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(texts, trainers.BpeTrainer(vocab_size=min(vocab, 8000), special_tokens=["<|endoftext|>"],
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return PreTrainedTokenizerFast(tokenizer_object=bpe, eos_token="<|endoftext|>", pad_token="<|endoftext|>")


def random_model(shape: str, dtype: torch.dtype, device: str):
    from transformers import GPTJConfig, GPTJForCausalLM

    cfg = GPTJConfig(**SHAPES[shape], bos_token_id=0, eos_token_id=0)
    torch.set_default_dtype(dtype)  # built in the target dtype: no float32 copy of 6B weights
    try:
        with torch.device(device):
            model = GPTJForCausalLM(cfg)
    finally:
        torch.set_default_dtype(torch.float32)
    return model.eval().requires_grad_(False)


def requests(n: int, names: list[str]):
    from kedit.editors import EditRequest

    subjects = [f"{names[i % len(names)]} {i}" for i in range(n)]
    return [EditRequest(f"{s} is located in", s, names[(i * 13 + 5) % len(names)], None, f"r{i}")
            for i, s in enumerate(subjects)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--shape", choices=sorted(SHAPES), default="gptj")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--dtype", default="bfloat16")
    ap.add_argument("--stats-texts", type=int, default=4000)
    ap.add_argument("--rome-edits", type=int, default=5)
    ap.add_argument("--memit-edits", type=int, default=10000)
    ap.add_argument("--values-batch", type=int, default=256, help="MEMIT requests whose values are optimised together")
    ap.add_argument("--probes", type=int, default=2000)
    ap.add_argument("--budget-s", type=float, default=300.0, help="MEMIT's time budget")
    args = ap.parse_args()
    from kedit.editors import EDITORS, load_hparams
    from kedit.editors.stats import accumulate_mom2
    from kedit.eval.scoring import teacher_forced
    from kedit.runtime import Runtime, using

    dtype = getattr(torch, args.dtype)
    texts, names = corpus()
    tok = tokenizer(texts, SHAPES[args.shape]["vocab_size"])
    t0 = time.perf_counter()
    model = random_model(args.shape, dtype, args.device)
    sync(args.device)
    figures = {"shape": args.shape, "config": SHAPES[args.shape], "dtype": args.dtype, "device": args.device,
               "parameters": sum(p.numel() for p in model.parameters()), "build_seconds": round(time.perf_counter() - t0, 1)}
    rt = Runtime(args.device, args.dtype).resolved(model)
    figures["batch_tokens"] = rt.batch_tokens
    with using(rt):
        stats_texts = (texts * (args.stats_texts // len(texts) + 1))[: args.stats_texts]
        layers = [SHAPES[args.shape]["n_layer"] // 2 - 1, SHAPES[args.shape]["n_layer"] // 2]
        _, n_tok, secs = accumulate_mom2(model, tok, stats_texts, layers, max_tokens=256, progress=False)
        figures.update(stats_tokens=n_tok, stats_seconds=round(secs, 2), stats_tokens_per_s=round(n_tok / secs))
        print(f"statistics: {n_tok} tokens in {secs:.1f} s ({n_tok / secs:,.0f} tokens/s)", flush=True)

        stats_over = {"mom2_n_samples": len(stats_texts), "mom2_max_tokens": 256}
        rome = EDITORS.get("rome")()
        hp = load_hparams(rome.hparams_cls, "rome", model, {"layer": layers[0], **stats_over})
        rome.prepare(model, tok, hp, texts=stats_texts)
        secs = []
        for req in requests(args.rome_edits + 1, names):
            sync(args.device)
            t0 = time.perf_counter()
            res = rome.edit(model, tok, [req], hp)
            sync(args.device)
            secs.append(time.perf_counter() - t0)
            res.restore()
        figures["rome_seconds_per_edit"] = round(statistics.median(secs[1:]), 3)  # the first warms the kernels up
        print(f"ROME: {figures['rome_seconds_per_edit']} s per edit (median of {args.rome_edits})", flush=True)

        memit = EDITORS.get("memit")()
        mp = load_hparams(memit.hparams_cls, "memit", model, {"layers": layers, "values_batch": args.values_batch,
                                                              **stats_over})
        memit.prepare(model, tok, mp, texts=stats_texts)
        done, t0, n = 0, time.perf_counter(), args.memit_edits
        chunk = n if args.budget_s <= 0 else min(n, 1000)  # chunks of 1,000 show the rate before the budget ends
        reqs = requests(n, names)
        while done < n and (args.budget_s <= 0 or time.perf_counter() - t0 < args.budget_s):
            res = memit.edit(model, tok, reqs[done: done + chunk], mp)
            sync(args.device)
            res.restore()
            done += len(reqs[done: done + chunk])
            print(f"MEMIT: {done} edits in {time.perf_counter() - t0:.0f} s", flush=True)
        figures.update(memit_edits=done, memit_chunk=chunk, memit_seconds=round(time.perf_counter() - t0, 1),
                       memit_seconds_per_edit=round((time.perf_counter() - t0) / max(done, 1), 4))

        pairs = [(f"{names[i % len(names)]} is located in", names[(i * 3) % len(names)]) for i in range(args.probes)]
        sync(args.device)
        t0 = time.perf_counter()
        teacher_forced(model, tok, pairs)
        sync(args.device)
        batched = time.perf_counter() - t0
        k = min(200, len(pairs))
        t0 = time.perf_counter()
        for p in pairs[:k]:
            teacher_forced(model, tok, [p])
        sync(args.device)
        single = (time.perf_counter() - t0) / k * len(pairs)
        figures.update(scorer_probes=len(pairs), scorer_batched_seconds=round(batched, 2),
                       scorer_per_probe_seconds_extrapolated=round(single, 2), scorer_speedup=round(single / batched, 1))
        print(f"scorer: {len(pairs)} probes batched in {batched:.2f} s, one at a time {single:.1f} s "
              f"({single / batched:.0f}x)", flush=True)
    if args.device.startswith("cuda"):
        figures["peak_gpu_memory_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 1)
    write_result(f"gpu_{args.shape}_{args.dtype}", figures, args.device)


if __name__ == "__main__":
    main()
