"""Counterfactual edits made from the bundled KG's triples, as many as the KG has (subject, relation)
pairs: for a triple (s, r, o) the edit is the relation's cloze about s with a new object o* drawn from
the objects r has elsewhere (never one of s's own). Used by the long-sequence benchmarks, where the
filtered demo benchmark (~100 facts) is too short, and, written as seed records, as the training edits
of the trained editors (kbuild generate --backend kg expands them with paraphrases and locality probes):

    python benchmarks/kg_counterfactuals.py --n 2000 --out runs/trained/seeds.jsonl
    kbuild generate --backend kg --in runs/trained/seeds.jsonl --out runs/trained/train.jsonl
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def _pairs(n: int, seed: int, kg_dir: Path):
    """(kg, subject id, relation id, true object id, new object id), up to ``n``, in a seeded order."""
    from kedit.builder.kg import KnowledgeGraph

    kg = KnowledgeGraph.load(kg_dir)
    rng = random.Random(seed)
    pairs = sorted({(s, r) for r, so in kg.by_relation.items() for s, _ in so})
    rng.shuffle(pairs)
    done = 0
    for s, r in pairs:
        own = set(kg.objects(s, r))
        others = sorted({o for _, o in kg.by_relation[r]} - own)
        if not others:
            continue
        yield kg, s, r, sorted(own)[0], rng.choice(others)
        done += 1
        if done == n:
            return


def kg_counterfactuals(n: int, seed: int = 0, kg_dir: Path = ROOT / "data/kg") -> list:
    """Up to ``n`` EditRequests, one per (subject, relation) pair of the KG, in a seeded order."""
    from kedit.builder.kg import fill
    from kedit.editors import EditRequest

    out = []
    for kg, s, r, true, new in _pairs(n, seed, kg_dir):
        subj = kg.entities[s].name
        out.append(EditRequest(fill(kg.relations[r].template, subj), subj, kg.entities[new].name, kg.entities[true].name,
                               f"kgcf-{len(out):05d}"))
    return out


def seed_records(n: int, seed: int = 0, kg_dir: Path = ROOT / "data/kg") -> list[dict]:
    """The same edits as kedit seed records (``kedit.case/1``, no probes, ``provenance.kg`` ids), the
    input ``kbuild generate --backend kg`` expands."""
    from kedit.builder.kg import fill

    out = []
    for kg, s, r, true, new in _pairs(n, seed, kg_dir):
        rel, subj = kg.relations[r], kg.entities[s].name
        out.append({"schema": "kedit.case/1", "case_id": f"kgcf-{len(out):05d}", "subject": subj,
                    "relation": {"id": r, "template": rel.template}, "target_true": kg.entities[true].name,
                    "target_new": kg.entities[new].name, "prompt": fill(rel.template, subj), "probes": [],
                    "provenance": {"source": "benchmarks/kg_counterfactuals.py", "seed": seed,
                                   "kg": {"subject": s, "relation": r, "object_true": true, "object_new": new}}})
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description="write KG counterfactual edits as kedit seed records (JSONL)")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as fh:
        for rec in seed_records(args.n, args.seed):
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")
    print(f"{args.n} requested -> {args.out}")
