"""kbuild generate --backend kg on the tinykg knowledge graph, then kbuild filter with the tiny
model that knows those facts, then keval run on what survives."""

from __future__ import annotations

import json

import pytest

from kedit.builder.cli import main as kbuild
from kedit.builder.kg import KGBackend
from kedit.errors import KeditError
from kedit.records import SPLITS, read_jsonl
from kedit.records.manifest import read_manifest
from tests.fixtures.kgfolder import write_kg_folder, write_seeds
from tests.fixtures.tinykg import RELATIONS, recalled

GENERATED = ("reliability", "generalization", "locality", "subject_replace", "reverse_relation", "one_hop",
             "other_relation", "distract_neighbor")


@pytest.fixture(scope="module")
def kg_setup(tiny_kg, tmp_path_factory):
    d = tmp_path_factory.mktemp("kg")
    folder = write_kg_folder(d / "kg")
    seeds = write_seeds(tiny_kg.cases, d / "seeds.jsonl")
    return d, folder, seeds


@pytest.fixture(scope="module")
def generated(kg_setup):
    d, folder, seeds = kg_setup
    out = d / "gen.jsonl"
    assert kbuild(["generate", "--backend", "kg", "--kg", str(folder), "--in", str(seeds), "--out", str(out),
                   "--commonsense", "none"]) == 0
    return out


def test_generate_kg_makes_every_split_with_conditions_and_provenance(generated, kg_setup, tiny_kg):
    cases = read_jsonl(generated)
    assert [c.case_id for c in cases] == [c.case_id for c in tiny_kg.cases]  # seed order
    splits = {p.split for c in cases for p in c.probes}
    assert set(GENERATED) <= splits
    for c in cases:
        assert c.probes_of("reliability")[0].answers[0] == c.target_new
        for p in c.probes_of("one_hop"):
            (cond,) = p.conditions
            assert cond.triple[0] == c.target_new  # (new_object, relation, answer)
            assert cond.triple[2] == p.answers[0]
            assert p.provenance["generator"] == "kg" and p.provenance["sources"] == ["tinykg"]
        for p in c.probes_of("subject_replace"):
            assert c.subject not in p.prompt and p.conditions[0].answers[0] == c.target_true
        for p in c.probes_of("reverse_relation"):
            assert p.answers[0] == c.subject and c.target_new in p.prompt
        for p in c.probes_of("other_relation") + c.probes_of("distract_neighbor"):
            assert p.expect == "keep"
        for p in c.probes_of("distract_neighbor"):
            assert p.prompt.startswith(f"{c.prompt} {c.target_new}.")
    # a one-hop prompt composes the edited relation's phrase into the second relation's template
    c = next(c for c in cases if c.probes_of("one_hop"))
    p = c.probes_of("one_hop")[0]
    assert c.subject in p.prompt and c.target_new not in p.prompt
    m = read_manifest(generated)
    assert m["stage"] == "generate" and m["generate"]["generator"] == "kg" and m["generate"]["calls"] == 0
    assert m["generate"]["probes_per_split"] == {s: sum(len(c.probes_of(s)) for c in cases) for s in sorted(splits)}
    assert m["input"]["path"] == str(kg_setup[2]) and len(m["output"]["sha256"]) == 64


def test_one_hop_answers_follow_from_the_new_object(generated, kg_setup):
    from kedit.builder.kg import KnowledgeGraph

    kg = KnowledgeGraph.load(kg_setup[1])
    for c in read_jsonl(generated):
        for p in c.probes_of("one_hop"):
            new, r2, answer = p.conditions[0].triple
            assert answer in [kg.entities[o].name for o in kg.objects(kg.resolve(new), r2)]


