"""One chat-completions call with structured output, retried by tenacity, counted.

The openai client's own retries are switched off (``max_retries=0``) so that tenacity is the only
retry layer and every HTTP request is counted once. Transient failures (429, 408/409, 5xx, timeouts,
connection errors) are retried with exponential backoff and full jitter, bounded by
``max_retries``; a ``Retry-After`` (or ``retry-after-ms``) header sets the wait instead when the
server sends one. Everything else (bad key, unknown model, exhausted quota) fails at once with a
:class:`KeditError` that says what to do.

Secrets: every message built from an endpoint's reply or an exception (errors, retry logs) goes
through :func:`kedit.redact.redact` with the client's key, so an endpoint that echoes the
``Authorization`` header in its error body never puts the key in a message or a log.

Structured output: ``response_format={"type": "json_schema", ...}`` (strict) first; an endpoint
that answers 400 "unsupported" gets ``{"type": "json_object"}`` instead (the caller validates the
reply against the same schema), and the client remembers the mode that worked for the rest of the run.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse, urlsplit

from ...errors import KeditError, did_you_mean
from ...optional import require
from ...redact import redact

if TYPE_CHECKING:
    from tenacity import RetryCallState

log = logging.getLogger(__name__)

OPENAI_URL = "https://api.openai.com/v1"
MODES = ("json_schema", "json_object")
WHAT = "the openai backend"  # for the missing-extra message: "the openai backend needs openai: pip install 'kedit[llm]'"


def _openai():
    return require("openai", WHAT)


def endpoint_host(base_url: str | None) -> str:
    """host[:port] of an endpoint, for messages and manifests (never the key, never a path's secrets)."""
    u = urlparse(base_url or OPENAI_URL)
    return u.netloc.rsplit("@", 1)[-1] or (base_url or "")


_DEFAULT_PORTS = {"http": 80, "https": 443}


def endpoint_url(base_url: str | None) -> str:
    """The endpoint as ``scheme://host[:port]/path``: lower-case scheme and host, no default port, no
    credentials, no query or fragment, no trailing slash. Equal for URLs that name the same endpoint;
    part of the reply cache key (hashed there, never written)."""
    u = urlsplit(base_url or OPENAI_URL)
    scheme = u.scheme.lower()
    host = (u.hostname or "").lower()
    if ":" in host:  # IPv6
        host = f"[{host}]"
    try:
        port = u.port
    except ValueError:  # not a number: keep it as written, minus any credentials
        return f"{scheme}://{u.netloc.rsplit('@', 1)[-1].lower()}{u.path.rstrip('/')}"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return f"{scheme}://{host}{u.path.rstrip('/')}"


@dataclass
class Reply:
    content: str | None
    mode: str  # the structured-output mode that produced it
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str | None
    refusal: str | None = None
    usage: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0


@dataclass
class Counters:
    requests: int = 0  # HTTP requests sent, failed ones included
    calls: int = 0  # requests that returned a completion
    retries: int = 0
    waited_s: float = 0.0  # time slept between retries
    fallbacks: int = 0  # json_schema refused, json_object used


def _retry_after(exc: BaseException) -> float | None:
    resp = getattr(exc, "response", None)
    headers = getattr(resp, "headers", None)
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 1e-3), ("retry-after", 1.0)):
        v = headers.get(name)
        if v is not None:
            try:
                return max(0.0, float(v) * scale)
            except ValueError:  # an HTTP date: too rare from these APIs to parse; fall back to backoff
                return None
    return None


