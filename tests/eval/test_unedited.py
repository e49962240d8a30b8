"""MQuAKE-Remastered's unedited accuracy in every mode (kedit.eval.modes): a case's one_hop_unedited probes
are asked under other cases' edits and never under its own, each exactly once, and a question whose chain an
edit in the model rewrites is not counted (the contamination mask). On the tiny trained model."""

from dataclasses import replace

import pytest

import kedit
from kedit.records import Probe
from tests.fixtures.hparams import TINY_OVERRIDES


def _cases(tiny_kg, n, chain_of=None):
    """The first ``n`` tiny-KG cases, each with one unedited question: its own fact with its true answer (the
    chain [subject, relation, true object]); ``chain_of`` = {k: j} gives case k the chain of case j's fact
    instead, so that case j's edit contaminates case k's question."""
    out = list(tiny_kg.cases[:n])
    for k, c in enumerate(out):
        j = (chain_of or {}).get(k, k)
        src = tiny_kg.cases[j]
        q = Probe("one_hop_unedited", c.prompt, (c.target_true,), foil=c.target_new,
                  provenance={"chain": [[src.subject, src.relation.id, src.target_true]]})
        out[k] = replace(c, probes=c.probes + (q,))
    return out


def _unedited(rep):
    """(host case, guest case, executed, why skipped) of every one_hop_unedited result."""
    return sorted((r.case_id, p.of_case or r.case_id, p.executed, p.skipped) for r in rep.results for p in r.probes
                  if p.split == "one_hop_unedited")


def _run(tiny_kg, cases, **kw):
    return kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, cases, editors=["rome"], hparams={"rome": TINY_OVERRIDES["rome"]},
                          progress=False, generate=False, **kw)


def test_single_mode_asks_each_case_under_the_previous_cases_edit(tiny_kg):
    cases = _cases(tiny_kg, 3, chain_of={2: 1})  # case 2's question leans on case 1's fact
    rep = _run(tiny_kg, cases)
    got = _unedited(rep)
    ids = [c.case_id for c in cases]
    assert [(h, g) for h, g, *_ in got] == [(ids[0], ids[1]), (ids[1], ids[2]), (ids[2], ids[0])]  # each guest once, away
    by_guest = {g: (ex, err) for _, g, ex, err in got}
    assert by_guest[ids[2]][0] is False and "contaminated" in by_guest[ids[2]][1] and ids[1] in by_guest[ids[2]][1]
    for g in (ids[0], ids[1]):  # the others' edits leave these facts alone: asked and right
        assert by_guest[g] == (True, None)
    scored = [p for r in rep.results for p in r.probes if p.split == "one_hop_unedited" and p.executed]
    assert all(p.metrics["token_acc"].post == 1.0 for p in scored)
    row = {(r.split, r.metric): r for r in rep.rows}[("one_hop_unedited", "token_acc")]
    assert (row.n_executed, row.n_not_executed, row.value) == (2, 1, 1.0)


def test_batch_mode_asks_the_next_batchs_cases_and_one_batch_asks_none(tiny_kg):
    cases = _cases(tiny_kg, 4)
    ids = [c.case_id for c in cases]
    got = _unedited(_run(tiny_kg, cases, mode="batch", batch_size=2))
    assert [(h, g) for h, g, *_ in got] == [(ids[0], ids[2]), (ids[1], ids[3]), (ids[2], ids[0]), (ids[3], ids[1])]
    assert all(ex for _, _, ex, _ in got)
    one = _unedited(_run(tiny_kg, cases, mode="batch", batch_size=4))
    assert len(one) == 4 and all(not ex and "no other case or batch" in err for _, _, ex, err in one)


def test_sequential_mode_asks_each_case_before_its_own_turn(tiny_kg):
    cases = _cases(tiny_kg, 3, chain_of={2: 0})  # case 2's question leans on case 0's fact, edited two turns before
    got = _unedited(_run(tiny_kg, cases, mode="sequential", every=3))
    ids = [c.case_id for c in cases]
    assert [(h, g, ex) for h, g, ex, _ in got] == [(ids[0], ids[0], True), (ids[1], ids[1], True), (ids[2], ids[2], False)]
    assert ids[0] in got[2][3]


@pytest.mark.parametrize("mode", ["single", "batch"])
def test_a_resumed_run_asks_each_guest_once(tiny_kg, tmp_path, mode):
    cases = _cases(tiny_kg, 4)
    kw = {"batch_size": 2} if mode == "batch" else {}
    _run(tiny_kg, cases, mode=mode, out=tmp_path, **kw)
    lines = (tmp_path / "cases.jsonl").read_text().splitlines()
    (tmp_path / "cases.jsonl").write_text("\n".join(lines[:2]) + "\n")  # interrupted after two cases
    rep = _run(tiny_kg, cases, mode=mode, out=tmp_path, **kw)  # resumes the other two
    assert len(rep.results) == 4
    assert sorted(g for _, g, *_ in _unedited(rep)) == sorted(c.case_id for c in cases)
