"""Architecture roles come from the config class; every supported family resolves."""

import pytest
import torch

from kedit.errors import KeditError
from kedit.models import module_at, n_layers, roles_for, weight_as_out_in
from tests.fixtures.tinykg import tiny_random_model


@pytest.mark.parametrize("arch", ["GPT2Config", "GPTJConfig", "GPTNeoXConfig", "LlamaConfig", "Gemma3TextConfig"])
def test_roles_resolve(arch):
    model = tiny_random_model(arch)
    assert n_layers(model) == 2
    d = model.config.hidden_size if hasattr(model.config, "hidden_size") else model.config.n_embd
    for layer in range(2):
        mlp_in, mlp_out = module_at(model, "mlp_in", layer), module_at(model, "mlp_out", layer)
        w_out = weight_as_out_in(model, mlp_out)
        assert w_out.shape[0] == d  # mlp_out writes the residual stream
        assert weight_as_out_in(model, mlp_in).shape[1] == d
    assert module_at(model, "lm_head") is model.get_output_embeddings()
    # the layer module is really a block of the model: a hook on it fires once per forward
    seen = []
    h = module_at(model, "layer", 1).register_forward_hook(lambda *a: seen.append(1))
    with torch.no_grad():
        model(torch.tensor([[1, 2, 3]]))
    h.remove()
    assert seen == [1]


def test_roles_ignore_the_model_name():
    model = tiny_random_model("LlamaConfig")
    model.config.name_or_path = "gpt2-xl"  # a misleading name changes nothing
    assert roles_for(model).mlp_out == "model.layers.{}.mlp.down_proj"


def test_unknown_architecture_is_a_clear_error():
    class Odd(torch.nn.Module):
        class config:  # noqa: N801
            pass

    with pytest.raises(KeditError, match="module layout"):
        roles_for(Odd())
