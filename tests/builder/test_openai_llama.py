"""The ``openai`` backend against a real OpenAI-compatible server: llama-server with SmolLM2-135M-Instruct.

The server enforces the json_schema response format with a grammar, so every reply parses whatever
a 135M model makes of the task; the probes it yields must be valid kedit records. Seeds are
expanded one at a time: at temperature 0 a lone slot decodes deterministically, where batched
slots can differ in the last bits and send a small model into a run-on string.
"""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from kedit.builder.backends import generation_failed
from kedit.builder.llm import OpenAIBackend
from kedit.records import case_from_dict, read_jsonl
from kedit.settings import data_root
from tests.fixtures.llama_server import LLAMA_MODEL

pytestmark = pytest.mark.slow


def demo_seeds(ids):
    by_id = {c.case_id: c for c in read_jsonl(data_root() / "demo" / "bench.jsonl")}
    return [replace(by_id[i], probes=(), provenance={}) for i in ids]


def test_expands_real_seeds(llama_server_url, tmp_path):
    seeds = demo_seeds(["demo-001", "demo-002", "demo-003", "demo-005"])
    b = OpenAIBackend(llm_model=LLAMA_MODEL, base_url=llama_server_url, cache_root=tmp_path, max_tokens=1024,
                      request_timeout=300, max_retries=1)
    plan = b.plan(seeds)
    assert plan["calls"] == 4 and plan["estimated_cost_usd"] == 0 and not plan["price_per_1m_tokens"]["known"]
    outs = [b.expand(c) for c in seeds]
    # a 135M model can run on past the schema's end until max_tokens (float rounding differs between
    # CPUs, so which seed does it is not fixed): such a case must be kept, marked, with its raw reply
    failed = [o for o in outs if generation_failed(o)]
    assert len(failed) <= 1, [o.provenance["generation"]["error"] for o in failed]
    for o in failed:
        assert o.provenance["generation"]["raw"] and o.provenance["generation"]["error"] and not o.probes
    for out in outs:
        gen = out.provenance["generation"]
        if generation_failed(out):
            continue
        assert gen["mode"] == "json_schema" and gen["prompt_tokens"] > 300 and gen["completion_tokens"] > 0
        again = case_from_dict(json.loads(json.dumps(out.to_dict())))
        assert again == out and again.to_dict() == out.to_dict()
        for p in out.probes:
            assert p.prompt and p.answers[0] and p.provenance["generator"] == "openai"
            assert p.provenance["model"] == LLAMA_MODEL and p.provenance["cache_key"] == gen["cache_key"]
    assert sum(len(o.probes) for o in outs) >= 4  # a 135M model gives few usable items, but some
    f = b.figures()
    assert f["calls"] == f["requests"] == 4 and f["failures"] == len(failed) and f["structured_output"] == "json_schema"
    assert f["prompt_tokens"] > 4 * 300 and f["completion_tokens"] > 4 * 50 and f["cost_usd"] == 0
    # the rerun is answered by the cache
    b2 = OpenAIBackend(llm_model=LLAMA_MODEL, base_url=llama_server_url, cache_root=tmp_path, max_tokens=1024)
    assert [b2.expand(c).to_dict() for c in seeds] == [o.to_dict() for o in outs]
    assert b2.figures()["requests"] == 0 and b2.figures()["cache_hits"] == 4


def test_kbuild_generate_openai_then_filter(llama_server_url, tmp_path, capsys):
    """The CLI path of the issue: kbuild generate --backend openai --base-url http://127.0.0.1:PORT/v1,
    then kbuild filter on what it wrote."""
    from kedit.builder.cli import main as kbuild
    from kedit.records import write_jsonl
    from kedit.records.manifest import read_manifest

    seeds = write_jsonl(demo_seeds(["demo-001", "demo-003"]), tmp_path / "seeds.jsonl")
    gen = tmp_path / "gen.jsonl"
    args = ["generate", "--backend", "openai", "--base-url", llama_server_url, "--llm-model", LLAMA_MODEL,
            "--in", str(seeds), "--out", str(gen), "--concurrency", "1", "--max-tokens", "1024", "--request-timeout", "300"]
    assert kbuild(args + ["--dry-run"]) == 0
    plan = json.loads(capsys.readouterr().out)
    assert plan["to_do"] == 2 and plan["calls"] <= 2
    assert kbuild(args + ["--no-cache"]) == 0, capsys.readouterr().err
    cases = read_jsonl(gen)
    g = read_manifest(gen)["generate"]
    assert g["generator"] == "openai" and g["llm_model"] == LLAMA_MODEL and g["requests"] >= 2
    assert g["prompt_tokens"] > 0 and g["prompt_versions"]
    assert {p.split for c in cases for p in c.probes} >= {"reliability", "distract_neighbor", "commonsense"}
    bench = tmp_path / "bench.jsonl"
    assert kbuild(["filter", "--model", "smollm2-135m", "--in", str(gen), "--out", str(bench)]) == 0
    assert read_manifest(bench)["upstream"]["generate"]["generator"] == "openai"
