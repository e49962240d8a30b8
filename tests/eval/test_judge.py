"""The LLM judge: its verdicts become a ``judge`` metric with reasons (from recorded replies in the
reply cache: a run that makes no call), its agreement with human verdicts (Cohen's kappa), and the
real llama-server as a judge."""

from __future__ import annotations

import dataclasses
import json

import pytest

import kedit
from kedit.builder.llm.client import Reply
from kedit.eval.judge import LLMJudge, judge_agreement
from kedit.eval.metrics import exact_match, natural_stop
from kedit.records import write_jsonl
from tests.fixtures.hparams import TINY_OVERRIDES
from tests.fixtures.llama_server import LLAMA_MODEL

CLOSED = "http://127.0.0.1:9/v1"  # nothing listens: a passing run made no call


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("KEDIT_CACHE", str(tmp_path))
    return tmp_path


def record(judge: LLMJudge, question, answers, response, verdict: str, reason: str) -> None:
    fields = {"question": question, "answers": " | ".join(answers), "response": response}
    raw = json.dumps({"verdict": verdict, "reason": reason})
    rec = judge._record(fields, Reply(raw, "json_schema", 120, 20, "stop", None, {}, 0.4))
    judge.cache.put(rec["key"], rec)


def test_the_judge_metric_and_its_reasons_come_from_the_recorded_verdicts(tiny_kg, cache):
    cases, over = tiny_kg.cases[:2], {"ft-l": TINY_OVERRIDES["ft-l"]}
    plain = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, cases, ["ft-l"], hparams=over, progress=False)
    judge = LLMJudge(llm_model="gpt-4o", base_url=CLOSED)
    want = {}
    for r in plain.results:
        for p in r.probes:
            if p.executed and p.generated is not None:
                cut = natural_stop(p.generated)
                ok = exact_match(cut, p.answers)  # a stand-in judge: SQuAD exact match against the gold answers
                record(judge, p.prompt, p.answers, cut, "correct" if ok else "incorrect", f"#{p.index} {ok}")
                want[(r.case_id, p.index)] = ok
    rep = kedit.evaluate(tiny_kg.model, tiny_kg.tokenizer, cases, ["ft-l"], hparams=over, progress=False,
                         judge={"llm_model": "gpt-4o", "base_url": CLOSED})
    got = {(r.case_id, p.index): p for r in rep.results for p in r.probes if "judge" in p.metrics}
    assert set(got) == set(want) and len(want) > 20
    for key, p in got.items():
        assert p.metrics["judge"].post == float(want[key]) and p.judge_reason == f"#{key[1]} {want[key]}"
    fig = rep.config["judge_figures"]
    assert fig["calls"] == 0 and fig["cache_hits"] == len(want) and sum(fig["verdicts"].values()) == len(want)
    assert rep.config["judge"] == {"llm_model": "gpt-4o", "endpoint": "127.0.0.1:9", "prompt_version": "judge.v1"}
    assert any(r.metric == "judge" for r in rep.rows)
    assert "**judge**" in rep.markdown()


def pulled(tiny_kg, tmp_path, verdicts: dict[int, str]):
    """A kbuild annotate pull output: each probe i of the first case adjudicated verdicts[i] (incorrect
    ones in the rejected file beside it), as pull writes the annotation provenance."""
    case = tiny_kg.cases[0]
    keep, rej = [], []
    for i, p in enumerate(case.probes):
        if i not in verdicts:
            continue
        ann = {"adjudicated": verdicts[i], "verdicts": [verdicts[i]] * 2, "corrected": None}
        q = dataclasses.replace(p, provenance={**p.provenance, "annotation": ann})
        (rej if verdicts[i] == "incorrect" else keep).append(q)
    write_jsonl([dataclasses.replace(case, probes=tuple(keep))], tmp_path / "verified.jsonl")
    write_jsonl([dataclasses.replace(case, probes=tuple(rej))], tmp_path / "verified.rejected.jsonl")
    return case, tmp_path / "verified.jsonl"


def test_agreement_with_human_verdicts_is_cohens_kappa(tiny_kg, cache, tmp_path):
    humans = {1: "correct", 2: "correct", 3: "incorrect", 4: "incorrect", 5: "correct", 6: "unsure"}
    judged = {1: "correct", 2: "incorrect", 3: "incorrect", 4: "incorrect", 5: "correct"}
    case, path = pulled(tiny_kg, tmp_path, humans)
    judge = LLMJudge(llm_model="gpt-4o", base_url=CLOSED)
    for i, v in judged.items():
        p = case.probes[i]
        record(judge, p.prompt, p.answers, p.answers[0], v, "recorded")
    res = judge_agreement(judge, path)
    # p_o = 4/5; humans 3 correct / 2 incorrect, judge 2 / 3: p_e = 3/5*2/5 + 2/5*3/5 = 12/25; kappa = (20/25-12/25)/(13/25)
    assert res["n_items"] == 5 and res["kappa"] == pytest.approx(8 / 13)
    assert res["confusion"] == {"human correct / judge correct": 2, "human correct / judge incorrect": 1,
                                "human incorrect / judge incorrect": 2}
    assert res["left_out"] == {"adjudicated unsure": 1} and res["judge"]["cache_hits"] == 5
    from kedit.eval.cli import main

    assert main(["judge-agreement", str(path), "--judge-base-url", CLOSED, "--out", str(tmp_path / "k.json")]) == 0
    assert json.loads((tmp_path / "k.json").read_text())["kappa"] == pytest.approx(8 / 13)


@pytest.mark.slow
def test_the_real_llama_server_as_judge(llama_server_url, tiny_kg, cache, tmp_path):
    """SmolLM2-135M-Instruct grades (poorly: the point is the path): every item gets a schema-valid verdict,
    the kappa is computed, and a second run is all cache hits."""
    case, path = pulled(tiny_kg, tmp_path, {1: "correct", 2: "correct", 3: "incorrect", 4: "incorrect"})
    first = judge_agreement(LLMJudge(llm_model=LLAMA_MODEL, base_url=llama_server_url, request_timeout=300), path)
    assert first["n_items"] + first["judge_unusable"] == 4 and first["judge"]["calls"] == 4
    assert first["judge"]["structured_output"] == "json_schema" and first["judge"]["cost_usd"] == 0
    again = judge_agreement(LLMJudge(llm_model=LLAMA_MODEL, base_url=llama_server_url), path)
    assert again["judge"]["calls"] == 0 and again["judge"]["cache_hits"] == 4 and again["kappa"] == first["kappa"]
