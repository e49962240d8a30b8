"""UltraEdit over a long sequence of counterfactual edits made from the KG's triples, on the built-in
SmolLM2-135M (CPU): time per edit as the sequence grows (the method's claim: it stays flat, one pass
and one d_in × d_in solve per layer and turn, whatever came before) and what the edits keep.

The edits (benchmarks/kg_counterfactuals.py) are applied in turns of ``--turn-size`` without rollback.
Every ``--every`` edits the script records the seconds per edit of the last window and the process's
RSS; at each size of ``--sizes`` it scores, teacher-forced (token accuracy):
* ``first100``: the first 100 edits' new targets (what a long sequence keeps of its start);
* ``last100``: the latest 100 edits' new targets;
* ``held_out``: 200 facts never edited, their true objects, against the unedited model's score there.
Figures go to benchmarks/results/ultraedit_lifelong_<model>.json. Usage:
    python benchmarks/ultraedit_lifelong.py [--sizes 1000,5000] [--turn-size 10] [--lr 1e-4] [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import write_result  # noqa: E402
from benchmarks.kg_counterfactuals import kg_counterfactuals  # noqa: E402


def accuracy(model, tok, pairs) -> float:
    from kedit.eval.scoring import teacher_forced

    scores = teacher_forced(model, tok, pairs)
    return sum(sum(a == t for a, t in zip(s.argmax_ids, s.target_ids)) / len(s.target_ids) for s in scores) / len(scores)


def rss_mb() -> float:
    import psutil

    return psutil.Process(os.getpid()).memory_info().rss / 2**20


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--sizes", default="1000,5000")
    ap.add_argument("--turn-size", type=int, default=10)
    ap.add_argument("--every", type=int, default=500)
    ap.add_argument("--lr", type=float, default=None, help="ultraedit.lr (default: the hyper-parameter files')")
    ap.add_argument("--layers", default=None, help="ultraedit.layers, e.g. 18,19,20 (default: the files')")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    from kedit.editors import EDITORS, ParamSnapshot, load_hparams, timed_edit
    from kedit.models.roles import path_of
    from kedit.models.loading import load_model

    sizes = sorted(int(x) for x in args.sizes.split(","))
    lm = load_model(args.model)
    model, tok = lm.model, lm.tokenizer
    over = {}
    if args.lr is not None:
        over["lr"] = args.lr
    if args.layers:
        over["layers"] = [int(x) for x in args.layers.split(",")]
    editor = EDITORS.get("ultraedit")()
    hp = load_hparams(editor.hparams_cls, "ultraedit", model, over)
    edits = kg_counterfactuals(max(sizes) + 200, seed=0)
    edits, held = edits[: max(sizes)], edits[max(sizes):]
    if len(edits) < max(sizes):
        sys.exit(f"the KG makes {len(edits)} counterfactual edits, fewer than {max(sizes)}")
    held_pairs = [(r.prompt, r.target_true) for r in held]
    held_before = accuracy(model, tok, held_pairs)
    first_pre = accuracy(model, tok, [(r.prompt, r.target_new) for r in edits[:100]])
    windows, checkpoints, seconds = [], [], []
    t_window, done = 0.0, 0
    # one copy of the edited weights, taken once: each turn's own undo copy (32 MB per turn on SmolLM2's
    # 9 layers) would hold 16 GB after 5,000 edits
    base = ParamSnapshot(model, [path_of(model, hp.role, layer) + ".weight" for layer in hp.layers])
    try:
        for i in range(0, max(sizes), args.turn_size):
            turn = edits[i:i + args.turn_size]
            res = timed_edit(editor, model, tok, turn, hp)
            res.snapshot = None
            seconds.append(res.seconds)
            t_window += res.seconds
            done += len(turn)
            if done % args.every == 0:
                windows.append({"edits": done, "seconds_per_edit": round(t_window / args.every, 4), "rss_mb": round(rss_mb())})
                print(windows[-1], flush=True)
                t_window = 0.0
            if done in sizes:
                cp = {"edits": done,
                      "first100": round(accuracy(model, tok, [(r.prompt, r.target_new) for r in edits[:100]]), 4),
                      "last100": round(accuracy(model, tok, [(r.prompt, r.target_new) for r in edits[done - 100:done]]), 4),
                      "held_out": round(accuracy(model, tok, held_pairs), 4),
                      "seconds_total": round(sum(seconds), 1)}
                checkpoints.append(cp)
                print(cp, flush=True)
    finally:
        t0 = time.perf_counter()
        base.restore()
        restore_s = time.perf_counter() - t0
    write_result(f"ultraedit_lifelong_{args.model}", {
        "editor": "ultraedit", "hparams": {"layers": list(hp.layers), "lr": hp.lr, "token": hp.token, "role": hp.role},
        "turn_size": args.turn_size, "edits": "kg counterfactuals (benchmarks/kg_counterfactuals.py, seed 0)",
        "first100_before": round(first_pre, 4), "held_out_before": round(held_before, 4),
        "windows": windows, "checkpoints": checkpoints, "restore_seconds": round(restore_s, 2)})


if __name__ == "__main__":
    main()
