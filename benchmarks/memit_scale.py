"""MEMIT and AlphaEdit with 10, 100, 1,000 edits in one batch on the built-in SmolLM2-135M (CPU).

Figures (benchmarks/results/memit_scale_<model>.json), per editor and batch size N:
* ``seconds`` for the whole batch, ``seconds_per_edit``, and its two phases from the editor's info:
  ``values_seconds`` (one δ optimisation per edit: grows with N) and ``keys_and_solve_seconds`` (the
  batched key passes and one d×d solve per layer: per edit it falls as N grows);
* ``peak_memory_mb`` (RSS during the edit) and the batch's reliability / locality token accuracy;
* the key statistics of the whole band in one pass against a forward pass stopped at the top layer.

The edits are the first N cases of ``--cases`` (default: the demo pipeline's unfiltered KG cases, 360;
a size above the file's count is skipped with a message). Usage:
    python benchmarks/memit_scale.py [--sizes 10,100,1000] [--editors memit,alphaedit] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import stats_vs_stopped_forward, write_result  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--cases", default=str(ROOT / "runs/locate_family/generated.jsonl"))
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--editors", default="memit,alphaedit")
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    import kedit
    from kedit.editors import EDITORS, load_hparams

    lm = kedit.load_model(args.model)
    cases = kedit.read_cases(args.cases)
    editors = args.editors.split(",")
    first = load_hparams(EDITORS.get(editors[0]).hparams_cls, editors[0], lm.model)
    figures: dict = {"model": args.model, "cases_file": Path(args.cases).name, "cases_available": len(cases),
                     "layers": list(first.layers), "runs": []}
    figures.update(stats_vs_stopped_forward(lm, first.layers, corpus=first.mom2_corpus, n_samples=first.mom2_n_samples,
                                            max_tokens=first.mom2_max_tokens, dtype=first.mom2_dtype,
                                            batch_tokens=first.mom2_batch_tokens))
    for n in (int(x) for x in args.sizes.split(",")):
        if n > len(cases):
            print(f"skipping {n} edits: {args.cases} holds {len(cases)} cases")
            figures.setdefault("skipped_sizes", []).append(n)
            continue
        for name in editors:
            rep = kedit.evaluate(lm.model, lm.tokenizer, cases[:n], editors=[name], mode="batch", batch_size=n,
                                 generate=False, progress=False)
            info = rep.results[0].edit_info
            acc = {r.split: r.value for r in rep.rows if r.metric == "token_acc"}
            eff = {r.metric: r.value for r in rep.rows if r.split == "efficiency"}
            seconds = float(info.get("seconds", 0.0))
            run = {"editor": name, "edits": n, "failed": len(rep.failed), "seconds": seconds,
                   "seconds_per_edit": seconds / n, "values_seconds": info.get("values_seconds"),
                   "keys_and_solve_seconds": info.get("keys_and_solve_seconds"),
                   "keys_and_solve_seconds_per_edit": (info.get("keys_and_solve_seconds") or 0.0) / n,
                   "peak_memory_mb": eff.get("peak_memory_mb"),
                   "reliability_token_acc": acc.get("reliability"), "locality_token_acc": acc.get("locality")}
            print(run, flush=True)
            figures["runs"].append(run)
    write_result(f"memit_scale_{args.model}", figures)


if __name__ == "__main__":
    main()
