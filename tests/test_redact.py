"""kedit.redact: what is redacted, what survives, and the logging filter on handlers."""

from __future__ import annotations

import io
import logging

import pytest

from kedit.redact import REDACTED, SECRET_ENV, RedactingFilter, install_log_redaction, redact

OPENAI = "sk-" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8S9t0U1v2W3x4"
PROJECT = "sk-proj-" + "Zy9Xw8Vu7Ts6Rq5Po4Nm3Lk2Ji1Hg0Fe_Dc-Ba9876543210"
HF = "hf_" + "AbCdEfGhIjKlMnOpQrStUvWxYz01234567"
LS = "0123456789abcdef0123456789abcdef01234567"  # a Label Studio legacy token: 40 hex


@pytest.fixture(autouse=True)
def no_env_secrets(monkeypatch):
    for name in SECRET_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize("text, secret", [
    (f"Authorization: Bearer {OPENAI}", OPENAI),
    ("{'headers': {'authorization': 'Bearer plain-secret-value'}}", "plain-secret-value"),
    (f'{{"Authorization": "Token {LS}"}}', LS),
    ('"{\\"authorization\\": \\"Bearer abc.def-ghi\\"}"', "abc.def-ghi"),  # JSON inside a JSON string
    (f"curl -H 'Authorization: Token {LS}' http://x", LS),
    (f"request with Bearer {LS} failed", LS),
    (f"header was Token {LS}.", LS),
    (f"Incorrect API key provided: {OPENAI}.", OPENAI),
    (f"key {PROJECT} rejected", PROJECT),
    (f"401 Client Error for token {HF} at https://huggingface.co", HF),
    ("GET /v1/models?api_key=s3cr3t-value&x=1", "s3cr3t-value"),
    ('{"api_key": "another-secret"}', "another-secret"),
    ("x-api-key: yet-another-secret", "yet-another-secret"),
    ("export OPENAI_API_KEY=some-secret-here", "some-secret-here"),
    ("https://alice:hunter2pw@proxy.example.com:3128/v1", "hunter2pw"),
])
def test_patterns(text, secret):
    out = redact(text)
    assert secret not in out and REDACTED in out
    assert redact(out) == out  # idempotent


@pytest.mark.parametrize("text", [
    "skeleton", "the sk- prefix", "task-specific sk-learn models", "hf alone", "hf_hub_download and hf_transfer",
    "prompt_tokens and completion_tokens: 1234 tokens", "max tokens 4096", "token count 1024", "Token expired",
    "Bearer authentication is required", "set OPENAI_API_KEY to a valid key", "api_key is not set",
    "Authorization header missing", "http://127.0.0.1:8080/v1", "The capital of France is Paris.",
    "kedit-local", "HTTP 401: rejected the API key", "sha256 3f2a9c0e1b7d4f6a8c2e0b9d7f5a3c1e",
])
def test_ordinary_text_survives(text):
    assert redact(text) == text


def test_known_secrets_from_arguments_and_environment(monkeypatch):
    shapeless = "correcthorsebatterystaple"  # looks like nothing: only its value can find it
    assert redact(f"echo: {shapeless}") == f"echo: {shapeless}"
    assert redact(f"echo: {shapeless}", shapeless) == f"echo: {REDACTED}"
    for name in SECRET_ENV:
        monkeypatch.setenv(name, shapeless + name)
        assert redact(f"x {shapeless + name} y") == f"x {REDACTED} y", name
    # too short to tell from ordinary text: left alone (a value, not a pattern)
    monkeypatch.setenv("HF_TOKEN", "abc")
    assert redact("abc abcdef") == "abc abcdef"
    assert redact("value: short", "short", None, "") == "value: short"
    # a secret that contains another is replaced whole
    assert redact("k=supersecretvalue1", "supersecret", "supersecretvalue1") == f"k={REDACTED}"


@pytest.fixture
def isolated():
    """A logger tree of our own with one handler on the parent: kedit_redact_test -> kedit_redact_test.child."""
    parent = logging.getLogger("kedit_redact_test")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    parent.addHandler(handler)
    parent.setLevel(logging.DEBUG)
    parent.propagate = False
    try:
        yield parent, handler, stream
    finally:
        for h in parent.handlers:  # ours and pytest's: no filter outlives the test
            h.filters[:] = [f for f in h.filters if not isinstance(f, RedactingFilter)]
        parent.removeHandler(handler)
        parent.filters.clear()
        parent.propagate = True


def test_a_logger_filter_misses_child_records_a_handler_filter_does_not(isolated):
    parent, handler, stream = isolated
    child = logging.getLogger("kedit_redact_test.child")
    parent.addFilter(RedactingFilter())  # on the logger: never consulted for the child's records
    child.warning("endpoint said %s", f"Bearer {OPENAI}")
    assert OPENAI in stream.getvalue()
    parent.filters.clear()
    stream.truncate(0)
    installed = install_log_redaction(["kedit_redact_test.child"])  # the handlers its records reach
    assert handler in installed and set(installed) == set(parent.handlers)  # (pytest's capture handlers too)
    assert install_log_redaction(["kedit_redact_test"]) == installed
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1  # idempotent
    child.warning("endpoint said %s", f"Bearer {OPENAI}")
    logging.getLogger("kedit_redact_test.child.grandchild").info("secret %s in %r", "shapeless-value-1", {"api_key": "k-42"})
    out = stream.getvalue()
    assert OPENAI not in out and "k-42" not in out and "endpoint said Bearer [REDACTED]" in out


def test_filter_rewrites_the_record_and_its_traceback(isolated):
    parent, handler, stream = isolated
    install_log_redaction(["kedit_redact_test"], "shapeless-value-1")
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    keep = Keep()
    keep.addFilter(RedactingFilter("shapeless-value-1"))
    parent.addHandler(keep)
    try:
        try:
            raise RuntimeError(f"HTTP 500: {{'authorization': 'Bearer {OPENAI}'}} shapeless-value-1")
        except RuntimeError:
            logging.getLogger("kedit_redact_test.child").exception("call failed with %s", "shapeless-value-1", stack_info=True)
    finally:
        parent.removeHandler(keep)
    out = stream.getvalue()
    assert "Traceback" in out and "RuntimeError" in out
    assert OPENAI not in out and "shapeless-value-1" not in out
    (rec,) = records
    assert rec.getMessage() == f"call failed with {REDACTED}" and rec.args == ()
    assert OPENAI not in rec.exc_text and "shapeless-value-1" not in rec.exc_text


def test_with_no_handler_the_last_resort_one_is_filtered():
    name = "kedit_redact_test_bare"
    logger = logging.getLogger(name)
    logger.propagate = False
    last = logging.lastResort
    had = list(last.filters)
    try:
        assert install_log_redaction([name]) == [last]
        assert any(isinstance(f, RedactingFilter) for f in last.filters)
    finally:
        last.filters[:] = had
        logger.propagate = True
