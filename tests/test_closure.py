"""Closure editing on the tiny knowledge graph: what an edit entails, the leakage guard, and what the
closure buys MEMIT on held-out phrasings."""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest

import kedit
from kedit.builder.kg import KnowledgeGraph
from kedit.closure import ClosureError, kg_closure, normalize_prompt
from tests.fixtures.hparams import TINY_OVERRIDES
from tests.fixtures.kgfolder import write_kg_folder
from tests.fixtures.tinykg import RELATIONS, build_kg, fill


@pytest.fixture(scope="module")
def kg_dir(tmp_path_factory):
    return write_kg_folder(tmp_path_factory.mktemp("tinykg") / "kg")


@pytest.fixture(scope="module")
def graph(kg_dir):
    return KnowledgeGraph.load(kg_dir)


def _case(tiny_kg, relation):
    return next(c for c in tiny_kg.cases if c.relation.id == relation)


def _facts(graph, case, depth=1):
    return {(f.kind, f.prompt, f.target) for f in kg_closure(graph, case, depth)}


def test_a_lives_in_edit_entails_its_alias_and_the_country_of_the_new_town(tiny_kg, graph):
    """(person, lives_in, town → town*): the alias lives in town*; the home town's country is town*'s country."""
    kg = build_kg()
    case = _case(tiny_kg, "lives_in")
    new = case.target_new
    # each fact in its relation's first paraphrase (the tiny KG folder's templates[1])
    want = {("one_hop", f"The home town of {case.subject} is located in", kg.object(new, "located_in"))}
    if case.subject in kg.aliases:
        want.add(("alias", fill(RELATIONS["lives_in"].templates[1], kg.aliases[case.subject]), new))
    assert _facts(graph, case) == want


def test_a_capital_edit_entails_the_inverse_the_alias_and_the_new_capitals_country(tiny_kg, graph):
    kg = build_kg()
    case = _case(tiny_kg, "capital")
    country, new = case.subject, case.target_new
    assert _facts(graph, case) == {
        ("alias", fill(RELATIONS["capital"].templates[1], kg.aliases[country]), new),
        ("inverse", fill(RELATIONS["capital_of"].templates[1], new), country),
        ("one_hop", f"The capital of {country} is located in", kg.object(new, "located_in")),
    }
    assert ("one_hop", f"The capital of {country} is a city in", kg.object(new, "located_in")) in \
        {(f.kind, f.prompt, f.target) for f in kg_closure(graph, case, phrasing="template")}


def test_depth_zero_is_the_identity_and_depth_two_adds_two_hop_chains(tiny_kg, graph):
    case = _case(tiny_kg, "located_in")  # city → country: the country's capital, language, currency, ...
    assert kg_closure(graph, case, 0) == []
    one, two = kg_closure(graph, case, 1), kg_closure(graph, case, 2)
    assert {f.prompt for f in one} < {f.prompt for f in two}
    assert max(len(f.path) for f in one) == 2 and max(len(f.path) for f in two) == 3
    capital = build_kg().object(case.target_new, "capital")  # the new country's capital, and where it lies
    assert (f"The capital of the country of {case.subject} is located in", build_kg().object(capital, "located_in")) in \
        {(f.prompt, f.target) for f in two}


