"""MemPrompt: a growing memory of feedback retrieved into the prompt (Madaan et al. 2022,
"Memory-assisted prompt editing to improve GPT-3 after deployment", EMNLP 2022).

Each edit adds an entry (question pattern, feedback) to the memory: the pattern is the edit's prompt,
the feedback the corrected fact "{prompt} {target_new}.". A query retrieves the entry whose pattern is
most similar (all-MiniLM-L6-v2 cosine, ``kedit.editors.retrieval``) if the similarity reaches
``min_similarity``, and the feedback is written with it; with no entry that close the query is left
unchanged, which is what keeps unrelated answers (locality). kedit's prompts are cloze prompts whose
answer comes last, so the feedback goes above the query ("{feedback}\\n{query}"), where the paper
appends it to a question.

Default threshold 0.7: on the SmolLM2 demo benchmark the MiniLM similarity of a paraphrase to its
own edit prompt has median 0.91, a locality prompt's to its case's edit prompt median 0.41 (the
closest other edit: 0.41, at most 0.83). No weights change; pre-edit scores are taken without any
memory, as IKE's.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .base import EditRequest, register_editor
from .rag import RAGHyperParams
from .retrieval import MemoryEditor


@dataclass(frozen=True)
class MemPromptHyperParams(RAGHyperParams):
    editor: ClassVar[str] = "memprompt"

    k: int = 1  # the closest entry, as the paper
    min_similarity: float = 0.7


@register_editor("memprompt")
class MemPrompt(MemoryEditor):
    hparams_cls = MemPromptHyperParams

    def key(self, r: EditRequest) -> str:
        return r.prompt  # the question pattern; the feedback written is the corrected fact (MemoryEditor.line)