def test_one_hop_unedited_asks_the_same_question_about_the_old_chain(generated, kg_setup):
    """Where the old object has the second relation too, the one-hop question is asked with its unedited answer;
    its conditions are both hops of the old chain; both probes name their chain for keval's contamination mask."""
    from kedit.builder.kg import KnowledgeGraph

    kg = KnowledgeGraph.load(kg_setup[1])
    n = 0
    for c in read_jsonl(generated):
        edited = {p.prompt: p for p in c.probes_of("one_hop")}
        for p in c.probes_of("one_hop"):
            assert p.provenance["chain"][0] == [c.subject, c.relation.id, c.target_new]
        for p in c.probes_of("one_hop_unedited"):
            n += 1
            hop1, hop2 = p.conditions
            assert hop1.prompt == c.prompt and hop1.answers[0] == c.target_true
            old, r2, answer = hop2.triple
            assert old == c.target_true and answer == p.answers[0]
            assert answer in [kg.entities[o].name for o in kg.objects(kg.resolve(old), r2)]
            assert p.provenance["chain"] == [[c.subject, c.relation.id, c.target_true], list(hop2.triple)]
            new = edited[p.prompt]  # the same question, edited: another answer, each the other's foil
            assert new.answers[0] != answer and p.foil == new.answers[0]
    assert n > 0


def test_filter_keeps_what_the_model_knows_and_says_why_it_dropped_the_rest(generated, tiny_kg, tmp_path):
    cases = read_jsonl(generated)
    # one edit of a fact the model does not know, one one-hop probe resting on a false fact
    import dataclasses

    from kedit.records import Condition

    bad_case = dataclasses.replace(cases[0], case_id="unknown-fact", target_true="Nonsense")
    c1 = cases[1]
    hop = c1.probes_of("one_hop") or c1.probes_of("subject_replace")
    false_cond = Condition(hop[0].conditions[0].prompt, (c1.subject,), None)
    bad_probe = dataclasses.replace(hop[0], prompt=hop[0].prompt + " indeed", conditions=(false_cond,))
    c1 = dataclasses.replace(c1, probes=c1.probes + (bad_probe,))
    from kedit.records import write_jsonl

    src = write_jsonl([bad_case, c1, *cases[2:]], tmp_path / "gen.jsonl")
    out = tmp_path / "bench.jsonl"
    assert kbuild(["filter", "--model", str(tiny_kg.path), "--in", str(src), "--out", str(out)]) == 0
    kept = read_jsonl(out)
    dropped = {c.case_id: c for c in read_jsonl(tmp_path / "bench.dropped.jsonl")}
    assert "unknown-fact" not in {c.case_id for c in kept}
    assert dropped["unknown-fact"].provenance["filter"]["reason"] == "original_fact_unknown"
    bad = [p for p in dropped[c1.case_id].probes if p.prompt == bad_probe.prompt]
    assert bad and bad[0].provenance["filter"]["reason"] == "condition_unknown"
    assert bad[0].provenance["filter"]["failed_condition"]["prompt"] == false_cond.prompt
    # every kept condition is known to the model, checked independently with greedy recall
    conds = [(cond.prompt, cond.answers[0]) for c in kept for p in c.probes for cond in p.conditions]
    assert conds and all(recalled(tiny_kg.model, tiny_kg.tokenizer, conds))
    for c in kept:
        assert all(p.provenance["filter"]["passed"] for p in c.probes)
    m = read_manifest(out)
    f = m["filter"]
    assert f["metric"] == "teacher_forced_exact_match_any_alias"
    assert f["cases"]["dropped"]["original_fact_unknown"] >= 1 and f["cases"]["kept"] == len(kept)
    assert f["probes_per_split"]["one_hop"]["generated"] == f["probes_per_split"]["one_hop"]["kept"] + sum(
        f["probes_per_split"]["one_hop"]["dropped"].values())
    # the chain: filter <- (no manifest for this hand-made file)
    assert m["upstream"] is None