def test_contradictory_closure_facts_are_an_error_naming_both(tmp_path):
    """A functional relation with two objects in the KG gives one composed prompt two targets; along a
    non-functional relation one true answer is written instead."""
    kg = tmp_path / "kg"
    kg.mkdir()
    rel = [{"id": "country", "template": "{} is in", "phrase": "the country of {}", "functional": True},
           {"id": "capital", "template": "The capital of {} is", "functional": True}]
    ents = [{"id": x, "name": x.title()} for x in ("town", "land", "other", "cap1", "cap2")]
    triples = [{"subject": "town", "relation": "country", "object": "other"},
               {"subject": "land", "relation": "capital", "object": "cap1"},
               {"subject": "land", "relation": "capital", "object": "cap2"}]
    for name, rows in (("relations", rel), ("entities", ents), ("triples", triples)):
        (kg / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    case = kedit.EditCase("c1", "Town", kedit.records.Relation("country", "{} is in"), "Other", "Land", "Town is in")
    with pytest.raises(ClosureError, match="Cap1.*Cap2|Cap2.*Cap1"):
        kg_closure(KnowledgeGraph.load(kg), case)
    rel[1]["functional"] = False  # "a capital of": several answers, each true
    (kg / "relations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rel))
    (fact,) = kg_closure(KnowledgeGraph.load(kg), case)
    assert (fact.prompt, fact.target) == ("The capital of the country of Town is", "Cap1")


def test_an_edit_the_kg_does_not_know_has_an_empty_closure(tiny_kg, graph):
    case = replace(_case(tiny_kg, "lives_in"), subject="Nobody Known", target_new="Nowhere", prompt="Nobody Known lives in",
                   relation=kedit.records.Relation("unknown_rel", "{} roams"))
    assert kg_closure(graph, case) == []


@pytest.fixture(scope="module")
def closure_run(tiny_kg, kg_dir, tmp_path_factory):
    """MEMIT with and without closure on 12 tiny cases, single mode."""
    import os

    old = os.environ.get("KEDIT_CACHE")
    os.environ["KEDIT_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    try:
        return kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:12], editors=["memit"], mode="single",
                              hparams={"memit": TINY_OVERRIDES["memit"]}, progress=False, generate=False,
                              closure="kg", kg=kg_dir)
    finally:
        if old is None:
            os.environ.pop("KEDIT_CACHE")
        else:
            os.environ["KEDIT_CACHE"] = old


def test_probes_the_closure_wrote_are_reported_apart(closure_run, tiny_kg, graph):
    assert not closure_run.failed
    written = {(r.case_id, p.prompt) for r in closure_run.results for p in r.probes if p.written}
    assert written and all(r.editor == "memit+closure" for r in closure_run.results if any(p.written for p in r.probes))
    cases = {c.case_id: c for c in tiny_kg.cases[:12]}
    for cid, prompt in written:  # each written probe is, word for word, a prompt its case's closure wrote
        assert normalize_prompt(prompt) in {normalize_prompt(f.prompt) for f in kg_closure(graph, cases[cid])}
    rows = {(r.editor, r.split): r for r in closure_run.rows if r.metric == "token_acc"}
    for split in ("subject_replace", "reverse_relation"):  # their KG probes are the closure's own prompts
        plain, closed = rows[("memit", split)], rows[("memit+closure", split)]
        assert closed.n_written > 0 and plain.n_written == 0
        assert closed.n_executed + closed.n_written == plain.n_executed
    sizes = [r.closure_size for r in closure_run.results if r.editor == "memit+closure"]
    assert all(s is not None for s in sizes) and sum(sizes) > 0
    assert all(r.closure_size is None for r in closure_run.results if r.editor == "memit")


def test_closure_raises_one_hop_accuracy_on_held_out_phrasings(closure_run):
    """The tiny cases' one-hop probes are the KG's two-hop relations ("The country where X lives is"),
    phrasings the closure never writes ("The home town of X is located in")."""
    rows = {(r.editor, r.split): r for r in closure_run.rows if r.metric == "token_acc"}
    plain, closed = rows[("memit", "one_hop")], rows[("memit+closure", "one_hop")]
    assert closed.n_executed > 0
    assert closed.value > plain.value  # measured on 12 cases: 0.0 -> 0.5 (24 cases: 0.0 -> 0.5, reverse 0.4 -> 1.0)
    assert rows[("memit+closure", "reliability")].value >= 0.9


def test_a_closure_larger_than_closure_batch_is_written_in_several_calls(tiny_kg, kg_dir, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    case = _case(tiny_kg, "capital")  # three closure facts: four requests
    with caplog.at_level(logging.WARNING, logger="kedit.eval.modes"):
        rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, [case], editors=["memit"], mode="single",
                             hparams={"memit": TINY_OVERRIDES["memit"]}, progress=False, generate=False,
                             closure="kg", kg=kg_dir, closure_batch=2)
    assert not rep.failed
    assert "written in 2 calls" in caplog.text
    (closed,) = [r for r in rep.results if r.editor == "memit+closure"]
    assert closed.closure_size == 3
