"""Secrets stay out of messages, logs and files, and the reply cache is per endpoint.

A real local endpoint (tests/fixtures/fault_server.py) echoes the request's ``Authorization``
header in its error bodies and replies; the key must appear in no exception message, no log
record and no file under the output folder or the cache. Errors of the Hub push and of Label
Studio are redacted as well.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from kedit.builder.backends import generation_failed
from kedit.builder.generate import generate
from kedit.builder.llm import OpenAIBackend
from kedit.builder.llm.client import endpoint_url
from kedit.errors import KeditError
from kedit.redact import REDACTED
from tests.builder.test_openai_backend import backend, seeds
from tests.fixtures.fault_server import FaultServer

KEYS = {"openai-shaped": "sk-proj-kedit0echo0Test0Key0123456789abcdef", "shapeless": "correcthorsebatterystaple"}


def files_text(root: Path) -> str:
    return "".join(p.read_bytes().decode("utf-8", "replace") for p in root.rglob("*") if p.is_file())


def logged(caplog) -> str:
    return "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)


@pytest.mark.parametrize("key", KEYS.values(), ids=KEYS.keys())
@pytest.mark.parametrize("status", [401, 403, 500])
def test_an_endpoint_that_echoes_the_key_never_gets_it_shown_logged_or_written(status, key, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("OPENAI_API_KEY", key)
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out" / "cases.jsonl"
    with FaultServer(default=("echo_auth", status)) as srv:
        b = backend(srv, tmp_path / "cache", max_retries=1)
        with pytest.raises(KeditError) as err:
            generate(seeds(2), b, out=out, concurrency=1, commonsense="none")
    assert srv.count("echo_auth") >= (2 if status == 500 else 1)  # 5xx retried once, the others not
    message = str(err.value)
    assert key not in message and key not in logged(caplog)
    if status != 401:  # 401 says what to do without quoting the body; the others quote it, redacted
        assert f"Authorization: {REDACTED}" in message
    if status == 500:
        assert "retry 1/1" in logged(caplog) and REDACTED in logged(caplog)
    assert key not in files_text(tmp_path)


def test_a_reply_that_echoes_the_key_is_redacted_before_it_is_kept(tmp_path, monkeypatch, caplog):
    key = KEYS["shapeless"]
    monkeypatch.setenv("OPENAI_API_KEY", key)
    caplog.set_level(logging.DEBUG)
    out = tmp_path / "out" / "cases.jsonl"
    with FaultServer(script=["echo_auth_reply"]) as srv:
        b = backend(srv, tmp_path / "cache")
        res = generate(seeds(2), b, out=out, concurrency=1, commonsense="none")
    assert res.failed == ["c0"] and not generation_failed(res.cases[1])
    gen = res.cases[0].provenance["generation"]
    assert REDACTED in gen["raw"] and "schema" in gen["error"]
    written = files_text(tmp_path)
    assert out.is_file() and any((tmp_path / "cache").rglob("*.json")) and REDACTED in written
    assert key not in written and key not in logged(caplog) and key not in json.dumps(res.figures)


def test_the_cache_is_per_endpoint(tmp_path):
    cache = tmp_path / "cache"
    case = seeds(1)[0]
    with FaultServer() as a, FaultServer() as b:
        first = backend(a, cache, llm_model="gpt-4o")
        assert first.plan([case])["calls"] == 1
        first.expand(case)
        assert a.count() == 1
        # another endpoint answering as the same model is not fed endpoint A's reply
        other = backend(b, cache, llm_model="gpt-4o")
        assert other.plan([case])["calls"] == 1
        other.expand(case)
        assert b.count() == 1 and other.figures()["cache_hits"] == 0
        # the same endpoint, spelled otherwise, finds its reply (the plan counts it as cached)
        port = a.url.split(":")[2].split("/")[0]
        for url in (a.url + "/", f"HTTP://127.0.0.1:{port}/v1?x=1", f"http://user:pw@127.0.0.1:{port}/v1/"):
            same = OpenAIBackend(llm_model="gpt-4o", base_url=url, cache_root=cache)
            assert same.plan([case])["cached"] == 1, url
        again = backend(a, cache, llm_model="gpt-4o")
        again.expand(case)
        assert a.count() == 1 and again.figures()["cache_hits"] == 1


def test_endpoint_url_is_normalised():
    assert endpoint_url(None) == endpoint_url("https://api.openai.com/v1/") == "https://api.openai.com/v1"
    assert endpoint_url("HTTPS://API.OpenAI.com:443/v1") == "https://api.openai.com/v1"
    assert endpoint_url("http://u:p@LocalHost:8080/v1/?key=x#f") == "http://localhost:8080/v1"
    assert endpoint_url("http://127.0.0.1:80/") == "http://127.0.0.1"
    assert endpoint_url("http://[::1]:8080/v1") == "http://[::1]:8080/v1"
    assert endpoint_url("http://127.0.0.1:8080/v1") != endpoint_url("http://127.0.0.1:8081/v1")
    assert endpoint_url("http://127.0.0.1:8080/v1") != endpoint_url("http://127.0.0.1:8080/v2")


def test_hub_errors_are_redacted(tmp_path, monkeypatch):
    from kedit.builder.export import hub

    token = "hf_" + "QwErTyUiOpAsDfGhJkLzXcVbNm0123456789"

    class FailingHfApi:
        def create_repo(self, *a, **kw):
            raise RuntimeError(f"401 Client Error: headers {{'authorization': 'Bearer {token}'}}, token={token}")

    monkeypatch.setattr(hub, "HfApi", FailingHfApi)
    monkeypatch.setenv("HF_TOKEN", token)
    with pytest.raises(KeditError, match="failed: RuntimeError: 401 Client Error") as err:
        hub.push(tmp_path, "someone/data")
    assert token not in str(err.value) and REDACTED in str(err.value)


def test_label_studio_errors_are_redacted():
    import httpx
    from label_studio_sdk.core.api_error import ApiError

    from kedit.annotations.client import LabelStudio

    token = "0123456789abcdef0123456789abcdef01234567"
    ls = object.__new__(LabelStudio)  # no server: only the error translation is tested
    ls.url, ls._token = "http://127.0.0.1:9", token
    with pytest.raises(KeditError, match="importing tasks failed \\(HTTP 500\\)") as err:
        with ls._errors("importing tasks"):
            raise ApiError(status_code=500, body={"detail": "bad request", "echo": f"Authorization: Token {token}",
                                                  "raw": token})
    assert token not in str(err.value) and REDACTED in str(err.value)
    with pytest.raises(KeditError, match="cannot reach Label Studio") as err:
        with ls._errors("connect"):
            raise httpx.ConnectError(f"refused for {token}")
    assert token not in str(err.value)
