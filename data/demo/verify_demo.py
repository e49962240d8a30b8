"""Verify the demo benchmark against the unedited model it was written for.

"The model knows X" means: the greedy continuation of the prompt (8 new tokens, batched with left
padding and an attention mask) starts with the answer or one of its aliases, case-insensitive,
after stripping leading whitespace, a leading quote mark and a leading article ("the", "a", "an")
from both sides.

Required checks (any failure -> exit status 1):
  true      the edit prompt yields target_true
  not-new   the edit prompt does not already yield target_new (or an alias of it)
  keep      every locality / other_relation / distract_neighbor probe yields one of its answers
            (distract_neighbor is asked with the edit sentence in front, as stored)
  cond      every one-hop condition yields one of its answers
  pre-new   no `new` probe (reliability, generalization, subject_replace, reverse_relation,
            one_hop) is already answered with its new answer before the edit
  struct    all nine splits present, one-hop probes carry conditions, commonsense has 2 choices

Reported, not required:
  the unedited model's answer to the subject_replace / generalization prompts (does it recognise
  the alias / paraphrase with target_true?) and its two-choice log-likelihood accuracy on the
  commonsense items (the "before" figure of the commonsense split).

Run:  .venv/bin/python data/demo/verify_demo.py [--path data/demo/bench.jsonl] [-v]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

from kedit.records.jsonl import read_jsonl
from kedit.records.schema import SPLITS, EditCase

HERE = Path(__file__).resolve().parent
NEW_SPLITS = [s for s, (_, expect) in SPLITS.items() if expect == "new"]
KEEP_CHECKED = ("locality", "other_relation", "distract_neighbor")
_QUOTES = "\"'“‘«*"


def norm(text: str) -> str:
    s = text.lstrip().lstrip(_QUOTES).lstrip().lower()
    for art in ("the ", "a ", "an "):
        if s.startswith(art):
            s = s[len(art):]
            break
    return s


def starts_with_any(continuation: str, answers) -> bool:
    c = norm(continuation)
    return any(norm(a) and c.startswith(norm(a)) for a in answers)


@torch.no_grad()
def greedy(model, tok, prompts: list[str], max_new_tokens: int = 8, batch_size: int = 32) -> dict[str, str]:
    """Greedy continuations, batched (left padding + attention mask), longest prompts first."""
    tok.padding_side = "left"
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    uniq = sorted(set(prompts), key=lambda p: -len(tok(p)["input_ids"]))
    out: dict[str, str] = {}
    for i in range(0, len(uniq), batch_size):
        batch = uniq[i : i + batch_size]
        enc = tok(batch, return_tensors="pt", padding=True)
        gen = model.generate(**enc, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=tok.pad_token_id)
        for p, ids in zip(batch, gen[:, enc["input_ids"].shape[1] :]):
            out[p] = tok.decode(ids, skip_special_tokens=True)
    return out


@torch.no_grad()
def choice_logprobs(model, tok, items: list[tuple[str, str]], batch_size: int = 32) -> list[tuple[float, int]]:
    """Sum of log p(" " + choice | prompt) and the number of choice tokens, batched with right padding."""
    tok.padding_side = "right"
    seqs = []
    for prompt, choice in items:
        p_ids = tok(prompt)["input_ids"]
        c_ids = tok(" " + choice)["input_ids"]
        seqs.append((p_ids + c_ids, len(p_ids)))
    res: list[tuple[float, int]] = []
    for i in range(0, len(seqs), batch_size):
        batch = seqs[i : i + batch_size]
        width = max(len(s) for s, _ in batch)
        ids = torch.full((len(batch), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for j, (s, _) in enumerate(batch):
            ids[j, : len(s)] = torch.tensor(s)
            mask[j, : len(s)] = 1
        logp = torch.log_softmax(model(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        for j, (s, start) in enumerate(batch):
            tgt = torch.tensor(s[start:])
            lp = logp[j, start - 1 : len(s) - 1].gather(1, tgt[:, None]).sum().item()
            res.append((lp, len(s) - start))
    tok.padding_side = "left"
    return res


def structure_problems(case: EditCase) -> list[str]:
    probs = [f"no {s} probe" for s in SPLITS if not case.probes_of(s)]
    probs += [f"one_hop probe without conditions: {p.prompt!r}" for p in case.probes_of("one_hop") if not p.conditions]
    for p in case.probes_of("commonsense"):
        if not p.choices or len(p.choices) != 2 or p.answers[0] not in p.choices:
            probs.append(f"commonsense item needs two choices incl. the answer: {p.prompt!r}")
    probs += [f"trailing whitespace: {p.prompt!r}" for p in case.probes if p.prompt != p.prompt.rstrip()]
    return probs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--path", default=str(HERE / "bench.jsonl"))
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("-v", "--verbose", action="store_true", help="print every checked continuation")
    args = ap.parse_args(argv)

    torch.set_num_threads(1)
    from kedit.models import load_model

    cases = read_jsonl(args.path)
    lm = load_model(args.model)
    model, tok = lm.model, lm.tokenizer

    prompts = []
    for c in cases:
        prompts.append(c.prompt)
        for p in c.probes:
            if p.split != "commonsense":
                prompts.append(p.prompt)
            prompts += [cd.prompt for cd in p.conditions]
    gen = greedy(model, tok, prompts, batch_size=args.batch_size)

    cs_items = [(p.prompt, ch) for c in cases for p in c.probes_of("commonsense") for ch in p.choices]
    cs_scores = choice_logprobs(model, tok, cs_items, batch_size=args.batch_size)

    n_fail = 0
    tally = {k: [0, 0] for k in ("true", "not-new", "keep", "cond", "pre-new", "struct")}
    info = {"alias gives target_true": [0, 0], "paraphrase gives target_true": [0, 0]}
    cs_sum = cs_norm = cs_n = 0
    k = 0
    for c in cases:
        problems: list[str] = []
        details: list[str] = []

        def check(kind: str, ok: bool, what: str, prompt: str) -> None:
            tally[kind][0] += ok
            tally[kind][1] += 1
            if not ok:
                problems.append(f"[{kind}] {what}: {prompt!r} -> {gen.get(prompt, '')!r}")
            elif args.verbose:
                details.append(f"    ok [{kind}] {prompt!r} -> {gen.get(prompt, '')!r}")

        new_answers = (c.target_new, *c.probes_of("reliability")[0].answers) if c.probes_of("reliability") else (c.target_new,)
        check("true", starts_with_any(gen[c.prompt], [c.target_true]), f"expected {c.target_true!r}", c.prompt)
        check("not-new", not starts_with_any(gen[c.prompt], new_answers), f"already says {c.target_new!r}", c.prompt)
        for p in c.probes:
            if p.split in KEEP_CHECKED:
                check("keep", starts_with_any(gen[p.prompt], p.answers), f"{p.split} expected {p.answers[0]!r}", p.prompt)
            if p.split in NEW_SPLITS:
                check("pre-new", not starts_with_any(gen[p.prompt], p.answers), f"{p.split} already answered before the edit", p.prompt)
            for cd in p.conditions:
                check("cond", starts_with_any(gen[cd.prompt], cd.answers), f"condition expected {cd.answers[0]!r}", cd.prompt)
            if p.split in ("subject_replace", "generalization"):
                key = "alias gives target_true" if p.split == "subject_replace" else "paraphrase gives target_true"
                ok = starts_with_any(gen[p.prompt], [c.target_true])
                info[key][0] += ok
                info[key][1] += 1
                if args.verbose:
                    details.append(f"    {'ok' if ok else '--'} [info: {p.split} before the edit] {p.prompt!r} -> {gen[p.prompt]!r}")
            if p.split == "commonsense":
                scores = cs_scores[k : k + len(p.choices)]
                k += len(p.choices)
                right = p.choices.index(p.answers[0])
                sums = [s for s, _ in scores]
                means = [s / max(n, 1) for s, n in scores]
                cs_sum += max(range(len(sums)), key=sums.__getitem__) == right
                cs_norm += max(range(len(means)), key=means.__getitem__) == right
                cs_n += 1
        sp = structure_problems(c)
        tally["struct"][0] += not sp
        tally["struct"][1] += 1
        problems += [f"[struct] {s}" for s in sp]

        if problems:
            n_fail += 1
            print(f"{c.case_id} FAIL  {c.subject} / {c.relation.id}: {c.target_true} -> {c.target_new}")
            for pr in problems:
                print(f"    {pr}")
        else:
            print(f"{c.case_id} pass  {c.subject} / {c.relation.id}: {c.target_true} -> {c.target_new}")
        for d in details:
            print(d)

    counts = {s: sum(len(c.probes_of(s)) for c in cases) for s in SPLITS}
    print()
    print(f"cases: {len(cases)} ({len(cases) - n_fail} pass, {n_fail} fail)   model: {args.model}")
    print("probes per split: " + ", ".join(f"{s}={n}" for s, n in counts.items()))
    print("required checks:  " + ", ".join(f"{kk} {a}/{b}" for kk, (a, b) in tally.items()))
    print("reported only:    " + ", ".join(f"{kk} {a}/{b}" for kk, (a, b) in info.items()))
    if cs_n:
        print(f"commonsense (unedited, 2-choice log-likelihood): sum {cs_sum}/{cs_n} = {cs_sum / cs_n:.0%}, "
              f"per-token mean {cs_norm}/{cs_n} = {cs_norm / cs_n:.0%}")
    print("VERIFIED" if n_fail == 0 else "NOT VERIFIED")
    return 0 if n_fail == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
