"""KE: KnowledgeEditor (De Cao, Aziz and Titov 2021, "Editing Factual Knowledge in Language Models",
EMNLP 2021), after the authors' code (nicola-decao/KnowledgeEditor, ``ConditionedParameter``).

A hyper-network conditioned on the edit predicts how to use the fine-tuning gradient. The condition
c is an encoding of the edit's text x ⊕ y (prompt and new target): the base model's (frozen) token
embeddings, a linear map, a bidirectional LSTM, max-pooled over the tokens and mapped to
``condition_dim``. For each edited map W (out × in), an MLP of c gives vectors α, β ∈ R^out,
γ, δ ∈ R^in and a scalar η:

    [α, γ, β, δ, η] = V tanh(U c)
    A = softmax(α) γᵀ,   B = softmax(β) δᵀ                                  (out × in, rank one each)
    ΔW = max_scale · σ(η) · (∇_W L ⊙ A + B),     W̃ = W − ΔW

with ∇_W L = Σ_t δ_t u_tᵀ the gradient of the edit loss (``trained.weights``). Trained with MEND's
form of the objective, c_edit · L_edit + c_loc · KL on unrelated texts (the MEND paper's KE baseline
and EasyEdit's KE train this way; the KE paper phrases the KL as a constraint with a margin and
tunes a Lagrange multiplier). The authors' weight normalisation of the MLP's layers is left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn

from ..errors import KeditError
from .base import register_editor
from .trained.editor import WeightUpdateEditor
from .trained.trainer import TrainedHyperParams
from .trained.weights import UpdateLearner


@dataclass(frozen=True)
class KEHyperParams(TrainedHyperParams):
    editor: ClassVar[str] = "ke"
    layer_fields: ClassVar[tuple[str, ...]] = ("layers",)
    negative_layers: ClassVar[bool] = True

    layers: tuple[int, ...] = (-3, -2, -1)
    roles: tuple[str, ...] = ("mlp_in", "mlp_out")
    lstm_dim: int = 128  # per direction (authors: 256)
    condition_dim: int = 256  # (authors: 1024)
    hidden_dim: int = 128  # of each map's conditioner MLP (authors: 128)
    max_scale: float = 1.0
    c_edit: float = 0.1
    c_loc: float = 1.0
    train_lr: float = 1e-4

    def check(self) -> None:
        super().check()
        if min(self.lstm_dim, self.condition_dim, self.hidden_dim) < 1 or not self.max_scale > 0:
            raise KeditError("ke: lstm_dim, condition_dim and hidden_dim must be >= 1, max_scale > 0")
        if not self.layers or not self.roles:
            raise KeditError("ke: name at least one layer and one role")


class ConditionEncoder(nn.Module):
    """Token embeddings (the model's, frozen, read at call time) -> BiLSTM -> max-pool -> c."""

    def __init__(self, d_model: int, lstm_dim: int, condition_dim: int):
        super().__init__()
        self.proj = nn.Linear(d_model, lstm_dim)
        self.lstm = nn.LSTM(lstm_dim, lstm_dim, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * lstm_dim, condition_dim)

    def forward(self, emb: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h, _ = self.lstm(self.proj(emb.float()))
        h = h.masked_fill(~mask.bool()[..., None], float("-inf")).amax(1)
        return torch.tanh(self.out(h))


class ConditionedUpdate(nn.Module):
    def __init__(self, condition_dim: int, hidden_dim: int, d_out: int, d_in: int, max_scale: float):
        super().__init__()
        self.d_out, self.d_in, self.max_scale = d_out, d_in, max_scale
        self.mlp = nn.Sequential(nn.Linear(condition_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, 2 * (d_out + d_in) + 1))

    def forward(self, c: torch.Tensor, grad: torch.Tensor) -> torch.Tensor:
        alpha, gamma, beta, delta, eta = self.mlp(c).split([self.d_out, self.d_in, self.d_out, self.d_in, 1], -1)
        a = alpha.softmax(-1)[:, None] * gamma[None, :]
        b = beta.softmax(-1)[:, None] * delta[None, :]
        return self.max_scale * torch.sigmoid(eta) * (grad * a + b)


class KELearner(UpdateLearner):
    editor = "ke"

    def __init__(self, model: nn.Module, hp: KEHyperParams):
        super().__init__(model, hp)
        self.embed = [model.get_input_embeddings()]  # a list: not a submodule, never saved or trained
        d_model = self.embed[0].weight.shape[1]
        self.dims = {"lstm_dim": hp.lstm_dim, "condition_dim": hp.condition_dim, "hidden_dim": hp.hidden_dim}
        self.encoder = ConditionEncoder(d_model, hp.lstm_dim, hp.condition_dim)
        self.updaters = nn.ModuleList(ConditionedUpdate(hp.condition_dim, hp.hidden_dim, *self.shapes[n], hp.max_scale)
                                      for n in self.names)

    def architecture(self) -> dict[str, Any]:
        return {**self.base_architecture(), **self.dims}

    def updates(self, factors, rows) -> dict[str, torch.Tensor]:
        with torch.no_grad():
            emb = self.embed[0](rows.ids)
        c = self.encoder(emb, rows.mask).mean(0)  # one condition for the edits of a call
        return {n: upd(c, factors[n][1].T @ factors[n][0]) for n, upd in zip(self.names, self.updaters)}


@register_editor("ke")
class KE(WeightUpdateEditor):
    hparams_cls = KEHyperParams
    learner_cls = KELearner
