"""Model internals by role, resolved from the model's config class (never from its name).

Roles: ``layer`` (a transformer block), ``mlp_in`` (the MLP's first projection), ``mlp_out`` (the
MLP's output projection, whose *input* is ROME's key k and whose output is its value v) and
``lm_head``. Templates take the layer index.
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


_LLAMA = Roles("model.layers.{}", "model.layers.{}.mlp.up_proj", "model.layers.{}.mlp.down_proj", "lm_head")
_BY_CONFIG: dict[str, Roles] = {
    "GPT2Config": Roles("transformer.h.{}", "transformer.h.{}.mlp.c_fc", "transformer.h.{}.mlp.c_proj", "lm_head", "n_layer", True),
    "GPTJConfig": Roles("transformer.h.{}", "transformer.h.{}.mlp.fc_in", "transformer.h.{}.mlp.fc_out", "lm_head", "n_layer"),
    "GPTNeoXConfig": Roles("gpt_neox.layers.{}", "gpt_neox.layers.{}.mlp.dense_h_to_4h", "gpt_neox.layers.{}.mlp.dense_4h_to_h", "lm_head"),
    **{name: _LLAMA for name in ("LlamaConfig", "MistralConfig", "Qwen2Config", "Qwen3Config", "Olmo2Config")},
}


def roles_for(model: nn.Module) -> Roles:
    cfg = type(model.config).__name__
    try:
        return _BY_CONFIG[cfg]
    except KeyError:
        raise KeditError(
            f"kedit does not know the module layout of {cfg} models yet (known: {', '.join(sorted(_BY_CONFIG))}); "
            "add a Roles entry in kedit/models/roles.py"
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
