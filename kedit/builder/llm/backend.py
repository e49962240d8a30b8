"""The ``openai`` generation backend: one structured-output LLM call per edit record proposes its probes.

Works with any OpenAI-compatible chat-completions endpoint (OpenAI itself by default, or a local
llama-server / vLLM / Ollama via ``--base-url``). Per edit record, one call (prompt
``data/prompts/generate.v<N>.md``, reply schema ``generate.v<N>.schema.json``) returns:

==================  =============================================================  ==================
reply field         probes                                                         expect / condition
==================  =============================================================  ==================
paraphrases         generalization (answer target_new; only if the case has none)  new
aliases             subject_replace: the edit prompt asked via each alias          new; alias prompt -> target_true
reverse_question    reverse_relation: asked from target_new's side (answer subject) new
one_hop             one_hop: (target_new, relation2, answer) composed question      new; prerequisite -> answer (triple)
other_attributes    other_relation: other facts of the subject                     keep
unrelated_fact      locality (only if the case has none)                           keep
==================  =============================================================  ==================

Paraphrases and an unrelated fact are always asked for, and used only where the case lacks them:
the call, and so its cache key, depends only on the edit record itself (subject, relation, targets,
prompt), never on probes a seed file happens to carry.

Every reply is cached on disk (:mod:`.cache`) before it is used, keyed by the endpoint (its
normalised URL, hashed: a local server answering as "gpt-4o" never feeds a run against OpenAI), the
model, the prompt version and the sha256 of its files, the edit record and the sampling parameters:
a rerun (or a run killed and restarted) repeats no completed call. The raw reply and the parse error
are redacted (:func:`kedit.redact.redact`) before they are cached or kept in a case's provenance, so
an endpoint that echoes the key never gets it written to disk. A reply that does not parse or does
not fit the schema marks the case failed, raw text kept (``backends.failed``); it is reused from the
cache unless ``--retry-failed``. A single bad item in a good reply (an empty answer, a question that
gives its own answer away, an alias that is the subject) is skipped and counted.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import re
import threading
from pathlib import Path
from typing import Any, Sequence
from urllib.parse import urlparse

from ...errors import KeditError
from ...optional import require
from ...records import Condition, EditCase, Probe
from ..backends import BACKENDS, failed, make_probe, with_probes
from .cache import ReplyCache, cache_key
from .client import MODES, ChatClient, Reply, endpoint_host, endpoint_url
from .pricing import PriceTable
from .prompts import PromptSpec, case_fields, load_prompt

log = logging.getLogger(__name__)

DEFAULT_MODEL = "gpt-4o"
CACHE_KIND = "kedit.llm.generate/2"  # /2: the endpoint is part of the key
DEFAULT_MAX_TOKENS = 1024
TYPICAL_OUTPUT_TOKENS = 400  # a generate.v1 reply from a GPT-4-class model is ~250-400 tokens
LOCAL_KEY = "kedit-local"  # placeholder key for a local server that ignores keys


def is_local(base_url: str | None) -> bool:
    if not base_url:
        return False
    host = urlparse(base_url).hostname or ""
    if host == "localhost" or host.endswith(".local") or host.endswith(".localhost"):
        return True
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return False
    return ip.is_loopback or ip.is_private or ip.is_unspecified


def resolve_api_key(base_url: str | None) -> str:
    """``OPENAI_API_KEY``; a placeholder for a local server; else a KeditError that says what to set."""
    key = os.environ.get("OPENAI_API_KEY", "").strip()
    if key:
        return key
    if is_local(base_url):
        return LOCAL_KEY
    where = "OpenAI" if not base_url else endpoint_host(base_url)
    raise KeditError(f"OPENAI_API_KEY is not set; set it to your API key for {where} "
                     "(any non-empty value for a server that ignores keys), or check --base-url")


def parse_reply(content: str | None, schema: dict[str, Any]) -> dict[str, Any]:
    """The reply as a dict valid against ``schema``; ValueError saying why not."""
    jsonschema = require("jsonschema", "the openai backend")
    if content is None or not content.strip():
        raise ValueError("empty reply")
    text = content.strip()
    fence = re.fullmatch(r"```(?:json)?\s*(.*?)\s*```", text, flags=re.S)
    if fence:
        text = fence.group(1)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"reply is not JSON: {e}") from None
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data), key=lambda e: list(e.absolute_path))
    if errors:
        e = errors[0]
        where = "/".join(str(p) for p in e.absolute_path) or "<root>"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ValueError(f"reply does not fit the schema at {where}: {e.message}{more}")
    return data


def _norm(s: str) -> str:
    return " ".join(s.casefold().split())


def _gives_away(question: str, answer: str) -> bool:
    """The question already contains its answer (so it tests nothing)."""
    return bool(answer.strip()) and _norm(answer) in _norm(question)


@BACKENDS.register("openai")
class OpenAIBackend:
    """Probes from an OpenAI-compatible LLM (GPT-4 class by default); see the module docs."""

    name = "openai"
    prompt_name = "generate"  # data/prompts/<prompt_name>.v<N>.md (a subclass asks another question)
    cache_kind = CACHE_KIND
    schema_name = "kedit_generate"

    def __init__(self, *, llm_model: str = DEFAULT_MODEL, base_url: str | None = None, api_key: str | None = None,
                 prompt_version: str | None = None, temperature: float = 0.0, max_tokens: int | None = DEFAULT_MAX_TOKENS,
                 request_timeout: float = 60.0, max_retries: int = 5, prices: str | Path | None = None,
                 use_cache: bool = True, retry_failed: bool = False, cache_root: str | Path | None = None,
                 concurrency: int = 4, backoff_s: float = 1.0, backoff_max_s: float = 60.0):
        self.llm_model = llm_model
        self.base_url = base_url
        self._api_key = api_key  # resolved from the environment when the first call is made; never written
        self.prompt: PromptSpec = load_prompt(prompt_version, self.prompt_name)
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.request_timeout = request_timeout
        self.max_retries = max_retries
        self.prices = PriceTable(prices)
        self.price = self.prices.price(llm_model)
        if not self.price.known and not is_local(base_url):
            log.warning("no price for model '%s' in %s; its cost is counted as 0 (pass --prices FILE)",
                        llm_model, ", ".join(self.prices.sources))
        self.use_cache = use_cache
        self.retry_failed = retry_failed
        self.cache = ReplyCache(cache_root)
        self.concurrency = concurrency
        self._backoff = (backoff_s, backoff_max_s)
        self._client: ChatClient | None = None
        self._lock = threading.Lock()
        self.stats = {"cases": 0, "cache_hits": 0, "failures": 0, "skipped_items": 0, "prompt_tokens": 0,
                      "completion_tokens": 0, "cost_usd": 0.0, "cached_cost_usd": 0.0}
        self.modes_used: set[str] = set()
        self.skipped: dict[str, int] = {}

    # -- CLI -------------------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser) -> None:
        g = parser.add_argument_group("openai backend", "any OpenAI-compatible endpoint; the key is read from OPENAI_API_KEY")
        g.add_argument("--base-url", default=None, help="endpoint, e.g. http://127.0.0.1:8080/v1 (default: OpenAI's)")
        g.add_argument("--llm-model", default=DEFAULT_MODEL, help=f"model name at the endpoint (default: {DEFAULT_MODEL})")
        g.add_argument("--prompt-version", default=None, help="prompt in data/prompts/, e.g. generate.v1 (default: the latest)")
        g.add_argument("--temperature", type=float, default=0.0, help="sampling temperature (default: 0)")
        g.add_argument("--max-tokens", type=int, default=DEFAULT_MAX_TOKENS,
                       help=f"completion tokens per call, at most (default: {DEFAULT_MAX_TOKENS})")
        g.add_argument("--request-timeout", type=float, default=60.0, help="seconds per HTTP request (default: 60)")
        g.add_argument("--max-retries", type=int, default=5,
                       help="retries per call on 429 / 5xx / timeouts, with exponential backoff (default: 5)")
        g.add_argument("--prices", default=None, metavar="FILE",
                       help="price table JSON (USD per 1M tokens) whose entries replace data/prices.json's")
        g.add_argument("--no-cache", action="store_true", help="neither read nor write the reply cache")
        g.add_argument("--retry-failed", action="store_true", help="call again where the cached reply did not parse")

    @classmethod
    def from_args(cls, args) -> "OpenAIBackend":
        base_url = getattr(args, "base_url", None)
        key = None
        if not getattr(args, "dry_run", False):
            key = resolve_api_key(base_url)  # fail before any work, not at the first call
        max_tokens = getattr(args, "max_tokens", DEFAULT_MAX_TOKENS)
        return cls(llm_model=getattr(args, "llm_model", DEFAULT_MODEL), base_url=base_url, api_key=key,
                   prompt_version=getattr(args, "prompt_version", None), temperature=getattr(args, "temperature", 0.0),
                   max_tokens=max_tokens if max_tokens and max_tokens > 0 else None,
                   request_timeout=getattr(args, "request_timeout", 60.0), max_retries=getattr(args, "max_retries", 5),
                   prices=getattr(args, "prices", None), use_cache=not getattr(args, "no_cache", False),
                   retry_failed=getattr(args, "retry_failed", False), concurrency=getattr(args, "concurrency", 4) or 1)

    # -- plumbing --------------------------------------------------------------------------------
    @property
    def client(self) -> ChatClient:
        with self._lock:
            if self._client is None:
                key = self._api_key or resolve_api_key(self.base_url)
                self._client = ChatClient(model=self.llm_model, base_url=self.base_url, api_key=key,
                                          timeout=self.request_timeout, max_retries=self.max_retries,
                                          backoff_s=self._backoff[0], backoff_max_s=self._backoff[1],
                                          concurrency=self.concurrency)
            return self._client

    def _key(self, fields: dict[str, str], mode: str) -> str:
        return cache_key(kind=self.cache_kind, endpoint=endpoint_url(self.base_url), model=self.llm_model,
                         prompt_version=self.prompt.version, prompt_sha256=self.prompt.sha256, inputs=fields,
                         params={"temperature": self.temperature, "max_tokens": self.max_tokens, "mode": mode})

    def _mode_order(self) -> list[str]:
        first = self._client.mode if self._client is not None and self._client.mode else MODES[0]
        return [first] + [m for m in MODES if m != first]

    def _lookup(self, fields: dict[str, str]) -> dict[str, Any] | None:
        """A usable cached record for this call (a failed one only without --retry-failed)."""
        if not self.use_cache:
            return None
        for mode in self._mode_order():
            rec = self.cache.get(self._key(fields, mode))
            if rec is not None and (rec.get("parse", {}).get("ok") or not self.retry_failed):
                return rec
        return None

    def _estimate_input_tokens(self, messages: list[dict[str, str]]) -> int:
        chars = sum(len(m["content"]) for m in messages)
        schema_chars = len(json.dumps(self.prompt.schema, separators=(",", ":")))  # json_schema mode sends it too
        return (chars + schema_chars) // 4 + 4 * len(messages) + 3

    # -- the protocol ----------------------------------------------------------------------------
    def prepare(self, cases: Sequence[EditCase]) -> None:
        """Nothing to index: each case is one self-contained call."""

    def plan(self, cases: Sequence[EditCase]) -> dict[str, Any]:
        calls = cached = in_tokens = 0
        for case in cases:
            fields = case_fields(case)
            if self._lookup(fields) is not None:
                cached += 1
                continue
            calls += 1
            in_tokens += self._estimate_input_tokens(self.prompt.render(fields))
        out_cap = self.max_tokens or 4 * TYPICAL_OUTPUT_TOKENS
        out_typ = calls * min(TYPICAL_OUTPUT_TOKENS, out_cap)
        out_max = calls * out_cap
        return {
            "backend": self.name, "llm_model": self.llm_model, "base_url_host": endpoint_host(self.base_url),
            "prompt_version": self.prompt.version, "cases": len(cases), "cached": cached, "calls": calls,
            "estimated_input_tokens": in_tokens, "estimated_output_tokens": out_typ, "max_output_tokens": out_max,
            "estimated_cost_usd": round(self.price.cost(in_tokens, out_typ), 6),
            "max_cost_usd": round(self.price.cost(in_tokens, out_max), 6),
            "price_per_1m_tokens": {"model": self.price.model, "input": self.price.input, "output": self.price.output,
                                    "known": self.price.known},
        }

    def expand(self, case: EditCase) -> EditCase:
        rec, _hit = self._reply(case_fields(case))
        return self._apply(case, rec)

    def _reply(self, fields: dict[str, str]) -> tuple[dict[str, Any], bool]:
        """The call's record (from the cache, else from the endpoint, then cached) and whether it was
        a cache hit; its tokens and cost are counted."""
        rec = self._lookup(fields)
        hit = rec is not None
        if rec is None:
            reply = self.client.complete(self.prompt.render(fields), self.prompt.schema, schema_name=self.schema_name,
                                         temperature=self.temperature, max_tokens=self.max_tokens)
            rec = self._record(fields, reply)
            if self.use_cache:
                self.cache.put(rec["key"], rec)
        with self._lock:
            self.stats["cases"] += 1
            self.modes_used.add(rec["mode"])
            if hit:
                self.stats["cache_hits"] += 1
                self.stats["cached_cost_usd"] += rec["cost_usd"]
            else:
                self.stats["prompt_tokens"] += rec["prompt_tokens"]
                self.stats["completion_tokens"] += rec["completion_tokens"]
                self.stats["cost_usd"] += rec["cost_usd"]
        return rec, hit

    def each(self, fn, items: Sequence[Any]) -> list[Any]:
        """``fn`` of every item, ``concurrency`` calls at once (cached replies cost nothing), in order."""
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool:
            return list(pool.map(fn, items))

    def parsed(self, rec: dict[str, Any]) -> dict[str, Any] | None:
        """The reply of a record that parsed (None: it did not; the reason is in ``rec["parse"]``)."""
        if not rec["parse"]["ok"]:
            return None
        try:
            return parse_reply(rec["raw"], self.prompt.schema)
        except ValueError as e:  # a cache entry edited by hand
            rec["parse"] = {"ok": False, "error": str(e)}
            return None

    def _record(self, fields: dict[str, str], reply: Reply) -> dict[str, Any]:
        scrub = self.client.redact
        content = scrub(reply.content) if reply.content else reply.content  # what is parsed is what is kept
        try:
            if reply.refusal:
                raise ValueError(f"the model refused: {scrub(reply.refusal)}")
            parse_reply(content, self.prompt.schema)
            parse = {"ok": True, "error": None}
        except ValueError as e:
            err = scrub(str(e))
            if reply.finish_reason == "length":
                err += f" (the reply was cut at --max-tokens {self.max_tokens}; raise it)"
            parse = {"ok": False, "error": err}
        return {
            "key": self._key(fields, reply.mode), "model": self.llm_model, "prompt_version": self.prompt.version,
            "prompt_sha256": self.prompt.sha256, "inputs": fields, "mode": reply.mode, "temperature": self.temperature,
            "max_tokens": self.max_tokens, "raw": content, "finish_reason": reply.finish_reason,
            "usage": reply.usage, "prompt_tokens": reply.prompt_tokens, "completion_tokens": reply.completion_tokens,
            "cost_usd": self.price.cost(reply.prompt_tokens, reply.completion_tokens), "seconds": round(reply.seconds, 3),
            "parse": parse,
        }

    def _apply(self, case: EditCase, rec: dict[str, Any]) -> EditCase:
        gen = {"status": "ok", "generator": self.name, "model": self.llm_model, "prompt_version": self.prompt.version,
               "cache_key": rec["key"], "mode": rec["mode"], "prompt_tokens": rec["prompt_tokens"],
               "completion_tokens": rec["completion_tokens"], "cost_usd": round(rec["cost_usd"], 8)}
        rec = dict(rec)
        data = self.parsed(rec)
        if data is None:
            with self._lock:
                self.stats["failures"] += 1
            meta = {k: v for k, v in gen.items() if k != "status"}
            return failed(case, rec["parse"]["error"], rec["raw"], **meta)
        probes, skipped = self._probes(case, data, rec["key"])
        with self._lock:
            self.stats["skipped_items"] += sum(skipped.values())
            for why, n in skipped.items():
                self.skipped[why] = self.skipped.get(why, 0) + n
        if skipped:
            gen["skipped_items"] = skipped
        return with_probes(case, probes, {"generation": gen})

    def _probes(self, case: EditCase, data: dict[str, Any], key: str) -> tuple[list[Probe], dict[str, int]]:
        prov = {"generator": self.name, "model": self.llm_model, "prompt_version": self.prompt.version, "cache_key": key}
        subject, new, true = case.subject, case.target_new, case.target_true
        probes: list[Probe] = []
        skipped: dict[str, int] = {}

        def skip(why: str) -> None:
            skipped[why] = skipped.get(why, 0) + 1

        def add(split: str, prompt: str, answers: list[str], **kw: Any) -> None:
            prompt = (prompt or "").strip()
            if not prompt or not answers or not answers[0].strip():
                return skip(f"{split}: empty question or answer")
            if _gives_away(prompt, answers[0]):
                return skip(f"{split}: the question contains its answer")
            probes.append(make_probe(split, prompt, answers, provenance={**prov, **kw.pop("extra", {})}, **kw))

        if not case.probes_of("generalization"):
            for para in data["paraphrases"]:
                if _norm(para) == _norm(case.prompt):
                    skip("generalization: same as the edit prompt")
                else:
                    add("generalization", para, [new], foil=true)
        aliases = []
        for item in data["aliases"]:
            alias, q = item["alias"].strip(), item["question"].strip()
            if not alias or _norm(alias) == _norm(subject):
                skip("subject_replace: alias empty or the subject itself")
            elif _norm(alias) not in _norm(q):
                skip("subject_replace: question does not use the alias")
            else:
                aliases.append(alias)
                add("subject_replace", q, [new], foil=true, conditions=[Condition(prompt=q, answers=(true,))],
                    extra={"alias": alias})
        rq = data["reverse_question"]
        if _gives_away(rq, subject):
            skip("reverse_relation: the question contains its answer")
        else:
            add("reverse_relation", rq, [subject, *aliases])
        for item in data["one_hop"]:
            rel, ans = item["relation"].strip(), item["answer"].strip()
            q, pre = item["question"].strip(), item["prerequisite_question"].strip()
            if not (rel and ans and q and pre):
                skip("one_hop: empty field")
            elif _gives_away(q, new):
                skip("one_hop: the question names the new object")
            elif _gives_away(pre, ans):
                skip("one_hop: the prerequisite contains its answer")
            else:
                triple = (new, rel, ans)
                add("one_hop", q, [ans], conditions=[Condition(prompt=pre, answers=(ans,), triple=triple)],
                    extra={"triple": list(triple)})
        for item in data["other_attributes"]:
            ans = item["answer"].strip()
            if _norm(ans) in (_norm(true), _norm(new)):
                skip("other_relation: the answer is the edited object")
            else:
                add("other_relation", item["question"], [ans], extra={"relation": item["relation"].strip()})
        if not case.probes_of("locality"):
            fact = data["unrelated_fact"]
            q = fact["question"]
            if _norm(subject) in _norm(q) or _norm(new) in _norm(q):
                skip("locality: not unrelated to the edit")
            else:
                add("locality", q, [fact["answer"]])
        return probes, skipped

    def figures(self) -> dict[str, Any]:
        c = self._client.counters if self._client is not None else None
        with self._lock:
            s = dict(self.stats)
            modes = sorted(self.modes_used)
        return {
            "generator": self.name, "llm_model": self.llm_model, "base_url_host": endpoint_host(self.base_url),
            "prompt_versions": [self.prompt.version], "prompt_sha256": self.prompt.sha256,
            "temperature": self.temperature, "max_tokens": self.max_tokens,
            "cases": s["cases"], "calls": c.calls if c else 0, "requests": c.requests if c else 0,
            "cache_hits": s["cache_hits"], "failures": s["failures"], "retries": c.retries if c else 0,
            "retry_wait_s": round(c.waited_s, 2) if c else 0.0, "skipped_items": s["skipped_items"],
            "skipped_by_reason": dict(sorted(self.skipped.items())),
            "prompt_tokens": s["prompt_tokens"], "completion_tokens": s["completion_tokens"],
            "cost_usd": round(s["cost_usd"], 6), "cached_cost_usd": round(s["cached_cost_usd"], 6),
            "price_per_1m_tokens": {"model": self.price.model, "input": self.price.input, "output": self.price.output,
                                    "known": self.price.known},
            # the mode the endpoint accepted in this run, else the mode(s) of the cached replies used
            "structured_output": (self._client.mode if self._client is not None and self._client.mode else None)
            or (modes[0] if len(modes) == 1 else modes or None),
            "structured_output_fallbacks": c.fallbacks if c else 0,
            "cache": "off" if not self.use_cache else str(self.cache.root),
        }
