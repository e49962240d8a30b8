"""The ``kg`` generation backend: probes for every split from a local knowledge graph, no LLM.

A KG is a folder (default ``data/kg/``) of three JSON Lines files:
- ``relations.jsonl``: ``id``, ``template`` (a cloze, "{}" is the subject, the object follows),
  ``paraphrases`` (more clozes), ``phrase`` (a noun phrase for the object, "the capital of {}",
  set for functional relations), ``inverse`` (a relation id or null), ``functional``;
- ``entities.jsonl``: ``id``, ``name``, ``type``, ``aliases``;
- ``triples.jsonl``: ``subject``, ``relation``, ``object`` (entity ids) and ``source``.

For an edit (s, r, o -> o*) it proposes, at most ``--max-per-split`` of each:
- generalization: r's paraphrases about s (when the seed has none);
- locality: r about another subject whose object is neither o nor o* (when the seed has none);
- subject_replace: r's template about each alias of s; condition: the alias still gives o;
- reverse_relation: inverse(r) about o* -> s, when the inverse is functional; foil: what o* was
  the inverse of before;
- one_hop: for each triple (o*, r2, a): r2's template about r's phrase of s ("The currency of the
  country of citizenship of Lionel Messi is" -> a); condition: (o*, r2, a) itself; foil: r2 of o;
- one_hop_unedited: the same question where o has a triple (o, r2, b) with b ≠ a: its answer b while
  the edit is not in the model (MQuAKE-Remastered's unedited accuracy; keval asks it under other
  cases' edits); conditions: both hops of the old chain (s, r, o) and (o, r2, b); foil: a.
  Multi-hop probes carry their ``chain`` ([subject, relation id, object] per hop) in the provenance,
  so keval does not count a question whose chain another edit in the model rewrites;
- other_relation: the other triples (s, r3, o3) of the subject, expect keep.
Every answer carries the entity's aliases. Every probe's provenance names the triples it rests on
and their sources.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from ..cliargs import positive_int
from ..errors import KeditError
from ..records import Condition, EditCase
from ..records.jsonl import iter_json_lines
from ..settings import data_root
from .backends import BACKENDS, failed, make_probe, with_probes


@dataclass(frozen=True)
class KGRelation:
    id: str
    template: str
    paraphrases: tuple[str, ...] = ()
    phrase: str | None = None
    inverse: str | None = None
    functional: bool = False


@dataclass(frozen=True)
class Entity:
    id: str
    name: str
    type: str = ""
    aliases: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return (self.name, *[a for a in self.aliases if a != self.name])


def _lines(path: Path):
    if not path.is_file():
        raise KeditError(f"knowledge graph file missing: {path} (a KG folder holds relations.jsonl, entities.jsonl, triples.jsonl)")
    return iter_json_lines(path)


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def fill(template: str, subject: str) -> str:
    """The cloze about ``subject``; a noun phrase ("the capital of X") opening the sentence is
    capitalised, an entity name is left as written ("iPad", "eBay")."""
    if template.startswith("{}") and subject.startswith("the "):
        subject = _cap(subject)
    return _cap(template.format(subject)) if not template.startswith("{}") else template.format(subject)


@dataclass
class KnowledgeGraph:
    relations: dict[str, KGRelation]
    entities: dict[str, Entity]
    out_edges: dict[str, list[tuple[str, str, str]]] = field(default_factory=dict)  # s -> [(r, o, source)]
    by_relation: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # r -> [(s, o)]
    by_name: dict[str, list[str]] = field(default_factory=dict)  # lower-cased name or alias -> ids

    @classmethod
    def load(cls, folder: str | Path) -> "KnowledgeGraph":
        folder = Path(folder)
        rels = {}
        for n, d in _lines(folder / "relations.jsonl"):
            t = d.get("template", "")
            if d.get("id") is None or t.count("{}") != 1:
                raise KeditError(f"{folder / 'relations.jsonl'}:{n}: a relation needs an id and a template with exactly one '{{}}'")
            rels[d["id"]] = KGRelation(d["id"], t, tuple(d.get("paraphrases") or ()), d.get("phrase"), d.get("inverse"),
                                       bool(d.get("functional")))
        ents = {d["id"]: Entity(d["id"], d["name"], d.get("type", ""), tuple(d.get("aliases") or ()))
                for _, d in _lines(folder / "entities.jsonl")}
        kg = cls(rels, ents)
        out, by_rel = defaultdict(list), defaultdict(list)
        for n, d in _lines(folder / "triples.jsonl"):
            s, r, o = d.get("subject"), d.get("relation"), d.get("object")
            if r not in rels or s not in ents or o not in ents:
                raise KeditError(f"{folder / 'triples.jsonl'}:{n}: unknown relation or entity in {s, r, o}")
            out[s].append((r, o, d.get("source", "")))
            by_rel[r].append((s, o))
        kg.out_edges, kg.by_relation = dict(out), dict(by_rel)
        names = defaultdict(list)
        for e in ents.values():
            for nm in e.names:
                names[nm.lower()].append(e.id)
        kg.by_name = dict(names)
        return kg

    def objects(self, s: str, r: str) -> list[str]:
        return [o for rr, o, _ in self.out_edges.get(s, ()) if rr == r]

    def source(self, s: str, r: str, o: str) -> str:
        return next((src for rr, oo, src in self.out_edges.get(s, ()) if rr == r and oo == o), "")

    def resolve(self, name: str, prefer: Sequence[str] = ()) -> str | None:
        """The entity id for a name or alias; among several, one in ``prefer`` or with the most triples."""
        ids = self.by_name.get(name.strip().lower(), [])
        if not ids:
            return None
        for p in prefer:
            if p in ids:
                return p
        return max(ids, key=lambda i: (len(self.out_edges.get(i, ())), i))

    def resolve_edit(self, case: EditCase) -> tuple[str | None, str | None, str | None, str | None]:
        """(subject, relation, old object, new object) ids of an edit: from the ids its provenance's
        ``kg`` entry names, else by relation template and by name or alias; None where unknown."""
        ref = (case.provenance.get("kg") or {}) if isinstance(case.provenance.get("kg"), dict) else {}
        r = ref.get("relation") or case.relation.id
        if r not in self.relations:  # a user's seed: match the relation by its template
            r = next((rel.id for rel in self.relations.values() if case.relation.template and
                      case.relation.template in (rel.template, *rel.paraphrases)), None)
        s = ref.get("subject") if ref.get("subject") in self.entities else self.resolve(case.subject)
        o = ref.get("object_true") if ref.get("object_true") in self.entities else \
            self.resolve(case.target_true, self.objects(s, r) if s and r else ())
        o_new = ref.get("object_new") if ref.get("object_new") in self.entities else self.resolve(case.target_new)
        return s, r, o, o_new

    def unique_aliases(self, entity: str, besides: str = "") -> list[str]:
        """The entity's aliases other than ``besides`` that name no other entity ("Air Jordan" names two:
        a probe or an edit with it would test or write the wrong thing)."""
        return [a for a in self.entities[entity].aliases if a != besides and self.by_name.get(a.lower()) == [entity]]


@BACKENDS.register("kg")
class KGBackend:
    name = "kg"

    def __init__(self, kg: KnowledgeGraph, folder: str | Path, max_per_split: int = 3):
        self.kg = kg
        self.folder = str(folder)
        self.max = max_per_split
        self.failures = 0
        self.expanded = 0

    @classmethod
    def add_arguments(cls, p) -> None:
        g = p.add_argument_group("kg backend")
        g.add_argument("--kg", default=None, metavar="DIR", help="knowledge-graph folder (default: data/kg)")
        g.add_argument("--max-per-split", type=positive_int, default=3, help="at most N probes per split and case (default 3)")

    @classmethod
    def from_args(cls, args) -> "KGBackend":
        folder = Path(args.kg) if getattr(args, "kg", None) else data_root() / "kg"
        return cls(KnowledgeGraph.load(folder), folder, getattr(args, "max_per_split", 3))

    def prepare(self, cases: Sequence[EditCase]) -> None:
        pass

    def plan(self, cases: Sequence[EditCase]) -> dict[str, Any]:
        return {"calls": 0, "estimated_cost_usd": 0.0, "note": "the kg backend makes no LLM call"}

    def figures(self) -> dict[str, Any]:
        return {"generator": "kg", "kg": self.folder, "kg_triples": sum(len(v) for v in self.kg.out_edges.values()),
                "kg_relations": len(self.kg.relations), "calls": 0, "cost_usd": 0.0, "failures": self.failures}

    # -- the edit in KG terms ------------------------------------------------------------------
    def _names(self, eid: str | None, fallback: str) -> tuple[str, ...]:
        return self.kg.entities[eid].names if eid else (fallback,)

    def expand(self, case: EditCase) -> EditCase:
        s, r, o, o_new = self.kg.resolve_edit(case)
        if r is None:
            self.failures += 1
            return failed(case, f"relation '{case.relation.id}' is not in the knowledge graph {self.folder} "
                                "(add it to relations.jsonl, or give the seed a known relation id)")
        kg, rel, cap = self.kg, self.kg.relations[r], self.max
        new_names, true_names = self._names(o_new, case.target_new), self._names(o, case.target_true)
        prov = lambda *triples: {"generator": "kg", "triples": [list(t) for t in triples],  # noqa: E731
                                 "sources": sorted({kg.source(*t) for t in triples if all(t)} - {""})}
        probes = []
        if not case.probes_of("generalization"):
            for t in rel.paraphrases[:cap]:
                probes.append(make_probe("generalization", fill(t, case.subject), new_names, foil=case.target_true,
                                         provenance=prov((s, r, o))))
        if not case.probes_of("locality"):
            others = [(s2, o2) for s2, o2 in kg.by_relation.get(r, ()) if s2 != s and o2 not in (o, o_new)]
            for s2, o2 in others[:: max(1, len(others) // cap)][:cap] if others else ():
                probes.append(make_probe("locality", fill(rel.template, kg.entities[s2].name), kg.entities[o2].names,
                                         expect="keep", provenance=prov((s2, r, o2))))
        if s:
            # an alias that also names another entity ("Air Jordan") would test the wrong thing
            for alias in kg.unique_aliases(s, case.subject)[:cap]:
                prompt = fill(rel.template, alias)
                probes.append(make_probe("subject_replace", prompt, new_names, foil=case.target_true,
                                         conditions=[Condition(prompt, true_names, (alias, r, case.target_true))],
                                         provenance={**prov((s, r, o)), "alias": alias}))
        inv = kg.relations.get(rel.inverse) if rel.inverse else None
        if inv and inv.functional and o_new:
            before = [x for x in kg.objects(o_new, inv.id) if x != s]
            probes.append(make_probe("reverse_relation", fill(inv.template, kg.entities[o_new].name), self._names(s, case.subject),
                                     foil=kg.entities[before[0]].name if before else None,
                                     provenance=prov((o_new, inv.id, s))))
        if o_new and rel.phrase:
            hops = [(r2, a) for r2, a, _ in kg.out_edges.get(o_new, ()) if r2 != rel.inverse and a not in (s, o)]
            hops.sort(key=lambda h: (not kg.relations[h[0]].functional, h[0], h[1]))
            used = set()
            for r2, a in hops:
                if len(used) >= cap or r2 in used:
                    continue
                used.add(r2)
                rel2 = kg.relations[r2]
                old = [x for x in (kg.objects(o, r2) if o else []) if x != a]
                new_name, a_name = kg.entities[o_new].name, kg.entities[a].name
                question = fill(rel2.template, rel.phrase.format(case.subject))
                cond = Condition(fill(rel2.template, new_name), kg.entities[a].names, (new_name, r2, a_name))
                probes.append(make_probe("one_hop", question, kg.entities[a].names, foil=kg.entities[old[0]].name if old else None,
                                         conditions=[cond], provenance={**prov((o_new, r2, a)), "chain": [
                                             [case.subject, r, case.target_new], [new_name, r2, a_name]]}))
                if old:  # the same question about the old chain (s, r, o), (o, r2, b): its answer while unedited
                    true_name, b_name = kg.entities[o].name, kg.entities[old[0]].name
                    hops = [Condition(case.prompt, true_names, (case.subject, r, case.target_true)),
                            Condition(fill(rel2.template, true_name), kg.entities[old[0]].names, (true_name, r2, b_name))]
                    probes.append(make_probe("one_hop_unedited", question, kg.entities[old[0]].names, foil=a_name, conditions=hops,
                                             provenance={**prov((s, r, o), (o, r2, old[0])), "chain": [
                                                 [case.subject, r, case.target_true], [true_name, r2, b_name]]}))
        if s:
            skip = {r, rel.inverse}
            seen_rel = set()
            for r3, o3, _ in kg.out_edges.get(s, ()):
                if len(seen_rel) >= cap:
                    break
                if r3 in skip or r3 in seen_rel or o3 in (o, o_new):
                    continue
                seen_rel.add(r3)
                probes.append(make_probe("other_relation", fill(kg.relations[r3].template, case.subject), kg.entities[o3].names,
                                         expect="keep", provenance=prov((s, r3, o3))))
        self.expanded += 1
        resolved = {"subject": s, "relation": r, "object_true": o, "object_new": o_new}
        return with_probes(case, probes, {"generation": {"status": "ok", "generator": "kg", "resolved": resolved},
                                          "target_true_aliases": list(true_names[1:])})
