"""MEMIT and AlphaEdit with 10, 100, 1,000 edits in one batch on the built-in SmolLM2-135M (CPU).

Figures (benchmarks/results/memit_scale_<model>.json), per editor and batch size N:
* ``seconds`` for the whole batch, ``seconds_per_edit``, and its two phases:
  ``values_seconds`` (one δ optimisation per edit: grows with N) and ``keys_and_solve_seconds`` (the
  batched key passes and one d×d solve per layer: per edit it falls as N grows);
* ``peak_memory_mb`` (RSS during the edit), the batch's reliability / generalization / locality token accuracy,
  and reliability / generalization under ``prob_cmp`` (P(new) > P(old): the efficacy and paraphrase scores of
  MEMIT's paper);
* the key statistics of the whole band in one pass against a forward pass stopped at the top layer
  (``--stats-repeats`` alternating rounds, medians; ``--stats-only`` measures just that).

The values are kept on disk (``<editor>.values_cache``, ``kedit.editors.locate.value_cache``): on this
CPU each costs ~10-20 s (one thread; ~25-30 s before the value steps ran only the positions from the
lookup token on), so a batch of 1,000 is ~4 CPU-hours per editor, more than one session. A run
that is cut short keeps every value it finished, and the next run (same command) optimises only the rest.
They live in the repository (``--values-dir``, default benchmarks/results/memit_scale_values/, one ~4 KB
file per value, named by a digest of the weights, the optimisation's numbers and the request): a session's
machine is not the next one's, and the committed values let the next session go on from them.
So ``values_seconds`` is the sum of the seconds each value took *when it was computed* (recorded with it,
perhaps in an earlier run), and ``seconds`` = that + ``keys_and_solve_seconds`` (measured now): the cost of
the batch from nothing. ``seconds_this_run`` and ``values_cached`` say what this run itself did. The values
of the 10 are reused by the 100 and those by the 1,000 (the first N cases of one file).

Each finished run is written to the JSON at once (runs of other sizes already there are kept).
``--warm A:B`` only optimises and caches the values of cases A..B-1 (each editor's batch of them is written
and restored, nothing is scored or recorded): several such processes, one thread each, fill the cache on
several cores at once (the values are independent per request), and the plain command then reads them all.
The edits are the first N cases of ``--cases`` (default: 1,500 counterfactual edits made from the bundled
KG, benchmarks/kg_counterfactuals.py seed 1 + kbuild generate --backend kg, unfiltered: built if absent).
Usage:
    python benchmarks/memit_scale.py [--sizes 10,100,1000] [--editors memit,alphaedit] [--threads 2]
    python benchmarks/memit_scale.py --warm 224:612 --editors memit --threads 1   # one shard of the values
    python benchmarks/memit_scale.py --stats-only --stats-repeats 5               # the statistics pass alone
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.common import RESULTS, stats_vs_stopped_forward, write_result  # noqa: E402

VALUES_DIR = RESULTS / "memit_scale_values"  # one small file per optimised value (~4 KB), committed


def default_cases() -> Path:
    """The 1,500 KG counterfactual cases (as benchmarks/lifelong_long.sh makes them, before its filter)."""
    out = ROOT / "runs/memit_scale/generated.jsonl"
    if not out.is_file():
        out.parent.mkdir(parents=True, exist_ok=True)
        seeds = out.with_name("seeds.jsonl")
        subprocess.run([sys.executable, str(ROOT / "benchmarks/kg_counterfactuals.py"), "--n", "1500", "--seed", "1",
                        "--out", str(seeds)], check=True)
        subprocess.run([str(Path(sys.executable).with_name("kbuild")), "generate", "--backend", "kg", "--in", str(seeds),
                        "--out", str(out), "--overwrite"], check=True, stdout=subprocess.DEVNULL)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--cases", default=None, help="JSONL cases (default: runs/memit_scale/generated.jsonl, built if absent)")
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--editors", default="memit,alphaedit")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warm", default=None, metavar="A:B",
                    help="only optimise and cache the values of cases A..B-1 (a shard, for parallel processes)")
    ap.add_argument("--stats-repeats", type=int, default=3,
                    help="rounds of the statistics pass against a stopped forward pass (figures: their medians; "
                         "0: keep the last measured ones)")
    ap.add_argument("--stats-only", action="store_true", help="measure only the statistics pass (keeps the runs)")
    ap.add_argument("--values-dir", default=str(VALUES_DIR),
                    help="where the values are kept (default: in the repository, so that the next machine goes on "
                         "from them; '' for the user's cache)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.values_dir:
        os.environ["KEDIT_CACHE_VALUES"] = str(Path(args.values_dir).resolve())
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    import kedit
    from kedit.editors import EDITORS, load_hparams

    lm = kedit.load_model(args.model)
    cases_path = Path(args.cases) if args.cases else default_cases()
    cases = kedit.read_cases(cases_path)
    editors = args.editors.split(",")
    if args.warm:
        return warm(lm, cases, editors, args.warm)
    first = load_hparams(EDITORS.get(editors[0]).hparams_cls, editors[0], lm.model)
    name = f"memit_scale_{args.model}"
    old = RESULTS / f"{name}.json"
    before = json.loads(old.read_text())["figures"] if old.is_file() else {}
    figures: dict = {"model": args.model, "cases_file": cases_path.name, "cases_available": len(cases),
                     "layers": list(first.layers), "runs": before.get("runs", [])}
    if args.stats_repeats > 0:
        figures.update(stats_vs_stopped_forward(lm, first.layers, corpus=first.mom2_corpus, n_samples=first.mom2_n_samples,
                                                max_tokens=first.mom2_max_tokens, dtype=first.mom2_dtype,
                                                batch_tokens=first.mom2_batch_tokens, repeats=args.stats_repeats))
    else:  # the statistics figures of the last run that measured them
        figures.update({k: v for k, v in before.items() if k.startswith(("stats_", "stopped_forward"))})
    if args.stats_only:
        write_result(name, figures)
        return
    for n in (int(x) for x in args.sizes.split(",")):
        if n > len(cases):
            print(f"skipping {n} edits: {cases_path} holds {len(cases)} cases")
            figures.setdefault("skipped_sizes", []).append(n)
            continue
        for ed in editors:
            rep = kedit.evaluate(lm.model, lm.tokenizer, cases[:n], editors=[ed], mode="batch", batch_size=n,
                                 generate=False, progress=False, hparams={ed: {"values_cache": True}})
            info = rep.results[0].edit_info
            fig = {(r.split, r.metric): r.value for r in rep.rows}  # prob_cmp: MEMIT's paper's efficacy score
            values = float(info["values_seconds_recorded"])
            keys_solve = float(info["keys_and_solve_seconds"])
            run = {"editor": ed, "edits": n, "failed": len(rep.failed), "seconds": round(values + keys_solve, 3),
                   "seconds_per_edit": round((values + keys_solve) / n, 3), "values_seconds": values,
                   "values_seconds_per_edit": round(values / n, 3), "keys_and_solve_seconds": keys_solve,
                   "keys_and_solve_seconds_per_edit": round(keys_solve / n, 4),
                   "seconds_this_run": float(info.get("seconds", 0.0)), "values_cached": info["values_cached"],
                   "peak_memory_mb": fig.get(("efficiency", "peak_memory_mb")),
                   **{f"{split}_{metric}": fig.get((split, metric)) for split in ("reliability", "locality", "generalization")
                      for metric in ("token_acc", "prob_cmp") if (split, metric) != ("locality", "prob_cmp")},
                   "reliability_prob_cmp_unedited": fig.get(("reliability", "prob_cmp.pre"))}
            print(run, flush=True)
            figures["runs"] = [r for r in figures["runs"] if (r["editor"], r["edits"]) != (ed, n)] + [run]
            figures["runs"].sort(key=lambda r: (r["editor"], r["edits"]))
            write_result(name, figures)


def warm(lm, cases, editors, span: str) -> None:
    """Optimise and cache the values of ``cases[a:b]`` for each editor (the batch is written, then restored)."""
    import kedit
    from kedit.errors import KeditError

    try:
        a, b = (int(x) for x in span.split(":"))
    except ValueError:
        raise KeditError(f"--warm takes A:B (two case indices, e.g. 224:612), not {span!r}") from None
    if not 0 <= a < b <= len(cases):
        raise KeditError(f"--warm {span}: need 0 <= A < B <= {len(cases)} (the cases in the file)")
    for ed in editors:
        t0 = time.perf_counter()
        res = kedit.edit(lm.model, lm.tokenizer, ed, cases[a:b], {"values_cache": True})
        res.restore()
        print({"editor": ed, "warmed": f"{a}:{b}", "values_cached_before": res.info.get("values_cached"),
               "seconds": round(time.perf_counter() - t0, 1)}, flush=True)


if __name__ == "__main__":
    main()
