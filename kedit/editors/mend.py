"""MEND: Model Editor Networks with gradient decomposition (Mitchell et al. 2022, "Fast Model Editing
at Scale", ICLR 2022), after the authors' code (eric-mitchell/mend) as EasyEdit carries it.

For each edited map W (out × in) the edit loss's gradient is Σ_t δ_t u_tᵀ (``trained.weights``).
MEND's editor network g maps each token's pair to a pseudo pair,

    z_t = [ N_u(u_t) ; N_δ(δ_t) ]                        (N: per-dimension standardisation by running
                                                          mean and std of the training inputs)
    h   = z_t + σ(s_m ⊙ (U₁V₁ z_t + b₁) + o_m)           (low-rank, identity at init: U = 0)
    g   = h + s'_m ⊙ (U₂V₂ h + b₂) + o'_m                  (n_hidden = 1: two such layers)
    (ũ_t, δ̃_t) = split(g)

and the edit is W̃ = W − α_ℓ Σ_t δ̃_t ũ_tᵀ with a learned step α_ℓ per map (initialised at
``edit_lr``, trained at ``lr_lr``). Maps of one shape share g (``shared``), told apart by their
mode m (a scale s_m and shift o_m per map). Training: c_edit · L_edit + c_loc · KL on unrelated
texts (``trained.weights``), Adam at ``train_lr``. The paper's networks have rank 1920 and train for
100k+ steps on zsRE; kedit's defaults are sized for a CPU (rank 256, at most 500 steps on kedit's
own KG edits), so expect a weaker editor than the paper's.
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
class MENDHyperParams(TrainedHyperParams):
    editor: ClassVar[str] = "mend"
    layer_fields: ClassVar[tuple[str, ...]] = ("layers",)
    negative_layers: ClassVar[bool] = True

    layers: tuple[int, ...] = (-3, -2, -1)  # the last three blocks' MLPs, as the paper
    roles: tuple[str, ...] = ("mlp_in", "mlp_out")
    rank: int = 256  # of each low-rank layer (paper: 1920)
    n_hidden: int = 1
    shared: bool = True  # one network per weight shape, a mode per map
    edit_lr: float = 1e-4  # initial α
    lr_lr: float = 1e-4  # Adam on α
    c_edit: float = 0.1
    c_loc: float = 1.0

    def check(self) -> None:
        super().check()
        if self.rank < 1 or self.n_hidden < 0 or not self.layers or not self.roles:
            raise KeditError("mend: rank >= 1, n_hidden >= 0, and non-empty layers and roles are needed")


class RunningNorm(nn.Module):
    """Per-dimension mean and standard deviation of every row seen in training (Welford, batched)."""

    def __init__(self, dim: int):
        super().__init__()
        self.register_buffer("count", torch.zeros((), dtype=torch.float64))
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("m2", torch.zeros(dim, dtype=torch.float64))

    @torch.no_grad()
    def update(self, x: torch.Tensor) -> None:
        x = x.double()
        n, mean_b = x.shape[0], x.mean(0)
        m2_b = ((x - mean_b) ** 2).sum(0)
        total = self.count + n
        diff = mean_b - self.mean
        self.mean += diff * n / total
        self.m2 += m2_b + diff ** 2 * self.count * n / total
        self.count.fill_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.count < 2:
            return x
        std = (self.m2 / (self.count - 1)).sqrt()
        return (x - self.mean.to(x.dtype)) / (std.to(x.dtype) + 1e-7)


class LowRankIdentity(nn.Module):
    """x + act(scale_m ⊙ (U V x + b) + shift_m), with U = 0 at init (the identity)."""

    def __init__(self, dim: int, rank: int, n_modes: int, relu: bool):
        super().__init__()
        self.u = nn.Parameter(torch.zeros(dim, rank))
        self.v = nn.Parameter(torch.empty(rank, dim))
        nn.init.xavier_uniform_(self.v)
        self.b = nn.Parameter(torch.zeros(dim))
        self.scale = nn.Parameter(torch.ones(n_modes, dim))
        self.shift = nn.Parameter(torch.zeros(n_modes, dim))
        self.relu = relu

    def forward(self, x: torch.Tensor, mode: int) -> torch.Tensor:
        pre = (x @ self.v.T) @ self.u.T + self.b
        pre = pre * self.scale[mode] + self.shift[mode]
        return x + (torch.relu(pre) if self.relu else pre)


class GradientNet(nn.Module):
    def __init__(self, d_in: int, d_out: int, rank: int, n_hidden: int, n_modes: int):
        super().__init__()
        self.d_in = d_in
        self.norm_u, self.norm_d = RunningNorm(d_in), RunningNorm(d_out)
        self.layers = nn.ModuleList(LowRankIdentity(d_in + d_out, rank, n_modes, relu=i < n_hidden) for i in range(n_hidden + 1))

    def forward(self, u: torch.Tensor, d: torch.Tensor, mode: int) -> tuple[torch.Tensor, torch.Tensor]:
        if self.training:
            self.norm_u.update(u)
            self.norm_d.update(d)
        z = torch.cat([self.norm_u(u), self.norm_d(d)], -1)
        for layer in self.layers:
            z = layer(z, mode)
        return z[:, : self.d_in], z[:, self.d_in:]


class MENDLearner(UpdateLearner):
    editor = "mend"

    def __init__(self, model: nn.Module, hp: MENDHyperParams):
        super().__init__(model, hp)
        self.rank, self.n_hidden, self.shared = hp.rank, hp.n_hidden, hp.shared
        groups: dict[str, list[str]] = {}
        for n in self.names:
            key = f"{self.shapes[n][0]}x{self.shapes[n][1]}" if hp.shared else f"p{self.names.index(n)}"
            groups.setdefault(key, []).append(n)
        self.net_of = {n: (key, members.index(n)) for key, members in groups.items() for n in members}
        self.nets = nn.ModuleDict({key: GradientNet(self.shapes[m[0]][1], self.shapes[m[0]][0], hp.rank, hp.n_hidden, len(m))
                                   for key, m in groups.items()})
        self.edit_lrs = nn.Parameter(torch.full((len(self.names),), float(hp.edit_lr)))

    def architecture(self) -> dict[str, Any]:
        return {**self.base_architecture(), "rank": self.rank, "n_hidden": self.n_hidden, "shared": self.shared}

    def updates(self, factors, rows) -> dict[str, torch.Tensor]:
        out = {}
        for i, name in enumerate(self.names):
            u, d = factors[name]
            key, mode = self.net_of[name]
            pu, pd = self.nets[key](u, d, mode)
            out[name] = self.edit_lrs[i] * (pd.T @ pu)
        return out

    def param_groups(self, hp: MENDHyperParams) -> list[dict[str, Any]]:
        return [{"params": list(self.nets.parameters()), "lr": hp.train_lr}, {"params": [self.edit_lrs], "lr": hp.lr_lr}]


@register_editor("mend")
class MEND(WeightUpdateEditor):
    hparams_cls = MENDHyperParams
    learner_cls = MENDLearner