def _transient(exc: BaseException) -> bool:
    openai = _openai()
    if isinstance(exc, openai.RateLimitError):
        return getattr(exc, "code", None) != "insufficient_quota"  # an empty balance does not refill by waiting
    if isinstance(exc, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    if isinstance(exc, openai.APIStatusError):
        return exc.status_code in (408, 409) or exc.status_code >= 500
    return False


def _describe(exc: BaseException) -> str:
    openai = _openai()
    if isinstance(exc, openai.APITimeoutError):
        return "request timed out"
    if isinstance(exc, openai.APIConnectionError):
        cause = exc.__cause__ or exc.__context__
        return f"cannot connect ({type(cause).__name__ if cause else 'connection error'})"
    if isinstance(exc, openai.APIStatusError):
        return f"HTTP {exc.status_code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def _schema_unsupported(exc: BaseException) -> bool:
    openai = _openai()
    if not isinstance(exc, openai.BadRequestError):
        return False
    msg = str(exc.message).lower()
    return ("response_format" in msg or "json_schema" in msg) and any(
        w in msg for w in ("support", "unknown", "unrecognized", "invalid value", "not allowed", "not available"))


class ChatClient:
    """A thread-safe chat-completions client for one endpoint and model."""

    def __init__(self, *, model: str, base_url: str | None, api_key: str, timeout: float = 60.0, max_retries: int = 5,
                 backoff_s: float = 1.0, backoff_max_s: float = 60.0, retry_after_max_s: float = 300.0,
                 concurrency: int = 4):
        openai = _openai()
        httpx2 = require("httpx2", WHAT)
        self._tenacity = tenacity = require("tenacity", WHAT)
        self.model = model
        self.base_url = base_url or OPENAI_URL
        self.host = endpoint_host(self.base_url)
        self.max_retries = max_retries
        self.retry_after_max_s = retry_after_max_s
        self._backoff = tenacity.wait_random_exponential(multiplier=backoff_s, max=backoff_max_s)
        limits = httpx2.Limits(max_connections=max(concurrency, 1) + 2, max_keepalive_connections=max(concurrency, 1))
        self._client = openai.OpenAI(api_key=api_key, base_url=self.base_url, timeout=timeout, max_retries=0,
                                     http_client=httpx2.Client(limits=limits, timeout=timeout))
        self._api_key = api_key  # only to redact it from messages
        self.mode: str | None = None  # the structured-output mode that worked on this endpoint
        self.counters = Counters()
        self._lock = threading.Lock()

    def close(self) -> None:
        self._client.close()

    def redact(self, text: str) -> str:
        """``text`` without this client's key or anything that looks like a secret."""
        return redact(text, self._api_key)

    # -- retries -------------------------------------------------------------------------------
    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        ra = _retry_after(exc) if exc is not None else None
        return min(ra, self.retry_after_max_s) if ra is not None else self._backoff(state)

    def _before_sleep(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        with self._lock:
            self.counters.retries += 1
            self.counters.waited_s += wait
        log.info("%s: %s; retry %d/%d in %.1fs", self.host, self.redact(_describe(exc)), state.attempt_number,
                 self.max_retries, wait)

    def _send(self, **kwargs: Any):
        with self._lock:
            self.counters.requests += 1
        return self._client.chat.completions.create(**kwargs)

    def _send_text(self, **kwargs: Any):
        with self._lock:
            self.counters.requests += 1
        return self._client.completions.create(**kwargs)

    def _with_retries(self, send=None, **kwargs: Any):
        t = self._tenacity
        retrying = t.Retrying(stop=t.stop_after_attempt(self.max_retries + 1), wait=self._wait,
                              retry=t.retry_if_exception(_transient), before_sleep=self._before_sleep, reraise=True)
        return retrying(send or self._send, **kwargs)

    def _as_kedit_error(self, e: BaseException) -> KeditError:
        return KeditError(self.redact(self._error_message(e)))

    def _error_message(self, e: BaseException) -> str:
        openai = _openai()
        if _transient(e):
            return (f"{self.host}: {_describe(e)}, {self.max_retries + 1} attempt(s) in all. "
                    "Check that the endpoint is up and --base-url is right, or raise --max-retries / "
                    "--request-timeout; rerun the same command to continue (finished calls are cached).")
        if isinstance(e, openai.RateLimitError):
            return f"{self.host}: quota exhausted ({e.message}); add credit or use another key, then rerun"
        if isinstance(e, openai.AuthenticationError):
            return f"{self.host} rejected the API key (HTTP 401); set OPENAI_API_KEY to a valid key"
        if isinstance(e, openai.PermissionDeniedError):
            return f"{self.host}: permission denied for model '{self.model}' (HTTP 403): {e.message}"
        text = str(getattr(e, "message", e)).lower()
        model_missing = "model" in text and any(w in text for w in ("not found", "does not exist", "unknown"))
        if isinstance(e, openai.NotFoundError) or (isinstance(e, openai.BadRequestError) and model_missing):
            return self._unknown_model_message(e)
        if isinstance(e, openai.APIStatusError):
            return f"{self.host}: the request was refused, {_describe(e)}"
        return f"{self.host}: {_describe(e)}"

    def _unknown_model_message(self, e: BaseException) -> str:
        msg = f"{self.host} does not serve model '{self.model}' ({_describe(e)}); pass one it serves with --llm-model"
        try:
            served = sorted(m.id for m in self._client.models.list())
        except Exception:  # the listing is a courtesy; the error stands without it
            return msg
        if served:  # "unknown model 'x'; did you mean 'y'? Known: <what the endpoint serves>."
            msg += f"; {did_you_mean('model', self.model, served)}"
        return msg

    # -- one call --------------------------------------------------------------------------------
    def complete(self, messages: list[dict[str, str]], schema: dict[str, Any], *, schema_name: str = "reply",
                 temperature: float = 0.0, max_tokens: int | None = None) -> Reply:
        """One completion; falls back from json_schema to json_object when the endpoint refuses it."""
        openai = _openai()
        mode = self.mode or "json_schema"
        while True:
            if mode == "json_schema":
                fmt = {"type": "json_schema", "json_schema": {"name": schema_name, "strict": True, "schema": schema}}
            else:
                fmt = {"type": "json_object"}
            kwargs: dict[str, Any] = {"model": self.model, "messages": messages, "temperature": temperature, "response_format": fmt}
            if max_tokens:
                kwargs["max_tokens"] = max_tokens
            t0 = time.perf_counter()
            try:
                resp = self._with_retries(**kwargs)
            except openai.APIError as e:
                if mode == "json_schema" and _schema_unsupported(e):
                    log.warning("%s does not support json_schema output (%s); using json_object and validating locally",
                                self.host, self.redact(str(getattr(e, "message", e))))
                    with self._lock:
                        self.counters.fallbacks += 1
                        self.mode = mode = "json_object"
                    continue
                raise self._as_kedit_error(e) from None
            seconds = time.perf_counter() - t0
            with self._lock:
                self.counters.calls += 1
                self.mode = self.mode or mode
            break
        choice = resp.choices[0] if resp.choices else None
        usage = resp.usage.model_dump(exclude_none=True) if resp.usage is not None else {}
        return Reply(
            content=choice.message.content if choice else None, mode=mode,
            prompt_tokens=int(usage.get("prompt_tokens") or 0), completion_tokens=int(usage.get("completion_tokens") or 0),
            finish_reason=choice.finish_reason if choice else None,
            refusal=getattr(choice.message, "refusal", None) if choice else None, usage=usage, seconds=seconds)

    def continue_text(self, prompt: str, *, stop: list[str] | None = None, max_tokens: int = 64,
                      temperature: float = 0.0) -> Reply:
        """A plain-text continuation of ``prompt`` (the completions endpoint, with the same retries and
        counters as ``complete``): for prompting loops that write into a transcript (MeLLo)."""
        openai = _openai()
        t0 = time.perf_counter()
        try:
            resp = self._with_retries(self._send_text, model=self.model, prompt=prompt, max_tokens=max_tokens,
                                      temperature=temperature, stop=stop or None)
        except openai.APIError as e:
            raise self._as_kedit_error(e) from None
        with self._lock:
            self.counters.calls += 1
        choice = resp.choices[0] if resp.choices else None
        usage = resp.usage.model_dump(exclude_none=True) if resp.usage is not None else {}
        return Reply(content=choice.text if choice else None, mode="text",
                     prompt_tokens=int(usage.get("prompt_tokens") or 0),
                     completion_tokens=int(usage.get("completion_tokens") or 0),
                     finish_reason=choice.finish_reason if choice else None, refusal=None, usage=usage,
                     seconds=time.perf_counter() - t0)

