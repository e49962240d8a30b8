"""Evaluation cost: the batched scorer against a raw forward pass, and evaluation cost per
(editor, case) against EasyEdit's published-to-us figure.

Figures (written to benchmarks/results/eval_<model>.json):
* ``scorer_tokens_per_s`` vs ``raw_forward_tokens_per_s``: every teacher-forced (prompt, target) pair
  of the benchmark; the scorer (sorting, batching, logits only at target positions) against plain
  ``model(input_ids)`` over the very same padded batches (full logits), in the same process.
* ``per_probe_loop_tokens_per_s``: the same pairs, one forward pass per pair (EasyEdit's style).
* ``eval_seconds_per_editor_case``: post-edit scoring of one case (4 probes: reliability,
  generalization, locality, one-hop, teacher-forced + greedy generation, as keval does) plus the
  unedited baseline amortised over 3 editors; compared with EasyEdit's ~0.30 s for the unedited
  model + ~0.30 s again per edit (quoted in the issue for SmolLM2-135M on this kind of machine; not
  re-measured here).

Usage: python benchmarks/eval_bench.py [--model smollm2-135m] [--threads 2] [--device cpu]
       python benchmarks/eval_bench.py --gpt2-xl-random --device cuda   (GPU check, random weights)
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.common import raw_forward, timed, write_result  # noqa: E402
from kedit.eval.asking import ask  # noqa: E402
from kedit.eval.scoring import teacher_forced  # noqa: E402
from kedit.models.text import encode_prompts, encode_targets  # noqa: E402
from kedit.records import read_cases  # noqa: E402


def pairs_of(cases):
    return [(p.prompt, c) for case in cases for p in case.probes for c in (p.choices or (p.answers[0],) + ((p.foil,) if p.foil else ()))]


@torch.no_grad()
def per_probe_loop(model, tok, pairs, device):
    seqs = [p + t for p, t in zip(encode_prompts(tok, [p for p, _ in pairs]), encode_targets(tok, [t for _, t in pairs]))]

    def run():
        for s in seqs:
            model(input_ids=torch.tensor([s], device=device)).logits.log_softmax(-1)

    return run


def load(args):
    if args.gpt2_xl_random:
        from transformers import GPT2Config, GPT2LMHeadModel

        from tests.fixtures.tinykg import build_kg, build_tokenizer

        tok = build_tokenizer()
        cfg = GPT2Config(n_layer=48, n_embd=1600, n_head=25, vocab_size=max(50257, len(tok)))
        model = GPT2LMHeadModel(cfg).to(args.device, dtype=torch.float16 if args.device.startswith("cuda") else torch.float32).eval()
        kg = build_kg()
        from kedit.records import EditCase, Probe, Relation

        facts = kg.facts()
        cases = [EditCase(f"g{i}", f.subject, Relation(f.relation), f.object, f.object, f.prompt,
                          (Probe("reliability", f.prompt, (f.object,)),)) for i, f in enumerate(facts[:2000])]
        return model, tok, cases, "gpt2-xl-random"
    from kedit.models import load_model

    lm = load_model(args.model, device=args.device)
    return lm.model, lm.tokenizer, read_cases(args.bench), args.model


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--bench", default=str(Path(__file__).resolve().parents[1] / "data/demo/bench.jsonl"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--gpt2-xl-random", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    model, tok, cases, name = load(args)
    pairs = pairs_of(cases)
    raw, n_tokens = raw_forward(model, tok, pairs, args.device)
    t_scorer = timed(lambda: teacher_forced(model, tok, pairs), args.device)
    t_raw = timed(raw, args.device)
    sub = pairs[: min(len(pairs), 400)]
    sub_tokens = raw_forward(model, tok, sub, args.device)[1]
    t_loop = timed(per_probe_loop(model, tok, sub, args.device), args.device, repeat=1)
    t_sub = timed(lambda: teacher_forced(model, tok, sub), args.device)
    figures = {
        "model": name, "n_pairs": len(pairs), "n_tokens": n_tokens,
        "scorer_tokens_per_s": n_tokens / t_scorer,
        "raw_forward_tokens_per_s": n_tokens / t_raw,
        "scorer_vs_raw_forward": t_raw / t_scorer,
        "per_probe_loop_tokens_per_s": sub_tokens / t_loop,
        "batched_vs_per_probe_loop": t_loop / t_sub,
    }
    if not args.gpt2_xl_random:
        four = ("reliability", "generalization", "locality", "one_hop")

        def first_of_each(case):  # EasyEdit's 4 probes: one per split
            return [case.probes_of(s)[0] for s in four if case.probes_of(s)]

        for label, pick in (("4_probes", first_of_each), ("all_probes_of_4_splits", lambda c: [p for p in c.probes if p.split in four])):
            per_case = []
            for case in cases[:20]:
                probes = pick(case)
                per_case.append(timed(lambda: ask(model, tok, probes), args.device, repeat=1))
            t_base = timed(lambda: ask(model, tok, [p for c in cases for p in pick(c)]), args.device, repeat=1)
            post = statistics.median(per_case)
            amortised = t_base / len(cases) / 3  # the baseline is shared by 3 editors (and every mode)
            figures.update({
                f"post_edit_eval_seconds_per_case_{label}": post,
                f"baseline_seconds_per_case_{label}": t_base / len(cases),
                f"eval_seconds_per_editor_case_{label}": post + amortised,
                f"ratio_vs_easyedit_{label}": (post + amortised) / 0.60,
            })
        figures["easyedit_eval_seconds_per_editor_case_quoted"] = 0.60
    write_result(f"eval_{name}" + ("" if args.device == "cpu" else f"_{args.device.split(':')[0]}"), figures, args.device)


if __name__ == "__main__":
    main()
