"""How many seed facts the base model already knows (teacher-forced exact match of any alias).

    HF_HUB_OFFLINE=1 .venv/bin/python data/kg/check_seeds.py [--model smollm2-135m] [--templates]

Reports, per relation: seeds whose original fact (subject, relation, target_true) is known, and
2-hop prerequisite facts (target_new, r2, answer) known, for every r2 with one answer for
target_new. ``--templates`` also scores each relation's template and paraphrases on its seeds,
to choose the wording the model answers best.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / name).open(encoding="utf-8") if line.strip()]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="smollm2-135m")
    ap.add_argument("--templates", action="store_true", help="score every wording of each relation on its seeds")
    args = ap.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from kedit.eval.asking import conditions_pass
    from kedit.models.loading import load_model
    from kedit.records import Condition

    rels = {r["id"]: r for r in load("relations.jsonl")}
    ents = {e["id"]: e for e in load("entities.jsonl")}
    from build_kg import alias_conflicts  # this folder; needs none of the kg extra's packages

    bad = alias_conflicts(ents.values())  # an alias that names another entity would count its facts as known
    if bad:
        for eid, alias, others in bad[:20]:
            print(f"alias {alias!r} of {eid} names {', '.join(others)}")
        print(f"{len(bad)} aliases name another entity; rebuild with build_kg.py")
        return 1
    seeds = load("seeds.jsonl")
    objs = defaultdict(list)
    for t in load("triples.jsonl"):
        objs[(t["subject"], t["relation"])].append(t["object"])

    def answers(eid: str) -> tuple[str, ...]:
        return (ents[eid]["name"], *ents[eid]["aliases"])

    lm = load_model(args.model)
    model, tok = lm.model, lm.tokenizer

    conds = [Condition(s["prompt"], answers(s["provenance"]["kg"]["object_true"])) for s in seeds]
    known = conditions_pass(model, tok, conds)

    hop: dict[tuple[str, str], str] = {}
    for s in seeds:
        new = s["provenance"]["kg"]["object_new"]
        for (subj, r2), os_ in objs.items():
            if subj == new and len(os_) == 1:
                hop[(new, r2)] = os_[0]
    hop_keys = sorted(hop)
    hop_known = dict(zip(hop_keys, conditions_pass(model, tok, [Condition(rels[r2]["template"].format(ents[n]["name"]), answers(hop[(n, r2)])) for n, r2 in hop_keys])))

    per = defaultdict(lambda: [0, 0, 0, 0, 0])  # seeds, known, 2-hop facts, known, seeds with a known 2-hop
    for s, k in zip(seeds, known):
        r = s["relation"]["id"]
        new = s["provenance"]["kg"]["object_new"]
        mine = [key for key in hop_keys if key[0] == new]
        per[r][0] += 1
        per[r][1] += k
        per[r][2] += len(mine)
        per[r][3] += sum(hop_known[key] for key in mine)
        per[r][4] += any(hop_known[key] for key in mine)
    print(f"model {args.model}: {sum(known)}/{len(seeds)} seeds' original facts known; "
          f"{sum(hop_known.values())}/{len(hop_known)} distinct 2-hop prerequisite facts known; "
          f"{sum(v[4] for v in per.values())} seeds with at least one known 2-hop prerequisite")
    print(f"{'relation':24} {'seeds':>5} {'known':>5} {'2hop':>5} {'known':>5} {'seeds w/ 2hop':>13}")
    for r in sorted(per, key=lambda r: (-per[r][1], r)):
        v = per[r]
        print(f"{r:24} {v[0]:5d} {v[1]:5d} {v[2]:5d} {v[3]:5d} {v[4]:13d}")

    if args.templates:
        print("\nwordings (known / seeds):")
        by_rel = defaultdict(list)
        for s in seeds:
            by_rel[s["relation"]["id"]].append(s)
        for r in sorted(by_rel):
            wordings = [rels[r]["template"], *rels[r]["paraphrases"]]
            scores = []
            for w in wordings:
                cs = [Condition(w.format(s["subject"]), answers(s["provenance"]["kg"]["object_true"])) for s in by_rel[r]]
                scores.append(sum(conditions_pass(model, tok, cs)))
            print(f"  {r:24} " + "  ".join(f"{sc}/{len(by_rel[r])} {w!r}" for sc, w in zip(scores, wordings)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
