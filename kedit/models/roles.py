"""Model internals by role, resolved from the model's config class (never from its name).

Roles: ``layer`` (a transformer block), ``mlp_in`` (the MLP's first projection), ``mlp_out`` (the
MLP's output projection, whose *input* is ROME's key k and whose output is its value v),
``lm_head`` and ``attn_out`` (the attention's output projection, PMET's second value site). Templates take the layer index.

Config classes that share a module layout form a family (``FAMILIES``: ``llama`` covers Llama,
Mistral, Qwen2, Qwen3 and OLMo-2; ``gemma3`` Gemma 3's text model); ``family_of`` names it, and editors' per-family hyper-parameter
files are chosen by it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..errors import KeditError


@dataclass(frozen=True)
class Roles:
    layer: str
    mlp_in: str
    mlp_out: str
    lm_head: str
    n_layers_attr: str = "num_hidden_layers"
    # GPT-2's Conv1D stores weights as (in, out); nn.Linear as (out, in)
    weight_in_out: bool = False
    attn_out: str = ""


_LLAMA = Roles("model.layers.{}", "model.layers.{}.mlp.up_proj", "model.layers.{}.mlp.down_proj", "lm_head",
               attn_out="model.layers.{}.self_attn.o_proj")
# Architecture families: one module layout shared by the listed config classes. A family's name also
# names its hyper-parameter files (``kedit/editors/hparams/<editor>/<family>.yaml``).
FAMILIES: dict[str, tuple[Roles, tuple[str, ...]]] = {
    "gpt2": (Roles("transformer.h.{}", "transformer.h.{}.mlp.c_fc", "transformer.h.{}.mlp.c_proj", "lm_head", "n_layer", True,
                   attn_out="transformer.h.{}.attn.c_proj"), ("GPT2Config",)),
    "gptj": (Roles("transformer.h.{}", "transformer.h.{}.mlp.fc_in", "transformer.h.{}.mlp.fc_out", "lm_head", "n_layer",
                   attn_out="transformer.h.{}.attn.out_proj"),
             ("GPTJConfig",)),
    "gpt-neox": (Roles("gpt_neox.layers.{}", "gpt_neox.layers.{}.mlp.dense_h_to_4h", "gpt_neox.layers.{}.mlp.dense_4h_to_h", "lm_head",
                       attn_out="gpt_neox.layers.{}.attention.dense"),
                 ("GPTNeoXConfig",)),
    "llama": (_LLAMA, ("LlamaConfig", "MistralConfig", "Qwen2Config", "Qwen3Config", "Olmo2Config")),
    # Gemma 3's text model keeps Llama's module names (its extra norms sit around them); a family of its
    # own so that its hyper-parameter files are its own
    "gemma3": (_LLAMA, ("Gemma3TextConfig",)),
}
_FAMILY_BY_CONFIG: dict[str, str] = {cfg: fam for fam, (_, configs) in FAMILIES.items() for cfg in configs}
_BY_CONFIG: dict[str, Roles] = {cfg: FAMILIES[fam][0] for cfg, fam in _FAMILY_BY_CONFIG.items()}


def family_of(model_or_config) -> str | None:
    """The architecture family (a key of ``FAMILIES``) of a model or a config, from its config class;
    None when kedit does not know the class."""
    cfg = getattr(model_or_config, "config", model_or_config)
    return _FAMILY_BY_CONFIG.get(type(cfg).__name__)


def roles_for(model: nn.Module) -> Roles:
    cfg = type(model.config).__name__
    try:
        return _BY_CONFIG[cfg]
    except KeyError:
        raise KeditError(
            f"kedit does not know the module layout of {cfg} models yet (known: {', '.join(sorted(_BY_CONFIG))}); "
            "add its config class to a family of FAMILIES in kedit/models/roles.py (or a new family)"
        ) from None


def n_layers(model: nn.Module) -> int:
    return int(getattr(model.config, roles_for(model).n_layers_attr))


def get_module(model: nn.Module, path: str) -> nn.Module:
    mod = model
    for part in path.split("."):
        mod = getattr(mod, part)
    return mod


def module_at(model: nn.Module, role: str, layer: int | None = None) -> nn.Module:
    tmpl = getattr(roles_for(model), role)
    return get_module(model, tmpl.format(layer) if layer is not None else tmpl)


def path_of(model: nn.Module, role: str, layer: int) -> str:
    return getattr(roles_for(model), role).format(layer)


def weight_as_out_in(model: nn.Module, module: nn.Module) -> torch.Tensor:
    """The module's weight as an (out, in) view, whatever its storage layout."""
    w = module.weight
    return w.T if roles_for(model).weight_in_out else w
