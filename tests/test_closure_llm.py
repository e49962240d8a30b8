"""``--closure llm``: the LLM's closure facts, validated, checked against the unedited model as the
filter checks prerequisites, cached and costed; against a recorded reply in the reply cache (a run
that makes no call) and against the real llama-server."""

from __future__ import annotations

import json

import pytest

import kedit
from kedit.builder.llm.client import Reply
from kedit.builder.llm.prompts import case_fields
from kedit.closure import ClosureError, ClosureFact
from kedit.closure_llm import LLMClosure
from tests.fixtures.hparams import TINY_OVERRIDES
from tests.fixtures.llama_server import LLAMA_MODEL

CLOSED = "http://127.0.0.1:9/v1"  # nothing listens: a call would fail, so a passing run made none


def lives_in_case(tiny_kg):
    return next(c for c in tiny_kg.cases if c.relation.id == "lives_in")


def reply_for(case, tiny_kg) -> list[dict]:
    """What an LLM might answer for the tiny KG's lives_in edit: two good facts, one the unedited model
    does not back, four that cannot be facts."""
    s, new, old = case.subject, case.target_new, case.target_true
    alias = next(p.prompt.split(" ")[0] for p in case.probes if p.split == "subject_replace")
    hop = next(p for p in case.probes if p.split == "one_hop")
    country, check = hop.answers[0], hop.conditions[0]
    return [
        {"kind": "alias", "prompt": f"{alias} is a resident of", "subject": alias, "answer": new,
         "check_prompt": f"{alias} is a resident of", "check_answer": old},
        {"kind": "one_hop", "prompt": hop.prompt, "subject": s, "answer": country,
         "check_prompt": check.prompt, "check_answer": check.answers[0]},
        {"kind": "one_hop", "prompt": f"The home town of {s} is located in", "subject": s, "answer": "Wrongland",
         "check_prompt": check.prompt, "check_answer": "Wrongland"},
        {"kind": "one_hop", "prompt": "The country is", "subject": s, "answer": country, "check_prompt": "x",
         "check_answer": "y"},
        {"kind": "one_hop", "prompt": f"{s} lives in {country}, whose country is", "subject": s, "answer": country,
         "check_prompt": "x", "check_answer": "y"},
        {"kind": "inverse", "prompt": f"The best-known resident of {new} is", "subject": new, "answer": "Somebody",
         "check_prompt": "", "check_answer": ""},
        {"kind": "one_hop", "prompt": f"The country {s} calls home is", "subject": s, "answer": country,
         "check_prompt": "", "check_answer": ""},
    ]


def record(closure: LLMClosure, case, facts: list[dict]) -> None:
    """Put a reply in the reply cache as the endpoint would have given it."""
    raw = json.dumps({"facts": facts})
    rec = closure._record(case_fields(case), Reply(raw, "json_schema", 900, 300, "stop", None, {}, 1.5))
    closure.cache.put(rec["key"], rec)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    return tmp_path


def test_the_facts_are_validated_checked_and_written_from_a_recorded_reply(tiny_kg, cache):
    case = lives_in_case(tiny_kg)
    record(LLMClosure(llm_model="gpt-4o", base_url=CLOSED), case, reply_for(case, tiny_kg))
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, [case], ["memit"], hparams={"memit": TINY_OVERRIDES["memit"]},
                         generate=False, progress=False, closure="llm",
                         closure_llm={"llm_model": "gpt-4o", "base_url": CLOSED})
    fig = rep.config["closure_figures"]
    assert fig["calls"] == 0 and fig["cache_hits"] == 1 and fig["cached_cost_usd"] > 0  # gpt-4o's price, recorded
    assert fig["facts"] == {"proposed": 7, "kept": 2, "dropped: the base model fails its check": 1,
                            "skipped: subject not in the prompt": 1, "skipped: prompt gives the answer away": 1,
                            "skipped: inverse: the answer is not the subject": 1, "skipped: one_hop: no check": 1}
    assert rep.config["closure"]["llm_model"] == "gpt-4o" and rep.config["closure"]["prompt_version"] == "closure.v1"
    with_closure = next(r for r in rep.results if r.editor == "memit+closure")
    assert not with_closure.failed and with_closure.closure_size == 2
    written = [p for p in with_closure.probes if p.written]
    assert sorted(p.split for p in written) == ["one_hop", "subject_replace"]  # the two prompts the closure wrote
    held_out = [p for p in with_closure.probes if p.split == "one_hop" and not p.written]
    assert held_out and all(p.executed for p in held_out)


def test_contradictory_llm_facts_are_an_error_naming_both(tiny_kg, cache):
    case = lives_in_case(tiny_kg)
    closure = LLMClosure(llm_model="gpt-4o", base_url=CLOSED)
    p = f"The home town of {case.subject} is"
    closure.facts[case.case_id] = [ClosureFact("one_hop", p, case.subject, "Aaa", ("one_hop",), True),
                                   ClosureFact("one_hop", p, case.subject, "Bbb", ("one_hop",), True)]
    with pytest.raises(ClosureError, match="Aaa.*Bbb|Bbb.*Aaa"):
        closure(case)


@pytest.mark.slow
def test_against_the_real_llama_server(llama_server_url, tiny_kg, cache):
    """A real call: the reply fits the schema (the server enforces it), is cached, and a second asking
    is a cache hit; whatever a 135M model proposes is counted, kept or skipped by reason."""
    from kedit.records import read_jsonl
    from kedit.settings import data_root

    case = next(iter(read_jsonl(data_root() / "demo" / "bench.jsonl")))
    first = LLMClosure(llm_model=LLAMA_MODEL, base_url=llama_server_url, request_timeout=300, max_retries=1)
    facts = first.propose(case)
    fig = first.figures()
    assert fig["calls"] == 1 and fig["cache_hits"] == 0 and fig["cost_usd"] == 0  # a local server costs nothing
    assert fig["prompt_tokens"] > 300 and fig["structured_output"] == "json_schema"
    n = fig["facts"].get("proposed", 0)
    assert n == len(facts) + sum(v for k, v in fig["facts"].items() if k.startswith("skipped"))
    again = LLMClosure(llm_model=LLAMA_MODEL, base_url=llama_server_url)
    assert again.propose(case) == facts and again.figures()["cache_hits"] == 1 and again.figures()["calls"] == 0
