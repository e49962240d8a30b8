"""The bundled knowledge graph data/kg/: well-formed, closed under inverses, reproducible."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest

from kedit.records import read_jsonl

KG = Path(__file__).resolve().parents[2] / "data" / "kg"
FILES = ("relations.jsonl", "entities.jsonl", "triples.jsonl", "seeds.jsonl")


def load(name: str) -> list[dict]:
    return [json.loads(line) for line in (KG / name).open(encoding="utf-8") if line.strip()]


@pytest.fixture(scope="module")
def kg():
    rels = {r["id"]: r for r in load("relations.jsonl")}
    ents = {e["id"]: e for e in load("entities.jsonl")}
    return rels, ents, load("triples.jsonl"), load("seeds.jsonl")


def test_files_parse_and_ids_unique():
    for name in FILES:
        rows = load(name)
        assert rows, name
    assert len({e["id"] for e in load("entities.jsonl")}) == len(load("entities.jsonl"))
    assert len({r["id"] for r in load("relations.jsonl")}) == len(load("relations.jsonl"))


def test_minimum_counts(kg):
    rels, ents, triples, seeds = kg
    assert len(rels) >= 50
    assert len(triples) >= 2000
    assert len(seeds) >= 300
    kinds = {"person", "organization", "work", "landmark"}
    assert sum(e["type"] in kinds for e in ents.values()) >= 100


def test_relations_well_formed(kg):
    rels, _, _, _ = kg
    for r in rels.values():
        for t in [r["template"], *r["paraphrases"]]:
            assert t.count("{}") == 1, (r["id"], t)
            assert t == t.rstrip() and not t.endswith("."), (r["id"], t)
        assert len(r["paraphrases"]) >= 2, r["id"]
        assert (r["phrase"] is not None) == r["functional"], r["id"]
        if r["phrase"] is not None:
            assert r["phrase"].count("{}") == 1, r["id"]
        if r["inverse"]:
            assert r["inverse"] in rels, r["id"]
            assert rels[r["inverse"]]["inverse"] == r["id"], r["id"]


def test_triples_reference_entities_and_types(kg):
    rels, ents, triples, _ = kg
    for t in triples:
        assert t["subject"] in ents and t["object"] in ents and t["relation"] in rels, t
        r = rels[t["relation"]]
        assert ents[t["subject"]]["type"] in r["subject_type"].split("|"), t
        assert ents[t["object"]]["type"] in r["object_type"].split("|"), t
        assert t["source"], t


def test_inverse_triples_present(kg):
    rels, _, triples, _ = kg
    have = {(t["subject"], t["relation"], t["object"]) for t in triples}
    for s, r, o in have:
        inv = rels[r]["inverse"]
        if inv:
            assert (o, inv, s) in have, (s, r, o)


def test_functional_relations_have_one_object(kg):
    rels, _, triples, _ = kg
    objs = defaultdict(set)
    for t in triples:
        objs[(t["subject"], t["relation"])].add(t["object"])
    for (s, r), os_ in objs.items():
        if rels[r]["functional"]:
            assert len(os_) == 1, (s, r, os_)


def _name_key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().casefold().split())


def test_no_alias_names_another_entity(kg):
    """An alias is a name of its own entity only: "Mexico" is no alias of Mexico City (it names the
    country), "Ford" none of Henry Ford (it names the company too). Case, accents, spacing ignored."""
    _, ents, _, _ = kg
    owners = defaultdict(set)
    for e in ents.values():
        for n in (e["name"], *e["aliases"]):
            owners[_name_key(n)].add(e["id"])
    bad = [(e["id"], a, sorted(owners[_name_key(a)] - {e["id"]})) for e in ents.values() for a in e["aliases"]
           if owners[_name_key(a)] - {e["id"]}]
    assert not bad, bad[:10]
    assert "Mexico" not in ents["mexico-city"]["aliases"] and ents["mexico"]["name"] == "Mexico"


def test_builder_drops_aliases_that_name_another_entity():
    sys.path.insert(0, str(KG))
    try:
        import build_kg
    finally:
        sys.path.remove(str(KG))
    kg = build_kg.KG()
    country = kg.entity(("country", "MX"), "country", "Mexico", ["United Mexican States", "Ford"], "t")
    city = kg.entity(("city", 1), "city", "Mexico City", ["Mexico", "Ciudad de México", "ford"], "t")
    other = kg.entity(("city", 2), "city", "San José", [], "t")
    san_jose = kg.entity(("city", 3), "city", "San Jose", ["San Jose, California", "San  josé"], "t")
    assert build_kg.alias_conflicts(kg.entities.values())  # found before
    dropped = build_kg.drop_ambiguous_aliases(kg)
    assert kg.entities[city]["aliases"] == ["Ciudad de México"]  # the country's name, the shared "Ford" gone
    assert kg.entities[country]["aliases"] == ["United Mexican States"]
    assert kg.entities[san_jose]["aliases"] == ["San Jose, California"]  # "San  josé" is the other San José
    assert {(e, a) for e, a, _ in dropped} == {(city, "Mexico"), (city, "ford"), (country, "Ford"), (san_jose, "San  josé")}
    assert not build_kg.alias_conflicts(kg.entities.values()) and other


def test_check_seeds_refuses_aliases_that_name_another_entity(tmp_path, monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(KG))
    import check_seeds

    (tmp_path / "relations.jsonl").write_text("")
    ents = [{"id": "mexico", "name": "Mexico", "type": "country", "aliases": []},
            {"id": "mexico-city", "name": "Mexico City", "type": "city", "aliases": ["Mexico"]}]
    (tmp_path / "entities.jsonl").write_text("".join(json.dumps(e) + "\n" for e in ents))
    monkeypatch.setattr(check_seeds, "HERE", tmp_path)
    assert check_seeds.main([]) == 1  # before any model is loaded
    assert "alias 'Mexico' of mexico-city names mexico" in capsys.readouterr().out


def test_seeds_read_and_match_the_kg(kg):
    rels, ents, triples, seeds = kg
    cases = read_jsonl(KG / "seeds.jsonl")
    assert len(cases) == len(seeds)
    have = {(t["subject"], t["relation"], t["object"]) for t in triples}
    for case, raw in zip(cases, seeds):
        k = raw["provenance"]["kg"]
        assert (k["subject"], k["relation"], k["object_true"]) in have, case.case_id
        assert (k["subject"], k["relation"], k["object_new"]) not in have, case.case_id
        assert case.target_true == ents[k["object_true"]]["name"]
        assert case.target_new == ents[k["object_new"]]["name"]
        assert case.target_new != case.target_true
        assert ents[k["object_new"]]["type"] == ents[k["object_true"]]["type"]
        assert case.subject == ents[k["subject"]]["name"]
        assert case.relation.template == rels[k["relation"]]["template"]
        assert case.prompt == case.relation.template.format(case.subject)
    assert len({c.relation.id for c in cases}) >= 30


def test_rebuild_is_byte_identical(tmp_path):
    subprocess.run([sys.executable, str(KG / "build_kg.py"), "--out", str(tmp_path)], check=True, capture_output=True)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (KG / name).read_bytes(), name
