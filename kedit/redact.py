"""Keep secrets out of messages and logs.

:func:`redact` replaces, with ``[REDACTED]``:

- the values of known secrets: those passed in (e.g. the configured OpenAI key) and those of the
  environment variables in :data:`SECRET_ENV` (read at each call), when at least
  :data:`MIN_SECRET_LEN` characters long (a shorter value would match ordinary text);
- and what looks like one, whatever its source: an ``Authorization`` header value (in a header
  line, a JSON body or a Python dict repr), the token after ``Bearer`` or ``Token`` (Label Studio's
  scheme), ``api_key=...`` / ``"api_key": "..."`` (also ``api-key``, ``x-api-key``), OpenAI keys
  (``sk-...``, ``sk-proj-...``), Hugging Face tokens (``hf_...``) and the ``user:password@`` part of
  a URL.

The patterns ask for a token's shape, not a word: ``Bearer``/``Token`` only redact a value with a
digit in it, ``sk-`` a run of 16 characters or more, ``hf_`` 20 letters or digits, so "skeleton",
"hf" or "tokens" pass untouched. ``redact`` is idempotent.

Logs: :func:`install_log_redaction` puts a :class:`RedactingFilter` on *handlers*, not on loggers. A
filter on a logger sees only the records logged on that very logger, never those propagated from
its children (``kedit.builder.llm.client`` logging through ``kedit``); a filter on a handler sees
every record the handler emits, from any logger, kedit's or a library's (openai, httpx). Call it
after the handlers exist (after ``logging.basicConfig``); a handler added later has no filter.
"""

from __future__ import annotations

import logging
import os
import re
import traceback
from typing import Iterable, Sequence

REDACTED = "[REDACTED]"
SECRET_ENV = ("OPENAI_API_KEY", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "LABEL_STUDIO_API_KEY", "LABEL_STUDIO_USER_TOKEN")
MIN_SECRET_LEN = 8

_VALUE_END = r"""[^\s"'\\,;&}\[\]]"""  # a value runs to a quote, a separator or a bracket
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Authorization: <scheme> <credentials>  /  "authorization": "..."  /  'Authorization': '...'
    (re.compile(r"""(?i)(\b(?:proxy-)?authorization(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?)[^"'\\\r\n,}]+"""), r"\1" + REDACTED),
    # api_key=..., "api_key": "...", x-api-key: ..., OPENAI_API_KEY=...
    (re.compile(r"""(?i)((?<![A-Za-z0-9])(?:x-)?api[_-]?key(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?)""" + _VALUE_END + "+"),
     r"\1" + REDACTED),
    # Bearer <token>, Token <token> (Label Studio): a token has a digit in it, a word does not
    (re.compile(r"(?i)(\b(?:bearer|token)\s+)(?=[A-Za-z0-9._~+/=-]*\d)[A-Za-z0-9._~+/=-]{8,}"), r"\1" + REDACTED),
    # OpenAI keys: sk-<48 chars>, sk-proj-<...>, sk-svcacct-<...>
    (re.compile(r"\bsk-[A-Za-z0-9_-]{16,}"), REDACTED),
    # Hugging Face tokens: hf_<34 letters and digits>
    (re.compile(r"\bhf_[A-Za-z0-9]{20,}"), REDACTED),
    # https://user:password@host
    (re.compile(r"(?<=://)[^/\s:@]+:[^/\s@]+(?=@)"), REDACTED),
)


def known_secrets(*secrets: str | None) -> list[str]:
    """The given secrets and those of :data:`SECRET_ENV`, long enough to redact, longest first."""
    values = [s for s in secrets if s] + [os.environ.get(name, "") for name in SECRET_ENV]
    found = {v.strip() for v in values if v and len(v.strip()) >= MIN_SECRET_LEN}
    return sorted(found, key=len, reverse=True)  # a secret that contains another goes first


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with known secrets (``secrets`` and the environment's) and secret-shaped values replaced."""
    if not text:
        return text
    for s in known_secrets(*secrets):
        text = text.replace(s, REDACTED)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


class RedactingFilter(logging.Filter):
    """Redacts a record's formatted message (and its traceback text); never drops a record."""

    def __init__(self, *secrets: str | None):
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the handler to report
            return True
        record.msg = redact(message, *self.secrets)
        record.args = ()
        if record.exc_info and not record.exc_text:  # formatted here, so the Formatter uses the redacted text
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text, *self.secrets)
        if record.stack_info:
            record.stack_info = redact(record.stack_info, *self.secrets)
        return True


def _handlers_reached(logger: logging.Logger) -> Iterable[logging.Handler]:
    """The handlers a record logged on ``logger`` reaches: its own and its ancestors' while it propagates."""
    node: logging.Logger | None = logger
    while node is not None:
        yield from node.handlers
        if not node.propagate:
            return
        node = node.parent  # type: ignore[assignment]


def install_log_redaction(logger_names: Sequence[str] = ("",), *secrets: str | None) -> list[logging.Handler]:
    """Add a :class:`RedactingFilter` (once) to every handler that records of ``logger_names`` reach
    (``""``: the root logger; with no handler configured, Python's last-resort one). Returns the
    handlers that carry it. Call after the logging setup; see the module docs for why handlers."""
    handlers: list[logging.Handler] = []
    for name in logger_names:
        for h in _handlers_reached(logging.getLogger(name)):
            if h not in handlers:
                handlers.append(h)
    if not handlers and logging.lastResort is not None:
        handlers.append(logging.lastResort)
    for h in handlers:
        if not any(isinstance(f, RedactingFilter) for f in h.filters):
            h.addFilter(RedactingFilter(*secrets))
    return handlers
