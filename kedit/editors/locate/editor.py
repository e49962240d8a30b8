"""The base of the family's editors: what every locate-then-edit method prepares the same way.

``prepare`` makes the context prefixes once per model and the key statistics ``C_l`` of every
edited layer (one pass over the text for all of them); ``_state`` returns them, preparing again
only when a field that shapes them changes. The hyper-parameter classes of the family share these
field names (``context_templates``, ``context_template_length_params``, ``context_template_seed``,
``mom2_adjustment``, ``mom2_corpus``, ``mom2_n_samples``, ``mom2_max_tokens``, ``mom2_dtype``,
``mom2_batch_tokens``, ``mom2_rcond``, ``mom2_ridge``); each method names its layers with
``edited_layers``.
"""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ...errors import KeditError
from ...models.roles import n_layers
from ..base import Editor
from . import templates
from .covariance import LayerCovariance, StatsSpec, key_covariances

PREPARE_FIELDS = ("context_templates", "context_template_length_params", "context_template_seed", "mom2_adjustment",
                  "mom2_corpus", "mom2_n_samples", "mom2_max_tokens", "mom2_dtype", "mom2_rcond", "mom2_ridge")


@dataclass
class Prepared:
    key: tuple
    templates: list[str]
    cov: dict[int, LayerCovariance | None]  # None without mom2 adjustment (C = I)
    info: dict[str, Any]
    kwargs: dict[str, Any]  # prepare()'s texts / fingerprint, reused if edit() must prepare again
    derived: dict[Any, Any] = field(default_factory=dict)  # what a method computes once from these (AlphaEdit's projectors)

    @property
    def C(self) -> torch.Tensor | None:
        """The one edited layer's ``C`` (single-layer methods: ROME, EMMET)."""
        (c,) = self.cov.values()
        return c.C if c is not None else None


def stats_spec(hp) -> StatsSpec:
    return StatsSpec(corpus=hp.mom2_corpus, n_samples=hp.mom2_n_samples, max_tokens=hp.mom2_max_tokens,
                     dtype=hp.mom2_dtype, batch_tokens=hp.mom2_batch_tokens, rcond=hp.mom2_rcond, ridge=hp.mom2_ridge)


class LocateEditor(Editor):
    """Context prefixes and key statistics prepared once per model; subclasses edit."""

    def __init__(self) -> None:
        self._prepared: weakref.WeakKeyDictionary[nn.Module, Prepared] = weakref.WeakKeyDictionary()

    def edited_layers(self, hp) -> tuple[int, ...]:
        raise NotImplementedError

    def _key(self, hp) -> tuple:
        return (self.edited_layers(hp), *(getattr(hp, f) for f in PREPARE_FIELDS))

    def prepare(self, model: nn.Module, tok, hp, *, texts: Sequence[str] | None = None,
                fingerprint: str | None = None) -> dict[str, Any]:
        """Context prefixes (once per model) and ``C`` of every edited layer.

        ``texts`` replaces the named corpus (e.g. a test model's own sentences); ``fingerprint``
        identifies the weights for the statistics cache (default: ``weights_fingerprint``).
        """
        layers = self.edited_layers(hp)
        n = n_layers(model)
        for layer in layers:
            if not 0 <= layer < n:
                raise KeditError(f"{self.name}: layer {layer} is out of range for a model with {n} layers (0..{n - 1})")
        tmpl = templates.context_templates(model, tok, hp.context_templates, hp.context_template_length_params,
                                           hp.context_template_seed)
        info: dict[str, Any] = {"context_templates": len(tmpl)}
        if len(layers) > 1:
            info["layers"] = ",".join(map(str, layers))
        cov: dict[int, LayerCovariance | None] = {layer: None for layer in layers}
        if hp.mom2_adjustment:
            cov = dict(key_covariances(model, tok, layers, stats_spec(hp), texts=texts, fingerprint=fingerprint))
            singular = {layer: c.singular for layer, c in cov.items() if c.singular}
            if singular:  # every edit will refuse to solve with it (an error per case, the run goes on)
                info["covariance_singular"] = "; ".join(
                    v if len(layers) == 1 else f"layer {k}: {v}" for k, v in singular.items())
            if len(layers) == 1:
                info |= cov[layers[0]].info
            else:
                first = cov[layers[0]].info
                info |= {"stats_cache_hit": all(c.info["stats_cache_hit"] for c in cov.values()),
                         "stats_tokens": first["stats_tokens"], "stats_seconds": first["stats_seconds"],
                         "ridge_lambda_max": max(c.ridge_lambda for c in cov.values())}
        self._prepared[model] = Prepared(self._key(hp), tmpl, cov, info, {"texts": texts, "fingerprint": fingerprint})
        return info

    def _state(self, model: nn.Module, tok, hp) -> Prepared:
        st = self._prepared.get(model)
        if st is None or st.key != self._key(hp):
            self.prepare(model, tok, hp, **(st.kwargs if st is not None else {}))
            st = self._prepared[model]
        return st

    def check_solvable(self, state: Prepared) -> None:
        """A singular ``C`` with no ridge: this edit has no unique solution (an error of the case)."""
        if state.info.get("covariance_singular"):
            raise KeditError(f"{self.name}: the key covariance is singular ({state.info['covariance_singular']}) and "
                             f"{self.name}.mom2_ridge is 0, so the solve has no unique answer; set "
                             f"{self.name}.mom2_ridge > 0 (default 1e-4) or use more statistics samples")
