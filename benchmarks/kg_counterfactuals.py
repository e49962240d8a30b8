"""Counterfactual edits made from the bundled KG's triples, as many as the KG has (subject, relation)
pairs: for a triple (s, r, o) the edit is the relation's cloze about s with a new object o* drawn from
the objects r has elsewhere (never one of s's own). Used by the long-sequence benchmarks, where the
filtered demo benchmark (~100 facts) is too short."""

from __future__ import annotations

import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def kg_counterfactuals(n: int, seed: int = 0, kg_dir: Path = ROOT / "data/kg") -> list:
    """Up to ``n`` EditRequests, one per (subject, relation) pair of the KG, in a seeded order."""
    from kedit.builder.kg import KnowledgeGraph, fill
    from kedit.editors import EditRequest

    kg = KnowledgeGraph.load(kg_dir)
    rng = random.Random(seed)
    pairs = sorted({(s, r) for r, so in kg.by_relation.items() for s, _ in so})
    rng.shuffle(pairs)
    out = []
    for s, r in pairs:
        own = set(kg.objects(s, r))
        others = sorted({o for _, o in kg.by_relation[r]} - own)
        if not others:
            continue
        rel, subj = kg.relations[r], kg.entities[s].name
        new = kg.entities[rng.choice(others)].name
        true = kg.entities[sorted(own)[0]].name
        out.append(EditRequest(fill(rel.template, subj), subj, new, true, f"kgcf-{len(out):05d}"))
        if len(out) == n:
            break
    return out
