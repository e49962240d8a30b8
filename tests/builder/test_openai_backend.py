"""The ``openai`` generation backend against a scripted fault server (tests/fixtures/fault_server.py).

Each test counts requests at the server: retries, Retry-After, the json_object fallback, raw output
kept on a bad reply, the cache (a second run and a killed-then-rerun run repeat no completed call),
token and cost sums, and plan()'s numbers.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from kedit.builder.backends import BACKENDS, generation_failed
from kedit.builder.llm import OpenAIBackend
from kedit.builder.llm.backend import LOCAL_KEY, parse_reply, resolve_api_key
from kedit.builder.llm.pricing import PriceTable
from kedit.builder.llm.prompts import case_fields, load_prompt
from kedit.errors import KeditError
from kedit.records import EditCase, Relation, case_from_dict
from tests.fixtures.fault_server import FaultServer, good_reply

ROOT = Path(__file__).resolve().parents[2]
SUBJECTS = ["France", "Italy", "Japan", "Spain", "Kenya", "Peru", "Chile", "Norway"]


def seeds(n: int = 3) -> list[EditCase]:
    return [EditCase(case_id=f"c{i}", subject=s, relation=Relation("capital", "The capital of {} is"),
                     target_true="Old", target_new="Berlin", prompt=f"The capital of {s} is")
            for i, s in enumerate(SUBJECTS[:n])]


@pytest.fixture
def server():
    with FaultServer() as srv:
        yield srv


def backend(srv: FaultServer, cache: Path, **kw) -> OpenAIBackend:
    opts = dict(llm_model="fault-model", base_url=srv.url, cache_root=cache, request_timeout=0.5, max_retries=3,
                backoff_s=0.05, backoff_max_s=0.2)
    return OpenAIBackend(**{**opts, **kw})


def test_registered_and_arguments():
    cls = BACKENDS.get("openai")
    assert cls is OpenAIBackend
    ap = argparse.ArgumentParser()
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--dry-run", action="store_true")
    cls.add_arguments(ap)
    args = ap.parse_args(["--base-url", "http://127.0.0.1:9/v1", "--llm-model", "m", "--prompt-version", "v1",
                          "--temperature", "0.5", "--max-tokens", "77", "--request-timeout", "3", "--max-retries", "1",
                          "--no-cache", "--retry-failed", "--dry-run"])
    b = cls.from_args(args)
    assert (b.llm_model, b.base_url, b.prompt.version, b.temperature, b.max_tokens, b.request_timeout, b.max_retries,
            b.use_cache, b.retry_failed) == ("m", "http://127.0.0.1:9/v1", "generate.v1", 0.5, 77, 3.0, 1, False, True)
    assert "openai backend" in [g.title for g in ap._action_groups]
    defaults = ap.parse_args([])
    assert defaults.llm_model == "gpt-4o" and defaults.base_url is None and defaults.temperature == 0.0


def test_api_key_rules(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(KeditError, match="OPENAI_API_KEY"):
        resolve_api_key(None)
    with pytest.raises(KeditError, match="OPENAI_API_KEY"):
        resolve_api_key("https://llm.example.com/v1")
    assert resolve_api_key("http://127.0.0.1:8080/v1") == LOCAL_KEY
    assert resolve_api_key("http://localhost:8080/v1") == LOCAL_KEY
    monkeypatch.setenv("OPENAI_API_KEY", "sk-abc")
    assert resolve_api_key(None) == "sk-abc"
    # --dry-run needs no key: plan() makes no request
    monkeypatch.delenv("OPENAI_API_KEY")
    ap = argparse.ArgumentParser()
    OpenAIBackend.add_arguments(ap)
    ap.add_argument("--dry-run", action="store_true")
    with pytest.raises(KeditError, match="OPENAI_API_KEY"):
        OpenAIBackend.from_args(ap.parse_args([]))
    assert OpenAIBackend.from_args(ap.parse_args(["--dry-run"])).plan(seeds(1))["calls"] == 1


def test_probes_from_a_good_reply(server, tmp_path):
    b = backend(server, tmp_path)
    case = seeds(1)[0]
    out = b.expand(case)
    assert not generation_failed(out)
    by = {s: out.probes_of(s) for s in ("generalization", "subject_replace", "reverse_relation", "one_hop", "other_relation", "locality")}
    assert [len(v) for v in by.values()] == [2, 1, 1, 1, 1, 1]
    sr = by["subject_replace"][0]
    assert sr.prompt == "The capital of France Prime is" and sr.answers == ("Berlin",) and sr.expect == "new"
    assert sr.conditions[0].prompt == sr.prompt and sr.conditions[0].answers == ("Old",)
    assert by["reverse_relation"][0].answers == ("France", "France Prime")
    oh = by["one_hop"][0]
    assert oh.answers == ("Europe",) and oh.conditions[0].triple == ("Berlin", "continent", "Europe")
    assert oh.conditions[0].prompt == "The continent of that city is"
    assert by["other_relation"][0].expect == "keep" and by["locality"][0].answers == ("Au",)
    prov = oh.provenance
    gen = out.provenance["generation"]
    assert prov["generator"] == "openai" and prov["model"] == "fault-model" and prov["prompt_version"] == "generate.v1"
    assert prov["cache_key"] == gen["cache_key"] and len(gen["cache_key"]) == 64
    assert gen["status"] == "ok" and gen["mode"] == "json_schema"
    # the alias that is the subject itself and the one-hop item with an empty answer: skipped and counted
    assert sum(gen["skipped_items"].values()) == 2 and b.figures()["skipped_items"] == 2
    assert case_from_dict(json.loads(json.dumps(out.to_dict()))) == out
    # a case that already has paraphrases and a locality probe keeps its own
    from kedit.builder.backends import make_probe, with_probes

    rich = with_probes(seeds(2)[1], [make_probe("generalization", "Italy's capital is", ["Berlin"]),
                                     make_probe("locality", "The capital of Japan is", ["Tokyo"])])
    out2 = b.expand(rich)
    assert [p.prompt for p in out2.probes_of("generalization")] == ["Italy's capital is"]
    assert [p.prompt for p in out2.probes_of("locality")] == ["The capital of Japan is"]


def test_retry_after_429_is_honoured(tmp_path):
    with FaultServer(script=[("429", 1)]) as srv:
        b = backend(srv, tmp_path)
        t0 = time.monotonic()
        out = b.expand(seeds(1)[0])
        assert not generation_failed(out)
        gap = srv.requests[1]["time"] - srv.requests[0]["time"]
    assert srv.count() == 2 and srv.count("429") == 1
    assert gap >= 0.95, f"Retry-After: 1 was not honoured (retried after {gap:.2f}s)"
    f = b.figures()
    assert f["retries"] == 1 and f["retry_wait_s"] >= 0.95 and f["calls"] == 1 and f["requests"] == 2
    assert time.monotonic() - t0 < 10


def test_retries_after_500_and_timeout(tmp_path):
    with FaultServer(script=["500", ("hang", 3), ("429", None)]) as srv:
        b = backend(srv, tmp_path, request_timeout=0.5)
        out = b.expand(seeds(1)[0])
    assert not generation_failed(out)
    assert [r["action"] if isinstance(r["action"], str) else r["action"][0] for r in srv.requests] == ["500", "hang", "429", "ok"]
    assert b.figures()["retries"] == 3 and b.figures()["calls"] == 1


def test_gives_up_after_max_retries(tmp_path):
    with FaultServer(default="500") as srv:
        b = backend(srv, tmp_path, max_retries=2)
        with pytest.raises(KeditError, match=r"HTTP 500.*3 attempt"):
            b.expand(seeds(1)[0])
        assert srv.count() == 3  # the openai client's own retries are off: tenacity's are the only ones


def test_endpoint_down_is_a_clear_error(tmp_path):
    srv = FaultServer()
    url = srv.url  # bound but never served: nothing answers
    srv.httpd.server_close()
    b = OpenAIBackend(llm_model="m", base_url=url, cache_root=tmp_path, max_retries=1, backoff_s=0.01, backoff_max_s=0.02,
                      request_timeout=1)
    with pytest.raises(KeditError, match="cannot connect.*--base-url"):
        b.expand(seeds(1)[0])


def test_unknown_model_is_a_clear_error(tmp_path):
    with FaultServer(models=["served-model"]) as srv:
        b = backend(srv, tmp_path, llm_model="served-modle")
        with pytest.raises(KeditError, match="does not serve model 'served-modle'.*did you mean 'served-model'"):
            b.expand(seeds(1)[0])
        assert srv.count("unknown_model") == 1  # not retried


def test_malformed_reply_is_kept_and_reused_unless_retry_failed(tmp_path):
    with FaultServer(script=["malformed"]) as srv:
        case = seeds(1)[0]
        b = backend(srv, tmp_path)
        out = b.expand(case)
        assert generation_failed(out)
        gen = out.provenance["generation"]
        assert gen["raw"] == "this is {not json" and "not JSON" in gen["error"] and gen["cache_key"]
        assert out.probes == () and b.figures()["failures"] == 1
        # rerun: the failed reply comes from the cache, no request
        again = backend(srv, tmp_path).expand(case)
        assert generation_failed(again) and srv.count() == 1
        # --retry-failed asks again, and the good reply replaces the cached failure
        b3 = backend(srv, tmp_path, retry_failed=True)
        fixed = b3.expand(case)
        assert not generation_failed(fixed) and srv.count() == 2
        assert not generation_failed(backend(srv, tmp_path).expand(case)) and srv.count() == 2


def test_schema_violation_is_a_failure_not_a_crash(tmp_path):
    with FaultServer(reply=lambda body: {"paraphrases": "not a list"}) as srv:
        out = backend(srv, tmp_path).expand(seeds(1)[0])
    assert generation_failed(out) and "schema" in out.provenance["generation"]["error"]
    with pytest.raises(ValueError, match="not JSON"):
        parse_reply("```json\n{oops\n```", load_prompt().schema)
    assert parse_reply("```json\n" + json.dumps(good_reply({})) + "\n```", load_prompt().schema)["unrelated_fact"]["answer"] == "Au"


def test_json_object_fallback(tmp_path):
    with FaultServer(reject_json_schema=True) as srv:
        b = backend(srv, tmp_path)
        outs = [b.expand(c) for c in seeds(3)]
        assert all(not generation_failed(o) for o in outs)
        assert [r["format"] for r in srv.requests] == ["json_schema", "json_object", "json_object", "json_object"]
        f = b.figures()
        assert f["structured_output"] == "json_object" and f["structured_output_fallbacks"] == 1 and f["calls"] == 3
        assert outs[0].provenance["generation"]["mode"] == "json_object"
        # a new run finds the json_object replies in the cache without asking again
        b2 = backend(srv, tmp_path)
        assert [o.to_dict() for o in map(b2.expand, seeds(3))] == [o.to_dict() for o in outs]
        assert srv.count() == 4 and b2.figures()["cache_hits"] == 3


def test_cache_second_run_makes_no_request(server, tmp_path):
    b = backend(server, tmp_path)
    first = [b.expand(c) for c in seeds(3)]
    assert server.count() == 3
    b2 = backend(server, tmp_path)
    assert b2.plan(seeds(3))["calls"] == 0
    second = [b2.expand(c) for c in seeds(3)]
    assert server.count() == 3
    assert [c.to_dict() for c in second] == [c.to_dict() for c in first]
    f = b2.figures()
    assert f["cache_hits"] == 3 and f["calls"] == 0 and f["requests"] == 0 and f["prompt_tokens"] == 0
    # --no-cache neither reads nor writes
    b3 = backend(server, tmp_path, use_cache=False)
    b3.expand(seeds(1)[0])
    assert server.count() == 4
    # a different parameter is a different call
    backend(server, tmp_path, temperature=0.7).expand(seeds(1)[0])
    assert server.count() == 5


def test_api_key_is_never_written(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-kedit-secret-123")
    b = backend(server, tmp_path)
    out = b.expand(seeds(1)[0])
    written = "".join(p.read_text() for p in tmp_path.rglob("*.json"))
    assert written and "sk-kedit-secret-123" not in written
    assert "sk-kedit-secret-123" not in json.dumps(out.to_dict()) + json.dumps(b.figures())


KILL_SCRIPT = r"""
import sys
from kedit.builder.llm import OpenAIBackend
from tests.builder.test_openai_backend import seeds
b = OpenAIBackend(llm_model="fault-model", base_url=sys.argv[1], cache_root=sys.argv[2], max_retries=0)
for c in seeds(8):
    b.expand(c)
    print("done", c.subject, flush=True)
