"""The key statistics the family's solves weight their updates by: ``C = E[k kᵀ]`` of each edited
layer's ``mlp_out`` input, from the disk cache or from one pass over the corpus for every layer
(``kedit.editors.stats.layer_stats``), made well-conditioned (``λI`` with a warning) unless the
ridge is 0 (then a singular ``C`` is reported and each edit refuses to solve with it); and what is
derived from one ``C`` at a cost worth keeping (AlphaEdit's null-space projector: an SVD of d × d,
minutes at Llama-8B's 14,336), cached beside the statistics."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ...atomic import atomic_open
from ...models.loading import weights_fingerprint
from ...models.roles import path_of
from ...settings import cache_dir
from ..locate.solves import null_space_projector
from ..stats import layer_stats, singularity, well_conditioned

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StatsSpec:
    """Where the statistics come from and how they are conditioned (plain numbers, any editor)."""

    corpus: str = "wiki-offline"
    n_samples: int = 1000
    max_tokens: int = 256
    dtype: str = "float64"
    batch_tokens: int = 0  # 0: the runtime's --batch-tokens
    rcond: float = 1e-10
    ridge: float = 1e-4


@dataclass
class LayerCovariance:
    C: torch.Tensor  # (d_in, d_in) float64 on the model's device, λI added where needed
    ridge_lambda: float
    singular: str | None  # why C is singular, when the ridge is 0 (an edit must not solve with it)
    info: dict[str, Any]


def key_covariances(model: nn.Module, tok, layers: Sequence[int], spec: StatsSpec, *, texts: Sequence[str] | None = None,
                    fingerprint: str | None = None) -> dict[int, LayerCovariance]:
    """``C`` of each layer in one pass over the text (cached per model, layer, corpus, samples, dtype).
    ``fingerprint`` identifies the weights (default: a digest of every weight but the edited
    matrices, whose inputs the statistics do not depend on)."""
    exclude = [path_of(model, "mlp_out", layer) + "." for layer in layers]
    fp = fingerprint or weights_fingerprint(model, exclude=exclude)
    stats = layer_stats(model, tok, list(layers), fingerprint=fp, corpus=spec.corpus, n_samples=spec.n_samples,
                        max_tokens=spec.max_tokens, dtype=spec.dtype, texts=texts, batch_tokens=spec.batch_tokens)
    device = next(model.parameters()).device
    out = {}
    for layer in layers:
        st = stats[layer]
        C, lam = well_conditioned(st.mom2, spec.rcond, spec.ridge)
        why = singularity(C, spec.rcond) if spec.ridge <= 0 else None
        info = {"stats_cache_hit": st.cache_hit, "stats_tokens": st.n_tokens, "stats_texts": st.n_texts,
                "stats_seconds": round(st.seconds, 2), "stats_tokens_per_s": round(st.tokens_per_s, 1), "ridge_lambda": lam}
        out[layer] = LayerCovariance(C.to(device), lam, why, info)
    return out


def cached_projector(C: torch.Tensor, threshold: float) -> tuple[torch.Tensor, bool]:
    """``null_space_projector(C, threshold)`` from the disk cache, or computed and cached; keyed by the
    SHA-256 of ``C``'s bytes and the threshold, so any change of statistics or conditioning misses.
    Returns (P on ``C``'s device, cache hit)."""
    c64 = C.detach().to("cpu", torch.float64).contiguous()
    digest = hashlib.sha256(c64.numpy().tobytes() + repr(float(threshold)).encode()).hexdigest()[:24]
    path = cache_dir("stats") / f"nullspace-{digest}.pt"
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)["P"].to(C.device), True
        except Exception as e:  # noqa: BLE001 -- a truncated or foreign file is recomputed, whatever the error
            log.warning("null-space projector %s is unreadable (%s); recomputing", path, e)
    P = null_space_projector(c64, threshold)
    with atomic_open(path, "wb") as fh:
        torch.save({"P": P, "threshold": float(threshold), "dim": int(C.shape[0])}, fh)
    return P.to(C.device), False