def test_filtered_benchmark_runs_in_keval(generated, tiny_kg, tmp_path):
    from kedit.eval.cli import main as keval
    from tests.fixtures.hparams import hparam_args

    out = tmp_path / "bench.jsonl"
    assert kbuild(["filter", "--model", str(tiny_kg.path), "--in", str(generated), "--out", str(out)]) == 0
    assert read_manifest(out)["upstream"]["stage"] == "generate"
    run = tmp_path / "run"
    assert keval(["run", "--model", str(tiny_kg.path), "--bench", str(out), "--editors", "ft-l", "--limit", "2",
                  "--out", str(run), "--no-generate", *hparam_args("ft-l")]) == 0
    rows = [json.loads(x) for x in (run / "cases.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and not any(r.get("error") for r in rows)


def test_interrupted_generate_resumes_without_redoing_cases(kg_setup, generated, tmp_path, monkeypatch):
    _, folder, seeds = kg_setup
    out = tmp_path / "gen.jsonl"
    calls, fail_at = [], [6]
    real = KGBackend.expand

    def flaky(self, case):
        calls.append(case.case_id)
        if len(calls) == fail_at[0]:
            raise KeditError("endpoint went away")
        return real(self, case)

    monkeypatch.setattr(KGBackend, "expand", flaky)
    args = ["generate", "--backend", "kg", "--kg", str(folder), "--in", str(seeds), "--out", str(out), "--commonsense", "none",
            "--concurrency", "1"]
    assert kbuild(args) == 2
    partial = read_jsonl(out)
    assert 5 <= len(partial) < 45  # the failing case and what was still queued are not written
    with out.open("a") as fh:  # a kill in the middle of a write
        fh.write('{"schema": "kedit.case/1", "case_id": "half')
    calls.clear()
    fail_at[0] = None
    assert kbuild(args) == 0
    assert set(calls).isdisjoint(c.case_id for c in partial)  # nothing done twice
    assert out.read_text() == generated.read_text()  # same result as one uninterrupted run


def test_unknown_relation_is_marked_not_dropped_and_filter_drops_it(kg_setup, tmp_path, tiny_kg):
    _, folder, _ = kg_setup
    from kedit.records import EditCase, Relation, write_jsonl

    seeds = write_jsonl([EditCase("x1", "Somebody", Relation("likes", "{} likes"), "tea", "coffee", "Somebody likes")],
                        tmp_path / "s.jsonl")
    out = tmp_path / "g.jsonl"
    assert kbuild(["generate", "--backend", "kg", "--kg", str(folder), "--in", str(seeds), "--out", str(out), "--commonsense", "none"]) == 0
    (case,) = read_jsonl(out)
    assert case.provenance["generation"]["status"] == "failed"
    assert "relation 'likes' is not in the knowledge graph" in case.provenance["generation"]["error"]
    assert kbuild(["filter", "--model", str(tiny_kg.path), "--in", str(out), "--out", str(tmp_path / "f.jsonl")]) == 0
    (d,) = read_jsonl(tmp_path / "f.dropped.jsonl")
    assert d.provenance["filter"]["reason"] == "generation_failed"


def test_bad_seed_file_is_refused_before_anything_is_written(kg_setup, tmp_path, capsys):
    _, folder, _ = kg_setup
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"schema": "kedit.case/1", "case_id": "a", "subject": "X", "relation": "r", "target_true": "y", '
                   '"target_new": "z", "prompt": "no subject here"}\n')
    out = tmp_path / "out.jsonl"
    assert kbuild(["generate", "--backend", "kg", "--kg", str(folder), "--in", str(bad), "--out", str(out)]) == 2
    assert "must contain the subject" in capsys.readouterr().err
    assert not out.exists()
    assert kbuild(["generate", "--backend", "kgg", "--in", str(bad), "--out", str(out)]) == 2
    assert "did you mean 'kg'" in capsys.readouterr().err


def test_splits_are_known():
    assert set(GENERATED) <= set(SPLITS) and "capital" in RELATIONS


def test_filter_mark_keeps_probe_level_drops_in_the_output(generated, tiny_kg, tmp_path):
    import dataclasses

    from kedit.records import Condition, write_jsonl

    cases = read_jsonl(generated)
    c0 = cases[0]
    rel = c0.probes_of("reliability")[0]
    bad = dataclasses.replace(rel, split="one_hop", prompt=rel.prompt + " again",
                              conditions=(Condition(rel.prompt, ("Nonsense",)),))
    src = write_jsonl([dataclasses.replace(c0, probes=c0.probes + (bad,)), *cases[1:3]], tmp_path / "g.jsonl")
    out = tmp_path / "m.jsonl"
    assert kbuild(["filter", "--model", str(tiny_kg.path), "--in", str(src), "--out", str(out), "--mark"]) == 0
    marked = [p for p in read_jsonl(out)[0].probes if p.prompt == bad.prompt]
    assert marked and marked[0].provenance["filter"] == {**marked[0].provenance["filter"], "passed": False,
                                                         "reason": "condition_unknown"}
    assert read_jsonl(tmp_path / "m.dropped.jsonl") == []