"""


def test_killed_run_then_rerun_repeats_no_completed_call(tmp_path):
    cache = tmp_path / "cache"
    with FaultServer(default=("delay", 0.3)) as srv:
        proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, srv.url, str(cache)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        done = []
        for line in proc.stdout:
            done.append(line.split()[1])
            if len(done) == 3:
                proc.kill()
                break
        proc.wait()
        assert len(done) == 3
        first_run = srv.count()
        b = backend(srv, cache)
        plan = b.plan(seeds(8))
        outs = [b.expand(c) for c in seeds(8)]
        rerun = srv.requests[first_run:]
    assert all(not generation_failed(o) for o in outs)
    # a request the killed process had begun to send can reach the server after first_run was read: it has no
    # body to name its subject (seen on a loaded machine), and is not a call of the rerun
    asked_again = [r["subject"] for r in rerun if r["subject"] is not None]
    assert not set(asked_again) & set(done), "a call completed before the kill was repeated"
    assert len(asked_again) == plan["calls"] == 8 - b.figures()["cache_hits"] >= 8 - first_run
    assert b.figures()["cache_hits"] >= 3


def test_tokens_and_cost_are_summed(tmp_path):
    with FaultServer(prompt_tokens=1000, completion_tokens=300) as srv:
        # a generous timeout: on a loaded CI machine a 0.5 s one retried a reply (9 requests for 8)
        b = backend(srv, tmp_path, llm_model="gpt-4o", request_timeout=10.0)
        with ThreadPoolExecutor(4) as ex:
            outs = list(ex.map(b.expand, seeds(8)))
    assert all(not generation_failed(o) for o in outs) and srv.count() == 8
    f = b.figures()
    assert f["prompt_tokens"] == 8000 and f["completion_tokens"] == 2400
    assert f["cost_usd"] == pytest.approx((8000 * 2.5 + 2400 * 10.0) / 1e6)
    assert f["price_per_1m_tokens"] == {"model": "gpt-4o", "input": 2.5, "output": 10.0, "known": True}
    assert outs[0].provenance["generation"]["cost_usd"] == pytest.approx((1000 * 2.5 + 300 * 10.0) / 1e6)
    assert f["base_url_host"].startswith("127.0.0.1:") and f["generator"] == "openai" and f["prompt_versions"] == ["generate.v1"]
    # the cached cost is reported apart on a rerun
    b2 = backend(srv, tmp_path, llm_model="gpt-4o")
    for c in seeds(8):
        b2.expand(c)
    assert b2.figures()["cost_usd"] == 0 and b2.figures()["cached_cost_usd"] == pytest.approx(f["cost_usd"])


def test_plan_numbers(server, tmp_path):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"models": {"my-model": {"input": 1.0, "output": 2.0}}}))
    b = backend(server, tmp_path / "c", llm_model="my-model", prices=prices, max_tokens=500)
    cases = seeds(4)
    p = b.plan(cases)
    msgs = b.prompt.render(case_fields(cases[0]))
    per_call = p["estimated_input_tokens"] / 4
    assert p["calls"] == 4 and p["cached"] == 0 and server.count() == 0
    assert sum(len(m["content"]) for m in msgs) / 4 < per_call < sum(len(m["content"]) for m in msgs) / 2
    assert p["estimated_output_tokens"] == 4 * 400 and p["max_output_tokens"] == 4 * 500
    assert p["estimated_cost_usd"] == pytest.approx((p["estimated_input_tokens"] * 1.0 + 1600 * 2.0) / 1e6)
    assert p["max_cost_usd"] == pytest.approx((p["estimated_input_tokens"] * 1.0 + 2000 * 2.0) / 1e6)
    b.expand(cases[0])
    p2 = b.plan(cases)
    assert p2["calls"] == 3 and p2["cached"] == 1


def test_price_table():
    t = PriceTable()
    assert t.price("gpt-4o-2024-08-06").model == "gpt-4o"
    assert t.price("gpt-4o-mini-2024-07-18").model == "gpt-4o-mini"
    unknown = t.price("smollm2-135m-instruct")
    assert unknown.model == "local" and not unknown.known and unknown.cost(10**6, 10**6) == 0


def test_prompt_versions():
    p = load_prompt()
    assert p.version == "generate.v1" and load_prompt("v1") == p and load_prompt("1") == p
    with pytest.raises(KeditError, match="did you mean 'generate.v1'"):
        load_prompt("generate.v9")
    msgs = p.render({"subject": "S", "relation": "r", "template": "t {}", "prompt": "P", "target_true": "A", "target_new": "B"})
    assert [m["role"] for m in msgs] == ["system", "user"] and "{{" not in msgs[1]["content"] and "Subject: S" in msgs[1]["content"]
